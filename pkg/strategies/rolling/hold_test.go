package rolling

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestPlanHold: the hold is planned only when the fix adds a preStop delay
// to a container that runs without one, pods run, and a Service sends them
// traffic; its values are the fixed ones, and its minReadySeconds stays
// below the progress deadline.
func TestPlanHold(t *testing.T) {
	svc := []corev1.Service{{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}}
	sleep := &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	zero := &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 0}}}
	dep := func(lc *corev1.Lifecycle, replicas int32) *appsv1.Deployment {
		one, none := intstr.FromInt32(1), intstr.FromInt32(0)
		d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{ProgressDeadlineSeconds: ptr.To[int32](600), MinReadySeconds: 2,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &none}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Lifecycle: lc}}}}}}
		d.Status.Replicas = replicas
		return d
	}
	want := &holdRecord{Seconds: 599, MinReadySeconds: 2, MaxSurge: intstr.FromInt32(1), MaxUnavailable: intstr.FromInt32(0)}
	short := dep(sleep, 0)
	short.Spec.ProgressDeadlineSeconds = ptr.To[int32](120)
	tooShort := dep(sleep, 0)
	tooShort.Spec.ProgressDeadlineSeconds = ptr.To[int32](30)
	recreate := dep(sleep, 0)
	recreate.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	tests := []struct {
		name        string
		live, fixed *appsv1.Deployment
		services    []corev1.Service
		want        *holdRecord
	}{
		{"no preStop, the fix adds a sleep", dep(nil, 3), dep(sleep, 0), svc, want},
		{"a sleep of 0 s is no delay", dep(zero, 3), dep(sleep, 0), svc, want},
		{"a short progress deadline bounds the hold", dep(nil, 3), short, svc, &holdRecord{Seconds: 119, MinReadySeconds: 2, MaxSurge: intstr.FromInt32(1), MaxUnavailable: intstr.FromInt32(0)}},
		{"too short a progress deadline: no hold", dep(nil, 3), tooShort, svc, nil},
		{"the old pods have a preStop sleep", dep(sleep, 3), dep(sleep, 0), svc, nil},
		{"no Service", dep(nil, 3), dep(sleep, 0), nil, nil},
		{"no pods", dep(nil, 0), dep(sleep, 0), svc, nil},
		{"created by the release", nil, dep(sleep, 0), svc, nil},
		{"Recreate", dep(nil, 3), recreate, svc, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, planHold(tc.live, tc.fixed, tc.services)); diff != "" {
				t.Errorf("planHold (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHoldRecordRoundTrip: the hold is read back from the record as it
// was written, and removed by setHold(nil).
func TestHoldRecordRoundTrip(t *testing.T) {
	op := state.NewOperation(Strategy, time.Now())
	h := &holdRecord{Seconds: 599, MaxSurge: intstr.FromString("25%"), MaxUnavailable: intstr.FromInt32(0), Hash: "abc", Services: map[string]map[string]string{"web": {"app": "web"}}}
	setHold(op, h)
	got, err := holdOf(op)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, got); diff != "" {
		t.Errorf("holdOf (-want +got):\n%s", diff)
	}
	setHold(op, nil)
	if a := op.Annotations()[state.ParamPrefix+ParamHold]; a != nil {
		t.Errorf("setHold(nil) leaves %q in the record, want it removed", *a)
	}
	op.Params[ParamHold] = "{"
	if _, err := holdOf(op); err == nil || !strings.Contains(err.Error(), "zdd.dev/param.hold") {
		t.Errorf("a broken hold param: error %v, want one naming it", err)
	}
}

// TestReleaseHold: undoing a hold restores the selector of a Service
// narrowed to the hash and leaves one another writer changed; the
// Deployment's values go back with the rollback's template
// (holdRollbackOps), or alone (unholdDeployment), only while it still
// holds; a second call changes nothing.
func TestReleaseHold(t *testing.T) {
	one, all, none := intstr.FromInt32(1), intstr.FromString("100%"), intstr.FromInt32(0)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: appsv1.DeploymentSpec{MinReadySeconds: 599,
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &all, MaxUnavailable: &none}}}}
	narrowed := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web", "pod-template-hash": "new"}}}
	changed := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "admin", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "other"}}}
	client := fake.NewClientset(d, narrowed, changed)
	h := &holdRecord{Seconds: 599, MinReadySeconds: 0, MaxSurge: one, MaxUnavailable: none, Hash: "new",
		Services: map[string]map[string]string{"web": {"app": "web"}, "admin": {"app": "web"}}}
	var log []string
	logf := func(format string, a ...any) { log = append(log, format) }
	ctx := context.Background()
	if err := releaseHold(ctx, client, "shop", h, nil, logf); err != nil {
		t.Fatal(err)
	}
	web, _ := client.CoreV1().Services("shop").Get(ctx, "web", metav1.GetOptions{})
	if !maps.Equal(web.Spec.Selector, map[string]string{"app": "web"}) {
		t.Errorf("service web selector %v, want app=web restored", web.Spec.Selector)
	}
	admin, _ := client.CoreV1().Services("shop").Get(ctx, "admin", metav1.GetOptions{})
	if !maps.Equal(admin.Spec.Selector, map[string]string{"app": "other"}) {
		t.Errorf("service admin selector %v, want another writer's app=other left", admin.Spec.Selector)
	}
	if !slices.ContainsFunc(log, func(s string) bool { return strings.Contains(s, "another writer changed it") }) {
		t.Errorf("the log does not say the changed Service was left: %q", log)
	}
	if got, _ := client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{}); got.Spec.MinReadySeconds != 599 {
		t.Errorf("releaseHold changed the deployment's minReadySeconds to %d: it goes back with the rollback's template", got.Spec.MinReadySeconds)
	}
	ops, _ := json.Marshal(holdRollbackOps(d, h))
	if want := `[{"op":"test","path":"/spec/minReadySeconds","value":599},{"op":"replace","path":"/spec/minReadySeconds","value":0},{"op":"add","path":"/spec/strategy/rollingUpdate/maxSurge","value":1},{"op":"add","path":"/spec/strategy/rollingUpdate/maxUnavailable","value":0}]`; string(ops) != want {
		t.Errorf("holdRollbackOps:\n got %s\nwant %s", ops, want)
	}
	got, err := unholdDeployment(ctx, client, "shop", "web", h)
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || got.Spec.MinReadySeconds != 0 || got.Spec.Strategy.RollingUpdate.MaxSurge.String() != "1" || got.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "0" {
		t.Errorf("deployment after unholdDeployment: %+v, want minReadySeconds 0, maxSurge 1, maxUnavailable 0", got)
	}
	if ops := holdRollbackOps(got, h); ops != nil {
		t.Errorf("holdRollbackOps of a deployment that no longer holds: %v, want none", ops)
	}
	// again: nothing left to undo
	n := len(client.Actions())
	if err := releaseHold(ctx, client, "shop", h, nil, logf); err != nil {
		t.Error(err)
	}
	if got, err := unholdDeployment(ctx, client, "shop", "web", h); err != nil || got != nil {
		t.Errorf("second unholdDeployment: %v, %v; want nothing patched", got, err)
	}
	for _, a := range client.Actions()[n:] {
		if a.GetVerb() == "patch" {
			t.Errorf("the second undo wrote: %v", a)
		}
	}
}

// TestHoldInTheApply: a --fix release of a Deployment whose pods run with
// no preStop delay, behind a Service, sends the hold's minReadySeconds and
// surge in the same patch as the image and the fixes, and records the hold
// (with the values to put back) before it.
func TestHoldInTheApply(t *testing.T) {
	objs := fixtures()
	objs[0].(*appsv1.Deployment).Status.Replicas = 3
	// a livenessProbe, which --fix copies as the missing readinessProbe
	objs[0].(*appsv1.Deployment).Spec.Template.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
	client := fake.NewClientset(objs...)
	r := fixedRollout(client, nil)
	r.Lint = nil
	res, err := r.Run(context.Background(), Config{Namespace: "shop", Name: "web", Timeout: time.Minute, DryRun: DryRunClient, Fix: true, Images: map[string]string{"app": "shop:v3"}})
	if err != nil {
		t.Fatal(err)
	}
	var patch map[string]any
	var holdStep string
	for _, s := range res.Plan {
		if s.Name == PhaseApply {
			if err := json.Unmarshal([]byte(s.Patch), &patch); err != nil {
				t.Fatal(err)
			}
		}
		if s.Name == PhaseHold {
			holdStep = s.Detail
		}
	}
	spec, _ := patch["spec"].(map[string]any)
	if spec["minReadySeconds"] != float64(599) {
		t.Errorf("the apply's minReadySeconds %v, want 599 (patch %v)", spec["minReadySeconds"], patch)
	}
	ru, _ := spec["strategy"].(map[string]any)["rollingUpdate"].(map[string]any)
	if ru["maxSurge"] != "100%" || ru["maxUnavailable"] != float64(0) {
		t.Errorf("the apply's rollingUpdate %v, want maxSurge 100%%, maxUnavailable 0", ru)
	}
	ann, _ := patch["metadata"].(map[string]any)["annotations"].(map[string]any)
	var h holdRecord
	if err := json.Unmarshal([]byte(ann[state.ParamPrefix+ParamHold].(string)), &h); err != nil {
		t.Fatalf("the apply does not record the hold: %v (%v)", err, ann)
	}
	if h.Seconds != 599 || h.MaxUnavailable.String() != "0" || h.MaxSurge.String() != "25%" {
		t.Errorf("recorded hold %+v, want seconds 599 and the fixed maxUnavailable 0, maxSurge 25%%", h)
	}
	if !strings.Contains(holdStep, `service web`) {
		t.Errorf("the plan's hold step %q does not name the Service", holdStep)
	}
}

// TestRollbackUndoesARecordedHold: `kubectl zdd rollback` over a rollout
// --fix that stopped while it held the old pods gives the Service its
// selector back and sets minReadySeconds back in the same patch as the
// template.
func TestRollbackUndoesARecordedHold(t *testing.T) {
	objs := fixtures()
	d := objs[0].(*appsv1.Deployment)
	d.Spec.MinReadySeconds = 599
	all, none := intstr.FromString("100%"), intstr.FromInt32(0)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &all, MaxUnavailable: &none}}
	op := state.NewOperation(Strategy, time.Now())
	setHold(op, &holdRecord{Seconds: 599, MaxSurge: intstr.FromString("25%"), MaxUnavailable: none, Hash: "bbb", Services: map[string]map[string]string{"web": {"app": "web"}}})
	for k, v := range op.Annotations() {
		if v != nil {
			d.Annotations[k] = *v
		}
	}
	svc := objs[3].(*corev1.Service)
	svc.Spec.Selector = map[string]string{"app": "web", "pod-template-hash": "bbb"}
	client := fake.NewClientset(objs...)
	ctx := context.Background()
	// the fake API server never rolls out: the wait ends with the timeout
	_, _ = Rollback(ctx, client, RollbackConfig{Namespace: "shop", Name: "web", Timeout: 100 * time.Millisecond})
	got, _ := client.CoreV1().Services("shop").Get(ctx, "web", metav1.GetOptions{})
	if !maps.Equal(got.Spec.Selector, map[string]string{"app": "web"}) {
		t.Errorf("service selector after the rollback %v, want app=web restored", got.Spec.Selector)
	}
	dep, _ := client.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	if dep.Spec.MinReadySeconds != 0 || dep.Spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" || imageOfTemplate(dep) != "shop:v1" {
		t.Errorf("deployment after the rollback: minReadySeconds %d, maxSurge %s, image %s; want 0, 25%%, shop:v1", dep.Spec.MinReadySeconds, dep.Spec.Strategy.RollingUpdate.MaxSurge.String(), imageOfTemplate(dep))
	}
	var patches int
	for _, a := range client.Actions() {
		if a.GetVerb() == "patch" && a.GetResource().Resource == "deployments" {
			patches++
		}
	}
	if patches != 1 {
		t.Errorf("%d patches of the deployment, want 1 (the hold's values go back with the template)", patches)
	}
}

func imageOfTemplate(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Image }
