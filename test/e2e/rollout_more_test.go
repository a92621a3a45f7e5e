//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// The points of `kubectl zdd rollout` that rollout_test.go does not cover:
// --no-rollback, --force, --fix-strategy, the deployment controller's
// ProgressDeadlineExceeded, --max-restarts and an inconclusive analysis.

// assertNoLease fails the test if the run left its Lease behind.
func assertNoLease(e *Env, name string) {
	e.T.Helper()
	if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("deployment", name), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		e.T.Errorf("lease of deployment %q still there after the run (err %v)", name, err)
	}
}

// TestRolloutNoRollbackLeavesTheFailedRelease: with --no-rollback a release
// whose pods never become Ready exits 1 naming the reason and saying it was
// not rolled back; the new template stays, the record says failed, and the
// old pods keep serving (maxUnavailable 0).
func TestRolloutNoRollbackLeavesTheFailedRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startApp(e, AppSpec{})
	bad := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: "registry.example/web:v2", NeverReady: true}))
	w := e.WatchDowntime("web")
	r := e.Zdd("rollout", "-f", bad, "--timeout", "15s", "--no-rollback")
	rep := w.Stop()
	if r.Code != 1 {
		t.Fatalf("want exit 1, got %s", r)
	}
	for _, want := range []string{"not ready within --timeout 15s", "not rolled back (--no-rollback was given)"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.Stderr, "rolled back to revision") {
		t.Errorf("--no-rollback run says it rolled back:\n%s", r)
	}
	d := getDeployment(e, "web")
	if got := imageOf(d); got != "registry.example/web:v2" {
		t.Errorf("image %q, want the failed release's registry.example/web:v2 left in place", got)
	}
	if d.Spec.Template.Annotations[annNeverReady] != "true" {
		t.Errorf("the failed release's template is gone: annotations %v", d.Spec.Template.Annotations)
	}
	a := d.Annotations
	if a[state.KeyResult] != state.ResultFailed || a[state.KeyToRevision] != "2" || a[state.KeyFromRevision] != "1" {
		t.Errorf("operation record %v, want result failed, revisions 1 -> 2", a)
	}
	if d.Status.AvailableReplicas != rolloutReplicas {
		t.Errorf("available replicas %d, want the %d old pods still available", d.Status.AvailableReplicas, rolloutReplicas)
	}
	if rep.MinReady < rolloutReplicas {
		t.Errorf("ready endpoints dropped to %d, want never below %d", rep.MinReady, rolloutReplicas)
	}
	assertNoLease(e, "web")
}

// TestRolloutForce: a release with an error-level lint finding is refused
// (exit 2, naming the rule, --fix and --force, the Deployment untouched) and goes through with
// --force. The Recreate case also shows the finding was real: the Service
// had no ready endpoint during the forced release.
func TestRolloutForce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// start is the app as it runs; release, when set, is the manifest
		// released with -f, else the image is changed with --image.
		start   AppSpec
		release *AppSpec
		rule    string
		// zeroDuringForce: the forced release leaves the Service without a
		// ready endpoint (Recreate), rather than never below the replicas.
		zeroDuringForce bool
	}{
		{name: "no readiness probe behind a service", release: &AppSpec{NoProbe: true}, rule: "readiness-probe-missing"},
		// a Deployment already on Recreate (switching one to Recreate with
		// -f is refused by the API server: see the report)
		{name: "recreate", start: AppSpec{Recreate: true}, rule: "recreate-strategy", zeroDuringForce: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			startApp(e, tc.start)
			args := []string{"rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--timeout", "2m"}
			if tc.release != nil {
				s := *tc.release
				s.Replicas = rolloutReplicas
				s.Image = "registry.example/web:v2"
				args = []string{"rollout", "-f", writeTemp(t, "web-v2.yaml", appManifest(s)), "--timeout", "2m"}
			}

			before := getDeployment(e, "web")
			r := e.Zdd(args...)
			if r.Code != 2 {
				t.Fatalf("without --force: want exit 2, got %s", r)
			}
			if !strings.Contains(r.Stdout, "error "+tc.rule) {
				t.Errorf("without --force: the findings printed lack error %q:\n%s", tc.rule, r)
			}
			for _, want := range []string{"error-level problems", "nothing was changed", "--fix", "--force"} {
				if !strings.Contains(r.Stderr, want) {
					t.Errorf("without --force: stderr lacks %q:\n%s", want, r)
				}
			}
			after := getDeployment(e, "web")
			if after.ResourceVersion != before.ResourceVersion || imageOf(after) != imageOf(before) {
				t.Errorf("refused release changed the deployment: resourceVersion %s -> %s, image %s -> %s",
					before.ResourceVersion, after.ResourceVersion, imageOf(before), imageOf(after))
			}

			w := e.WatchDowntime("web")
			r = e.Zdd(append(args, "--force")...)
			rep := w.Stop()
			if r.Code != 0 {
				t.Fatalf("with --force: want exit 0, got %s", r)
			}
			if !strings.Contains(r.Stderr+r.Stdout, "going on despite") {
				t.Errorf("with --force: the output does not say it went on despite the errors:\n%s", r)
			}
			d := getDeployment(e, "web")
			if got := imageOf(d); got != "registry.example/web:v2" {
				t.Errorf("with --force: image %q, want registry.example/web:v2", got)
			}
			if d.Annotations[state.KeyResult] != state.ResultSucceeded {
				t.Errorf("with --force: recorded result %q, want succeeded", d.Annotations[state.KeyResult])
			}
			if tc.zeroDuringForce {
				if rep.MinReady != 0 || rep.ZeroFor <= 0 {
					t.Errorf("forced Recreate: min ready %d for %s, want the Service to have had no ready endpoint", rep.MinReady, rep.ZeroFor)
				}
			} else if rep.MinReady < rolloutReplicas {
				t.Errorf("ready endpoints dropped to %d, want never below %d", rep.MinReady, rolloutReplicas)
			}
		})
	}
}

// TestRolloutFixStrategy: a Deployment that updates with maxUnavailable 25%
// (1 of its 4 pods) is released with --fix-strategy: the live spec has
// maxUnavailable 0 and maxSurge 25%, and the ready endpoints never dip. Both
// ways of giving the change (--image and -f) are checked.
func TestRolloutFixStrategy(t *testing.T) {
	t.Parallel()
	const replicas = 4
	risky := AppSpec{Replicas: replicas, MaxUnavailable: "25%", MaxSurge: "0"}
	tests := []struct {
		name string
		args func(t *testing.T) []string
	}{
		{name: "image", args: func(*testing.T) []string {
			return []string{"deployment/web", "--image", "app=registry.example/web:v2"}
		}},
		{name: "manifest", args: func(t *testing.T) []string {
			s := risky
			s.Image = "registry.example/web:v2"
			return []string{"-f", writeTemp(t, "web-v2.yaml", appManifest(s))}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.Apply(appManifest(risky))
			e.RolloutStatus("web", 2*time.Minute)
			waitReadyEndpoints(t, e, "web", replicas)

			w := e.WatchDowntime("web")
			r := e.Zdd(append(append([]string{"rollout"}, tc.args(t)...), "--fix-strategy", "--timeout", "2m")...)
			rep := w.Stop()
			if r.Code != 0 {
				t.Fatalf("want exit 0, got %s", r)
			}
			d := getDeployment(e, "web")
			if got := imageOf(d); got != "registry.example/web:v2" {
				t.Errorf("image %q, want registry.example/web:v2", got)
			}
			ru := d.Spec.Strategy.RollingUpdate
			if d.Spec.Strategy.Type != "RollingUpdate" || ru == nil || ru.MaxUnavailable == nil || ru.MaxSurge == nil {
				t.Fatalf("live strategy %+v, want RollingUpdate with both bounds", d.Spec.Strategy)
			}
			if got, want := *ru.MaxUnavailable, intstr.FromInt32(0); got != want {
				t.Errorf("live maxUnavailable %s, want 0", got.String())
			}
			if got, want := *ru.MaxSurge, intstr.FromString("25%"); got != want {
				t.Errorf("live maxSurge %s, want 25%%", got.String())
			}
			if rep.MinReady < replicas {
				t.Errorf("ready endpoints dropped to %d, want never below %d", rep.MinReady, replicas)
			}
		})
	}
}

// TestRolloutProgressDeadlineExceeded: with progressDeadlineSeconds 5 and a
// never-ready release under a long --timeout, the real deployment controller
// sets Progressing=False (ProgressDeadlineExceeded) well before the timeout;
// the tool detects it and rolls back.
func TestRolloutProgressDeadlineExceeded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	withDeadline := func(s AppSpec) string {
		s.Replicas = rolloutReplicas
		d := appDeployment(s)
		d.Spec.ProgressDeadlineSeconds = ptr.To[int32](5)
		return toYAML(d, appService(s))
	}
	e.Apply(withDeadline(AppSpec{}))
	e.RolloutStatus("web", 2*time.Minute)
	waitReadyEndpoints(t, e, "web", rolloutReplicas)

	bad := writeTemp(t, "web-v2.yaml", withDeadline(AppSpec{Image: "registry.example/web:v2", NeverReady: true}))
	w := e.WatchDowntime("web")
	start := time.Now()
	r := e.Zdd("rollout", "-f", bad, "--timeout", "5m")
	took := time.Since(start)
	rep := w.Stop()
	t.Logf("rollout took %s", took.Round(time.Millisecond))
	if r.Code != 1 {
		t.Fatalf("want exit 1, got %s", r)
	}
	for _, want := range []string{"progress deadline exceeded", "ProgressDeadlineExceeded", "timed out progressing", "rolled back to revision 1"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.Stderr, "--timeout") {
		t.Errorf("the failure was put down to --timeout, not to the progress deadline:\n%s", r)
	}
	d := getDeployment(e, "web")
	if got := imageOf(d); got != "registry.example/web:v1" {
		t.Errorf("image %q after the rollback, want registry.example/web:v1", got)
	}
	if d.Annotations[state.KeyResult] != state.ResultRolledBack {
		t.Errorf("recorded result %q, want rolled-back", d.Annotations[state.KeyResult])
	}
	if d.Status.AvailableReplicas != rolloutReplicas || d.Status.Replicas != rolloutReplicas {
		t.Errorf("status %+v, want %d replicas, all available", d.Status, rolloutReplicas)
	}
	if rep.MinReady < rolloutReplicas {
		t.Errorf("ready endpoints dropped to %d, want never below %d", rep.MinReady, rolloutReplicas)
	}
}

// TestRolloutMaxRestarts: a crash-looping release with --max-restarts 2.
// The kwok crash stage puts the container in CrashLoopBackOff from its first
// crash (as a kubelet does), and a bad waiting reason counts whatever
// --max-restarts says, so the tool stops at the first crash and names
// CrashLoopBackOff, not the restart count; then it rolls back.
func TestRolloutMaxRestarts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startApp(e, AppSpec{})
	bad := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: "registry.example/web:v2", CrashLoop: true}))
	w := e.WatchDowntime("web")
	r := e.Zdd("rollout", "-f", bad, "--timeout", "90s", "--max-restarts", "2")
	rep := w.Stop()
	if r.Code != 1 {
		t.Fatalf("want exit 1, got %s", r)
	}
	for _, want := range []string{"new pods are failing", `container "app": CrashLoopBackOff`, "rolled back to revision 1"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r)
		}
	}
	d := getDeployment(e, "web")
	if got := imageOf(d); got != "registry.example/web:v1" {
		t.Errorf("image %q after the rollback, want registry.example/web:v1", got)
	}
	if d.Annotations[state.KeyResult] != state.ResultRolledBack {
		t.Errorf("recorded result %q, want rolled-back", d.Annotations[state.KeyResult])
	}
	if rep.MinReady < rolloutReplicas {
		t.Errorf("ready endpoints dropped to %d, want never below %d", rep.MinReady, rolloutReplicas)
	}
}

// TestRolloutAnalysisInconclusive: the analysis reads an HTTP endpoint (an
// httptest server in this process on 127.0.0.1) whose JSON lacks the value:
// no data is inconclusive, so the release exits 1 without a rollback, the
// new image stays, the record says paused (phase analysis) and the message
// says what to do next.
func TestRolloutAnalysisInconclusive(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"ok","data":{}}`)
	}))
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Fatalf("test server on %s, want 127.0.0.1", srv.URL)
	}

	e := newEnv(t)
	startApp(e, AppSpec{})
	file := writeAnalysisTemp(t, "analysis.yaml", fmt.Sprintf(`interval: 1s
count: 2
metrics:
- name: success-rate
  http:
    url: %s/metrics/{{.Name}}
    jsonPath: '{.data.successRate}'
  min: 0.99
`, srv.URL))
	w := e.WatchDowntime("web")
	r := e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--analysis", file, "--timeout", "2m")
	rep := w.Stop()
	if r.Code != 1 {
		t.Fatalf("want exit 1, got %s", r)
	}
	if hits.Load() == 0 {
		t.Errorf("the analysis never asked the test server")
	}
	for _, want := range []string{"analysis inconclusive", "found no data", "the new revision stays in place",
		"run 'kubectl zdd rollout' again", "kubectl zdd rollback deployment/web"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.Stderr, "rolled back to revision") {
		t.Errorf("an inconclusive analysis rolled back:\n%s", r)
	}
	d := getDeployment(e, "web")
	if got := imageOf(d); got != "registry.example/web:v2" {
		t.Errorf("image %q, want the new registry.example/web:v2 left in place", got)
	}
	a := d.Annotations
	if a[state.KeyResult] != state.ResultPaused || a[state.KeyPhase] != "analysis" {
		t.Errorf("operation record %v, want result paused in phase analysis", a)
	}
	if d.Status.UpdatedReplicas != rolloutReplicas || d.Status.AvailableReplicas != rolloutReplicas {
		t.Errorf("status %+v, want the new revision fully available", d.Status)
	}
	if rep.MinReady < rolloutReplicas {
		t.Errorf("ready endpoints dropped to %d, want never below %d", rep.MinReady, rolloutReplicas)
	}
	assertNoLease(e, "web")
}
