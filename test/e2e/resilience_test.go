//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
