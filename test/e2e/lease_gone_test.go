//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestLeaseOfKilledRunTakenAtOnce: a release in flight on this machine is
// killed with SIGKILL (a closed laptop lid, a cancelled CI job), and abort
// or resume runs at once, without --force-unlock. The killed run's Lease is
// still valid for up to 30 s, but its holder was a process of this machine
// that no longer runs: the command takes the Lease at once, says so naming
// the gone pid, and finishes, all before the Lease would have expired.
// (Before, it was refused, or waited for the Lease to expire.)
func TestLeaseOfKilledRunTakenAtOnce(t *testing.T) {
	const v1, v2 = "registry.example/web:v1", "registry.example/web:v2"
	cases := []struct {
		name    string
		canary  bool
		command string
		// wantImage and wantResult: the Deployment's image and recorded
		// result after the command
		wantImage, wantResult string
	}{
		{name: "canary paused at its first step, then abort", canary: true, command: "abort", wantImage: v1, wantResult: state.ResultAborted},
		{name: "rollout watching a slow release, then resume", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded},
		{name: "rollout watching a slow release, then abort", command: "abort", wantImage: v1, wantResult: state.ResultAborted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var e *Env
			var release *bgCommand
			phase := "watch"
			if tc.canary {
				e = canaryApp(t, 3)
				phase = "step-1"
				release = startZdd(e, "canary", "canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--pause", "1h", "--timeout", "5m")
			} else {
				e = newEnv(t)
				startApp(e, AppSpec{})
				e.waitEndpoints("web", map[string]string{"app": "web"}, rolloutReplicas)
				slow := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: v2, ReadyDelay: "4s"}))
				release = startZdd(e, "rollout", "rollout", "-f", slow, "--timeout", "5m")
			}
			e.waitForPhase("web", phase)
			pid := release.cmd.Process.Pid
			leaseName := state.LeaseName("deployment", "web")
			lease, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, leaseName, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("reading the running release's lease: %v", err)
			}
			holder := ptr.Deref(lease.Spec.HolderIdentity, "")
			if !strings.Contains(holder, " pid "+strconv.Itoa(pid)+" ") {
				t.Fatalf("lease holder %q does not name the release's pid %d", holder, pid)
			}
			var proc state.HolderProcess
			if err := json.Unmarshal([]byte(lease.Annotations[state.HolderProcessAnnotation]), &proc); err != nil || proc.PID != pid || proc.Start == "" || proc.Boot == "" {
				t.Fatalf("lease's %s = %q (%v): want this process, pid %d, with its start time and boot", state.HolderProcessAnnotation, lease.Annotations[state.HolderProcessAnnotation], err, pid)
			}

			// kubectl runs a plugin by exec: the signal reaches kubectl zdd itself
			if err := release.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killedAt := time.Now()
			if r := release.wait(t, time.Minute); r.Code != -1 {
				t.Fatalf("the release was not killed: %s", r)
			}
			// the lease as the killed run left it: valid until its last renewal
			// plus its duration
			lease, err = e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, leaseName, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("reading the killed release's lease: %v", err)
			}
			if ptr.Deref(lease.Spec.HolderIdentity, "") != holder {
				t.Fatalf("the lease changed holder: %q", ptr.Deref(lease.Spec.HolderIdentity, ""))
			}
			expires := lease.Spec.RenewTime.Add(time.Duration(ptr.Deref(lease.Spec.LeaseDurationSeconds, 0)) * time.Second)
			if time.Until(expires) < 10*time.Second {
				t.Fatalf("the lease expires at %s, too soon after the kill (%s) for this test to tell", expires.Format(time.RFC3339Nano), killedAt.Format(time.RFC3339Nano))
			}

			args := []string{tc.command, "deployment/web", "--timeout", "2m"}
			started := time.Now()
			cmd := startZdd(e, tc.command, args...)
			r := cmd.wait(t, 3*time.Minute)
			if r.Code != 0 {
				t.Fatalf("%s right after the kill: want exit 0, got %s", tc.command, r)
			}
			gone := fmt.Sprintf("the run that held it (pid %d on this host) is gone", pid)
			at, text, ok := cmd.firstLineMatching(started, gone)
			if !ok {
				t.Fatalf("%s does not say %q:\n%s", tc.command, gone, r)
			}
			t.Logf("killed at %s; %s took the lease %s after it started, %s before the lease would have expired: %q",
				killedAt.Format("15:04:05.000"), tc.command, at.Sub(started).Round(time.Millisecond), expires.Sub(at).Round(time.Millisecond), text)
			if !at.Before(expires) {
				t.Errorf("%s took the lease at %s, not before it expired (%s): it waited", tc.command, at.Format(time.RFC3339Nano), expires.Format(time.RFC3339Nano))
			}
			if strings.Contains(r.Stdout, "waiting up to") {
				t.Errorf("%s waited for the lease:\n%s", tc.command, r)
			}
			if tc.command == "abort" && !cmd.ended.Before(expires) {
				t.Errorf("abort ended at %s, after the killed run's lease would have expired (%s)", cmd.ended.Format(time.RFC3339Nano), expires.Format(time.RFC3339Nano))
			}
			d := getDeployment(e, "web")
			if got := imageOf(d); got != tc.wantImage {
				t.Errorf("image %q after %s, want %q", got, tc.command, tc.wantImage)
			}
			if got := d.Annotations[state.KeyResult]; got != tc.wantResult {
				t.Errorf("recorded result %q (message %q) after %s, want %q", got, d.Annotations[state.KeyMessage], tc.command, tc.wantResult)
			}
			if d.Status.AvailableReplicas != *d.Spec.Replicas {
				t.Errorf("%d of %d replicas available after %s", d.Status.AvailableReplicas, *d.Spec.Replicas, tc.command)
			}
		})
	}
}
