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
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
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
		// migration adds a --migration-job, so the rollout reaches phase migrate
		migration bool
		// manifest releases v2 with -f (server-side apply) instead of --image
		manifest bool
		// noForce runs the command without --force-unlock while the dead
		// run's lease is still live, the dead run having named another
		// host as its own: refused, exit 1, naming the holder
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
		// the first phases come before the Deployment is changed: the
		// record holds the release, so resume applies it and finishes it,
		// and abort only marks the operation aborted
		{name: "preflight then resume", phase: "preflight", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "rolled out: revision 2"},
		{name: "preflight then abort", phase: "preflight", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantOut: "had not changed it"},
		{name: "migrate then resume", migration: true, phase: "migrate", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "migrate: running job"},
		{name: "migrate then abort", migration: true, phase: "migrate", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantOut: "is left as it is"},
		{name: "apply then resume", phase: "apply", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "rolled out: revision 2"},
		{name: "apply then abort", phase: "apply", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantOut: "had not changed it"},
		{name: "manifest apply then resume", manifest: true, phase: "apply", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "rolled out: revision 2"},
		{name: "watch then resume", phase: "watch", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "rolled out: revision 2"},
		{name: "watch then abort", phase: "watch", command: "abort", wantImage: v1, wantResult: state.ResultAborted, wantOut: "back on the pod template of revision 1"},
		{name: "done then resume", phase: "done", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "nothing to resume"},
		{name: "done then abort", phase: "done", command: "abort", wantCode: 2, wantImage: v2, wantResult: state.ResultSucceeded},
		{name: "analysis then resume", analysis: true, phase: "analysis", command: "resume", wantImage: v2, wantResult: state.ResultSucceeded, wantOut: "analysis: passed"},
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
			if tc.migration {
				job := writeTemp(t, "migrate.yaml", jobManifest(JobSpec{}))
				args = append(args, "--migration-job", job)
			}
			if tc.manifest {
				v2yaml := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: v2}))
				args = []string{"rollout", "-f", v2yaml, "--timeout", timeout}
			}
			if tc.bad {
				bad := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: v2, NeverReady: true}))
				args = []string{"rollout", "-f", bad, "--timeout", timeout}
			}
			env := []string{state.KillAtPhaseEnv + "=rollout:" + tc.phase}
			if tc.noForce {
				// the killed run names another machine as its host: its
				// lease cannot be known to be dead and must be waited for (a
				// run of this machine that is gone is taken over at once:
				// TestLeaseOfKilledRunTakenAtOnce)
				env = append(env, state.HostnameEnv+"=elsewhere")
			}
			killed := e.ZddWith(ZddOpts{Env: env}, args...)
			if killed.Code != -1 || strings.Contains(killed.Stdout, "rolled out: revision") && tc.phase != "done" {
				t.Fatalf("the rollout was not killed at phase %s: %s", tc.phase, killed)
			}
			d := getDeployment(e, "web")
			if got := d.Annotations[state.KeyPhase]; got != tc.phase {
				t.Fatalf("recorded phase %q after the kill, want %q", got, tc.phase)
			}

			if tc.noForce {
				r := e.Zdd(tc.command, "deployment/web", "--timeout", "2m")
				if r.Code != tc.wantCode || !strings.Contains(r.Stderr, "is held by") || !strings.Contains(r.Stderr, "@elsewhere pid ") || !strings.Contains(r.Stderr, "--force-unlock") {
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
			resumeArgs := []string{tc.command, "deployment/web", "--force-unlock", "--timeout", "2m"}
			if tc.command == "resume" && (tc.migration || tc.analysis) {
				// the recorded migration Job and analysis run only when confirmed
				resumeArgs = append(resumeArgs, "--yes")
			}
			r := e.Zdd(resumeArgs...)
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
	lw := kube.NameScoped(e.Client.AppsV1().Deployments(e.NS), name)
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
// message telling the user to run resume or abort, the phase recorded with
// result interrupted (as blue-green and canary record it) and the Lease
// released, so that resume (without
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
	if d.Annotations[state.KeyPhase] != "watch" || d.Annotations[state.KeyResult] != state.ResultInterrupted {
		t.Errorf("record after Ctrl-C: phase %q result %q, want watch and interrupted (as every strategy records it)", d.Annotations[state.KeyPhase], d.Annotations[state.KeyResult])
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

// TestResilienceRolloutResumeRecordedSettings kills `kubectl zdd rollout`
// at a phase boundary, then runs `kubectl zdd resume --force-unlock
// --timeout 2m` with none of the rollout's flags: resume reads --analysis
// (with its header ${VAR} unexpanded), --analysis-during, --no-rollback and
// --timeout from the record and honours them. The analysis's HTTP endpoint
// passes while the killed run uses it and fails once resume measures, so
// resume rolls back (exit 1), or leaves the new revision with
// --no-rollback. The secret header value reaches the endpoint but never an
// annotation of the Deployment or its ReplicaSets, nor any output.
func TestResilienceRolloutResumeRecordedSettings(t *testing.T) {
	const v1, v2 = "registry.example/web:v1", "registry.example/web:v2"
	const secret = "e2e-secret-7f3a91"
	tests := []struct {
		name       string
		flags      []string
		bad        bool
		phase      string
		wantImage  string
		wantResult string
		wantOut    []string
		wantErr    []string
	}{
		{name: "analysis after the rollout fails on resume", flags: []string{"--analysis"}, phase: "analysis", wantImage: v1, wantResult: state.ResultRolledBack,
			wantOut: []string{"recorded analysis", "back on the pod template of revision 1"}, wantErr: []string{"analysis failed", "rolled back to revision 1"}},
		{name: "analysis during the rollout fails on resume", flags: []string{"--analysis", "--analysis-during"}, phase: "watch", wantImage: v1, wantResult: state.ResultRolledBack,
			wantOut: []string{"recorded analysis"}, wantErr: []string{"analysis failed", "rolled back to revision 1"}},
		{name: "no-rollback is honoured", flags: []string{"--analysis", "--no-rollback"}, phase: "analysis", wantImage: v2, wantResult: state.ResultFailed,
			wantErr: []string{"not rolled back (--no-rollback was given)"}},
		{name: "the recorded timeout is honoured", bad: true, flags: []string{"--timeout", "8s"}, phase: "watch", wantImage: v1, wantResult: state.ResultRolledBack,
			wantOut: []string{"using the recorded --timeout 8s"}, wantErr: []string{"not ready within --timeout 8s", "rolled back to revision 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			startApp(e, AppSpec{})
			w := e.WatchDowntime("web")

			var failing atomic.Bool
			var sawSecret atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer "+secret {
					http.Error(w, "unauthorized", http.StatusUnauthorized)
					return
				}
				sawSecret.Store(true)
				if failing.Load() {
					fmt.Fprint(w, "5")
					return
				}
				fmt.Fprint(w, "0")
			}))
			t.Cleanup(srv.Close)
			spec := writeTemp(t, "analysis.yaml", fmt.Sprintf("interval: 200ms\ncount: 2\nfailureLimit: 0\nerrorLimit: 0\nmetrics:\n- name: error-rate\n  max: 1\n  http:\n    url: %s/metric\n    headers:\n      Authorization: Bearer ${ZDD_E2E_TOKEN}\n", srv.URL))

			args := []string{"rollout", "deployment/web", "--image", "app=" + v2}
			if tc.bad {
				bad := writeTemp(t, "web-v2.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: v2, NeverReady: true}))
				args = []string{"rollout", "-f", bad}
			}
			for _, f := range tc.flags {
				args = append(args, f)
				if f == "--analysis" {
					args = append(args, spec)
				}
			}
			if !slices.Contains(tc.flags, "--timeout") {
				args = append(args, "--timeout", "2m")
			}
			tokenEnv := "ZDD_E2E_TOKEN=" + secret
			killed := e.ZddWith(ZddOpts{Env: []string{tokenEnv, state.KillAtPhaseEnv + "=rollout:" + tc.phase}}, args...)
			if killed.Code != -1 {
				t.Fatalf("the rollout was not killed at phase %s: %s", tc.phase, killed)
			}
			if got := getDeployment(e, "web").Annotations[state.KeyPhase]; got != tc.phase {
				t.Fatalf("recorded phase %q after the kill, want %q", got, tc.phase)
			}

			failing.Store(true)
			r := e.ZddWith(ZddOpts{Env: []string{tokenEnv}}, "resume", "deployment/web", "--force-unlock", "--timeout", "2m", "--yes")
			rep := w.Stop()
			if r.Code != 1 {
				t.Fatalf("resume: want exit 1, got %s", r)
			}
			for _, s := range tc.wantOut {
				if !strings.Contains(r.Stdout, s) {
					t.Errorf("resume stdout does not say %q:\n%s", s, r)
				}
			}
			for _, s := range tc.wantErr {
				if !strings.Contains(r.Stderr, s) {
					t.Errorf("resume stderr does not say %q:\n%s", s, r)
				}
			}
			e.RolloutStatus("web", 2*time.Minute)
			d := getDeployment(e, "web")
			if got := imageOf(d); got != tc.wantImage {
				t.Errorf("image %q after resume, want %q", got, tc.wantImage)
			}
			if got := d.Annotations[state.KeyResult]; got != tc.wantResult {
				t.Errorf("recorded result %q, want %q (message %q)", got, tc.wantResult, d.Annotations[state.KeyMessage])
			}
			if slices.Contains(tc.flags, "--analysis") {
				if !sawSecret.Load() {
					t.Errorf("the endpoint never got the secret header: the test proves nothing about it")
				}
				if !strings.Contains(d.Annotations[state.ParamPrefix+"analysis"], "${ZDD_E2E_TOKEN}") {
					t.Errorf("the recorded analysis does not hold the unexpanded ${ZDD_E2E_TOKEN}: %q", d.Annotations[state.ParamPrefix+"analysis"])
				}
			}
			rss, err := e.Client.AppsV1().ReplicaSets(e.NS).List(e.Ctx, metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			objs := map[string]map[string]string{"deployment/web": d.Annotations}
			for _, rs := range rss.Items {
				objs["replicaset/"+rs.Name] = rs.Annotations
			}
			for obj, ann := range objs {
				for k, v := range ann {
					if strings.Contains(v, secret) {
						t.Errorf("annotation %s of %s holds the secret header value", k, obj)
					}
				}
			}
			for _, out := range []string{killed.Stdout, killed.Stderr, r.Stdout, r.Stderr} {
				if strings.Contains(out, secret) {
					t.Errorf("the secret header value was printed:\n%s", out)
				}
			}
			if rep.MinReady < rolloutReplicas || rep.ZeroFor != 0 {
				t.Errorf("ready endpoints fell to %d (none for %s), want never below %d", rep.MinReady, rep.ZeroFor, rolloutReplicas)
			}
		})
	}
}
