//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// canaryResilienceReplicas is the size of the stable in the canary kill
// tests: at steps 50,100 the canary takes 2 then 3 of its pods.
const canaryResilienceReplicas = 3

// TestResilienceCanaryKilledAtPhase kills `kubectl zdd canary` with SIGKILL
// right after it records each of its phases (start, step-1, step-2, promote,
// done), then runs `kubectl zdd resume` or `kubectl zdd abort` and checks the
// end state: resume reaches the end the release was headed for (the stable
// on v2 with the canary removed; from start, before the canary existed, it is
// created from the pod template recorded there), abort the safe state (the stable on v1 at
// its 3 replicas, all ready, the canary at 0); the recorded result, no Lease
// left behind, the Service's selector untouched, and its ready endpoints
// never below 3 (never zero) from before the kill to the end. All but one
// case take the dead run's Lease with --force-unlock, which must name the dead
// holder; one waits for the Lease to expire instead.
func TestResilienceCanaryKilledAtPhase(t *testing.T) {
	const n = canaryResilienceReplicas
	const v1 = "registry.example/web:v1"
	tests := []struct {
		name    string
		phase   string
		command string
		// waitExpiry runs without --force-unlock, the dead run having named
		// another host as its own: its Lease must be taken over once it
		// expires
		waitExpiry bool
		wantCode   int
		wantImage  string
		wantResult string
		// wantCanary is the canary deployment's replicas after the command,
		// -1 when it must be gone
		wantCanary int32
		wantOut    string
	}{
		// the canary's pod template, steps and pauses were recorded at start:
		// resume creates the canary and walks the release to its end
		{name: "start then resume", phase: "start", command: "resume", wantImage: canaryV2, wantResult: state.ResultSucceeded, wantCanary: -1, wantOut: "creating deployment"},
		{name: "start then abort", phase: "start", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantCanary: -1},
		{name: "step-1 then resume", phase: "step-1", command: "resume", wantImage: canaryV2, wantResult: state.ResultSucceeded, wantCanary: -1, wantOut: "promoted:"},
		{name: "step-1 then abort", phase: "step-1", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantCanary: 0, wantOut: "aborted:"},
		{name: "step-1 then resume after the lease expires", phase: "step-1", command: "resume", waitExpiry: true, wantImage: canaryV2, wantResult: state.ResultSucceeded, wantCanary: -1, wantOut: "promoted:"},
		{name: "step-2 then resume", phase: "step-2", command: "resume", wantImage: canaryV2, wantResult: state.ResultSucceeded, wantCanary: -1, wantOut: "promoted:"},
		{name: "step-2 then abort", phase: "step-2", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantCanary: 0, wantOut: "aborted:"},
		{name: "promote then resume", phase: "promote", command: "resume", wantImage: canaryV2, wantResult: state.ResultSucceeded, wantCanary: -1, wantOut: "promoted:"},
		{name: "promote then abort", phase: "promote", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantCanary: 0, wantOut: "aborted:"},
		{name: "done then resume", phase: "done", command: "resume", wantImage: canaryV2, wantResult: state.ResultSucceeded, wantCanary: -1, wantOut: "nothing to resume"},
		{name: "done then abort", phase: "done", command: "abort", wantCode: 2, wantImage: canaryV2, wantResult: state.ResultSucceeded, wantCanary: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := canaryApp(t, n)
			selBefore := e.serviceSelector("web")
			w := e.WatchDowntime("web")

			env := []string{state.KillAtPhaseEnv + "=canary:" + tc.phase}
			if tc.waitExpiry {
				// as if it ran on another machine: its lease is waited for
				env = append(env, state.HostnameEnv+"=elsewhere")
			}
			killed := e.ZddWith(ZddOpts{Env: env},
				"canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--pause", "1s", "--timeout", "2m")
			if killed.Code != -1 {
				t.Fatalf("the canary was not killed at phase %s: %s", tc.phase, killed)
			}
			d := e.deployment("web")
			if got := d.Annotations[state.KeyPhase]; got != tc.phase {
				t.Fatalf("recorded phase %q after the kill, want %q", got, tc.phase)
			}

			args := []string{tc.command, "deployment/web", "--timeout", "2m"}
			if !tc.waitExpiry {
				args = append(args, "--force-unlock")
			} else {
				// the dead run's Lease still holds: refused at once, nothing changed
				// (the controllers still update the status of the Deployments the
				// killed run scaled: compare what a client writes, the spec
				// generation and the record, not the resourceVersion)
				genBefore, canaryGenBefore := d.Generation, e.deployment("web-canary").Generation
				held := e.Zdd(args...)
				if held.Code != 1 || !strings.Contains(held.Stderr, "held by") {
					t.Fatalf("%s while the dead run's lease holds: want exit 1 naming the holder, got %s", tc.command, held)
				}
				after := e.deployment("web")
				if after.Generation != genBefore || after.Annotations[state.KeyUpdateTime] != d.Annotations[state.KeyUpdateTime] || after.Annotations[state.KeyPhase] != tc.phase {
					t.Errorf("the refused %s changed deployment web (generation %d -> %d, record %s/%s -> %s/%s)", tc.command, genBefore, after.Generation,
						d.Annotations[state.KeyPhase], d.Annotations[state.KeyUpdateTime], after.Annotations[state.KeyPhase], after.Annotations[state.KeyUpdateTime])
				}
				if g := e.deployment("web-canary").Generation; g != canaryGenBefore {
					t.Errorf("the refused %s changed deployment web-canary (generation %d -> %d)", tc.command, canaryGenBefore, g)
				}
				waitLeaseExpired(t, e, state.LeaseName("deployment", "web"))
			}
			r := e.Zdd(args...)
			rep := w.Stop()
			if r.Code != tc.wantCode {
				t.Fatalf("%s: want exit %d, got %s", tc.command, tc.wantCode, r)
			}
			if tc.wantOut != "" && !strings.Contains(r.Stdout+r.Stderr, tc.wantOut) {
				t.Errorf("%s output does not say %q:\n%s", tc.command, tc.wantOut, r)
			}
			if tc.phase != "done" && (!strings.Contains(r.Stdout, "took over the lease") || !strings.Contains(r.Stdout, "pid")) {
				t.Errorf("%s does not say whose lease it took over:\n%s", tc.command, r)
			}
			d = e.deployment("web")
			if got := d.Spec.Template.Spec.Containers[0].Image; got != tc.wantImage {
				t.Errorf("stable image %q after %s, want %q", got, tc.command, tc.wantImage)
			}
			if *d.Spec.Replicas != n || d.Status.Replicas != n || d.Status.ReadyReplicas != n || d.Status.UpdatedReplicas != n {
				t.Errorf("stable spec.replicas %d, status %+v after %s: want %d replicas, all updated and ready", *d.Spec.Replicas, d.Status, tc.command, n)
			}
			if got := d.Annotations[state.KeyResult]; got != tc.wantResult {
				t.Errorf("recorded result %q (phase %q, message %q), want %q", got, d.Annotations[state.KeyPhase], d.Annotations[state.KeyMessage], tc.wantResult)
			}
			if _, ok := d.Spec.Template.Labels["track"]; ok {
				t.Errorf("the stable's pod template took the canary's track label: %v", d.Spec.Template.Labels)
			}
			if tc.wantCanary < 0 {
				if !e.deploymentGone("web-canary") {
					t.Errorf("deployment web-canary exists after %s, want it gone", tc.command)
				}
			} else {
				c := e.deployment("web-canary")
				if *c.Spec.Replicas != tc.wantCanary || c.Status.Replicas != tc.wantCanary {
					t.Errorf("web-canary spec.replicas %d, status.replicas %d after %s, want %d", *c.Spec.Replicas, c.Status.Replicas, tc.command, tc.wantCanary)
				}
			}
			if got := e.serviceSelector("web"); !equalMaps(got, selBefore) {
				t.Errorf("service web selector %v after %s, want it untouched %v", got, tc.command, selBefore)
			}
			if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("deployment", "web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("a lease is left after %s (err %v)", tc.command, err)
			}
			if rep.MinReady < n || rep.ZeroFor != 0 {
				t.Errorf("ready endpoints fell to %d (none for %s), want never below %d\n%s", rep.MinReady, rep.ZeroFor, n, rep.Summary())
			}
			t.Logf("%s: %s", tc.command, rep.Summary())
		})
	}
}

// waitLeaseExpired waits until the Lease's renewTime plus its duration has
// passed: the holder was killed, so nothing renews it any more.
func waitLeaseExpired(t *testing.T, e *Env, name string) {
	t.Helper()
	l, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("reading lease %q: %v", name, err)
	}
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		t.Fatalf("lease %q has no renewTime or duration: %+v", name, l.Spec)
	}
	expires := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds)*time.Second + time.Second)
	select {
	case <-time.After(time.Until(expires)):
	case <-e.Ctx.Done():
		t.Fatalf("waiting for lease %q to expire: %v", name, e.Ctx.Err())
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

// TestResilienceCanaryGatewayAPIKilledAtPhase is the same with the weights
// split by a Gateway API HTTPRoute: abort must put the route back to 100% on
// SERVICE-stable (whose selector loses the pod-template-hash again) after the
// stable is back at full size, resume must finish with the same route; the
// ready endpoints of the Service never drop below 3.
func TestResilienceCanaryGatewayAPIKilledAtPhase(t *testing.T) {
	const n = canaryResilienceReplicas
	const v1 = "registry.example/web:v1"
	tests := []struct {
		name, phase, command string
		wantImage            string
		wantResult           string
		wantCanary           int32 // -1: gone
	}{
		{"step-1 then abort", "step-1", "abort", v1, state.ResultAborted, 0},
		{"step-1 then resume", "step-1", "resume", canaryV2, state.ResultSucceeded, -1},
		{"step-2 then abort", "step-2", "abort", v1, state.ResultAborted, 0},
		{"promote then abort", "promote", "abort", v1, state.ResultAborted, 0},
		{"promote then resume", "promote", "resume", canaryV2, state.ResultSucceeded, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := canaryApp(t, n)
			e.installCRDs([]string{gatewayAPICRD(t)}, []string{"httproutes.gateway.networking.k8s.io"})
			e.Apply(webHTTPRoute)
			name := func(m map[string]any) string { s, _ := m["name"].(string); return s }
			route := func() []string {
				return weightsOf(e.getObject(httpRouteGVR, "web"), []string{"spec", "rules"}, "backendRefs", name)
			}
			w := e.WatchDowntime("web")
			killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=canary:" + tc.phase}},
				"canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--pause", "1s", "--timeout", "2m",
				"--traffic-router", "gateway-api", "--route", "web")
			if killed.Code != -1 {
				t.Fatalf("the canary was not killed at phase %s: %s", tc.phase, killed)
			}
			if got := e.deployment("web").Annotations[state.KeyPhase]; got != tc.phase {
				t.Fatalf("recorded phase %q after the kill, want %q", got, tc.phase)
			}
			killedRoute := route()
			r := e.Zdd(tc.command, "deployment/web", "--timeout", "2m", "--force-unlock")
			rep := w.Stop()
			if r.Code != 0 {
				t.Fatalf("%s: %s", tc.command, r)
			}
			if diff := cmp.Diff([]string{"web-stable=100", "web-canary=0"}, route()); diff != "" {
				t.Errorf("httproute backendRefs after %s (killed with %v) (-want +got):\n%s", tc.command, killedRoute, diff)
			}
			svc, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web-stable", metav1.GetOptions{})
			if err != nil {
				t.Fatalf("web-stable service: %v", err)
			}
			if diff := cmp.Diff(map[string]string{"app": "web"}, svc.Spec.Selector); diff != "" {
				t.Errorf("web-stable selector after %s (-want +got):\n%s", tc.command, diff)
			}
			d := e.deployment("web")
			if got := d.Spec.Template.Spec.Containers[0].Image; got != tc.wantImage {
				t.Errorf("stable image %q after %s, want %q", got, tc.command, tc.wantImage)
			}
			if *d.Spec.Replicas != n || d.Status.ReadyReplicas != n || d.Status.Replicas != n {
				t.Errorf("stable spec.replicas %d, status %+v after %s: want %d, all ready", *d.Spec.Replicas, d.Status, tc.command, n)
			}
			if got := d.Annotations[state.KeyResult]; got != tc.wantResult {
				t.Errorf("recorded result %q (message %q), want %q", got, d.Annotations[state.KeyMessage], tc.wantResult)
			}
			if tc.wantCanary < 0 {
				if !e.deploymentGone("web-canary") {
					t.Errorf("deployment web-canary exists after %s, want it gone", tc.command)
				}
			} else if c := e.deployment("web-canary"); *c.Spec.Replicas != tc.wantCanary || c.Status.Replicas != tc.wantCanary {
				t.Errorf("web-canary spec.replicas %d, status.replicas %d after %s, want %d", *c.Spec.Replicas, c.Status.Replicas, tc.command, tc.wantCanary)
			}
			if rep.MinReady < n || rep.ZeroFor != 0 {
				t.Errorf("ready endpoints fell to %d (none for %s), want never below %d\n%s", rep.MinReady, rep.ZeroFor, n, rep.Summary())
			}
			t.Logf("killed at %s with route %v; %s: %s", tc.phase, killedRoute, tc.command, rep.Summary())
		})
	}
}

// TestResilienceCanaryManualKilledAtStep kills a --manual canary right after
// it records step-1: resume must end where the run would have, held at step 1
// (result paused, 2 canary and 1 stable pods), not promote it; abort of that
// held canary then brings the stable back to 3 ready pods and the canary to 0.
func TestResilienceCanaryManualKilledAtStep(t *testing.T) {
	const n = canaryResilienceReplicas
	e := canaryApp(t, n)
	w := e.WatchDowntime("web")
	killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=canary:step-1"}},
		"canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--manual", "--timeout", "2m")
	if killed.Code != -1 {
		t.Fatalf("the canary was not killed at step-1: %s", killed)
	}
	r := e.Zdd("resume", "deployment/web", "--force-unlock", "--timeout", "2m")
	if r.Code != 0 || !strings.Contains(r.Stdout, "holding at step 1 of 2") {
		t.Fatalf("resume of a manual canary: want exit 0 holding at step 1, got %s", r)
	}
	d, c := e.deployment("web"), e.deployment("web-canary")
	type split struct {
		Phase, Result  string
		Stable, Canary int32
	}
	got := split{d.Annotations[state.KeyPhase], d.Annotations[state.KeyResult], *d.Spec.Replicas, *c.Spec.Replicas}
	if diff := cmp.Diff(split{"step-1", state.ResultPaused, 1, 2}, got); diff != "" {
		t.Errorf("after resume (-want +got):\n%s", diff)
	}
	a := e.Zdd("abort", "deployment/web", "--timeout", "2m")
	rep := w.Stop()
	if a.Code != 0 {
		t.Fatalf("abort of the held canary: %s", a)
	}
	d, c = e.deployment("web"), e.deployment("web-canary")
	got = split{d.Annotations[state.KeyPhase], d.Annotations[state.KeyResult], d.Status.ReadyReplicas, c.Status.Replicas}
	if diff := cmp.Diff(split{"aborted", state.ResultAborted, n, 0}, got); diff != "" {
		t.Errorf("after abort (-want +got):\n%s", diff)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example/web:v1" {
		t.Errorf("stable image %q after abort, want v1", img)
	}
	if rep.MinReady < n || rep.ZeroFor != 0 {
		t.Errorf("ready endpoints fell to %d (none for %s), want never below %d\n%s", rep.MinReady, rep.ZeroFor, n, rep.Summary())
	}
	t.Logf("%s", rep.Summary())
}

// TestResilienceCanaryResumeTimeoutIsPerWait: `resume` of a canary killed
// at its first step runs the recorded pauses again (25 s at each step),
// longer in all than its --timeout of 20 s. --timeout bounds each wait (a
// Deployment settling), as it does in `canary` and in the resume of the
// other strategies, so the resumed release walks to its end; when it bounded
// the whole resumed run, this resume was cut off and failed.
func TestResilienceCanaryResumeTimeoutIsPerWait(t *testing.T) {
	t.Parallel()
	const n = canaryResilienceReplicas
	e := canaryApp(t, n)
	killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=canary:step-1"}},
		"canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--pause", "25s", "--timeout", "2m")
	if killed.Code != -1 {
		t.Fatalf("the canary was not killed at step-1: %s", killed)
	}
	start := time.Now()
	r := e.Zdd("resume", "deployment/web", "--force-unlock", "--timeout", "20s")
	took := time.Since(start)
	if r.Code != 0 {
		t.Fatalf("resume --timeout 20s of a canary whose recorded pauses take longer: want exit 0, got %s", r)
	}
	if took < 25*time.Second {
		t.Errorf("resume took %s: the recorded pause of 25 s did not run again", took)
	}
	d := e.deployment("web")
	if got := d.Spec.Template.Spec.Containers[0].Image; got != canaryV2 {
		t.Errorf("stable image %q after resume, want %q", got, canaryV2)
	}
	if got := d.Annotations[state.KeyResult]; got != state.ResultSucceeded {
		t.Errorf("recorded result %q (message %q), want %q", got, d.Annotations[state.KeyMessage], state.ResultSucceeded)
	}
	t.Logf("resume --timeout 20s took %s", took.Round(time.Second))
}
