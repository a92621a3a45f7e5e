package bluegreen

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube/kubetest"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// bgCluster is a blue-green app on a simulated cluster: Service web on
// blue, web-blue at generation 1 and web-green at generation gen (a colour
// updated gen-1 times before the release), 2 replicas each.
func bgCluster(t *testing.T, greenGen int64) *kubetest.Strict {
	t.Helper()
	dep := func(c, image string, gen int64) *appsv1.Deployment {
		d := deployment("web-"+c, colour("web", c), true)
		d.Spec.Replicas = ptr.To[int32](2)
		d.Spec.Template.Spec.Containers[0].Image = image
		d.Generation = gen
		return d
	}
	cs := kubetest.NewStrict(service("web", colour("web", "blue")), dep("blue", "web:v1", 1), dep("green", "web:v2", greenGen))
	cs.Simulate()
	return cs
}

func selected(t *testing.T, cs *kubetest.Strict) string {
	t.Helper()
	svc, err := cs.CoreV1().Services("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Spec.Selector["version"]
}

func record(t *testing.T, cs *kubetest.Strict) *state.Operation {
	t.Helper()
	svc, err := cs.CoreV1().Services("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	op, _ := state.FromAnnotations(svc.Annotations)
	return op
}

func failing(context.Context, analysis.Vars) (*analysis.Result, error) {
	return &analysis.Result{Verdict: analysis.Failed, Message: "error rate 0.9 above max 0.1"}, nil
}

func passing(context.Context, analysis.Vars) (*analysis.Result, error) {
	return &analysis.Result{Verdict: analysis.Passed, Message: "fine"}, nil
}

// TestSwitchBackOverColoursOfDifferentGenerations: a post-switch analysis
// that fails switches the Services straight back, even when the two
// colours' Deployments are at different generations (the new colour was
// updated more often than the old one). Before, the guard of the switch
// back compared the old colour with the Deployment deploy had written for
// the new one, refused it as "changed by someone else", left the traffic
// on the failing colour and exited 3.
func TestSwitchBackOverColoursOfDifferentGenerations(t *testing.T) {
	cs := bgCluster(t, 3)
	var out bytes.Buffer
	r := &Runner{Client: cs, Out: &out, Analysis: failing, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(),
		Images: map[string]string{"web": "web:v3"}, Timeout: 20 * time.Second}}
	ev := &heard{}
	r.Events = ev
	_, err := r.Deploy(context.Background(), r.config)
	if got := exitcode.Of(err); got != exitcode.Failed {
		t.Fatalf("deploy: want exit %d (failed, switched back), got %d: %v\n%s", exitcode.Failed, got, err, out.String())
	}
	if got := selected(t, cs); got != "blue" {
		t.Errorf("the service selects %s after the failed analysis, want blue", got)
	}
	if op := record(t, cs); op.Result != state.ResultRolledBack {
		t.Errorf("recorded result %q (phase %s), want %s", op.Result, op.Phase, state.ResultRolledBack)
	}
	// the phases of the picture, in order, and the analysis' result
	if want := []string{"apply", "switch to green", "analysis", "switch back to blue"}; !slices.Equal(ev.phases, want) {
		t.Errorf("phases announced %q, want %q", ev.phases, want)
	}
	if len(ev.results) != 1 || ev.results[0].Verdict != analysis.Failed {
		t.Errorf("analysis results handed over: %+v, want the one that failed", ev.results)
	}
}

// heard is an Events that keeps what it hears.
type heard struct {
	mu      sync.Mutex
	phases  []string
	results []*analysis.Result
	watched []downtime.Report
}

func (h *heard) Phase(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.phases = append(h.phases, name)
}

func (h *heard) Measured(res *analysis.Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.results = append(h.results, res)
}

func (h *heard) Watched(rep downtime.Report) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.watched = append(h.watched, rep)
}

// TestLeaseTakenOverMidRelease: a run whose lease is taken over (another
// run's --force-unlock) while its post-switch analysis runs writes nothing
// after that moment: no switch back, no record, no scale; it exits 3 and
// names the phase it left. Before, the switch back and the final record
// were written over the other run's operation.
func TestLeaseTakenOverMidRelease(t *testing.T) {
	cs := bgCluster(t, 1)
	var out bytes.Buffer
	var after int
	takeOver := func(ctx context.Context, _ analysis.Vars) (*analysis.Result, error) {
		other := &state.Lock{Client: cs.CoordinationV1(), Namespace: "shop", Name: state.LeaseName("service", "web"), Holder: "another run"}
		if err := other.Acquire(ctx, true); err != nil {
			t.Errorf("the other run could not take the lease: %v", err)
		}
		after = len(cs.Writes())
		return failing(ctx, analysis.Vars{})
	}
	r := &Runner{Client: cs, Out: &out, Analysis: takeOver, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(),
		Images: map[string]string{"web": "web:v3"}, Timeout: 20 * time.Second}}
	_, err := r.Deploy(context.Background(), r.config)
	if got := exitcode.Of(err); got != exitcode.NeedsPerson {
		t.Errorf("deploy: want exit %d, got %d: %v", exitcode.NeedsPerson, got, err)
	}
	if err != nil && (!strings.Contains(err.Error(), `was taken over by "another run"`) || !strings.Contains(err.Error(), "phase analysis recorded")) {
		t.Errorf("the error does not say the lease was taken over and the phase the record keeps: %v", err)
	}
	if w := cs.Writes()[after:]; len(w) > 0 {
		t.Errorf("writes after the lease was taken over: %v\n%s", w, out.String())
	}
	if got := selected(t, cs); got != "green" {
		t.Errorf("the service selects %s: the run switched after losing its lease", got)
	}
	if op := record(t, cs); op.Phase != "analysis" || op.Result != "" {
		t.Errorf("record: phase %q result %q, want the phase it left (analysis), in flight", op.Phase, op.Result)
	}
}

// TestUncertainSwitch: a selector patch that the API server applied but
// whose answer was lost (a timeout) is a switch: the post-switch analysis
// runs and the release ends on the new colour. Before, it was reported as
// "no switch", the record said failed while the service was on green.
func TestUncertainSwitch(t *testing.T) {
	cs := bgCluster(t, 1)
	lost := 0
	cs.PrependReactor("patch", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchActionImpl)
		if p.Name != "web" || !strings.Contains(string(p.Patch), `"selector"`) || lost > 0 {
			return false, nil, nil
		}
		lost++
		// apply it, then lose the answer
		if _, err := cs.Store(a); err != nil {
			return true, nil, err
		}
		return true, nil, apierrors.NewTimeoutError("the request timed out after it was applied", 1)
	})
	var out bytes.Buffer
	analysed := 0
	post := func(ctx context.Context, v analysis.Vars) (*analysis.Result, error) {
		analysed++
		return passing(ctx, v)
	}
	r := &Runner{Client: cs, Out: &out, Analysis: post, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(),
		Images: map[string]string{"web": "web:v2"}, Timeout: 20 * time.Second}}
	res, err := r.Deploy(context.Background(), r.config)
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if lost != 1 || analysed != 1 {
		t.Errorf("patches with a lost answer %d, analyses %d; want 1 and 1", lost, analysed)
	}
	if got := selected(t, cs); got != "green" {
		t.Errorf("the service selects %s, want green", got)
	}
	op := record(t, cs)
	if op.Result != state.ResultSucceeded || op.Phase != "done" {
		t.Errorf("record: phase %q result %q", op.Phase, op.Result)
	}
	// the Result is the recorded operation as the deploy left it
	want := Result{Service: "shop/web", OperationID: op.ID, Phase: op.Phase, Result: op.Result, Message: op.Message}
	if res == nil || *res != want {
		t.Errorf("Deploy's Result %+v, want %+v", res, want)
	}
}

// TestFailedSwitchBackStaysInFlight: a switch back (after a failing
// post-switch analysis) that fails leaves the operation in flight in phase
// switching-back (exit 3); resume then switches back (exit 1, result
// rolled-back, the service on blue), and nothing else may start over it
// meanwhile. Before, the record said failed: resume printed "nothing to
// resume" and exited 0, abort refused, the traffic stayed on the failing
// colour.
func TestFailedSwitchBackStaysInFlight(t *testing.T) {
	cs := bgCluster(t, 1)
	var failBack atomic.Bool
	failBack.Store(true)
	cs.PrependReactor("patch", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchActionImpl)
		if failBack.Load() && strings.Contains(string(p.Patch), `"selector":{"version":"blue"}`) {
			return true, nil, apierrors.NewInternalError(errors.New("etcdserver: request timed out"))
		}
		return false, nil, nil
	})
	var out bytes.Buffer
	r := &Runner{Client: cs, Out: &out, Analysis: failing, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(),
		Images: map[string]string{"web": "web:v2"}, Timeout: 20 * time.Second}}
	_, err := r.Deploy(context.Background(), r.config)
	if exitcode.Of(err) != exitcode.NeedsPerson || !strings.Contains(err.Error(), "stays in flight in phase switching-back") {
		t.Fatalf("deploy: want exit 3 saying it stays in flight, got %v\n%s", err, out.String())
	}
	op := record(t, cs)
	if op.Phase != PhaseSwitchingBack || op.Result != "" || !op.Unfinished() {
		t.Fatalf("record: phase %q result %q, want %s in flight", op.Phase, op.Result, PhaseSwitchingBack)
	}
	failBack.Store(false)
	out.Reset()
	env := strategies.Env{Kube: cs, Log: &out, Timeout: 20 * time.Second}
	err = resumer{}.Resume(context.Background(), env, strategies.Target{Namespace: "shop", Kind: "service", Name: "web"}, op)
	if exitcode.Of(err) != exitcode.Failed || !strings.Contains(err.Error(), "switched back to blue") {
		t.Fatalf("resume: want exit 1 (switched back), got %v\n%s", err, out.String())
	}
	if got := selected(t, cs); got != "blue" {
		t.Errorf("the service selects %s after resume, want blue", got)
	}
	if op := record(t, cs); op.Result != state.ResultRolledBack || op.Phase != PhaseSwitchedBack {
		t.Errorf("record after resume: phase %q result %q", op.Phase, op.Result)
	}
}

// TestBeginReadsTheRecordAgain: the record is read again once the Lease is
// taken; one that another run changed in between stops the operation
// (exit 1) with nothing written but the Lease, and one that cannot be read
// is an error, not an empty record.
func TestBeginReadsTheRecordAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		// between runs right after the Lease is created
		between func(cs *kubetest.Strict) error
		want    string
	}{
		{name: "another run recorded its operation", want: "its operation record changed while this run took the lease (now operation other-op",
			between: func(cs *kubetest.Strict) error {
				other := &state.Operation{ID: "other-op", Strategy: Strategy, Phase: "deploying", Holder: "another run", Params: map[string]string{}}
				patch, _ := other.MergePatch("")
				// (from inside a reactor: straight to the store)
				_, err := cs.Store(k8stesting.NewPatchAction(schema.GroupVersionResource{Version: "v1", Resource: "services"}, "shop", "web", types.MergePatchType, patch))
				return err
			}},
		{name: "the record cannot be read", want: "reading the operation record on service"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := bgCluster(t, 1)
			var leased atomic.Bool
			cs.PrependReactor("get", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if tc.between == nil && leased.Load() && a.(k8stesting.GetAction).GetName() == "web" {
					return true, nil, apierrors.NewInternalError(errors.New("etcdserver: leader changed"))
				}
				return false, nil, nil
			})
			cs.PrependReactor("create", "leases", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if _, err := cs.Store(a); err != nil {
					return true, nil, err
				}
				leased.Store(true)
				if tc.between != nil {
					if err := tc.between(cs); err != nil {
						t.Error(err)
					}
				}
				return true, a.(k8stesting.CreateAction).GetObject(), nil
			})
			before := len(cs.Writes())
			r := &Runner{Client: cs, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(), Images: map[string]string{"web": "web:v2"}, Timeout: 20 * time.Second}}
			_, err := r.Deploy(context.Background(), r.config)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("deploy: want an error saying %q, got %v", tc.want, err)
			}
			others := 0
			if tc.between != nil {
				others = 1 // the other run's record
			}
			for _, w := range cs.Writes()[before:] {
				if w.Resource == "leases" {
					continue
				}
				if others > 0 && w.Resource == "services" && w.Verb == "patch" {
					others--
					continue
				}
				t.Errorf("write besides the lease: %v", w)
			}
			if tc.between != nil {
				if op := record(t, cs); op == nil || op.ID != "other-op" {
					t.Errorf("the other run's record was overwritten: %+v", op)
				}
			}
		})
	}
}

// TestDeployRefusesANewColourOfNoPods: a live colour of 0 replicas (and no
// --replicas) would give the new colour none, which the switch guard could
// never accept: exit 2 before anything is written. Before, the deploy ran
// until its guard failed.
func TestDeployRefusesANewColourOfNoPods(t *testing.T) {
	cs := bgCluster(t, 1)
	if _, err := cs.AppsV1().Deployments("shop").Patch(context.Background(), "web-blue", types.MergePatchType, []byte(`{"spec":{"replicas":0}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	before := len(cs.Writes())
	r := &Runner{Client: cs, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(), Images: map[string]string{"web": "web:v2"}, Timeout: 20 * time.Second}}
	_, err := r.Deploy(context.Background(), r.config)
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), `"shop/web-blue" has 0 replicas`) || !strings.Contains(err.Error(), "--replicas") {
		t.Errorf("want exit 2 naming the deployment and --replicas, got %v", err)
	}
	if w := cs.Writes()[before:]; len(w) > 0 {
		t.Errorf("writes: %v", w)
	}
}

// TestAbortOfAHeldDeployAnnouncesAbort: the abort of a deploy held before
// its switch (--manual-promote) marks the picture "abort", leaves the
// Service on the colour that was live and records the result aborted.
func TestAbortOfAHeldDeployAnnouncesAbort(t *testing.T) {
	cs := bgCluster(t, 3)
	var out bytes.Buffer
	r := &Runner{Client: cs, Out: &out, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(),
		Images: map[string]string{"web": "web:v3"}, ManualPromote: true, Timeout: 20 * time.Second}}
	if _, err := r.Deploy(context.Background(), r.config); err != nil {
		t.Fatalf("deploy --manual-promote: %v\n%s", err, out.String())
	}
	ev := &heard{}
	env := strategies.Env{Kube: cs, Log: &out, Timeout: 20 * time.Second, Events: ev}
	if err := (resumer{}).Abort(context.Background(), env, strategies.Target{Namespace: "shop", Kind: "service", Name: "web"}, record(t, cs)); err != nil {
		t.Fatalf("abort: %v\n%s", err, out.String())
	}
	if got := selected(t, cs); got != "blue" {
		t.Errorf("service selects %q after the abort, want blue", got)
	}
	if op := record(t, cs); op.Result != state.ResultAborted {
		t.Errorf("record after the abort: result %q, want aborted", op.Result)
	}
	if want := []string{strategies.MarkAbort}; !slices.Equal(ev.phases, want) {
		t.Errorf("abort announced %q, want %q", ev.phases, want)
	}
}

// TestRollbackMarksItsSwitch: a blue-green rollback's switch is marked
// "rollback to <colour>" on the picture's time axis.
func TestRollbackMarksItsSwitch(t *testing.T) {
	cs := bgCluster(t, 3)
	var out bytes.Buffer
	r := &Runner{Client: cs, Out: &out, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(),
		Images: map[string]string{"web": "web:v3"}, Timeout: 20 * time.Second}}
	if _, err := r.Deploy(context.Background(), r.config); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	ev := &heard{}
	r.Events = ev
	if _, err := r.Rollback(context.Background(), r.config); err != nil {
		t.Fatalf("rollback: %v\n%s", err, out.String())
	}
	if got := selected(t, cs); got != "blue" {
		t.Errorf("service selects %q after the rollback, want blue", got)
	}
	if !slices.Contains(ev.phases, strategies.MarkRollback+" to blue") || slices.Contains(ev.phases, strategies.MarkSwitch+" to blue") {
		t.Errorf("rollback announced %q, want %q and no plain switch", ev.phases, strategies.MarkRollback+" to blue")
	}
}
