package rolling

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube/kubetest"
	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// TestFailedAutomaticRollbackStaysInFlight: a release whose analysis fails
// and whose automatic rollback fails too leaves its operation in flight in
// phase rollback (exit 3), so resume tries the rollback again (exit 1,
// rolled back) and abort accepts it; other strategies stay refused
// meanwhile. Before, the record said failed: resume printed "nothing to
// resume" and exited 0, and abort refused it.
func TestFailedAutomaticRollbackStaysInFlight(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "0.9") }))
	defer srv.Close()
	spec, err := analysis.Parse([]byte("interval: 1ms\nmetrics:\n- name: errors\n  max: 0.1\n  http:\n    url: " + srv.URL + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cs := kubetest.NewStrict(fixtures()...)
	cs.Simulate()
	var failRollback atomic.Bool
	failRollback.Store(true)
	cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.PatchAction).GetPatchType() == types.JSONPatchType && failRollback.Load() {
			return true, nil, apierrors.NewInternalError(fmt.Errorf("etcdserver: request timed out"))
		}
		return false, nil, nil
	})
	var log bytes.Buffer
	r := &Rollout{Kube: cs, Log: &log, NoDowntimeWatch: true, Lint: func(*appsv1.Deployment) ([]lint.Finding, error) { return nil, nil }}
	_, err = r.Run(context.Background(), Config{Namespace: "shop", Name: "web", Images: map[string]string{"app": "shop:v3"}, Timeout: 20 * time.Second, Analysis: spec})
	if exitcode.Of(err) != exitcode.NeedsPerson || !strings.Contains(err.Error(), "stays in flight in phase rollback") {
		t.Fatalf("run: want exit 3 saying it stays in flight, got %v\n%s", err, log.String())
	}
	op := recordOn(t, cs)
	if op.Phase != PhaseRollback || op.Result != "" || !op.Unfinished() {
		t.Fatalf("record: phase %q result %q, want rollback in flight", op.Phase, op.Result)
	}

	failRollback.Store(false)
	heard := &phasesHeard{}
	env := strategies.Env{Kube: cs, Log: &log, Timeout: 20 * time.Second, Events: heard}
	err = resumer{}.Resume(context.Background(), env, strategies.Target{Namespace: "shop", Kind: "deployment", Name: "web"}, op)
	if exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("resume: want exit 1 (rolled back), got %v\n%s", err, log.String())
	}
	if want := []string{strategies.MarkRollback}; !slices.Equal(heard.phases, want) {
		t.Errorf("resume announced %q, want %q", heard.phases, want)
	}
	op = recordOn(t, cs)
	if op.Phase != PhaseDone || op.Result != state.ResultRolledBack {
		t.Errorf("record after resume: phase %q result %q", op.Phase, op.Result)
	}
	d, _ := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "shop:v2" {
		t.Errorf("image after resume %s, want the from-revision's shop:v2", img)
	}
}

// TestResumeOfAFailedOperationIsNotASuccess: resume of a rollout that
// ended failed (not in its rollback) exits 2, never 0; abort accepts it.
func TestResumeOfAFailedOperationIsNotASuccess(t *testing.T) {
	op := &state.Operation{ID: "op", Strategy: Strategy, Phase: PhaseMigrate, Result: state.ResultFailed, Message: "migration job failed", FromRevision: "2", Params: map[string]string{}}
	objs := fixtures()
	for k, v := range op.Annotations() {
		if v != nil {
			objs[0].(interface{ GetAnnotations() map[string]string }).GetAnnotations()[k] = *v
		}
	}
	cs := kubetest.NewStrict(objs...)
	var log bytes.Buffer
	env := strategies.Env{Kube: cs, Log: &log, Timeout: time.Minute}
	target := strategies.Target{Namespace: "shop", Kind: "deployment", Name: "web"}
	err := resumer{}.Resume(context.Background(), env, target, op)
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "ended failed in phase migrate") {
		t.Errorf("resume: want exit 2 saying it ended failed, got %v", err)
	}
	if err := (resumer{}).Abort(context.Background(), env, target, op); err != nil {
		t.Errorf("abort of a failed operation: %v", err)
	}
	if got := recordOn(t, cs); got.Result != state.ResultAborted {
		t.Errorf("record after abort: result %q", got.Result)
	}
}

func recordOn(t *testing.T, cs *kubetest.Strict) *state.Operation {
	t.Helper()
	d, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	op, ok := state.FromAnnotations(d.Annotations)
	if !ok {
		t.Fatal("no record on the deployment")
	}
	return op
}

// TestRolloutLeaseTakenOverDuringTheAnalysis: a rollout whose lease is
// taken over while its analysis runs (and fails) neither rolls back nor
// records anything after that moment: exit 3, the record left at phase
// analysis. Before, the automatic rollback and its record were written
// until the next renewal noticed.
func TestRolloutLeaseTakenOverDuringTheAnalysis(t *testing.T) {
	cs := kubetest.NewStrict(fixtures()...)
	cs.Simulate()
	var after atomic.Int64
	after.Store(-1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other := &state.Lock{Client: cs.CoordinationV1(), Namespace: "shop", Name: state.LeaseName("deployment", "web"), Holder: "another run"}
		if err := other.Acquire(r.Context(), true); err != nil {
			t.Errorf("the other run could not take the lease: %v", err)
		}
		after.Store(int64(len(cs.Writes())))
		fmt.Fprint(w, "0.9")
	}))
	defer srv.Close()
	spec, err := analysis.Parse([]byte("interval: 1ms\nmetrics:\n- name: errors\n  max: 0.1\n  http:\n    url: " + srv.URL + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	r := &Rollout{Kube: cs, Log: &log, NoDowntimeWatch: true, Lint: func(*appsv1.Deployment) ([]lint.Finding, error) { return nil, nil }}
	_, err = r.Run(context.Background(), Config{Namespace: "shop", Name: "web", Images: map[string]string{"app": "shop:v3"}, Timeout: 20 * time.Second, Analysis: spec})
	if exitcode.Of(err) != exitcode.NeedsPerson || !strings.Contains(err.Error(), `taken over by "another run"`) {
		t.Errorf("want exit 3 naming the other run, got %v", err)
	}
	if n := after.Load(); n < 0 {
		t.Fatal("the analysis never ran")
	} else if w := cs.Writes()[n:]; len(w) > 0 {
		t.Errorf("writes after the takeover: %v\n%s", w, log.String())
	}
	if op := recordOn(t, cs); op.Phase != PhaseAnalysis || op.Result != "" {
		t.Errorf("record: phase %q result %q, want analysis in flight", op.Phase, op.Result)
	}
}

// TestRolloutRefusesPausedAndEmpty: a paused Deployment (its rollout never
// progresses) and one of 0 replicas (it "succeeds" with nothing running)
// are refused with exit 2 before anything is written; a manifest that sets
// them decides, one that leaves them out keeps the live values. Before, a
// rollout of 0 replicas succeeded and a paused one waited for --timeout.
func TestRolloutRefusesPausedAndEmpty(t *testing.T) {
	tests := []struct {
		name string
		edit func(d *appsv1.Deployment)
		cfg  Config
		want string
	}{
		{name: "paused", edit: func(d *appsv1.Deployment) { d.Spec.Paused = true }, cfg: Config{Images: map[string]string{"app": "shop:v3"}}, want: "is paused (spec.paused: true)"},
		{name: "0 replicas", edit: func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo[int32](0) }, cfg: Config{Images: map[string]string{"app": "shop:v3"}}, want: "has 0 replicas"},
		{name: "a manifest of 0 replicas", cfg: Config{Manifest: func() *unstructured.Unstructured {
			m := manifest()
			_ = unstructured.SetNestedField(m.Object, int64(0), "spec", "replicas")
			return m
		}()}, want: "has 0 replicas"},
		{name: "a manifest without replicas over a live 0", edit: func(d *appsv1.Deployment) { d.Spec.Replicas = ptrTo[int32](0) }, cfg: Config{Manifest: func() *unstructured.Unstructured {
			m := manifest()
			unstructured.RemoveNestedField(m.Object, "spec", "replicas")
			return m
		}()}, want: "has 0 replicas"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := fixtures()
			if tc.edit != nil {
				tc.edit(objs[0].(*appsv1.Deployment))
			}
			cs := kubetest.NewStrict(objs...)
			r := &Rollout{Kube: cs, NoDowntimeWatch: true, Lint: func(*appsv1.Deployment) ([]lint.Finding, error) { return nil, nil }}
			tc.cfg.Namespace, tc.cfg.Name, tc.cfg.Timeout = "shop", "web", time.Minute
			_, err := r.Run(context.Background(), tc.cfg)
			if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want exit 2 saying %q, got %v", tc.want, err)
			}
			if w := cs.Writes(); len(w) > 0 {
				t.Errorf("writes: %v", w)
			}
		})
	}
}

// TestAbortAnnouncesItsMark: abort of a rollout whose automatic rollback
// failed restores the from-revision and marks the picture "abort" (not
// "rollback", as resume does).
func TestAbortAnnouncesItsMark(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "0.9") }))
	defer srv.Close()
	spec, err := analysis.Parse([]byte("interval: 1ms\nmetrics:\n- name: errors\n  max: 0.1\n  http:\n    url: " + srv.URL + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	cs := kubetest.NewStrict(fixtures()...)
	cs.Simulate()
	var failRollback atomic.Bool
	failRollback.Store(true)
	cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.(k8stesting.PatchAction).GetPatchType() == types.JSONPatchType && failRollback.Load() {
			return true, nil, apierrors.NewInternalError(fmt.Errorf("etcdserver: request timed out"))
		}
		return false, nil, nil
	})
	var log bytes.Buffer
	r := &Rollout{Kube: cs, Log: &log, NoDowntimeWatch: true, Lint: func(*appsv1.Deployment) ([]lint.Finding, error) { return nil, nil }}
	if _, err := r.Run(context.Background(), Config{Namespace: "shop", Name: "web", Images: map[string]string{"app": "shop:v3"}, Timeout: 20 * time.Second, Analysis: spec}); exitcode.Of(err) != exitcode.NeedsPerson {
		t.Fatalf("run: want exit 3, got %v\n%s", err, log.String())
	}
	failRollback.Store(false)
	heard := &phasesHeard{}
	env := strategies.Env{Kube: cs, Log: &log, Timeout: 20 * time.Second, Events: heard}
	if err := (resumer{}).Abort(context.Background(), env, strategies.Target{Namespace: "shop", Kind: "deployment", Name: "web"}, recordOn(t, cs)); err != nil {
		t.Fatalf("abort: %v\n%s", err, log.String())
	}
	if got := recordOn(t, cs); got.Result != state.ResultAborted {
		t.Errorf("record after abort: result %q", got.Result)
	}
	if want := []string{strategies.MarkAbort}; !slices.Equal(heard.phases, want) {
		t.Errorf("abort announced %q, want %q", heard.phases, want)
	}
}

// phasesHeard is an Events that keeps the phases it hears.
type phasesHeard struct {
	mu     sync.Mutex
	phases []string
}

func (h *phasesHeard) Phase(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.phases = append(h.phases, name)
}

func (h *phasesHeard) Measured(*analysis.Result) {}

func (h *phasesHeard) Watched(downtime.Report) {}
