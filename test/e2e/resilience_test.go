//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestResilienceRolloutKilledAtPhase kills `kubectl zdd rollout` with
// SIGKILL right after it records each of its phases (ZDD_TEST_KILL_AT_PHASE),
// then runs `kubectl zdd resume` or `kubectl zdd abort` (with
// --force-unlock, which must name the dead run as the lease's holder) and
// checks the end state: resume reaches the intended end (the new version,
// or the old one when the release was failing), abort the from-revision;
// the Deployment fully available, the record's result set, no Lease left,
// and the Service's ready endpoints never below the replica count over the
// whole sequence.
func TestResilienceRolloutKilledAtPhase(t *testing.T) {
	const v1, v2 = "registry.example/web:v1", "registry.example/web:v2"
	tests := []struct {
		name string
		// bad makes the release never ready, so the rollout reaches phase rollback
		bad bool
		// analysis adds a passing --analysis, so the rollout reaches phase analysis
		analysis bool
		// noForce runs the command without --force-unlock while the dead
		// run's lease is still live: refused, exit 1, naming the holder
		noForce bool
		timeout string
		phase   string
		command string
		// wantCode and wantImage are resume's or abort's exit code and the
		// image it leaves; wantResult the recorded result
		wantCode   int
		wantImage  string
		wantResult string
		wantOut    string
	}{
		{name: "watch then resume", phase: "watch", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "rolled out: revision 2"},
		{name: "watch then abort", phase: "watch", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantOut: "back on the pod template of revision 1"},
		{name: "done then resume", phase: "done", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "nothing to resume"},
		{name: "done then abort", phase: "done", command: "abort", wantCode: 2, wantImage: v2, wantResult: state.ResultSucceeded},
		{name: "analysis then resume", analysis: true, phase: "analysis", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "analysis of the interrupted run is not run again"},
		{name: "analysis then abort", analysis: true, phase: "analysis", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantOut: "back on the pod template of revision 1"},
		{name: "watch then resume without --force-unlock", noForce: true, phase: "watch", command: "resume", wantCode: 1, wantOut: ""},
		{name: "rollback then resume", bad: true, timeout: "8s", phase: "rollback", command: "resume", wantCode: 1, wantImage: v1, wantResult: state.ResultRolledBack, wantOut: "back on the pod template of revision 1"},
		{name: "rollback then abort", bad: true, timeout: "8s", phase: "rollback", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantOut: "back on the pod template of revision 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			startApp(e, AppSpec{})
			e.waitEndpoints("web", map[string]string{"app": "web"}, rolloutReplicas)
			w := e.WatchDowntime("web")

			timeout := tc.timeout
			if timeout == "" {
				timeout = "2m"
			}
			args := []string{"rollout", "deployment/web", "--image", "app=" + v2, "--timeout", timeout}
			if tc.analysis {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "0") }))
				t.Cleanup(srv.Close)
				spec := writeTemp(t, "analysis.yaml", fmt.Sprintf("interval: 100ms\ncount: 1\nfailureLimit: 0\nerrorLimit: 0\nmetrics:\n- name: error-rate\n  max: 1\n  http:\n    url: %s/metric\n", srv.URL))
				args = append(args, "--analysis", spec)
			}
			if tc.bad {
				bad := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: v2, NeverReady: true}))
				args = []string{"rollout", "-f", bad, "--timeout", timeout}
			}
			killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=rollout:" + tc.phase}}, args...)
			if killed.Code != -1 || strings.Contains(killed.Stdout, "rolled out: revision") && tc.phase != "done" {
				t.Fatalf("the rollout was not killed at phase %s: %s", tc.phase, killed)
			}
			d := getDeployment(e, "web")
			if got := d.Annotations[state.KeyPhase]; got != tc.phase {
				t.Fatalf("recorded phase %q after the kill, want %q", got, tc.phase)
			}

			if tc.noForce {
				r := e.Zdd(tc.command, "deployment/web", "--timeout", "2m")
				if r.Code != tc.wantCode || !strings.Contains(r.Stderr, "is held by") || !strings.Contains(r.Stderr, "--force-unlock") {
					t.Errorf("%s while the dead run's lease is live: want exit %d naming the holder and --force-unlock, got %s", tc.command, tc.wantCode, r)
				}
				d := getDeployment(e, "web")
				if d.Annotations[state.KeyPhase] != tc.phase || d.Annotations[state.KeyResult] != "" {
					t.Errorf("the refused %s changed the record: phase %q result %q", tc.command, d.Annotations[state.KeyPhase], d.Annotations[state.KeyResult])
				}
				if rep := w.Stop(); rep.MinReady < rolloutReplicas {
					t.Errorf("ready endpoints fell to %d", rep.MinReady)
				}
				return
			}
			r := e.Zdd(tc.command, "deployment/web", "--force-unlock", "--timeout", "2m")
			rep := w.Stop()
			if r.Code != tc.wantCode {
				t.Fatalf("%s: want exit %d, got %s", tc.command, tc.wantCode, r)
			}
			if tc.wantOut != "" && !strings.Contains(r.Stdout, tc.wantOut) {
				t.Errorf("%s output does not say %q:\n%s", tc.command, tc.wantOut, r)
			}
			if tc.phase != "done" && !strings.Contains(r.Stdout, "took over the lease") || tc.phase != "done" && !strings.Contains(r.Stdout, "pid") {
				t.Errorf("%s --force-unlock does not say whose lease it took:\n%s", tc.command, r)
			}
			d = getDeployment(e, "web")
			if got := imageOf(d); got != tc.wantImage {
				t.Errorf("image %q after %s, want %q", got, tc.command, tc.wantImage)
			}
			if d.Status.UpdatedReplicas != rolloutReplicas || d.Status.AvailableReplicas != rolloutReplicas || d.Status.Replicas != rolloutReplicas {
				t.Errorf("status %+v after %s, want %d replicas, all updated and available", d.Status, tc.command, rolloutReplicas)
			}
			if got := d.Annotations[state.KeyResult]; got != tc.wantResult {
				t.Errorf("recorded result %q, want %q", got, tc.wantResult)
			}
			if _, still := d.Spec.Template.Annotations[annNeverReady]; still && tc.wantImage == v1 {
				t.Errorf("the bad release's annotation is still on the template: %v", d.Spec.Template.Annotations)
			}
			if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("deployment", "web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("a lease is left after %s (err %v)", tc.command, err)
			}
			if rep.MinReady < rolloutReplicas || rep.ZeroFor != 0 {
				t.Errorf("ready endpoints fell to %d (none for %s), want never below %d", rep.MinReady, rep.ZeroFor, rolloutReplicas)
			}
		})
	}
}

// waitForPhase watches Deployment name until its record shows phase.
func (e *Env) waitForPhase(name, phase string) {
	e.T.Helper()
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return e.Client.AppsV1().Deployments(e.NS).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return e.Client.AppsV1().Deployments(e.NS).Watch(ctx, o)
		},
	}
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	has := func(obj runtime.Object) bool {
		d, ok := obj.(*appsv1.Deployment)
		return ok && d.Annotations[state.KeyPhase] == phase
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &appsv1.Deployment{}, func(store cache.Store) (bool, error) {
		for _, o := range store.List() {
			if has(o.(runtime.Object)) {
				return true, nil
			}
		}
		return false, nil
	}, func(ev watch.Event) (bool, error) { return has(ev.Object), nil })
	if err != nil {
		e.T.Fatalf("waiting for deployment %q to record phase %q: %v", name, phase, err)
	}
}

// TestResilienceRolloutInterrupted sends SIGINT (Ctrl-C) to `kubectl zdd
// rollout` while it watches a slow release: it stops at once with exit 3, a
// message telling the user to run resume or abort, the phase recorded (the
// operation still in flight) and the Lease released, so that resume (without
// --force-unlock) carries it on to the new version with no dip.
func TestResilienceRolloutInterrupted(t *testing.T) {
	e := newEnv(t)
	startApp(e, AppSpec{})
	e.waitEndpoints("web", map[string]string{"app": "web"}, rolloutReplicas)
	w := e.WatchDowntime("web")
	slow := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: "registry.example/web:v2", ReadyDelay: "4s"}))

	ctx, cancel := context.WithTimeout(e.Ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlPath, "zdd", "rollout", "-f", slow, "--timeout", "2m", "-n", e.NS)
	cmd.Env = commandEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.waitForPhase("web", "watch")
	// kubectl runs a plugin by exec: the signal reaches kubectl zdd itself
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	code := 0
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("rollout: %v", err)
	}
	t.Logf("interrupted rollout: exit %d\n--- stdout\n%s--- stderr\n%s", code, out.String(), errOut.String())
	if code != 3 {
		t.Errorf("interrupted rollout exited %d, want 3 (a person must resume or abort)", code)
	}
	for _, s := range []string{"interrupted", "kubectl zdd resume deployment/web", "kubectl zdd abort deployment/web"} {
		if !strings.Contains(errOut.String(), s) {
			t.Errorf("stderr does not say %q", s)
		}
	}
	d := getDeployment(e, "web")
	if d.Annotations[state.KeyPhase] != "watch" || d.Annotations[state.KeyResult] != "" {
		t.Errorf("record after Ctrl-C: phase %q result %q, want watch and in flight", d.Annotations[state.KeyPhase], d.Annotations[state.KeyResult])
	}
	if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("deployment", "web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the lease is still there after Ctrl-C (err %v)", err)
	}

	r := e.Zdd("resume", "deployment/web", "--timeout", "2m")
	rep := w.Stop()
	if r.Code != 0 {
		t.Fatalf("resume after Ctrl-C: %s", r)
	}
	d = getDeployment(e, "web")
	if imageOf(d) != "registry.example/web:v2" || d.Status.AvailableReplicas != rolloutReplicas || d.Annotations[state.KeyResult] != state.ResultSucceeded {
		t.Errorf("after resume: image %s, %d available, result %q; want v2, %d, succeeded", imageOf(d), d.Status.AvailableReplicas, d.Annotations[state.KeyResult], rolloutReplicas)
	}
	if rep.MinReady < rolloutReplicas || rep.ZeroFor != 0 {
		t.Errorf("ready endpoints fell to %d (none for %s)", rep.MinReady, rep.ZeroFor)
	}
}
