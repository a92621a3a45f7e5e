//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// bgDeploymentState is a colour Deployment's spec replicas and ready pods;
// -1/-1 when it does not exist.
func bgDeploymentState(e *Env, name string) (spec, ready int32) {
	e.T.Helper()
	d, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return -1, -1
	}
	if err != nil {
		e.T.Fatal(err)
	}
	return *d.Spec.Replicas, d.Status.ReadyReplicas
}

func serviceAnnotations(e *Env, name string) map[string]string {
	e.T.Helper()
	s, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	return s.Annotations
}

// TestResilienceBlueGreenKilledAtPhase kills `kubectl zdd bluegreen deploy`
// (or promote) with SIGKILL right after it records each of its phases
// (ZDD_TEST_KILL_AT_PHASE=bluegreen:PHASE), then runs `kubectl zdd resume`
// or `kubectl zdd abort` on service/web with --force-unlock (which must say
// whose lease it took) and checks the end state: resume leaves the Service
// on green with web-green fully ready and web-blue retired; abort leaves it
// on blue with web-blue fully ready and web-green at 0 (or never created);
// the recorded result and phase, no Lease left, and, over the whole
// sequence (killed run and resume/abort), the Service's ready endpoints
// never below 3 and its selector never matching zero ready pods. What the
// command was asked (the new pod template, replicas, analyses, delays) is
// recorded at its first phase, so resume finishes it from any phase: the
// analyses run again (a failing one switches back, exit 1) and the rest of
// --scale-down-delay is waited.
func TestResilienceBlueGreenKilledAtPhase(t *testing.T) {
	const v2 = "app=registry.example/web:v2"
	deploy := []string{"bluegreen", "deploy", "service/web", "--image", v2, "--timeout", "2m"}
	type want struct {
		code   int
		colour string
		// blue and green are the spec replicas of web-blue and web-green
		// (-1: no such Deployment); each existing one with replicas > 0
		// must have them all ready
		blue, green int32
		result      string
		phase       string
		out         string
	}
	resumed := want{colour: "green", blue: 0, green: bgReplicas, result: state.ResultSucceeded, phase: "done", out: `is live on green`}
	aborted := want{colour: "blue", blue: bgReplicas, green: 0, result: state.ResultAborted, phase: "aborted", out: `back on blue`}
	abortedBefore := aborted
	abortedBefore.out = "is on blue, as before operation"
	// a passing analysis (every query answers 0, below the max), for the
	// pre-analysis and analysis phases
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "0") }))
	t.Cleanup(srv.Close)
	analysisFile := filepath.Join(t.TempDir(), "analysis.yaml")
	spec := fmt.Sprintf("interval: 1s\ncount: 1\nfailureLimit: 0\nmetrics:\n- name: error-rate\n  max: 0.05\n  http:\n    url: %s/errors?color={{.Color}}\n", srv.URL)
	if err := os.WriteFile(analysisFile, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	withAnalysis := append(append([]string{}, deploy...), "--pre-analysis", analysisFile, "--analysis", analysisFile)
	// a failing analysis (42% errors): the killed run dies before its first
	// measurement, resume runs it again and switches back
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "0.42") }))
	t.Cleanup(bad.Close)
	failingFile := filepath.Join(t.TempDir(), "failing.yaml")
	if err := os.WriteFile(failingFile, []byte(strings.Replace(spec, srv.URL, bad.URL, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	withFailing := append(append([]string{}, deploy...), "--analysis", failingFile)
	delayed := append(append([]string{}, deploy...), "--scale-down-delay", "10s")
	rollback := []string{"bluegreen", "rollback", "service/web", "--timeout", "2m"}
	rolledBack := want{colour: "blue", blue: bgReplicas, green: bgReplicas, result: state.ResultRolledBack, phase: "done", out: "rolled back to blue"}
	rollbackAborted := want{colour: "green", blue: 0, green: bgReplicas, result: state.ResultAborted, phase: "aborted", out: "is on green, as before operation"}
	tests := []struct {
		name string
		// manual runs deploy --manual-promote first (it ends paused, not
		// killed); deployed runs a whole deploy first (green live, blue at 0)
		manual, deployed bool
		// args of the killed run (default deploy); phase is where it dies
		// ("" = no kill: the operation is paused)
		args    []string
		phase   string
		command string
		// noForce runs the command without --force-unlock, the dead run
		// having named another host as its own: it must fail (exit 1)
		// while the dead run's lease is valid, and take it over once it has
		// expired
		noForce bool
		want    want
	}{
		{name: "deploying then resume", phase: "deploying", command: "resume", want: resumed},
		{name: "deploying then abort", phase: "deploying", command: "abort",
			want: want{colour: "blue", blue: bgReplicas, green: -1, result: state.ResultAborted, phase: "aborted", out: "is on blue, as before operation"}},
		{name: "switching then resume", phase: "switching", command: "resume", want: resumed},
		{name: "switching then abort", phase: "switching", command: "abort", want: abortedBefore},
		{name: "switched then resume", phase: "switched", command: "resume", want: resumed},
		{name: "switched then abort", phase: "switched", command: "abort", want: aborted},
		{name: "switched then resume after lease expiry", phase: "switched", command: "resume", noForce: true, want: resumed},
		{name: "scale-down-delay then resume", args: delayed, phase: "scale-down-delay", command: "resume", want: resumed},
		{name: "scale-down-delay then abort", args: delayed, phase: "scale-down-delay", command: "abort", want: aborted},
		{name: "pre-analysis then resume", args: withAnalysis, phase: "pre-analysis", command: "resume", want: resumed},
		{name: "pre-analysis then abort", args: withAnalysis, phase: "pre-analysis", command: "abort", want: abortedBefore},
		{name: "manual pre-analysis then resume", args: append(append([]string{}, deploy...), "--pre-analysis", analysisFile, "--manual-promote"), phase: "pre-analysis", command: "resume",
			want: want{colour: "blue", blue: bgReplicas, green: bgReplicas, result: state.ResultPaused, phase: "ready-to-promote", out: "run 'kubectl zdd bluegreen promote service/web' to switch"}},
		{name: "analysis then resume", args: withAnalysis, phase: "analysis", command: "resume", want: resumed},
		{name: "analysis then abort", args: withAnalysis, phase: "analysis", command: "abort", want: aborted},
		{name: "analysis then resume with a failing analysis", args: withFailing, phase: "analysis", command: "resume",
			want: want{code: 1, colour: "blue", blue: bgReplicas, green: bgReplicas, result: state.ResultRolledBack, phase: "switched-back", out: "switched back to blue"}},
		{name: "retiring then resume", phase: "retiring", command: "resume", want: resumed},
		{name: "retiring then abort", phase: "retiring", command: "abort", want: aborted},
		{name: "done then resume", phase: "done", command: "resume",
			want: want{colour: "green", blue: 0, green: bgReplicas, result: state.ResultSucceeded, phase: "done", out: "nothing to resume"}},
		{name: "done then abort", phase: "done", command: "abort",
			want: want{code: 2, colour: "green", blue: 0, green: bgReplicas, result: state.ResultSucceeded, phase: "done"}},
		{name: "paused then resume", manual: true, command: "resume", want: resumed},
		{name: "paused then abort", manual: true, command: "abort", want: abortedBefore},
		{name: "promoting then resume", manual: true, args: []string{"bluegreen", "promote", "service/web", "--timeout", "2m"}, phase: "promoting", command: "resume", want: resumed},
		{name: "rollback rolling-back then resume", deployed: true, args: rollback, phase: "rolling-back", command: "resume", want: rolledBack},
		{name: "rollback rolling-back then abort", deployed: true, args: rollback, phase: "rolling-back", command: "abort", want: rollbackAborted},
		{name: "rollback scaling-up then resume", deployed: true, args: rollback, phase: "scaling-up", command: "resume", want: rolledBack},
		{name: "rollback scaling-up then abort", deployed: true, args: rollback, phase: "scaling-up", command: "abort", want: rollbackAborted},
		{name: "rollback switching then resume", deployed: true, args: rollback, phase: "switching", command: "resume", want: rolledBack},
		{name: "rollback switching then abort", deployed: true, args: rollback, phase: "switching", command: "abort", want: rollbackAborted},
		{name: "promoting then abort", manual: true, args: []string{"bluegreen", "promote", "service/web", "--timeout", "2m"}, phase: "promoting", command: "abort", want: abortedBefore},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.Apply(blueGreenApp("registry.example/web:v1"))
			e.RolloutStatus("web-blue", 2*time.Minute)
			e.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
			dt, cw := e.WatchDowntime("web"), watchColours(e, "web")

			if tc.deployed {
				wantCode(t, "bluegreen deploy", e.Zdd(deploy...), 0)
			}
			if tc.manual {
				wantCode(t, "bluegreen deploy --manual-promote", e.Zdd(append(append([]string{}, deploy...), "--manual-promote")...), 0)
			}
			if tc.phase != "" {
				args := tc.args
				if args == nil {
					args = deploy
				}
				env := []string{state.KillAtPhaseEnv + "=bluegreen:" + tc.phase}
				if tc.noForce {
					// as if it ran on another machine: its lease is waited for
					env = append(env, state.HostnameEnv+"=elsewhere")
				}
				killed := e.ZddWith(ZddOpts{Env: env}, args...)
				if killed.Code != -1 && killed.Code != 137 {
					t.Fatalf("the run was not killed at phase %s: %s", tc.phase, killed)
				}
				if got := serviceAnnotations(e, "web")[state.KeyPhase]; got != tc.phase {
					t.Fatalf("recorded phase %q after the kill, want %q", got, tc.phase)
				}
			}

			args := []string{tc.command, "service/web", "--timeout", "2m"}
			if tc.command == "resume" && (slices.Contains(tc.args, "--analysis") || slices.Contains(tc.args, "--pre-analysis")) {
				// the recorded analyses run only when confirmed
				args = append(args, "--yes")
			}
			if tc.noForce {
				early := e.Zdd(args...)
				wantCode(t, tc.command+" while the dead run's lease is valid", early, 1)
				if !strings.Contains(early.Stderr, "held by") {
					t.Errorf("%s does not name the lease's holder:\n%s", tc.command, early)
				}
				if got := serviceAnnotations(e, "web")[state.KeyPhase]; got != tc.phase {
					t.Errorf("phase %q after the refused %s, want it unchanged (%q)", got, tc.command, tc.phase)
				}
				// the dead run stopped renewing: wait out the lease
				l, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("service", "web"), metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				expires := l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second)
				select {
				case <-time.After(time.Until(expires) + time.Second):
				case <-e.Ctx.Done():
					t.Fatal(e.Ctx.Err())
				}
			} else {
				args = append(args, "--force-unlock")
			}
			r := e.Zdd(args...)
			if tc.noForce && !strings.Contains(r.Stdout, "waiting up to 30s to see whether it is still renewed") {
				// expiry is judged by the lease staying unchanged on this
				// machine's clock, not by the holder's renew time
				t.Errorf("%s after the lease's renew time passed did not watch it for its duration first:\n%s", tc.command, r)
			}
			samples := cw.Stop()
			rep := dt.Stop()
			wantCode(t, tc.command, r, tc.want.code)
			assertNoDip(t, rep, samples, bgReplicas)
			if tc.want.out != "" && !strings.Contains(r.Stdout+r.Stderr, tc.want.out) {
				t.Errorf("%s output does not say %q:\n%s", tc.command, tc.want.out, r)
			}
			if tc.command == "resume" && strings.HasSuffix(tc.phase, "analysis") {
				// the recorded analysis is run again
				what := map[string]string{"pre-analysis": "pre-switch", "analysis": "post-switch"}[tc.phase]
				if !strings.Contains(r.Stdout, what+" analysis of colour green: started") {
					t.Errorf("resume did not run the %s analysis again:\n%s", what, r)
				}
			}
			if tc.command == "resume" && tc.phase == "scale-down-delay" && !strings.Contains(r.Stdout, "(--scale-down-delay)") {
				t.Errorf("resume did not keep the old colour up for the rest of --scale-down-delay:\n%s", r)
			}
			if tc.phase != "" && tc.phase != "done" && !strings.Contains(r.Stdout, "took over the lease") {
				t.Errorf("%s does not say whose lease it took:\n%s", tc.command, r)
			}
			if got := e.serviceSelector("web")["version"]; got != tc.want.colour {
				t.Errorf("service selects version=%q after %s, want %s", got, tc.command, tc.want.colour)
			}
			for name, wantSpec := range map[string]int32{"web-blue": tc.want.blue, "web-green": tc.want.green} {
				spec, ready := bgDeploymentState(e, name)
				if spec != wantSpec {
					t.Errorf("%s has %d replicas after %s, want %d", name, spec, tc.command, wantSpec)
				}
				if name == "web-"+tc.want.colour && ready != spec {
					t.Errorf("%s (the live colour): %d/%d ready after %s", name, ready, spec, tc.command)
				}
			}
			ann := serviceAnnotations(e, "web")
			if got := ann[state.KeyResult]; got != tc.want.result {
				t.Errorf("recorded result %q after %s, want %q", got, tc.command, tc.want.result)
			}
			if got := ann[state.KeyPhase]; got != tc.want.phase {
				t.Errorf("recorded phase %q after %s, want %q", got, tc.command, tc.want.phase)
			}
			if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("service", "web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("a lease is left after %s (err %v)", tc.command, err)
			}
		})
	}
}
