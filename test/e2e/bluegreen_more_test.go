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
	"sync"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// waitService watches Service name until cond holds for it.
func (e *Env) waitService(name, what string, cond func(*corev1.Service) bool) {
	e.T.Helper()
	lw := kube.NameScoped(e.Client.CoreV1().Services(e.NS), name)
	has := func(obj any) bool {
		s, ok := obj.(*corev1.Service)
		return ok && s.Name == name && cond(s)
	}
	e.waitUntil(lw, &corev1.Service{}, has, fmt.Sprintf("service %q: %s", name, what))
}

// waitDeployment watches Deployment name until cond holds for it.
func (e *Env) waitDeployment(name, what string, cond func(*appsv1.Deployment) bool) {
	e.T.Helper()
	lw := kube.NameScoped(e.Client.AppsV1().Deployments(e.NS), name)
	has := func(obj any) bool {
		d, ok := obj.(*appsv1.Deployment)
		return ok && d.Name == name && cond(d)
	}
	e.waitUntil(lw, &appsv1.Deployment{}, has, fmt.Sprintf("deployment %q: %s", name, what))
}

func (e *Env) waitUntil(lw cache.ListerWatcher, obj runtime.Object, has func(any) bool, what string) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, 2*time.Minute)
	defer cancel()
	_, err := watchtools.UntilWithSync(ctx, lw, obj, func(store cache.Store) (bool, error) {
		for _, o := range store.List() {
			if has(o) {
				return true, nil
			}
		}
		return false, nil
	}, func(ev watch.Event) (bool, error) { return ev.Type != watch.Deleted && has(ev.Object), nil })
	if err != nil {
		e.T.Fatalf("waiting for %s: %v", what, err)
	}
}

func phaseIs(phase string) func(*corev1.Service) bool {
	return func(s *corev1.Service) bool { return s.Annotations[state.KeyPhase] == phase }
}

// started is a kubectl zdd run in the background.
type started struct {
	cmd         *exec.Cmd
	out, errOut bytes.Buffer
	cancel      context.CancelFunc
}

// zddStart starts `kubectl zdd ARGS -n NS` without waiting for it.
func (e *Env) zddStart(extraEnv []string, args ...string) *started {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, commandTimeout)
	s := &started{cancel: cancel}
	s.cmd = exec.CommandContext(ctx, kubectlPath, e.withNamespace(append([]string{"zdd"}, args...))...)
	s.cmd.Env = commandEnv(extraEnv...)
	s.cmd.Stdout, s.cmd.Stderr = &s.out, &s.errOut
	if err := s.cmd.Start(); err != nil {
		cancel()
		e.T.Fatal(err)
	}
	e.T.Cleanup(cancel)
	return s
}

// signal sends sig (kubectl execs the plugin, so it reaches kubectl zdd
// itself) and waits for the run to end.
func (s *started) signal(t *testing.T, sig os.Signal) CmdResult {
	t.Helper()
	if err := s.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	return s.wait(t)
}

func (s *started) wait(t *testing.T) CmdResult {
	t.Helper()
	err := s.cmd.Wait()
	s.cancel()
	r := CmdResult{Stdout: s.out.String(), Stderr: s.errOut.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.Code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("kubectl zdd: %v", err)
	}
	return r
}

// checkInterrupted checks what Ctrl-C must leave: exit 3, a message naming
// resume and abort, the phase recorded with result interrupted, the Service
// on colour, and no Lease.
func checkInterrupted(t *testing.T, e *Env, r CmdResult, phase, colour string) {
	t.Helper()
	wantCode(t, "interrupted run", r, 3)
	for _, s := range []string{"interrupted in phase " + phase, "kubectl zdd resume service/web", "kubectl zdd abort service/web"} {
		if !strings.Contains(r.Stderr, s) {
			t.Errorf("stderr does not say %q:\n%s", s, r.Stderr)
		}
	}
	ann := serviceAnnotations(e, "web")
	if ann[state.KeyPhase] != phase || ann[state.KeyResult] != "interrupted" {
		t.Errorf("record after the interrupt: phase %q result %q, want %s and interrupted", ann[state.KeyPhase], ann[state.KeyResult], phase)
	}
	if got := e.serviceSelector("web")["version"]; got != colour {
		t.Errorf("service selects version=%q after the interrupt, want %s", got, colour)
	}
	if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("service", "web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the lease is still there after the interrupt (err %v)", err)
	}
}

// analysisServer answers every HTTP metric query with value (a passing
// analysis answers 0, below max 0.05) and counts the queries per colour.
type analysisServer struct {
	mu    sync.Mutex
	value string
	asked map[string]int
	url   string
}

func newAnalysisServer(t *testing.T, value string) *analysisServer {
	a := &analysisServer{value: value, asked: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		a.asked[r.URL.Query().Get("color")]++
		fmt.Fprint(w, a.value)
	}))
	t.Cleanup(srv.Close)
	a.url = srv.URL
	return a
}

func (a *analysisServer) set(value string) {
	a.mu.Lock()
	a.value = value
	a.mu.Unlock()
}

func (a *analysisServer) count(colour string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.asked[colour]
}

// file writes an analysis of count measurements, one a second.
func (a *analysisServer) file(t *testing.T, count int) string {
	spec := fmt.Sprintf("interval: 1s\ncount: %d\nfailureLimit: 0\nmetrics:\n- name: error-rate\n  max: 0.05\n  http:\n    url: %s/errors?color={{.Color}}\n", count, a.url)
	return writeTemp(t, "analysis.yaml", spec)
}

// TestBlueGreenInterrupted sends SIGINT (Ctrl-C) or SIGTERM to `kubectl zdd
// bluegreen deploy`, `promote` or `rollback` at these moments: while the new
// colour scales up (slow pods), during the post-switch analysis, during
// --scale-down-delay, and while a rollback scales the retired colour back
// up. Each run stops with exit 3 and a message naming resume and abort, the
// phase recorded with result "interrupted", the Service wholly on one colour
// and no Lease left; then resume (without --force-unlock) reaches the
// command's end (green live with blue retired; for the rollback blue live
// with green still up), or abort blue live with green at 0. Over the whole
// sequence the Service's ready endpoints never fall below 3 and its selector
// never matches zero ready pods.
func TestBlueGreenInterrupted(t *testing.T) {
	tests := []struct {
		name string
		sig  os.Signal
		// slow makes the pods take 8s to become ready: of the new colour
		// (deploy -f), or of every colour (slowAll)
		slow, slowAll bool
		// before runs first: "manual" deploy --manual-promote, "deployed" a
		// whole deploy (green live, blue at 0)
		before string
		// cmd is the interrupted command (default deploy); analysis adds a
		// passing --analysis of 8 measurements
		cmd      []string
		analysis bool
		args     []string
		phase    string
		// waitFor is the Deployment to wait for before the signal
		waitFor string
		// colour the Service selects after the interrupt
		colour  string
		command string
		want    string // colour after resume/abort
		// otherUp: the colour not live after resume/abort stays up
		otherUp    bool
		wantResult string
	}{
		{name: "scaling up then resume", sig: os.Interrupt, slow: true, phase: "deploying", waitFor: "web-green", colour: "blue", command: "resume", want: "green"},
		{name: "scaling up then abort", sig: syscall.SIGTERM, slow: true, phase: "deploying", waitFor: "web-green", colour: "blue", command: "abort", want: "blue"},
		{name: "analysis then resume", sig: os.Interrupt, analysis: true, phase: "analysis", colour: "green", command: "resume", want: "green"},
		{name: "scale-down-delay then abort", sig: syscall.SIGTERM, args: []string{"--scale-down-delay", "5m"}, phase: "scale-down-delay", colour: "green", command: "abort", want: "blue"},
		{name: "scale-down-delay then resume", sig: os.Interrupt, args: []string{"--scale-down-delay", "15s"}, phase: "scale-down-delay", colour: "green", command: "resume", want: "green"},
		{name: "promote analysis then abort", sig: os.Interrupt, before: "manual", cmd: []string{"bluegreen", "promote", "service/web", "--timeout", "2m"}, analysis: true,
			phase: "analysis", colour: "green", command: "abort", want: "blue"},
		{name: "rollback scaling up then resume", sig: os.Interrupt, slowAll: true, before: "deployed", cmd: []string{"bluegreen", "rollback", "service/web", "--timeout", "2m"},
			phase: "scaling-up", waitFor: "web-blue", colour: "green", command: "resume", want: "blue", otherUp: true, wantResult: state.ResultRolledBack},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			if tc.slowAll {
				d := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, ReadyDelay: "8s", PodLabels: map[string]string{"version": "blue"}})
				d.Name = "web-blue"
				d.Spec.Selector.MatchLabels["version"] = "blue"
				e.Apply(toYAML(d, appService(AppSpec{Name: "web", ServiceSelector: map[string]string{"app": "web", "version": "blue"}})))
			} else {
				e.Apply(blueGreenApp("registry.example/web:v1"))
			}
			e.RolloutStatus("web-blue", 2*time.Minute)
			e.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
			dt, cw := e.WatchDowntime("web"), watchColours(e, "web")

			deploy := []string{"bluegreen", "deploy", "service/web", "--timeout", "2m"}
			if tc.slow {
				v2 := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, Image: "registry.example/web:v2", ReadyDelay: "8s"})
				deploy = append(deploy, "-f", writeTemp(t, "web-v2.yaml", toYAML(v2)))
			} else {
				deploy = append(deploy, "--image", "app=registry.example/web:v2")
			}
			switch tc.before {
			case "manual":
				wantCode(t, "bluegreen deploy --manual-promote", e.Zdd(append(deploy, "--manual-promote")...), 0)
			case "deployed":
				wantCode(t, "bluegreen deploy", e.Zdd(deploy...), 0)
			}
			args := append([]string{}, deploy...)
			if tc.cmd != nil {
				args = append([]string{}, tc.cmd...)
			}
			var srv *analysisServer
			if tc.analysis {
				srv = newAnalysisServer(t, "0")
				args = append(args, "--analysis", srv.file(t, 8))
			}
			run := e.zddStart(nil, append(args, tc.args...)...)
			e.waitService("web", "phase "+tc.phase, phaseIs(tc.phase))
			if tc.waitFor != "" {
				// the colour exists and is scaling up
				e.waitDeployment(tc.waitFor, "scaling up", func(d *appsv1.Deployment) bool { return d.Spec.Replicas != nil && *d.Spec.Replicas > 0 })
			}
			r := run.signal(t, tc.sig)
			checkInterrupted(t, e, r, tc.phase, tc.colour)
			if tc.waitFor != "" {
				if _, ready := e.replicas(tc.waitFor); ready == bgReplicas {
					t.Errorf("%s was already fully ready when interrupted: the test did not interrupt the scale-up", tc.waitFor)
				}
			}
			asked := 0
			if srv != nil {
				asked = srv.count("green")
			}

			resumeArgs := []string{tc.command, "service/web", "--timeout", "2m"}
			if tc.analysis && tc.command == "resume" {
				// the recorded analysis runs only when confirmed
				resumeArgs = append(resumeArgs, "--yes")
			}
			after := e.Zdd(resumeArgs...)
			samples := cw.Stop()
			assertNoDip(t, dt.Stop(), samples, bgReplicas)
			wantCode(t, tc.command+" after the interrupt", after, 0)
			if got := e.serviceSelector("web")["version"]; got != tc.want {
				t.Errorf("service selects version=%q after %s, want %s", got, tc.command, tc.want)
			}
			other := map[string]string{"blue": "green", "green": "blue"}[tc.want]
			if spec, ready := e.replicas("web-" + tc.want); spec != bgReplicas || ready != bgReplicas {
				t.Errorf("web-%s: %d/%d ready after %s, want %d/%d", tc.want, ready, spec, tc.command, bgReplicas, bgReplicas)
			}
			wantOther := int32(0)
			if tc.otherUp {
				wantOther = bgReplicas
			}
			if spec, _ := e.replicas("web-" + other); spec != wantOther {
				t.Errorf("web-%s has %d replicas after %s, want %d", other, spec, tc.command, wantOther)
			}
			wantResult := map[string]string{"resume": state.ResultSucceeded, "abort": state.ResultAborted}[tc.command]
			if tc.wantResult != "" {
				wantResult = tc.wantResult
			}
			if got := serviceAnnotations(e, "web")[state.KeyResult]; got != wantResult {
				t.Errorf("recorded result %q after %s, want %q", got, tc.command, wantResult)
			}
			if srv != nil && tc.command == "resume" && srv.count("green") <= asked {
				t.Errorf("resume did not run the recorded analysis again (%d queries about green before, %d after)", asked, srv.count("green"))
			}
			if tc.phase == "scale-down-delay" && tc.command == "resume" && !strings.Contains(after.Stdout, "(--scale-down-delay)") {
				t.Errorf("resume did not keep the old colour up for the rest of --scale-down-delay:\n%s", after)
			}
		})
	}
}

// pausedAtSwitch starts deploy with the ZDD_TEST_SWITCH_PAUSE_FILE hook and
// returns once the binary has passed the guard and waits before the
// selector patch; writing gate lets it go on.
func pausedAtSwitch(t *testing.T, e *Env, args ...string) (gate string, res chan CmdResult) {
	t.Helper()
	gate = filepath.Join(t.TempDir(), "go")
	res = make(chan CmdResult, 1)
	go func() { res <- e.ZddWith(ZddOpts{Env: []string{"ZDD_TEST_SWITCH_PAUSE_FILE=" + gate}}, args...) }()
	deadline := time.After(3 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond) // the hook's file has no watch API
	defer tick.Stop()
	for {
		select {
		case r := <-res:
			t.Fatalf("deploy ended before reaching the switch: %s", r)
		case <-deadline:
			t.Fatal("deploy never reached the switch")
		case <-tick.C:
			if _, err := os.Stat(gate + ".waiting"); err == nil {
				return gate, res
			}
		}
	}
}

// TestBlueGreenConcurrentEditRetried: the Service is annotated and labelled
// by someone else between the guard and the selector patch. The patch's
// resourceVersion precondition fails; since the edit leaves the selector
// alone, deploy reads the Service again and switches (exit 0), keeping the
// edit, with no dip.
func TestBlueGreenConcurrentEditRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Apply(blueGreenApp("registry.example/web:v1"))
	e.RolloutStatus("web-blue", 2*time.Minute)
	e.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
	dt, cw := e.WatchDowntime("web"), watchColours(e, "web")
	gate, res := pausedAtSwitch(t, e, "bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "2m")
	e.MustKubectl("annotate", "service/web", "example.com/edited-by=someone-else")
	e.MustKubectl("label", "service/web", "edited=true")
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-res
	samples := cw.Stop()
	assertNoDip(t, dt.Stop(), samples, bgReplicas)
	wantCode(t, "bluegreen deploy during an unrelated edit", r, 0)
	if !strings.Contains(r.Stdout, "was changed by someone else during the switch, not its selector: switching again") {
		t.Errorf("deploy does not say it switched again after the edit:\n%s", r.Stdout)
	}
	svc, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Spec.Selector["version"]; got != "green" {
		t.Errorf("service selects version=%q, want green", got)
	}
	if svc.Annotations["example.com/edited-by"] != "someone-else" || svc.Labels["edited"] != "true" {
		t.Errorf("the concurrent edit was overwritten: labels %v annotations %v", svc.Labels, svc.Annotations)
	}
	if got := colours(samples); strings.Join(got, ",") != "blue,green" {
		t.Errorf("colours selected over time %v, want [blue green]", got)
	}
}

// TestBlueGreenIdleColourEdited: while the new colour scales up, someone
// else sets another image on its Deployment. The guard before the switch
// sees the spec changed since deploy applied it: no switch, exit 1, the
// error names the Deployment and both images, the Service stays on blue.
func TestBlueGreenIdleColourEdited(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Apply(blueGreenApp("registry.example/web:v1"))
	e.RolloutStatus("web-blue", 2*time.Minute)
	e.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
	dt, cw := e.WatchDowntime("web"), watchColours(e, "web")
	v2 := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, Image: "registry.example/web:v2", ReadyDelay: "6s"})
	run := e.zddStart(nil, "bluegreen", "deploy", "service/web", "-f", writeTemp(t, "web-v2.yaml", toYAML(v2)), "--timeout", "2m")
	e.waitDeployment("web-green", "created", func(*appsv1.Deployment) bool { return true })
	e.MustKubectl("set", "image", "deployment/web-green", "app=registry.example/web:v3")
	r := run.wait(t)
	samples := cw.Stop()
	assertNoDip(t, dt.Stop(), samples, bgReplicas)
	wantCode(t, "bluegreen deploy while its new colour is edited", r, 1)
	for _, want := range []string{`web-green" was changed by someone else`, "images app=registry.example/web:v3, deploy set app=registry.example/web:v2", "no switch"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, r.Stderr)
		}
	}
	if got := colours(samples); strings.Join(got, ",") != "blue" {
		t.Errorf("colours selected over time %v, want only blue", got)
	}
	if got := imageOf(getDeployment(e, "web-green")); got != "registry.example/web:v3" {
		t.Errorf("web-green runs %s, want the other writer's registry.example/web:v3 (not overwritten)", got)
	}
}

// TestBlueGreenInitKilled kills `kubectl zdd bluegreen init` with SIGKILL
// right after it records a phase, then runs resume or abort: resume
// finishes the conversion (the Service on blue, web-blue fully ready, the
// original Deployment at 0) from the recorded original Deployment; abort
// before the switch leaves the Service as it was (no colour in its
// selector, the original fully ready) and the copy at 0. Ready endpoints
// never below 3 throughout.
func TestBlueGreenInitKilled(t *testing.T) {
	tests := []struct {
		name, phase, command string
		// colour the Service selects at the end ("" = none)
		colour string
		// orig and copy are the spec replicas of web and web-blue at the end
		orig, copy int32
		result     string
	}{
		{name: "init then resume", phase: "init", command: "resume", colour: "blue", orig: 0, copy: bgReplicas, result: state.ResultSucceeded},
		{name: "switching then resume", phase: "switching", command: "resume", colour: "blue", orig: 0, copy: bgReplicas, result: state.ResultSucceeded},
		{name: "switching then abort", phase: "switching", command: "abort", colour: "", orig: bgReplicas, copy: 0, result: state.ResultAborted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.Apply(appManifest(AppSpec{Name: "web", Replicas: bgReplicas}))
			e.RolloutStatus("web", 2*time.Minute)
			e.waitEndpoints("web", map[string]string{"app": "web"}, bgReplicas)
			dt := e.WatchDowntime("web")
			killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=bluegreen:" + tc.phase}}, "bluegreen", "init", "service/web", "--timeout", "2m")
			if killed.Code != -1 && killed.Code != 137 {
				t.Fatalf("init was not killed at phase %s: %s", tc.phase, killed)
			}
			r := e.Zdd(tc.command, "service/web", "--force-unlock", "--timeout", "2m")
			rep := dt.Stop()
			wantCode(t, tc.command+" of a killed init", r, 0)
			if rep.MinReady < bgReplicas || rep.ZeroFor > 0 {
				t.Errorf("ready endpoints fell to %d (want at least %d), %s with none", rep.MinReady, bgReplicas, rep.ZeroFor)
			}
			if got := e.serviceSelector("web")["version"]; got != tc.colour {
				t.Errorf("service selects version=%q after %s, want %q", got, tc.command, tc.colour)
			}
			for name, want := range map[string]int32{"web": tc.orig, "web-blue": tc.copy} {
				spec, ready := bgDeploymentState(e, name)
				if spec != want || (want > 0 && ready != want) {
					t.Errorf("%s: %d/%d ready after %s, want %d/%d", name, ready, spec, tc.command, want, want)
				}
			}
			if got := serviceAnnotations(e, "web")[state.KeyResult]; got != tc.result {
				t.Errorf("recorded result %q after %s, want %q", got, tc.command, tc.result)
			}
		})
	}
}

// TestBlueGreenReplicasAndColours: a Service on track=a (--color-label track
// --colors a,b) is deployed with --replicas: the new colour web-b gets that
// many replicas and the Service moves to track=b with no dip. Then a deploy
// with fewer --replicas (and --min-ready 2, since the guard otherwise wants
// as many ready as the live colour has) is killed at its first phase, and
// resume (which has no such flags) finishes it from the recorded label,
// colours, replicas and min-ready.
func TestBlueGreenReplicasAndColours(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, PodLabels: map[string]string{"track": "a"}})
	d.Name = "web-a"
	d.Spec.Selector.MatchLabels["track"] = "a"
	e.Apply(toYAML(d, appService(AppSpec{Name: "web", ServiceSelector: map[string]string{"app": "web", "track": "a"}})))
	e.RolloutStatus("web-a", 2*time.Minute)
	e.waitEndpoints("web", map[string]string{"app": "web", "track": "a"}, bgReplicas)
	colourFlags := []string{"--color-label", "track", "--colors", "a,b"}

	dt, cw := e.WatchDowntime("web"), watchColours(e, "web")
	r := e.Zdd(append([]string{"bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--replicas", "5", "--timeout", "2m"}, colourFlags...)...)
	wantCode(t, "bluegreen deploy --replicas 5 on track a,b", r, 0)
	assertNoDip(t, dt.Stop(), cw.Stop(), bgReplicas)
	if got := e.serviceSelector("web")["track"]; got != "b" {
		t.Errorf("service selects track=%q, want b", got)
	}
	if spec, ready := e.replicas("web-b"); spec != 5 || ready != 5 {
		t.Errorf("web-b: %d/%d ready, want 5/5 (--replicas)", ready, spec)
	}
	if spec, _ := e.replicas("web-a"); spec != 0 {
		t.Errorf("web-a has %d replicas after the switch, want 0", spec)
	}

	dt, cw = e.WatchDowntime("web"), watchColours(e, "web")
	killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=bluegreen:deploying"}},
		append([]string{"bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v3", "--replicas", "2", "--min-ready", "2", "--timeout", "2m"}, colourFlags...)...)
	if killed.Code != -1 && killed.Code != 137 {
		t.Fatalf("deploy was not killed at phase deploying: %s", killed)
	}
	r = e.Zdd("resume", "service/web", "--force-unlock", "--timeout", "2m")
	assertNoDip(t, dt.Stop(), cw.Stop(), 2)
	wantCode(t, "resume of the killed deploy", r, 0)
	if got := e.serviceSelector("web")["track"]; got != "a" {
		t.Errorf("service selects track=%q after resume, want a", got)
	}
	a := getDeployment(e, "web-a")
	if *a.Spec.Replicas != 2 || a.Status.ReadyReplicas != 2 || imageOf(a) != "registry.example/web:v3" {
		t.Errorf("web-a after resume: %d/%d ready, image %s; want 2/2 and registry.example/web:v3", a.Status.ReadyReplicas, *a.Spec.Replicas, imageOf(a))
	}
	if spec, _ := e.replicas("web-b"); spec != 0 {
		t.Errorf("web-b has %d replicas after resume, want 0", spec)
	}
}
