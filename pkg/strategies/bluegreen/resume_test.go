package bluegreen

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

func TestOriginAndInit(t *testing.T) {
	tests := []struct {
		name       string
		phase      string
		params     map[string]string
		wantOrigin string
		wantInit   bool
	}{
		{name: "killed at the first record of deploy", phase: "deploying", params: map[string]string{}},
		{name: "before the switch", phase: "switching", params: map[string]string{ParamActive: "blue", ParamTarget: "green"}, wantOrigin: "blue"},
		{name: "switch recorded", phase: "switched", params: map[string]string{ParamActive: "green", ParamPrevious: "blue", ParamTarget: "green"}, wantOrigin: "blue"},
		{name: "switched back by abort", phase: "aborted", params: map[string]string{ParamActive: "blue", ParamPrevious: "green", ParamTarget: "green"}, wantOrigin: "blue"},
		{name: "paused deploy", phase: "ready-to-promote", params: map[string]string{ParamActive: "green", ParamTarget: "blue"}, wantOrigin: "green"},
		{name: "init at its first record", phase: "init", params: map[string]string{}, wantInit: true},
		{name: "init switching", phase: "switching", params: map[string]string{ParamTarget: "blue"}, wantInit: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := &state.Operation{ID: "op", Strategy: Strategy, Phase: tc.phase, Params: tc.params}
			if got := origin(op); got != tc.wantOrigin {
				t.Errorf("origin: want %q, got %q", tc.wantOrigin, got)
			}
			if got := isInit(op); got != tc.wantInit {
				t.Errorf("isInit: want %v, got %v", tc.wantInit, got)
			}
		})
	}
}

// TestResumeAbortWithoutChange covers the records resume and abort answer
// without touching any Deployment: the exit code, the message, and the
// record left on the Service.
func TestResumeAbortWithoutChange(t *testing.T) {
	tests := []struct {
		name       string
		kind       string
		abort      bool
		op         state.Operation
		wantCode   int
		wantMsg    string
		wantResult string
		wantPhase  string
	}{
		{name: "resume killed before the new colour", op: state.Operation{Phase: "deploying"},
			wantCode: exitcode.Usage, wantMsg: "before it changed anything: nothing to resume", wantResult: state.ResultFailed, wantPhase: "deploying"},
		{name: "abort killed before the new colour", abort: true, op: state.Operation{Phase: "deploying"},
			wantResult: state.ResultAborted, wantPhase: PhaseAborted},
		{name: "resume a finished operation", op: state.Operation{Phase: "done", Result: state.ResultSucceeded, Params: map[string]string{ParamActive: "green", ParamPrevious: "blue", ParamTarget: "green"}},
			wantResult: state.ResultSucceeded, wantPhase: "done"},
		{name: "abort a finished operation", abort: true, op: state.Operation{Phase: "done", Result: state.ResultSucceeded, Params: map[string]string{ParamActive: "green", ParamPrevious: "blue", ParamTarget: "green"}},
			wantCode: exitcode.Usage, wantMsg: "already ended", wantResult: state.ResultSucceeded, wantPhase: "done"},
		{name: "resume a failed operation", op: state.Operation{Phase: "deploying", Result: state.ResultFailed, Message: "colour green did not become ready", Params: map[string]string{ParamActive: "blue", ParamTarget: "green"}},
			wantCode: exitcode.Usage, wantMsg: "ended failed in phase deploying", wantResult: state.ResultFailed, wantPhase: "deploying"},
		{name: "abort a failed operation", abort: true, op: state.Operation{Phase: "deploying", Result: state.ResultFailed, Params: map[string]string{ParamActive: "blue", ParamTarget: "green"}},
			wantCode: exitcode.Usage, wantMsg: "already ended", wantResult: state.ResultFailed, wantPhase: "deploying"},
		{name: "abort an aborted operation", abort: true, op: state.Operation{Phase: PhaseAborted, Result: state.ResultAborted, Params: map[string]string{ParamActive: "blue", ParamTarget: "green"}},
			wantCode: exitcode.Usage, wantMsg: "already ended", wantResult: state.ResultAborted, wantPhase: PhaseAborted},
		{name: "resume init", op: state.Operation{Phase: "init"},
			wantCode: exitcode.Usage, wantMsg: "recorded no original deployment", wantResult: state.ResultFailed, wantPhase: "init"},
		{name: "abort init", abort: true, op: state.Operation{Phase: "switching", Params: map[string]string{ParamTarget: "blue"}},
			wantCode: exitcode.Usage, wantMsg: "init cannot be aborted", wantPhase: "switching"},
		{name: "resume on a deployment", kind: "deployment", op: state.Operation{Phase: "switching", Params: map[string]string{ParamActive: "blue", ParamTarget: "green"}},
			wantCode: exitcode.Usage, wantMsg: "use service/NAME", wantPhase: "switching"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			op := tc.op
			op.ID, op.Strategy = "20261127-080000-abcdef", Strategy
			if op.Params == nil {
				op.Params = map[string]string{}
			}
			ann := map[string]string{}
			for k, v := range op.Annotations() {
				if v != nil {
					ann[k] = *v
				}
			}
			svc := &corev1.Service{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: ann},
				Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web", "version": "blue"}},
			}
			kube := fake.NewClientset(svc.DeepCopy())
			scheme := runtime.NewScheme()
			if err := corev1.AddToScheme(scheme); err != nil {
				t.Fatal(err)
			}
			dyn := dynamicfake.NewSimpleDynamicClient(scheme, svc.DeepCopy())
			var out bytes.Buffer
			env := strategies.Env{Kube: kube, Dynamic: dyn, Log: &out, Timeout: time.Minute}
			kind := tc.kind
			if kind == "" {
				kind = "service"
			}
			target := strategies.Target{Namespace: "shop", Kind: kind, Name: "web"}
			rec := op
			var err error
			if tc.abort {
				err = resumer{}.Abort(context.Background(), env, target, &rec)
			} else {
				err = resumer{}.Resume(context.Background(), env, target, &rec)
			}
			if got := exitcode.Of(err); got != tc.wantCode {
				t.Fatalf("exit code: want %d, got %d (err %v)", tc.wantCode, got, err)
			}
			if tc.wantMsg != "" && !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not say %q", err, tc.wantMsg)
			}
			got, err := kube.CoreV1().Services("shop").Get(context.Background(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			saved, _ := state.FromAnnotations(got.GetAnnotations())
			if diff := cmp.Diff([2]string{tc.wantPhase, tc.wantResult}, [2]string{saved.Phase, saved.Result}); diff != "" {
				t.Errorf("recorded phase and result (-want +got):\n%s", diff)
			}
			if acts := kube.Actions(); len(acts) > 0 {
				for _, a := range acts {
					// the record on the Service is the one write allowed
					record := a.GetVerb() == "patch" && a.GetResource().Resource == "services"
					if a.GetVerb() != "get" && a.GetVerb() != "list" && a.GetVerb() != "watch" && !record {
						t.Errorf("unexpected %s of %s", a.GetVerb(), a.GetResource().Resource)
					}
				}
			}
		})
	}
}
