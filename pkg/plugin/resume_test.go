package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// recordingResumer is a Resumer registered under a test-only strategy name:
// it records what the command handed it, and whether it was handed
// Events to announce its phases to (for the picture at the end).
type recordingResumer struct {
	calls    []string
	noEvents []string
}

func (r *recordingResumer) Resume(_ context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	r.calls = append(r.calls, "resume "+t.Kind+" "+t.Ref()+" "+op.ID+" "+op.Phase)
	if env.Events == nil {
		r.noEvents = append(r.noEvents, "resume")
	}
	return nil
}

func (r *recordingResumer) Abort(_ context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	r.calls = append(r.calls, "abort "+t.Kind+" "+t.Ref()+" "+op.ID+" "+op.Phase)
	if env.Events == nil {
		r.noEvents = append(r.noEvents, "abort")
	}
	return nil
}

const testStrategy = "unit-test-strategy"

var testResumer = &recordingResumer{}

func init() { registry[testStrategy] = testResumer }

func recordOn(op *state.Operation) map[string]string {
	out := map[string]string{}
	for k, v := range op.Annotations() {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func TestResumeAndAbortDispatch(t *testing.T) {
	now := time.Now()
	inFlight := &state.Operation{ID: "op-1", Strategy: testStrategy, Phase: "watch", StartTime: now}
	otherHolder := "bob@ci pid 7 op op-0"
	heldLease := func(name string) *coordinationv1.Lease {
		renew := metav1.NewMicroTime(now)
		return &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(otherHolder), LeaseDurationSeconds: ptr.To[int32](30), RenewTime: &renew}}
	}
	dep := func(ann map[string]string) *appsv1.Deployment {
		return &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: ann}}
	}
	svc := &corev1.Service{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: "shop", Annotations: recordOn(inFlight)}}
	tests := []struct {
		name      string
		abort     bool
		kind      string
		target    string
		force     bool
		objects   []runtime.Object
		lease     *coordinationv1.Lease
		wantCode  int
		wantErr   string
		wantOut   string
		wantCalls []string
	}{
		{name: "resume dispatches by the record's strategy", kind: "deployment", target: "web", objects: []runtime.Object{dep(recordOn(inFlight))},
			wantCalls: []string{"resume deployment shop/web op-1 watch"}},
		{name: "abort dispatches to Abort", abort: true, kind: "deployment", target: "web", objects: []runtime.Object{dep(recordOn(inFlight))},
			wantCalls: []string{"abort deployment shop/web op-1 watch"}},
		{name: "a service's record", kind: "service", target: "front", objects: []runtime.Object{svc},
			wantCalls: []string{"resume service shop/front op-1 watch"}},
		{name: "no record", kind: "deployment", target: "web", objects: []runtime.Object{dep(nil)},
			wantCode: exitcode.Usage, wantErr: `deployment "shop/web" carries no kubectl zdd operation record`},
		{name: "missing object", kind: "deployment", target: "gone",
			wantCode: exitcode.Usage, wantErr: `deployment "shop/gone" not found`},
		{name: "strategy without a resumer", abort: true, kind: "deployment", target: "web",
			objects:  []runtime.Object{dep(recordOn(&state.Operation{ID: "op-9", Strategy: "teleport", Phase: "beam"}))},
			wantCode: exitcode.Usage, wantErr: `strategy "teleport" cannot be aborted`},
		{name: "a live lease of another run", kind: "deployment", target: "web", objects: []runtime.Object{dep(recordOn(inFlight))},
			lease: heldLease("zdd-deployment-web"), wantCode: exitcode.Failed, wantErr: `is held by "` + otherHolder + `"`},
		{name: "--force-unlock takes it and says whose it was", kind: "deployment", target: "web", force: true,
			objects: []runtime.Object{dep(recordOn(inFlight))}, lease: heldLease("zdd-deployment-web"),
			wantOut: `took over the lease "shop/zdd-deployment-web" from "` + otherHolder + `"`, wantCalls: []string{"resume deployment shop/web op-1 watch"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testResumer.calls, testResumer.noEvents = nil, nil
			var kubeObjs []runtime.Object
			if tc.lease != nil {
				kubeObjs = append(kubeObjs, tc.lease)
			}
			cs := fake.NewClientset(kubeObjs...)
			dyn := dynamicfake.NewSimpleDynamicClient(scheme.Scheme, tc.objects...)
			var out, errOut bytes.Buffer
			o := NewResumeOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut}, tc.abort)
			o.Client, o.Dynamic, o.Namespace, o.Kind, o.Name, o.ForceUnlock = cs, dyn, "shop", tc.kind, tc.target, tc.force
			err := o.Run(context.Background())
			if got := exitcode.Of(err); got != tc.wantCode {
				t.Fatalf("exit code %d, want %d (err %v)", got, tc.wantCode, err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want it to contain %q", err, tc.wantErr)
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("output %q, want it to contain %q", out.String(), tc.wantOut)
			}
			if diff := cmp.Diff(tc.wantCalls, testResumer.calls); diff != "" {
				t.Errorf("calls to the strategy (-want +got):\n%s", diff)
			}
			// resume and abort both draw their picture
			if len(testResumer.noEvents) > 0 {
				t.Errorf("%v handed no Events to the strategy", testResumer.noEvents)
			}
			// the command releases the lease it took; another run's lease
			// that was not taken stays
			leases, _ := cs.CoordinationV1().Leases("shop").List(context.Background(), metav1.ListOptions{})
			wantLeases := 0
			if tc.lease != nil && !tc.force {
				wantLeases = 1
			}
			if len(leases.Items) != wantLeases {
				t.Errorf("%d leases left, want %d: %v", len(leases.Items), wantLeases, leases.Items)
			}
		})
	}
}

// TestResumeAbortBadArguments drives the commands through the root: bad
// arguments and flags exit 2 before any cluster call, naming the problem.
func TestResumeAbortBadArguments(t *testing.T) {
	// a kubeconfig whose server nobody answers: no case may reach it
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: not-a-token}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"resume without argument", []string{"resume"}, "accepts 1 arg(s), received 0"},
		{"abort with two arguments", []string{"abort", "deployment/a", "deployment/b"}, "accepts 1 arg(s), received 2"},
		{"not TYPE/NAME", []string{"resume", "web"}, `argument "web": want TYPE/NAME`},
		{"a kind without records", []string{"abort", "pod/web"}, `not "pod"`},
		{"empty name", []string{"resume", "deployment/"}, `argument "deployment/"`},
		{"bad timeout", []string{"resume", "deployment/web", "--timeout", "soon"}, "--timeout"},
		{"negative timeout", []string{"abort", "deployment/web", "--timeout", "-1s"}, "--timeout -1s: must be positive"},
		{"unknown flag", []string{"abort", "deployment/web", "--frobnicate"}, "--frobnicate"},
		{"abort --report not html", []string{"abort", "deployment/web", "--report", "web.png"}, `--report "web.png": want a file name ending in .html`},
		{"resume --report not html", []string{"resume", "deployment/web", "--report", "web.txt"}, `--report "web.txt": want a file name ending in .html`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			root := NewCmdRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			root.SetArgs(append(tc.args, "--kubeconfig", kc))
			err := root.Execute()
			if got := exitcode.Of(err); got != exitcode.Usage {
				t.Fatalf("exit code %d, want 2 (err %v)", got, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}
