package state

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube/kubetest"
)

func annotated(op *Operation) map[string]string {
	a := map[string]string{}
	for k, v := range op.Annotations() {
		if v != nil {
			a[k] = *v
		}
	}
	return a
}

type fenceFunc func(context.Context) error

func (f fenceFunc) Check(ctx context.Context) error { return f(ctx) }

// TestRecordWriter: every record write carries the resourceVersion of the
// version last read or written; a conflict with a change the strategy
// accepts (status, a label) is written again on the new version; a
// conflict with a record someone else wrote stops without writing; a
// failed fencing check stops before the write; a failed read is an error.
func TestRecordWriter(t *testing.T) {
	ctx := context.Background()
	mine := &Operation{ID: "op-mine", Strategy: "bluegreen", Phase: "deploying", Holder: "me", Params: map[string]string{"target": "green"}}
	other := &Operation{ID: "op-other", Strategy: "bluegreen", Phase: "switching", Holder: "other run", Params: map[string]string{"target": "blue"}}
	svc := func(op *Operation) *corev1.Service {
		s := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
		if op != nil {
			s.Annotations = annotated(op)
		}
		return s
	}
	tests := []struct {
		name string
		// between runs after Load, before the Save
		between  func(t *testing.T, cs *kubetest.Strict)
		judge    func(metav1.Object) error
		fence    error
		anyway   bool
		wantErr  string
		wantOp   string // the operation id on the Service afterwards
		wantPhas string
	}{
		{name: "nothing in between", wantOp: "op-mine", wantPhas: "switched"},
		{name: "a label added in between: written again on the new version",
			between: func(t *testing.T, cs *kubetest.Strict) {
				mustPatch(t, cs, `{"metadata":{"labels":{"team":"a"}}}`)
			}, wantOp: "op-mine", wantPhas: "switched"},
		{name: "another run wrote its record in between: not overwritten",
			between: func(t *testing.T, cs *kubetest.Strict) {
				mustPatch(t, cs, string(must(other.MergePatch(""))))
			}, wantErr: `now holds operation op-other (holder "other run"), not op-mine`, wantOp: "op-other", wantPhas: "switching"},
		{name: "the record removed in between",
			between: func(t *testing.T, cs *kubetest.Strict) {
				cur, _ := cs.CoreV1().Services("shop").Get(ctx, "web", metav1.GetOptions{})
				mustPatch(t, cs, string(must(Clear(cur.Annotations))))
			}, wantErr: "was removed by someone else", wantOp: ""},
		{name: "the judge refuses the change",
			between: func(t *testing.T, cs *kubetest.Strict) {
				mustPatch(t, cs, `{"spec":{"selector":{"version":"blue"}}}`)
			},
			judge:   func(metav1.Object) error { return errors.New("the selector changed") },
			wantErr: "the selector changed", wantOp: "op-mine", wantPhas: "deploying"},
		{name: "the judge refuses, but anyway",
			between: func(t *testing.T, cs *kubetest.Strict) {
				mustPatch(t, cs, `{"spec":{"selector":{"version":"blue"}}}`)
			},
			judge:  func(metav1.Object) error { return errors.New("the selector changed") },
			anyway: true, wantOp: "op-mine", wantPhas: "switched"},
		{name: "the fence fails: no write", fence: &LostError{Lease: "shop/zdd-service-web", TakenBy: "other run"},
			wantErr: `was taken over by "other run"`, wantOp: "op-mine", wantPhas: "deploying"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs := kubetest.NewStrict(svc(mine))
			w := &RecordWriter{Object: ServiceCarrier(cs, "shop", "web"), Judge: tc.judge,
				Fence: fenceFunc(func(context.Context) error { return tc.fence })}
			op, ok, err := w.Load(ctx)
			if err != nil || !ok || op.ID != "op-mine" {
				t.Fatalf("Load: %v %v %v", op, ok, err)
			}
			if tc.between != nil {
				tc.between(t, cs)
			}
			writes := len(cs.Writes())
			op.Phase = "switched"
			if tc.anyway {
				err = w.SaveAnyway(ctx, op)
			} else {
				err = w.Save(ctx, op)
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("Save: want error %q, got %v", tc.wantErr, err)
			}
			if tc.wantErr != "" {
				if got := cs.Writes()[writes:]; len(got) > 0 {
					t.Errorf("a refused save wrote: %v", got)
				}
			}
			cur, _ := cs.CoreV1().Services("shop").Get(ctx, "web", metav1.GetOptions{})
			got, _ := FromAnnotations(cur.Annotations)
			gotID, gotPhase := "", ""
			if got != nil {
				gotID, gotPhase = got.ID, got.Phase
			}
			if diff := cmp.Diff([2]string{tc.wantOp, tc.wantPhas}, [2]string{gotID, gotPhase}); diff != "" {
				t.Errorf("record on the Service (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRecordWriterPrecondition: the patch carries the resourceVersion of
// the version last read; the controllers' status writes of a Deployment
// (a new resourceVersion every time) are read again and written over.
func TestRecordWriterPrecondition(t *testing.T) {
	ctx := context.Background()
	op := &Operation{ID: "op", Strategy: "canary", Phase: "start", Holder: "me", Params: map[string]string{}}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: annotated(op)}}
	cs := kubetest.NewStrict(d)
	var sent []string
	cs.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.PatchActionImpl).Patch
		if strings.Contains(string(p), `"resourceVersion"`) {
			sent = append(sent, "with resourceVersion")
		} else {
			sent = append(sent, "without")
		}
		return false, nil, nil
	})
	w := &RecordWriter{Object: DeploymentCarrier(cs, "shop", "web"), Now: wall(base)}
	if _, _, err := w.Load(ctx); err != nil {
		t.Fatal(err)
	}
	// the deployment controller writes status between the read and the save
	cur, _ := cs.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	cur.Status.ObservedGeneration = 7
	if _, err := cs.AppsV1().Deployments("shop").UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	op.Phase = "step-1"
	if err := w.Save(ctx, op); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"with resourceVersion", "with resourceVersion"}, sent); diff != "" {
		t.Errorf("patches sent (-want +got):\n%s", diff)
	}
	if got, _, _ := w.Load(ctx); got.Phase != "step-1" || !got.UpdateTime.Equal(base) {
		t.Errorf("record: phase %q update time %s", got.Phase, got.UpdateTime)
	}
}

// TestRecordWriterLoadError: a record that cannot be read is an error, not
// an empty record.
func TestRecordWriterLoadError(t *testing.T) {
	cs := kubetest.NewStrict()
	w := &RecordWriter{Object: ServiceCarrier(cs, "shop", "web")}
	if _, _, err := w.Load(context.Background()); err == nil || !strings.Contains(err.Error(), `reading the operation record on service "shop/web"`) {
		t.Errorf("Load of a missing Service: %v", err)
	}
}

// TestRecordWriterFencedByLock: with a real Lock as the fence, a writer
// whose lease was taken over by another run does not write.
func TestRecordWriterFencedByLock(t *testing.T) {
	ctx := context.Background()
	op := &Operation{ID: "op", Strategy: "bluegreen", Phase: "analysis", Holder: "a", Params: map[string]string{}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: annotated(op)}}
	cs := kubetest.NewStrict(svc)
	a := &Lock{Client: cs.CoordinationV1(), Namespace: "shop", Name: "zdd-service-web", Holder: "a", Now: wall(base), Clock: clocktesting.NewFakeClock(base)}
	if err := a.Acquire(ctx, false); err != nil {
		t.Fatal(err)
	}
	w := &RecordWriter{Object: ServiceCarrier(cs, "shop", "web"), Fence: a}
	if _, _, err := w.Load(ctx); err != nil {
		t.Fatal(err)
	}
	b := &Lock{Client: cs.CoordinationV1(), Namespace: "shop", Name: "zdd-service-web", Holder: "b", Now: wall(base), Clock: clocktesting.NewFakeClock(base)}
	if err := b.Acquire(ctx, true); err != nil {
		t.Fatal(err)
	}
	n := len(cs.Writes())
	op.Phase, op.Result = "analysis", ResultFailed
	err := w.Save(ctx, op)
	if l := LeaseLost(err); l == nil || l.TakenBy != "b" {
		t.Fatalf("Save after the takeover: want a LostError, got %v", err)
	}
	if got := cs.Writes()[n:]; len(got) > 0 {
		t.Errorf("writes after the takeover: %v", got)
	}
}

func mustPatch(t *testing.T, cs *kubetest.Strict, patch string) {
	t.Helper()
	if _, err := ServiceCarrier(cs, "shop", "web").Patch(context.Background(), []byte(patch)); err != nil {
		t.Fatal(err)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// TestRecordOf: the record is its keys and params, not every zdd.dev/
// annotation (a summary or the canary's owner written beside it is not
// another run's record).
func TestRecordOf(t *testing.T) {
	a := map[string]string{KeyOperationID: "op", KeyPhase: "watch", ParamPrefix + "images": "{}", IgnoreAnnotation: "x",
		Prefix + "canary-of": "web", Prefix + "summary": "H4sI", "other": "y"}
	want := map[string]string{KeyOperationID: "op", KeyPhase: "watch", ParamPrefix + "images": "{}"}
	if diff := cmp.Diff(want, recordOf(a)); diff != "" {
		t.Errorf("recordOf (-want +got):\n%s", diff)
	}
}
