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
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// canaryBgRun is a kubectl zdd command running in the background.
type canaryBgRun struct {
	t           *testing.T
	cmd         *exec.Cmd
	out, errOut bytes.Buffer
	cancel      context.CancelFunc
}

// startZdd starts `kubectl zdd ARGS -n NS` without waiting for it; kubectl
// runs the plugin by exec, so a signal sent to the process reaches the plugin.
func (e *Env) startCanaryBg(env []string, args ...string) *canaryBgRun {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, commandTimeout)
	r := &canaryBgRun{t: e.T, cancel: cancel}
	r.cmd = exec.CommandContext(ctx, kubectlPath, e.withNamespace(append([]string{"zdd"}, args...))...)
	r.cmd.Env = commandEnv(env...)
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.errOut
	if err := r.cmd.Start(); err != nil {
		cancel()
		e.T.Fatal(err)
	}
	e.T.Cleanup(func() {
		if r.cmd.ProcessState == nil {
			_ = r.cmd.Process.Kill()
			_ = r.cmd.Wait()
		}
		cancel()
	})
	e.T.Logf("$ kubectl zdd %s (in the background)", strings.Join(args, " "))
	return r
}

// signal sends sig to the running command.
func (r *canaryBgRun) signal(sig os.Signal) {
	r.t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signalling kubectl zdd: %v", err)
	}
}

// wait waits for the command to end.
func (r *canaryBgRun) wait() CmdResult {
	r.t.Helper()
	err := r.cmd.Wait()
	r.cancel()
	res := CmdResult{Stdout: r.out.String(), Stderr: r.errOut.String()}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr) && exitErr.ExitCode() >= 0:
		res.Code = exitErr.ExitCode()
	default:
		res.Code = -1
		res.Stderr += "\n[harness] " + err.Error()
	}
	return res
}

// waitDeployment watches Deployment name until cond holds.
func (e *Env) waitCanaryDeploy(name, what string, cond func(d *appsv1.Deployment) bool) *appsv1.Deployment {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, 2*time.Minute)
	defer cancel()
	var last *appsv1.Deployment
	check := func(obj any) bool {
		d, ok := obj.(*appsv1.Deployment)
		if ok {
			last = d
		}
		return ok && cond(d)
	}
	_, err := watchtools.UntilWithSync(ctx, kube.NameScoped(e.Client.AppsV1().Deployments(e.NS), name), &appsv1.Deployment{},
		nil, func(ev watch.Event) (bool, error) {
			if ev.Type == watch.Deleted {
				return false, nil
			}
			return check(ev.Object), nil
		})
	if err != nil {
		e.T.Fatalf("waiting for deployment %q: %s: %v", name, what, err)
	}
	return last
}

// canarySplit is what a test checks of the two Deployments and the record.
type canarySplit struct {
	Phase, Result                   string
	StableSpec, StableReady         int32
	CanarySpec, CanaryReady, Canary int32 // -1: no canary deployment
	StableImage                     string
}

func (e *Env) canarySplit() canarySplit {
	e.T.Helper()
	d := e.deployment("web")
	s := canarySplit{Phase: d.Annotations[state.KeyPhase], Result: d.Annotations[state.KeyResult],
		StableSpec: *d.Spec.Replicas, StableReady: d.Status.ReadyReplicas, StableImage: d.Spec.Template.Spec.Containers[0].Image,
		CanarySpec: -1, CanaryReady: -1, Canary: -1}
	c, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, "web-canary", metav1.GetOptions{})
	if err == nil {
		s.CanarySpec, s.CanaryReady, s.Canary = *c.Spec.Replicas, c.Status.ReadyReplicas, c.Status.Replicas
	} else if !apierrors.IsNotFound(err) {
		e.T.Fatalf("reading deployment web-canary: %v", err)
	}
	return s
}

func (e *Env) assertNoCanaryLease(what string) {
	e.T.Helper()
	if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("deployment", "web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		e.T.Errorf("the lease of deployment web is still there %s (err %v)", what, err)
	}
}

// TestCanaryInterrupted sends SIGINT (Ctrl-C) to `kubectl zdd canary`, once
// during the pause after step 1 and once while step 1 is scaling (the
// canary's pods take 4s to become ready), and SIGTERM once in the pause. Either way the run finishes step 1
// to a consistent state (2 canary pods ready before the stable shrinks to
// 1), records phase step-1 with result "interrupted", releases the Lease and
// exits 3 naming resume and abort. Then resume reaches 100% (the stable on
// v2 at 3 replicas, the canary removed) or abort returns to the stable at 3
// ready replicas with the canary at 0. The ready endpoints of the Service
// never fall below 3.
func TestCanaryInterrupted(t *testing.T) {
	const n = 3
	const v1 = "registry.example/web:v1"
	tests := []struct {
		name string
		// slow gives the canary's pods a 4s readiness delay and interrupts
		// while step 1 scales; otherwise the interrupt comes in the pause.
		slow bool
		// router splits by a Gateway API HTTPRoute: after the interrupt it
		// must route 50% to each side, both with ready pods
		router  bool
		sig     os.Signal
		then    string
		wantEnd canarySplit
	}{
		{name: "during the pause then resume", sig: os.Interrupt, then: "resume",
			wantEnd: canarySplit{Phase: "done", Result: state.ResultSucceeded, StableSpec: n, StableReady: n, CanarySpec: -1, CanaryReady: -1, Canary: -1, StableImage: canaryV2}},
		{name: "during the scale then abort", slow: true, sig: os.Interrupt, then: "abort",
			wantEnd: canarySplit{Phase: "aborted", Result: state.ResultAborted, StableSpec: n, StableReady: n, CanarySpec: 0, CanaryReady: 0, Canary: 0, StableImage: v1}},
		{name: "gateway-api during the scale then resume", slow: true, router: true, sig: os.Interrupt, then: "resume",
			wantEnd: canarySplit{Phase: "done", Result: state.ResultSucceeded, StableSpec: n, StableReady: n, CanarySpec: -1, CanaryReady: -1, Canary: -1, StableImage: canaryV2}},
		{name: "SIGTERM during the pause then abort", sig: syscall.SIGTERM, then: "abort",
			wantEnd: canarySplit{Phase: "aborted", Result: state.ResultAborted, StableSpec: n, StableReady: n, CanarySpec: 0, CanaryReady: 0, Canary: 0, StableImage: v1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := canaryApp(t, n)
			w := e.WatchDowntime("web")
			args := []string{"canary", "--steps", "50,100", "--pause", "6s", "--timeout", "3m"}
			if tc.slow {
				file := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: n, Image: canaryV2, ReadyDelay: "4s", MaxUnavailable: "25%", MaxSurge: "25%"}))
				args = append(args, "-f", file)
			} else {
				args = append(args, "deployment/web", "--image", "app="+canaryV2)
			}
			name := func(m map[string]any) string { s, _ := m["name"].(string); return s }
			route := func() []string {
				return weightsOf(e.getObject(httpRouteGVR, "web"), []string{"spec", "rules"}, "backendRefs", name)
			}
			if tc.router {
				e.installCRDs([]string{gatewayAPICRD(t)}, []string{"httproutes.gateway.networking.k8s.io"})
				e.Apply(webHTTPRoute)
				args = append(args, "--traffic-router", "gateway-api", "--route", "web")
			}
			run := e.startCanaryBg(nil, args...)
			if tc.slow {
				// the canary exists and is scaling, none of its pods ready yet
				e.waitCanaryDeploy("web-canary", "created", func(d *appsv1.Deployment) bool { return true })
			} else {
				e.waitForPhase("web", "step-1")
			}
			run.signal(tc.sig)
			r := run.wait()
			t.Logf("interrupted canary: %s", r)
			if r.Code != 3 {
				t.Fatalf("interrupted canary exited %d, want 3", r.Code)
			}
			for _, s := range []string{"interrupted at step 1 of 2", "kubectl zdd resume deployment/web", "kubectl zdd abort deployment/web"} {
				if !strings.Contains(r.Stderr, s) {
					t.Errorf("stderr does not say %q", s)
				}
			}
			if tc.slow && !strings.Contains(r.Stdout, "step 1/2: weight 50%") {
				t.Errorf("the step in progress was not finished before stopping:\n%s", r.Stdout)
			}
			want := canarySplit{Phase: "step-1", Result: "interrupted", StableSpec: 1, StableReady: 1, CanarySpec: 2, CanaryReady: 2, Canary: 2, StableImage: v1}
			if diff := cmp.Diff(want, e.canarySplit()); diff != "" {
				t.Errorf("after Ctrl-C (-want +got):\n%s", diff)
			}
			e.assertNoCanaryLease("after Ctrl-C")
			// A plain rollout must not start over the interrupted canary.
			if ro := e.Zdd("rollout", "deployment/web", "--image", "app="+canaryV2, "--timeout", "30s"); ro.Code != 2 ||
				!strings.Contains(ro.Stderr, "unfinished canary operation") || !strings.Contains(ro.Stderr, "kubectl zdd abort deployment/web") {
				t.Errorf("rollout over the interrupted canary: want exit 2 naming the unfinished canary and abort, got %s", ro)
			}
			if diff := cmp.Diff(want, e.canarySplit()); diff != "" {
				t.Errorf("after the refused rollout (-want +got):\n%s", diff)
			}
			if tc.router {
				if diff := cmp.Diff([]string{"web-stable=50", "web-canary=50"}, route()); diff != "" {
					t.Errorf("httproute backendRefs after Ctrl-C (-want +got):\n%s", diff)
				}
			}

			after := e.Zdd(tc.then, "deployment/web", "--timeout", "2m")
			rep := w.Stop()
			if after.Code != 0 {
				t.Fatalf("%s after Ctrl-C: %s", tc.then, after)
			}
			if diff := cmp.Diff(tc.wantEnd, e.canarySplit()); diff != "" {
				t.Errorf("after %s (-want +got):\n%s", tc.then, diff)
			}
			if tc.router {
				if diff := cmp.Diff([]string{"web-stable=100", "web-canary=0"}, route()); diff != "" {
					t.Errorf("httproute backendRefs after %s (-want +got):\n%s", tc.then, diff)
				}
			}
			e.assertNoCanaryLease("after " + tc.then)
			if rep.MinReady < n || rep.ZeroFor != 0 {
				t.Errorf("ready endpoints fell to %d (none for %s), want never below %d\n%s", rep.MinReady, rep.ZeroFor, n, rep.Summary())
			}
			t.Logf("%s: %s", tc.then, rep.Summary())
		})
	}
}

// TestCanaryTimeoutAborts: --deadline is not Ctrl-C. A release that runs out
// of time in a pause is aborted (the stable back to its 3 ready replicas, the
// canary at 0), recorded "aborted" and exits 1. --timeout bounds each wait
// only: its 10s do not end the 5m pause, the 30s --deadline does.
func TestCanaryTimeoutAborts(t *testing.T) {
	t.Parallel()
	const n = 3
	const deadline = 30 * time.Second
	e := canaryApp(t, n)
	w := e.WatchDowntime("web")
	start := time.Now()
	r := e.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--pause", "5m", "--timeout", "10s", "--deadline", deadline.String())
	took := time.Since(start)
	rep := w.Stop()
	if r.Code != 1 || !strings.Contains(r.Stderr, "aborted") {
		t.Fatalf("canary past its --deadline: want exit 1 saying aborted, got %s", r)
	}
	if took < deadline {
		t.Errorf("the release ended after %s, before its --deadline %s: --timeout 10s must bound each wait, not the run", took.Round(time.Second), deadline)
	}
	want := canarySplit{Phase: "aborted", Result: state.ResultAborted, StableSpec: n, StableReady: n, CanarySpec: 0, CanaryReady: 0, Canary: 0, StableImage: "registry.example/web:v1"}
	if diff := cmp.Diff(want, e.canarySplit()); diff != "" {
		t.Errorf("after --deadline (-want +got):\n%s", diff)
	}
	e.assertNoCanaryLease("after --deadline")
	if rep.MinReady < n || rep.ZeroFor != 0 {
		t.Errorf("ready endpoints fell to %d (none for %s), want never below %d\n%s", rep.MinReady, rep.ZeroFor, n, rep.Summary())
	}
}

// TestCanaryResumeRunsTheRecordedAnalysis kills `kubectl zdd canary` with
// SIGKILL while the analysis of step 1 is measuring (an HTTP metric served on
// 127.0.0.1 by the test, which passes until the kill), removes the analysis
// file, turns the metric to failing, and resumes: resume runs the analysis
// recorded in the operation (not the file, which is gone) again at step 1,
// it fails, and the release is aborted as a normal run would be: exit 1, the
// stable back at 3 ready replicas, the canary at 0, result aborted naming the
// analysis. The ready endpoints never fall below 3.
func TestCanaryResumeRunsTheRecordedAnalysis(t *testing.T) {
	t.Parallel()
	const n = 3
	e := canaryApp(t, n)
	var failing atomic.Bool
	hit := make(chan struct{}, 1)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case hit <- struct{}{}:
		default:
		}
		if failing.Load() {
			fmt.Fprint(w, "5")
			return
		}
		fmt.Fprint(w, "0")
	}))
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "analysis.yaml")
	spec := fmt.Sprintf("interval: 500ms\ncount: 6\nfailureLimit: 0\nerrorLimit: 0\nmetrics:\n- name: error-rate\n  max: 1\n  http:\n    url: %s/metric\n", srv.URL)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	w := e.WatchDowntime("web")
	run := e.startCanaryBg(nil, "canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--pause", "1s", "--analysis", file, "--timeout", "3m")
	select {
	case <-hit:
	case <-time.After(2 * time.Minute):
		t.Fatalf("the analysis never measured; the run said:\n%s", run.wait())
	}
	run.signal(os.Kill)
	killed := run.wait()
	if killed.Code != -1 {
		t.Fatalf("the canary was not killed during its analysis: %s", killed)
	}
	if got := e.canarySplit(); got.Phase != "step-1" || got.Result != "" {
		t.Fatalf("record after the kill: phase %q result %q, want step-1 in flight", got.Phase, got.Result)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	failing.Store(true)
	before := calls.Load()

	r := e.Zdd("resume", "deployment/web", "--force-unlock", "--timeout", "2m", "--yes")
	rep := w.Stop()
	t.Logf("resume: %s", r)
	if r.Code != 1 {
		t.Fatalf("resume with a failing analysis: want exit 1 (aborted), got %s", r)
	}
	if calls.Load() == before {
		t.Errorf("resume did not run the recorded analysis (no measurement after the kill)")
	}
	if !strings.Contains(r.Stdout, "runs again at the current step") || !strings.Contains(r.Stderr, "analysis at step 1") {
		t.Errorf("resume does not say it ran the analysis again at step 1:\n%s", r)
	}
	want := canarySplit{Phase: "aborted", Result: state.ResultAborted, StableSpec: n, StableReady: n, CanarySpec: 0, CanaryReady: 0, Canary: 0, StableImage: "registry.example/web:v1"}
	if diff := cmp.Diff(want, e.canarySplit()); diff != "" {
		t.Errorf("after resume (-want +got):\n%s", diff)
	}
	if msg := e.deployment("web").Annotations[state.KeyMessage]; !strings.Contains(msg, "analysis at step 1") {
		t.Errorf("recorded message %q does not name the analysis at step 1", msg)
	}
	e.assertNoCanaryLease("after resume")
	if rep.MinReady < n || rep.ZeroFor != 0 {
		t.Errorf("ready endpoints fell to %d (none for %s), want never below %d\n%s", rep.MinReady, rep.ZeroFor, n, rep.Summary())
	}
}

// TestCanaryAnotherWriter changes objects of a canary release from outside
// during the pause after step 1 (50%: 2 canary pods, 1 stable, of 3):
//   - `kubectl scale` of the canary to 3: the release stops before step 2
//     with exit 1, naming deployment web-canary, spec.replicas 2 -> 3 and the
//     writer from managedFields; the phase step-1 stays recorded (result
//     failed) and the scale is not overwritten;
//   - an edit of the HTTPRoute's weights (gateway-api router, and the
//     policy.linkerd.io route of the linkerd router): step 2 stops with
//     exit 1 at the write of the route, naming the httproute, its
//     spec.rules and the writer; the edited weights are not overwritten;
//   - an unrelated annotation on the Service and on the canary Deployment:
//     the release goes on to 100% (the stable on v2 at 3, the canary gone).
//
// In every case the ready endpoints of the Service never fall below 3.
func TestCanaryAnotherWriter(t *testing.T) {
	const n = 3
	routeYAML := webHTTPRoute
	tests := []struct {
		name     string
		router   string     // "", gateway-api or linkerd
		write    [][]string // kubectl commands run during the pause
		wantCode int
		wantErr  []string // in stderr
		want     canarySplit
	}{
		{name: "kubectl scale of the canary stops", write: [][]string{{"scale", "deployment/web-canary", "--replicas=3"}},
			wantCode: 1, wantErr: []string{`deployment "NS/web-canary": spec.replicas was changed by another writer ("kubectl`, "from 2 to 3", "not overwriting it", "stopped at phase step-1"},
			want: canarySplit{Phase: "step-1", Result: state.ResultFailed, StableSpec: 1, StableReady: 1, CanarySpec: 3, CanaryReady: 3, Canary: 3, StableImage: "registry.example/web:v1"}},
		{name: "an edit of the route weights stops", router: "gateway-api",
			write:    [][]string{{"patch", "httproutes.gateway.networking.k8s.io/web", "--type=json", "-p", `[{"op":"replace","path":"/spec/rules/0/backendRefs/0/weight","value":90},{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":10}]`}},
			wantCode: 1, wantErr: []string{`httproute "NS/web": spec.rules was changed by another writer ("kubectl`, "not overwriting it", "stopped at phase step-1"},
			// step 2 grew the canary to 3 before it reached the route
			want: canarySplit{Phase: "step-1", Result: state.ResultFailed, StableSpec: 1, StableReady: 1, CanarySpec: 3, CanaryReady: 3, Canary: 3, StableImage: "registry.example/web:v1"}},
		{name: "an edit of the linkerd route weights stops", router: "linkerd",
			write:    [][]string{{"patch", "httproutes.policy.linkerd.io/web", "--type=json", "-p", `[{"op":"replace","path":"/spec/rules/0/backendRefs/0/weight","value":90},{"op":"replace","path":"/spec/rules/0/backendRefs/1/weight","value":10}]`}},
			wantCode: 1, wantErr: []string{`httproute.policy.linkerd.io "NS/web": spec.rules was changed by another writer ("kubectl`, "not overwriting it", "stopped at phase step-1"},
			want: canarySplit{Phase: "step-1", Result: state.ResultFailed, StableSpec: 1, StableReady: 1, CanarySpec: 3, CanaryReady: 3, Canary: 3, StableImage: "registry.example/web:v1"}},
		{name: "an unrelated annotation goes on", write: [][]string{{"annotate", "service/web", "example.com/note=unrelated"}, {"annotate", "deployment/web-canary", "example.com/note=unrelated"}},
			want: canarySplit{Phase: "done", Result: state.ResultSucceeded, StableSpec: n, StableReady: n, CanarySpec: -1, CanaryReady: -1, Canary: -1, StableImage: canaryV2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := canaryApp(t, n)
			args := []string{"canary", "deployment/web", "--image", "app=" + canaryV2, "--steps", "50,100", "--pause", "6s", "--timeout", "3m"}
			routeGVR := httpRouteGVR
			switch tc.router {
			case "gateway-api":
				e.installCRDs([]string{gatewayAPICRD(t)}, []string{"httproutes.gateway.networking.k8s.io"})
				e.Apply(routeYAML)
				args = append(args, "--traffic-router", "gateway-api", "--route", "web")
			case "linkerd":
				e.installCRDs([]string{"testdata/crds/linkerd-httproute.yaml"}, []string{"httproutes.policy.linkerd.io"})
				e.Apply(linkerdPolicyRoute)
				args = append(args, "--traffic-router", "linkerd", "--route", "policy.linkerd.io/web")
				routeGVR = linkerdRouteGVR
			}
			w := e.WatchDowntime("web")
			run := e.startCanaryBg(nil, args...)
			e.waitForPhase("web", "step-1")
			for _, c := range tc.write {
				e.MustKubectl(c...)
			}
			r := run.wait()
			rep := w.Stop()
			t.Logf("canary: %s", r)
			if r.Code != tc.wantCode {
				t.Fatalf("exit %d, want %d", r.Code, tc.wantCode)
			}
			for _, s := range tc.wantErr {
				if s = strings.ReplaceAll(s, "NS", e.NS); !strings.Contains(r.Stderr, s) {
					t.Errorf("stderr does not say %q", s)
				}
			}
			if diff := cmp.Diff(tc.want, e.canarySplit()); diff != "" {
				t.Errorf("after the other writer (-want +got):\n%s", diff)
			}
			if tc.wantCode != 0 {
				if msg := e.deployment("web").Annotations[state.KeyMessage]; !strings.Contains(msg, "was changed by another writer") {
					t.Errorf("recorded message %q does not name the change", msg)
				}
			}
			if tc.router != "" {
				name := func(m map[string]any) string { s, _ := m["name"].(string); return s }
				got := weightsOf(e.getObject(routeGVR, "web"), []string{"spec", "rules"}, "backendRefs", name)
				if diff := cmp.Diff([]string{"web-stable=90", "web-canary=10"}, got); diff != "" {
					t.Errorf("the other writer's route weights were overwritten (-want +got):\n%s", diff)
				}
			}
			e.assertNoCanaryLease("after the release")
			if rep.MinReady < n || rep.ZeroFor != 0 {
				t.Errorf("ready endpoints fell to %d (none for %s), want never below %d\n%s", rep.MinReady, rep.ZeroFor, n, rep.Summary())
			}
			t.Logf("%s", rep.Summary())
		})
	}
}

// TestCanaryAbortAfterThePromotionStarted kills `kubectl zdd canary` with
// SIGKILL once its promotion has rolled the stable to the canary's pod
// template (record still at phase promote, pods of the new version slow to
// become ready), then aborts: the stable goes back to the pod template of
// its from-revision at its 3 replicas, all ready, the canary to 0, result
// aborted, exit 0; the ready endpoints never fall below 3.
func TestCanaryAbortAfterThePromotionStarted(t *testing.T) {
	t.Parallel()
	for _, removed := range []bool{false, true} {
		name := map[bool]string{false: "canary still there", true: "canary already removed"}[removed]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const n = 3
			e := canaryApp(t, n)
			file := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: n, Image: canaryV2, ReadyDelay: "3s", MaxUnavailable: "25%", MaxSurge: "25%"}))
			w := e.WatchDowntime("web")
			run := e.startCanaryBg(nil, "canary", "-f", file, "--steps", "50,100", "--pause", "0", "--timeout", "3m")
			e.waitCanaryDeploy("web", "rolled to the canary's template by the promotion", func(d *appsv1.Deployment) bool {
				return d.Annotations[state.KeyPhase] == "promote" && d.Spec.Template.Spec.Containers[0].Image == canaryV2
			})
			run.signal(os.Kill)
			if killed := run.wait(); killed.Code != -1 {
				t.Fatalf("the canary was not killed during its promotion: %s", killed)
			}
			if removed {
				// where a kill between the promotion's removal of the
				// canary and its record of done leaves things
				e.waitCanaryDeploy("web", "promoted to all its replicas", func(d *appsv1.Deployment) bool {
					return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == n && d.Status.ReadyReplicas == n && d.Status.Replicas == n
				})
				e.MustKubectl("scale", "deployment/web-canary", "--replicas=0")
				e.MustKubectl("delete", "deployment/web-canary", "--wait")
			}
			r := e.Zdd("abort", "deployment/web", "--force-unlock", "--timeout", "2m")
			rep := w.Stop()
			t.Logf("abort: %s", r)
			if r.Code != 0 || !strings.Contains(r.Stdout, "back to the pod template of revision") {
				t.Fatalf("abort of a promotion that changed the stable: want exit 0 restoring the from-revision, got %s", r)
			}
			want := canarySplit{Phase: "aborted", Result: state.ResultAborted, StableSpec: n, StableReady: n, CanarySpec: 0, CanaryReady: 0, Canary: 0, StableImage: "registry.example/web:v1"}
			if diff := cmp.Diff(want, e.canarySplit()); diff != "" {
				t.Errorf("after abort (-want +got):\n%s", diff)
			}
			if d := e.deployment("web"); d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" {
				t.Errorf("the stable's own strategy was not put back: %+v", d.Spec.Strategy)
			}
			e.assertNoCanaryLease("after abort")
			if rep.MinReady < n || rep.ZeroFor != 0 {
				t.Errorf("ready endpoints fell to %d (none for %s), want never below %d\n%s", rep.MinReady, rep.ZeroFor, n, rep.Summary())
			}
			t.Logf("%s", rep.Summary())
		})
	}
}

// TestCanaryResumeAtStartOverAnOldCanary: a canary of an earlier release
// (aborted: web-canary kept at 0 replicas with its old image) is still there
// when a new release is killed right after it records phase start; resume
// must give web-canary the pod template the new release recorded, so the
// stable ends on the new image, not the aborted one.
func TestCanaryResumeAtStartOverAnOldCanary(t *testing.T) {
	t.Parallel()
	const n = 3
	const old = "registry.example/web:v1-aborted"
	e := canaryApp(t, n)
	killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=canary:step-1"}},
		"canary", "deployment/web", "--image", "app="+old, "--steps", "50,100", "--pause", "1s", "--timeout", "2m")
	if killed.Code != -1 {
		t.Fatalf("the first release was not killed at step-1: %s", killed)
	}
	e.mustZdd("abort", "deployment/web", "--force-unlock", "--timeout", "2m")
	if img := e.deployment("web-canary").Spec.Template.Spec.Containers[0].Image; img != old {
		t.Fatalf("the aborted canary runs %q, want %q kept for inspection", img, old)
	}
	w := e.WatchDowntime("web")
	killed = e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=canary:start"}},
		"canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--pause", "1s", "--timeout", "2m")
	if killed.Code != -1 {
		t.Fatalf("the second release was not killed at start: %s", killed)
	}
	r := e.Zdd("resume", "deployment/web", "--force-unlock", "--timeout", "2m")
	rep := w.Stop()
	if r.Code != 0 {
		t.Fatalf("resume: %s", r)
	}
	want := canarySplit{Phase: "done", Result: state.ResultSucceeded, StableSpec: n, StableReady: n, CanarySpec: -1, CanaryReady: -1, Canary: -1, StableImage: canaryV2}
	if diff := cmp.Diff(want, e.canarySplit()); diff != "" {
		t.Errorf("after resume (-want +got):\n%s", diff)
	}
	if rep.MinReady < n || rep.ZeroFor != 0 {
		t.Errorf("ready endpoints fell to %d (none for %s), want never below %d\n%s", rep.MinReady, rep.ZeroFor, n, rep.Summary())
	}
}
