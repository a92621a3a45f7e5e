//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
)

// Environment variables of TestResilienceRandomKill.
const (
	// randomRunsEnv sets the number of kill runs per strategy (default 20).
	randomRunsEnv = "ZDD_RANDOM_RUNS"
	// randomSeedEnv replays a logged seed.
	randomSeedEnv = "ZDD_RANDOM_SEED"
)

// randomReplicas is the size of every app of the random-kill loop.
const randomReplicas = 3

// endState is what serves at the end of a run.
type endState struct {
	// Image is the image of the serving pods: Deployment web for rollout
	// and canary, the live colour's Deployment for blue-green.
	Image string
	// Colour is the colour the Service web selects (blue-green only).
	Colour string
	// Other is the expected spec.replicas of the other Deployment (the idle
	// colour for blue-green, web-canary for canary): otherGone when it must
	// not exist, otherZeroOrGone when either 0 replicas or no Deployment is
	// right; unused for rollout.
	Other int32
}

const (
	otherGone        = -1
	otherZeroOrGone  = -2
	noRecord         = "-"
	outcomeNew       = "new"
	outcomeOld       = "old"
	kindBeforeRecord = "before-record"
	kindFinished     = "finished"
	kindInFlight     = "in-flight"
)

// randomStrategy is one strategy under the random-kill loop.
type randomStrategy struct {
	name string
	// target is the object carrying the record, as resume and abort take it
	target string
	// setup creates the namespace and the app at registry.example/web:v1
	setup func(t *testing.T) *Env
	// command is the release of image; deleteOld asks blue-green to delete
	// the old colour instead of scaling it to 0
	command func(image string, deleteOld bool) []string
	// live reads what serves now
	live func(e *Env) endState
	// want is the expected end state: after a release of image from before
	// (outcomeNew), or back on before (outcomeOld)
	want func(before endState, image, outcome string, deleteOld bool) endState
	// check returns what differs from want
	check func(e *Env, want endState) []string
}

func (s randomStrategy) recordObject(e *Env) map[string]string {
	e.T.Helper()
	kind, name, _ := strings.Cut(s.target, "/")
	if kind == "service" {
		return serviceAnnotations(e, name)
	}
	return e.deployment(name).Annotations
}

func otherColour(c string) string {
	if c == "blue" {
		return "green"
	}
	return "blue"
}

func imageOfDeployment(e *Env, name string) string {
	d := e.deployment(name)
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return ""
	}
	return d.Spec.Template.Spec.Containers[0].Image
}

// fullyServing returns a problem when Deployment name is not at n replicas,
// all of them updated, ready and available on image.
func fullyServing(e *Env, name, image string, n int32) []string {
	d := e.deployment(name)
	var out []string
	if got := imageOfDeployment(e, name); got != image {
		out = append(out, fmt.Sprintf("deployment %s runs image %q, want %q", name, got, image))
	}
	// (not observedGeneration: the record's last annotation write bumps the
	// generation of a Deployment, and the controller observes it a moment
	// after the command has ended)
	st := d.Status
	if *d.Spec.Replicas != n || st.Replicas != n || st.UpdatedReplicas != n || st.ReadyReplicas != n || st.AvailableReplicas != n {
		out = append(out, fmt.Sprintf("deployment %s: spec.replicas %d, status replicas %d updated %d ready %d available %d, want %d of each",
			name, *d.Spec.Replicas, st.Replicas, st.UpdatedReplicas, st.ReadyReplicas, st.AvailableReplicas, n))
	}
	return out
}

// otherIs returns a problem when Deployment name is not as want says
// (otherGone, otherZeroOrGone, or a replica count with no pod beyond it).
func otherIs(e *Env, name string, want int32) []string {
	d, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if want == otherGone || want == otherZeroOrGone {
			return nil
		}
		return []string{fmt.Sprintf("deployment %s is gone, want it at %d replicas", name, want)}
	}
	if err != nil {
		return []string{fmt.Sprintf("reading deployment %s: %v", name, err)}
	}
	switch {
	case want == otherGone:
		return []string{fmt.Sprintf("deployment %s exists (%d replicas), want it gone", name, *d.Spec.Replicas)}
	case want == otherZeroOrGone:
		want = 0
	}
	// spec only: a retired colour or a canary scaled to 0 still has pods
	// terminating when the command ends; what serves is checked by the
	// watches of the Services
	if *d.Spec.Replicas != want {
		return []string{fmt.Sprintf("deployment %s: spec.replicas %d (status.replicas %d), want %d", name, *d.Spec.Replicas, d.Status.Replicas, want)}
	}
	return nil
}

var randomStrategies = []randomStrategy{
	{
		name:   "rollout",
		target: "deployment/web",
		setup: func(t *testing.T) *Env {
			e := newEnv(t)
			startApp(e, AppSpec{})
			return e
		},
		command: func(image string, _ bool) []string {
			return []string{"rollout", "deployment/web", "--image", "app=" + image, "--timeout", "2m"}
		},
		live: func(e *Env) endState { return endState{Image: imageOfDeployment(e, "web")} },
		want: func(before endState, image, outcome string, _ bool) endState {
			if outcome == outcomeNew {
				return endState{Image: image}
			}
			return before
		},
		check: func(e *Env, want endState) []string {
			return fullyServing(e, "web", want.Image, randomReplicas)
		},
	},
	{
		name:   "bluegreen",
		target: "service/web",
		setup: func(t *testing.T) *Env {
			e := newEnv(t)
			e.Apply(blueGreenApp("registry.example/web:v1"))
			e.RolloutStatus("web-blue", 2*time.Minute)
			e.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, randomReplicas)
			return e
		},
		command: func(image string, deleteOld bool) []string {
			args := []string{"bluegreen", "deploy", "service/web", "--image", "app=" + image, "--timeout", "2m"}
			if deleteOld {
				args = append(args, "--delete-old")
			}
			return args
		},
		live: func(e *Env) endState {
			c := e.serviceSelector("web")["version"]
			return endState{Colour: c, Image: imageOfDeployment(e, "web-"+c)}
		},
		want: func(before endState, image, outcome string, deleteOld bool) endState {
			if outcome == outcomeNew {
				w := endState{Image: image, Colour: otherColour(before.Colour), Other: 0}
				if deleteOld {
					w.Other = otherGone
				}
				return w
			}
			return endState{Image: before.Image, Colour: before.Colour, Other: otherZeroOrGone}
		},
		check: func(e *Env, want endState) []string {
			var out []string
			sel := e.serviceSelector("web")
			if diff := cmp.Diff(map[string]string{"app": "web", "version": want.Colour}, sel); diff != "" {
				out = append(out, fmt.Sprintf("service web selector (-want +got):\n%s", diff))
			}
			out = append(out, fullyServing(e, "web-"+want.Colour, want.Image, randomReplicas)...)
			return append(out, otherIs(e, "web-"+otherColour(want.Colour), want.Other)...)
		},
	},
	{
		name:   "canary",
		target: "deployment/web",
		setup:  func(t *testing.T) *Env { return canaryApp(t, randomReplicas) },
		command: func(image string, _ bool) []string {
			return []string{"canary", "deployment/web", "--image", "app=" + image, "--steps", "50,100", "--pause", "1s", "--timeout", "2m"}
		},
		live: func(e *Env) endState { return endState{Image: imageOfDeployment(e, "web")} },
		want: func(before endState, image, outcome string, _ bool) endState {
			if outcome == outcomeNew {
				return endState{Image: image, Other: otherGone}
			}
			return endState{Image: before.Image, Other: otherZeroOrGone}
		},
		check: func(e *Env, want endState) []string {
			out := fullyServing(e, "web", want.Image, randomReplicas)
			if tl := e.deployment("web").Spec.Template.Labels; tl["track"] != "" {
				out = append(out, fmt.Sprintf("the stable's pod template carries the canary's track label: %v", tl))
			}
			if diff := cmp.Diff(map[string]string{"app": "web"}, e.serviceSelector("web")); diff != "" {
				out = append(out, fmt.Sprintf("service web selector (-want +got):\n%s", diff))
			}
			return append(out, otherIs(e, "web-canary", want.Other)...)
		},
	},
}

// workload is what a release changes: each Deployment's spec (replicas,
// image and a digest of the whole spec) and each Service's selector. The
// operation record (annotations, which also bump a Deployment's generation)
// and the controllers' status writes are left out: a run that changed
// nothing leaves it equal.
type workload struct {
	Deployments map[string]string
	Selectors   map[string]string
}

func (e *Env) workload() workload {
	e.T.Helper()
	w := workload{Deployments: map[string]string{}, Selectors: map[string]string{}}
	deps, err := e.Client.AppsV1().Deployments(e.NS).List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatalf("listing deployments: %v", err)
	}
	for _, d := range deps.Items {
		img := ""
		if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
			img = cs[0].Image
		}
		spec, err := json.Marshal(d.Spec)
		if err != nil {
			e.T.Fatalf("deployment %s: %v", d.Name, err)
		}
		w.Deployments[d.Name] = fmt.Sprintf("%d replicas, image %s, spec sha256 %x", *d.Spec.Replicas, img, sha256.Sum256(spec))
	}
	svcs, err := e.Client.CoreV1().Services(e.NS).List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatalf("listing services: %v", err)
	}
	for _, s := range svcs.Items {
		w.Selectors[s.Name] = labels.SelectorFromSet(s.Spec.Selector).String()
	}
	return w
}

// killedRun is a kubectl zdd run that was sent SIGKILL after a delay.
type killedRun struct {
	CmdResult
	// Killed says the process died of the SIGKILL; false when it had ended
	// by itself before.
	Killed  bool
	Elapsed time.Duration
}

// zddKilledAfter starts `kubectl zdd ARGS -n NS` and sends it SIGKILL after
// delay. kubectl execs the plugin, so the PID it started is the plugin's.
func (e *Env) zddKilledAfter(delay time.Duration, args ...string) killedRun {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, commandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kubectlPath, e.withNamespace(append([]string{"zdd"}, args...))...)
	cmd.Env = commandEnv()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	if err := cmd.Start(); err != nil {
		e.T.Fatalf("starting kubectl zdd %s: %v", strings.Join(args, " "), err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	var err error
	select {
	case err = <-done:
	case <-timer.C:
		// a process that has just exited but is not reaped yet ignores it
		_ = cmd.Process.Signal(syscall.SIGKILL)
		err = <-done
	}
	r := killedRun{CmdResult: CmdResult{Stdout: out.String(), Stderr: errOut.String()}, Elapsed: time.Since(start)}
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		r.Code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			r.Killed = true
		}
	default:
		r.Code = -1
		r.Stderr += fmt.Sprintf("\n[harness] kubectl zdd %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		e.T.Fatalf("kubectl zdd %s did not end within %s", strings.Join(args, " "), commandTimeout)
	}
	return r
}

// randomSeed is ZDD_RANDOM_SEED, or a fresh seed.
func randomSeed(t *testing.T) uint64 {
	t.Helper()
	if v := os.Getenv(randomSeedEnv); v != "" {
		s, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: not an unsigned integer: %v", randomSeedEnv, v, err)
		}
		return s
	}
	return uint64(time.Now().UnixNano())
}

// randomRuns is ZDD_RANDOM_RUNS, default 20.
func randomRuns(t *testing.T) int {
	t.Helper()
	v := os.Getenv(randomRunsEnv)
	if v == "" {
		return 20
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number of runs", randomRunsEnv, v)
	}
	return n
}

// TestResilienceRandomKill kills the real `kubectl zdd rollout`,
// `bluegreen deploy` and `canary` (one parallel subtest each, in its own
// namespace) with SIGKILL at a random moment of the operation, in a loop of
// ZDD_RANDOM_RUNS runs (default 20), each releasing a new image. After each
// kill it runs `kubectl zdd resume` (even runs; one in three of them is
// killed again at a random moment and resumed once more) or `kubectl zdd
// abort` (odd runs), with --force-unlock, and checks the exact end state:
// resume reaches the release (rollout: the new image fully available;
// blue-green: the Service on the new colour fully ready, the old one at 0
// replicas or deleted with --delete-old; canary: the stable on the new image
// at full size, web-canary gone), abort the state before it (the old image,
// the old colour with the new one at 0, the stable at full size and the
// canary at 0), whatever phase the kill landed in (the first phases too:
// every strategy records what it was asked for there); the recorded result;
// no Lease left. A kill that lands before the operation is recorded must
// have changed nothing, and a kill after the operation ended leaves it
// finished (resume says there is nothing to resume, abort exits 2). For the whole loop every Service of the app is watched:
// its ready endpoints never reach zero, and (replaying the Service and pod
// events in resourceVersion order) its selector never matches zero ready
// pods. The random delays come from a seeded generator: the seed is logged,
// and ZDD_RANDOM_SEED replays it.
func TestResilienceRandomKill(t *testing.T) {
	seed, runs := randomSeed(t), randomRuns(t)
	t.Logf("seed %d, %d runs per strategy (replay with %s=%d)", seed, runs, randomSeedEnv, seed)
	for _, s := range randomStrategies {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			h := fnv.New64a()
			h.Write([]byte(s.name))
			randomKillLoop(t, s, rand.New(rand.NewPCG(seed, h.Sum64())), runs)
		})
	}
}

// randomSummary counts what the loop did.
type randomSummary struct {
	runs, resumed, aborted, secondKills int
	phases                              map[string]int
}

func (s randomSummary) String() string {
	keys := make([]string, 0, len(s.phases))
	for k := range s.phases {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, s.phases[k]))
	}
	return fmt.Sprintf("%d runs: killed in phases {%s}, %d resumed (%d of them killed again during resume), %d aborted",
		s.runs, strings.Join(parts, " "), s.resumed, s.secondKills, s.aborted)
}

func randomKillLoop(t *testing.T, s randomStrategy, rng *rand.Rand, runs int) {
	e := s.setup(t)
	kind, name, _ := strings.Cut(s.target, "/")
	leaseName := state.LeaseName(kind, name)

	// The usual length of the operation: the shorter of two releases that
	// are not killed (the first one on a busy machine can take far longer
	// than the later ones); they also leave a finished record, as every
	// later run finds one.
	var usual time.Duration
	for _, image := range []string{"registry.example/web:v1.1", "registry.example/web:v1.2"} {
		start := time.Now()
		r := e.Zdd(s.command(image, false)...)
		took := time.Since(start)
		if r.Code != 0 {
			t.Fatalf("the measuring run failed: %s", r)
		}
		if usual == 0 || took < usual {
			usual = took
		}
	}
	t.Logf("%s takes %s when not killed", s.name, usual.Round(time.Millisecond))

	// watch every Service of the app for the whole loop; blue-green's
	// preview Service moves between the colours (to the new one once it is
	// ready, to the live one when the old is retired) and a killed run can
	// leave it on a colour with no pods: it is watched and logged, not
	// held to it
	svcs, err := e.Client.CoreV1().Services(e.NS).List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	type watched struct {
		name    string
		preview bool
		dt      *DowntimeWatch
		cw      *colourWatch
	}
	var ws []watched
	for _, svc := range svcs.Items {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		_, preview := svc.Labels[bluegreen.PreviewLabel]
		ws = append(ws, watched{svc.Name, preview, e.WatchDowntime(svc.Name), watchColours(e, svc.Name)})
	}

	sum := randomSummary{phases: map[string]int{}}
	defer func() {
		minReady := -1
		for _, w := range ws {
			samples, rep := w.cw.Stop(), w.dt.Stop()
			if w.preview {
				t.Logf("preview service %s (not serving traffic, not checked): %s", w.name, rep.Summary())
				continue
			}
			t.Logf("service %s: %s", w.name, rep.Summary())
			assertNoDip(t, rep, samples, 1)
			if minReady < 0 || rep.MinReady < minReady {
				minReady = rep.MinReady
			}
		}
		t.Logf("%s: %s, min ready %d", s.name, sum, minReady)
	}()

	for i := range runs {
		image := fmt.Sprintf("registry.example/web:v%d", i+2)
		deleteOld := rng.IntN(4) == 0
		delay := time.Duration(rng.Int64N(int64(usual)))
		action := "resume"
		if i%2 == 1 {
			action = "abort"
		}
		secondKill := rng.IntN(3) == 0
		secondDelay := time.Duration(rng.Int64N(int64(usual)))

		before, wlBefore, recBefore := s.live(e), e.workload(), s.recordObject(e)
		args := s.command(image, deleteOld)
		kr := e.zddKilledAfter(delay, args...)
		recAfter := s.recordObject(e)
		kindOf, phase := kindInFlight, recAfter[state.KeyPhase]
		switch {
		case !kr.Killed:
			if kr.Code != 0 {
				t.Fatalf("run %d: kubectl zdd %s ended by itself before the kill (%s) and failed: %s", i, strings.Join(args, " "), delay, kr.CmdResult)
			}
			kindOf, phase = kindFinished, "ended"
		case recAfter[state.KeyOperationID] == recBefore[state.KeyOperationID]:
			kindOf, phase = kindBeforeRecord, noRecord
			if diff := cmp.Diff(wlBefore, e.workload()); diff != "" {
				t.Fatalf("run %d: killed after %s before recording its operation, but the cluster changed (-before +after):\n%s", i, kr.Elapsed, diff)
			}
		case recAfter[state.KeyResult] == state.ResultSucceeded && phase == "done":
			kindOf = kindFinished
		case recAfter[state.KeyResult] != "":
			// a new operation in flight whose record says it ended: resume
			// and abort would leave it as it is
			t.Fatalf("run %d: killed after %s in phase %q, the new operation's record already says result %q (message %q): resume and abort will take it for ended\nkilled run: %s",
				i, kr.Elapsed, phase, recAfter[state.KeyResult], recAfter[state.KeyMessage], kr.CmdResult)
		}
		sum.runs++
		sum.phases[phase]++

		var r CmdResult
		var note string
		final := true // run the final resume or abort
		outcome, wantCode, wantResult := outcomeNew, 0, state.ResultSucceeded
		forced := []string{action, s.target, "--force-unlock", "--timeout", "2m"}
		switch {
		case kindOf == kindBeforeRecord:
			// the previous operation, which ended, is still the record
			outcome, wantResult = outcomeOld, recBefore[state.KeyResult]
			if action == "abort" {
				wantCode = 2
			}
		case kindOf == kindFinished && action == "abort":
			wantCode = 2
		case action == "abort":
			outcome, wantResult = outcomeOld, state.ResultAborted
		case secondKill && kindOf == kindInFlight:
			kr2 := e.zddKilledAfter(secondDelay, forced...)
			sum.secondKills++
			note = fmt.Sprintf(", resume killed again after %s (killed %v, exit %d, phase %s)", kr2.Elapsed.Round(time.Millisecond), kr2.Killed, kr2.Code, s.recordObject(e)[state.KeyPhase])
			if !kr2.Killed && kr2.Code != 0 {
				// it ended by itself, and failed, before the kill: it is
				// the resume whose outcome is checked
				r, final = kr2.CmdResult, false
			}
		}
		if action == "resume" {
			sum.resumed++
		} else {
			sum.aborted++
		}
		if final {
			r = e.Zdd(forced...)
		}
		recEnd := s.recordObject(e)
		if kindOf == kindBeforeRecord && recEnd[state.KeyOperationID] != recBefore[state.KeyOperationID] {
			// resume and abort never start an operation of their own: the
			// killed run's first record write was still in the API server
			// when the record was read after the kill, and landed later, so
			// the operation was in flight when resume or abort read it
			kindOf, phase = kindInFlight, "late-record"
			if sum.phases[noRecord]--; sum.phases[noRecord] == 0 {
				delete(sum.phases, noRecord)
			}
			sum.phases[phase]++
			outcome, wantCode, wantResult = outcomeNew, 0, state.ResultSucceeded
			if action == "abort" {
				outcome, wantResult = outcomeOld, state.ResultAborted
			}
			note += fmt.Sprintf(", the killed run's record (operation %s) landed after the kill", recEnd[state.KeyOperationID])
		}
		t.Logf("run %d: kubectl zdd %s: delay %s, %s after %s in phase %s; %s -> exit %d, result %q%s",
			i, strings.Join(args, " "), delay.Round(time.Millisecond), map[bool]string{true: "killed", false: "ended"}[kr.Killed], kr.Elapsed.Round(time.Millisecond), phase, action, r.Code, recEnd[state.KeyResult], note)
		if r.Code != wantCode {
			t.Fatalf("run %d (%s, phase %s): %s: want exit %d, got %s\nkilled run: %s", i, kindOf, phase, action, wantCode, r, kr.CmdResult)
		}
		want := s.want(before, image, outcome, deleteOld)
		if problems := s.check(e, want); len(problems) > 0 {
			t.Fatalf("run %d (%s, phase %s) after %s, want the %s state %+v:\n%s\n%s\nkilled run: %s", i, kindOf, phase, action, outcome, want, strings.Join(problems, "\n"), r, kr.CmdResult)
		}
		if got := recEnd[state.KeyResult]; got != wantResult {
			t.Fatalf("run %d (%s, phase %s): recorded result %q after %s, want %q (phase %q, message %q)", i, kindOf, phase, got, action, wantResult, recEnd[state.KeyPhase], recEnd[state.KeyMessage])
		}
		if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, leaseName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("run %d: a lease %q is left after %s (err %v)", i, leaseName, action, err)
		}
	}
}
