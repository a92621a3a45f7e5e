package bluegreen

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube/kubetest"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
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
	r := &Runner{Client: cs, Out: &out, Options: Options{Namespace: "shop", Service: "web", Colours: DefaultColours(),
		Images: map[string]string{"web": "web:v3"}, Analysis: failing, Timeout: 20 * time.Second}}
	err := r.Deploy(context.Background())
	if got := exitcode.Of(err); got != exitcode.Failed {
		t.Fatalf("deploy: want exit %d (failed, switched back), got %d: %v\n%s", exitcode.Failed, got, err, out.String())
	}
	if got := selected(t, cs); got != "blue" {
		t.Errorf("the service selects %s after the failed analysis, want blue", got)
	}
	if op := record(t, cs); op.Result != state.ResultRolledBack {
		t.Errorf("recorded result %q (phase %s), want %s", op.Result, op.Phase, state.ResultRolledBack)
	}
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
	r := &Runner{Client: cs, Out: &out, Options: Options{Namespace: "shop", Service: "web", Colours: DefaultColours(),
		Images: map[string]string{"web": "web:v3"}, Analysis: takeOver, Timeout: 20 * time.Second}}
	err := r.Deploy(context.Background())
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
	r := &Runner{Client: cs, Out: &out, Options: Options{Namespace: "shop", Service: "web", Colours: DefaultColours(),
		Images: map[string]string{"web": "web:v2"}, Analysis: post, Timeout: 20 * time.Second}}
	if err := r.Deploy(context.Background()); err != nil {
		t.Fatalf("deploy: %v\n%s", err, out.String())
	}
	if lost != 1 || analysed != 1 {
		t.Errorf("patches with a lost answer %d, analyses %d; want 1 and 1", lost, analysed)
	}
	if got := selected(t, cs); got != "green" {
		t.Errorf("the service selects %s, want green", got)
	}
	if op := record(t, cs); op.Result != state.ResultSucceeded || op.Phase != "done" {
		t.Errorf("record: phase %q result %q", op.Phase, op.Result)
	}
}
