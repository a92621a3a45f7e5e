package canary

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube/kubetest"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// stableApp is Deployment shop/web (replicas, image web:v1) behind
// Service web; edit changes the Deployment before it is stored.
func stableApp(t *testing.T, replicas int32, edit func(*appsv1.Deployment)) *kubetest.Strict {
	t.Helper()
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: 1, Annotations: map[string]string{"deployment.kubernetes.io/revision": "1"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:v1"}}}}},
	}
	if edit != nil {
		edit(d)
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
	cs := kubetest.NewStrict(d, svc)
	cs.Simulate()
	return cs
}

func now0() <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

func release() Config {
	return Config{Namespace: "shop", Name: "web", Images: map[string]string{"web": "web:v2"}, Steps: []int{50, 100}, Pauses: []time.Duration{0},
		TrackKey: "track", TrackValue: "canary"}
}

func stableRecord(t *testing.T, cs *kubetest.Strict) (*appsv1.Deployment, *state.Operation) {
	t.Helper()
	d, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	op, _ := state.FromAnnotations(d.Annotations)
	return d, op
}

// TestCanaryRefusesBadInput: a stable that carries another strategy's
// unfinished operation (not only one in flight: interrupted, paused, failed
// part-way), a stable of 0 replicas and a paused stable are refused with
// exit 2, nothing written. Before, a failed or paused rollout's record was
// started over, and a paused stable waited for the timeout.
func TestCanaryRefusesBadInput(t *testing.T) {
	rollout := func(result string) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) {
			op := &state.Operation{ID: "op-r", Strategy: "rollout", Phase: "watch", Result: result, Params: map[string]string{}}
			for k, v := range op.Annotations() {
				if v != nil {
					d.Annotations[k] = *v
				}
			}
		}
	}
	tests := []struct {
		name     string
		replicas int32
		edit     func(*appsv1.Deployment)
		want     string
	}{
		{name: "a rollout in flight", replicas: 2, edit: rollout(""), want: "has an unfinished rollout operation (op-r, phase watch, in flight)"},
		{name: "a rollout that failed part-way", replicas: 2, edit: rollout(state.ResultFailed), want: "has an unfinished rollout operation (op-r, phase watch, failed)"},
		{name: "a paused rollout", replicas: 2, edit: rollout(state.ResultPaused), want: "has an unfinished rollout operation (op-r, phase watch, paused)"},
		{name: "an interrupted rollout", replicas: 2, edit: rollout(state.ResultInterrupted), want: "unfinished rollout operation (op-r, phase watch, interrupted)"},
		{name: "0 replicas", replicas: 0, want: `deployment "shop/web" has no replicas (spec.replicas: 0)`},
		{name: "paused", replicas: 2, edit: func(d *appsv1.Deployment) { d.Spec.Paused = true }, want: `deployment "shop/web" is paused (spec.paused: true)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := stableApp(t, tc.replicas, tc.edit)
			c := &Canary{Client: cs, Discovery: cs.Discovery(), After: func(time.Duration) <-chan time.Time { return now0() }}
			_, err := c.Run(context.Background(), release())
			if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("want exit 2 saying %q, got %v", tc.want, err)
			}
			if w := cs.Writes(); len(w) > 0 {
				t.Errorf("writes: %v", w)
			}
		})
	}
}

// TestCanaryLeaseTakenOverDuringAPause: a run whose lease is taken over
// during the analysis of a step makes no write after that moment (the
// fencing check before the next step's first write stops it, before its
// lease renewal would notice), exits 3 and leaves the record at the step.
// Before, the next step was applied.
func TestCanaryLeaseTakenOverDuringAPause(t *testing.T) {
	cs := stableApp(t, 4, nil)
	var after atomic.Int64
	var out bytes.Buffer
	c := &Canary{Client: cs, Discovery: cs.Discovery(), Out: &out, After: func(time.Duration) <-chan time.Time { return now0() },
		Analysis: func(ctx context.Context, _ analysis.Vars) (*analysis.Result, error) {
			other := &state.Lock{Client: cs.CoordinationV1(), Namespace: "shop", Name: state.LeaseName("deployment", "web"), Holder: "another run"}
			if err := other.Acquire(ctx, true); err != nil {
				t.Errorf("the other run could not take the lease: %v", err)
			}
			after.Store(int64(len(cs.Writes())))
			return &analysis.Result{Verdict: analysis.Passed}, nil
		}}
	res, err := c.Run(context.Background(), release())
	if exitcode.Of(err) != exitcode.NeedsPerson || err == nil || !strings.Contains(err.Error(), `taken over by "another run"`) {
		t.Errorf("want exit 3 naming the other run, got %v", err)
	}
	if w := cs.Writes()[after.Load():]; len(w) > 0 {
		t.Errorf("writes after the takeover: %v\n%s", w, out.String())
	}
	_, op := stableRecord(t, cs)
	if op.Phase != "step-1" || op.Result != "" {
		t.Errorf("record: phase %q result %q, want step-1 in flight", op.Phase, op.Result)
	}
	// the Result is the operation as the run left it (in flight at step 1)
	if res == nil || res.Deployment != "shop/web" || res.OperationID != op.ID || res.Phase != "step-1" || res.Result != "" {
		t.Errorf("Run's Result %+v, want shop/web, operation %s in flight at step-1", res, op.ID)
	}
}

// TestCanaryFailedAbortStaysInFlight: an automatic pull-back (after a
// failed analysis) that fails leaves the release in flight in phase
// aborting (exit 3); resume then pulls it back (exit 1, result aborted,
// the stable at full size, the canary at 0). Before, the record stayed at
// the step and resume walked the release on.
func TestCanaryFailedAbortStaysInFlight(t *testing.T) {
	cs := stableApp(t, 4, nil)
	var failAbort atomic.Bool
	cs.PrependReactor("update", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if failAbort.Load() && a.(k8stesting.UpdateAction).GetObject().(*appsv1.Deployment).Name == "web" {
			return true, nil, apierrors.NewInternalError(errStorage)
		}
		return false, nil, nil
	})
	var out bytes.Buffer
	c := &Canary{Client: cs, Discovery: cs.Discovery(), Out: &out, After: func(time.Duration) <-chan time.Time { return now0() },
		Analysis: func(context.Context, analysis.Vars) (*analysis.Result, error) {
			failAbort.Store(true)
			return &analysis.Result{Verdict: analysis.Failed, Message: "error rate too high"}, nil
		}}
	_, err := c.Run(context.Background(), release())
	if exitcode.Of(err) != exitcode.NeedsPerson {
		t.Fatalf("run: want exit 3 (the pull-back failed), got %v\n%s", err, out.String())
	}
	_, op := stableRecord(t, cs)
	if op.Phase != PhaseAborting || op.Result != "" {
		t.Fatalf("record after the failed pull-back: phase %q result %q, want %s in flight", op.Phase, op.Result, PhaseAborting)
	}
	failAbort.Store(false)
	out.Reset()
	env := strategies.Env{Kube: cs, Log: &out, Timeout: time.Minute}
	err = resumer{}.Resume(context.Background(), env, strategies.Target{Namespace: "shop", Kind: "deployment", Name: "web"}, op)
	if exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("resume: want exit 1 (pulled back), got %v\n%s", err, out.String())
	}
	d, op := stableRecord(t, cs)
	if op.Result != state.ResultAborted || *d.Spec.Replicas != 4 {
		t.Errorf("after resume: result %q, stable replicas %d", op.Result, *d.Spec.Replicas)
	}
	cd, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web-canary", metav1.GetOptions{})
	if err != nil || *cd.Spec.Replicas != 0 {
		t.Errorf("the canary after resume: %v, %v", cd, err)
	}
}

var errStorage = errorString("storage unavailable")

type errorString string

func (e errorString) Error() string { return string(e) }
