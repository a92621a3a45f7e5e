//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestRolloutAnotherWriter edits the Deployment with real kubectl while
// `kubectl zdd rollout` watches a slow release (recorded phase watch):
//   - `kubectl set image` of another image changes spec.template: the
//     rollout stops with exit 1 and a message naming spec.template and the
//     writer's field manager, records it (result failed), releases the
//     Lease, and does not roll back: the other writer's image stays;
//   - `kubectl scale --replicas 5` changes only spec.replicas: the rollout
//     says so in one line, carries on and succeeds with 5 replicas of the
//     new revision updated and available;
//   - `kubectl annotate` and `kubectl label` touch nothing the rollout
//     manages: it says so (the annotation moves the generation) and succeeds.
//
// The Service's ready endpoints are watched throughout and never reach 0.
func TestRolloutAnotherWriter(t *testing.T) {
	const v2, v3 = "registry.example/web:v2", "registry.example/web:v3"
	tests := []struct {
		name string
		// manifest releases with -f (server-side apply), else --image
		// (strategic merge patch)
		manifest bool
		// other is the other writer's kubectl command
		other        []string
		other2       []string
		wantCode     int
		wantImage    string
		wantReplicas int32
		wantResult   string
		wantOut      []string
		wantErr      []string
	}{
		{
			name: "set image stops the rollout", manifest: true,
			other:    []string{"set", "image", "deployment/web", "app=" + v3},
			wantCode: 1, wantImage: v3, wantReplicas: rolloutReplicas, wantResult: state.ResultFailed,
			wantErr: []string{`spec.template changed by "kubectl-set" while the rollout watched it`, "nothing was rolled back"},
		},
		{
			name:     "scale carries on",
			other:    []string{"scale", "deployment/web", "--replicas", "5"},
			wantCode: 0, wantImage: v2, wantReplicas: 5, wantResult: state.ResultSucceeded,
			wantOut: []string{"spec.replicas 3 -> 5", "carries on and judges completion against 5 replicas", "rolled out: revision 2"},
		},
		{
			name:     "annotate and label carry on",
			other:    []string{"annotate", "deployment/web", "team=shop"},
			other2:   []string{"label", "deployment/web", "tier=front"},
			wantCode: 0, wantImage: v2, wantReplicas: rolloutReplicas, wantResult: state.ResultSucceeded,
			wantOut: []string{`annotation team by "kubectl-annotate"`, "carries on", "rolled out: revision 2"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tc.manifest {
				startApp(e, AppSpec{})
			} else {
				startApp(e, AppSpec{ReadyDelay: "4s"})
			}
			w := e.WatchDowntime("web")
			args := []string{"rollout", "deployment/web", "--image", "app=" + v2, "--timeout", "2m"}
			if tc.manifest {
				slow := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: v2, ReadyDelay: "4s"}))
				args = []string{"rollout", "-f", slow, "--timeout", "2m"}
			}
			done := make(chan CmdResult, 1)
			go func() { done <- e.Zdd(args...) }()
			e.waitForPhase("web", "watch")
			e.MustKubectl(tc.other...)
			if tc.other2 != nil {
				e.MustKubectl(tc.other2...)
			}
			var r CmdResult
			select {
			case r = <-done:
			case <-time.After(3 * time.Minute):
				t.Fatal("the rollout did not end within 3 minutes")
			}
			t.Logf("rollout:\n%s", r)
			if r.Code != tc.wantCode {
				t.Fatalf("rollout: want exit %d, got %s", tc.wantCode, r)
			}
			for _, s := range tc.wantOut {
				if !strings.Contains(r.Stdout, s) {
					t.Errorf("stdout does not say %q:\n%s", s, r)
				}
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(r.Stderr, s) {
					t.Errorf("stderr does not say %q:\n%s", s, r)
				}
			}
			// let the controller finish what the last writer asked for, so
			// the downtime watch covers all of it
			e.RolloutStatus("web", 2*time.Minute)
			rep := w.Stop()
			d := getDeployment(e, "web")
			if got := imageOf(d); got != tc.wantImage {
				t.Errorf("image %q afterwards, want %q", got, tc.wantImage)
			}
			if d.Status.UpdatedReplicas != tc.wantReplicas || d.Status.AvailableReplicas != tc.wantReplicas || *d.Spec.Replicas != tc.wantReplicas {
				t.Errorf("spec.replicas %d, status %+v; want %d, all updated and available", *d.Spec.Replicas, d.Status, tc.wantReplicas)
			}
			if got := d.Annotations[state.KeyResult]; got != tc.wantResult {
				t.Errorf("recorded result %q, want %q (message %q)", got, tc.wantResult, d.Annotations[state.KeyMessage])
			}
			if tc.wantCode != 0 {
				if msg := d.Annotations[state.KeyMessage]; !strings.Contains(msg, "spec.template") || !strings.Contains(msg, "kubectl-set") {
					t.Errorf("recorded message %q does not name spec.template and kubectl-set", msg)
				}
				if d.Annotations[state.KeyPhase] != "watch" {
					t.Errorf("recorded phase %q, want watch", d.Annotations[state.KeyPhase])
				}
				if strings.Contains(d.Annotations[state.ChangeCauseKey], "rollback") {
					t.Errorf("change cause %q: a rollback was made over the other writer's change", d.Annotations[state.ChangeCauseKey])
				}
			}
			if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("deployment", "web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("a lease is left after the rollout (err %v)", err)
			}
			t.Logf("downtime: min ready %d, none ready for %s", rep.MinReady, rep.ZeroFor)
			if rep.MinReady == 0 || rep.ZeroFor != 0 {
				t.Errorf("ready endpoints fell to %d (none for %s), want never 0", rep.MinReady, rep.ZeroFor)
			}
		})
	}
}

// TestRolloutResumeAbortAfterAnotherWriter kills `kubectl zdd rollout` at
// a phase boundary, lets `kubectl set image` put another image in the
// template, then runs resume or abort. After the apply (phase watch) both
// refuse to write over the other writer's change (exit 1, naming
// spec.template and "kubectl-set", result failed). Before it (phase
// preflight) resume refuses to apply the recorded release over it (exit 1,
// result failed), and abort, which has nothing to undo, marks the operation
// aborted (exit 0). The other writer's image stays in every case.
func TestRolloutResumeAbortAfterAnotherWriter(t *testing.T) {
	const v2, v3 = "registry.example/web:v2", "registry.example/web:v3"
	tests := []struct {
		phase, command string
		wantCode       int
		wantResult     string
		wantErr        []string
	}{
		{phase: "watch", command: "resume", wantCode: 1, wantResult: state.ResultFailed, wantErr: []string{`spec.template changed by "kubectl-set" after the rollout applied it`, "resume does not write over it"}},
		{phase: "watch", command: "abort", wantCode: 1, wantResult: state.ResultFailed, wantErr: []string{`spec.template changed by "kubectl-set" after the rollout applied it`, "abort does not write over it"}},
		{phase: "preflight", command: "resume", wantCode: 1, wantResult: state.ResultFailed, wantErr: []string{`spec.template changed by "kubectl-set" after the rollout started`, "nothing was changed"}},
		{phase: "preflight", command: "abort", wantCode: 0, wantResult: state.ResultAborted},
	}
	for _, tc := range tests {
		t.Run(tc.phase+" then "+tc.command, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			startApp(e, AppSpec{})
			w := e.WatchDowntime("web")
			killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=rollout:" + tc.phase}}, "rollout", "deployment/web", "--image", "app="+v2, "--timeout", "2m")
			if killed.Code != -1 {
				t.Fatalf("the rollout was not killed at phase %s: %s", tc.phase, killed)
			}
			e.MustKubectl("set", "image", "deployment/web", "app="+v3)
			r := e.Zdd(tc.command, "deployment/web", "--force-unlock", "--timeout", "2m")
			t.Logf("%s:\n%s", tc.command, r)
			if r.Code != tc.wantCode {
				t.Fatalf("%s after another writer: want exit %d, got %s", tc.command, tc.wantCode, r)
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(r.Stderr, s) {
					t.Errorf("stderr does not say %q", s)
				}
			}
			e.RolloutStatus("web", 2*time.Minute)
			rep := w.Stop()
			d := getDeployment(e, "web")
			if got := imageOf(d); got != v3 {
				t.Errorf("image %q after %s, want the other writer's %q", got, tc.command, v3)
			}
			if got := d.Annotations[state.KeyResult]; got != tc.wantResult {
				t.Errorf("recorded result %q, want %q (message %q)", got, tc.wantResult, d.Annotations[state.KeyMessage])
			}
			if tc.wantCode != 0 && !strings.Contains(d.Annotations[state.KeyMessage], "kubectl-set") {
				t.Errorf("recorded message %q does not name kubectl-set", d.Annotations[state.KeyMessage])
			}
			if rep.MinReady == 0 || rep.ZeroFor != 0 {
				t.Errorf("ready endpoints fell to %d (none for %s), want never 0", rep.MinReady, rep.ZeroFor)
			}
		})
	}
}
