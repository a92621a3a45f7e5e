//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

// The autoscaler tests run a real HorizontalPodAutoscaler object and the
// kube-controller-manager's HPA controller. The test cluster has no metrics
// API, but the controller still holds spec.replicas of its target between
// minReplicas and maxReplicas: raising minReplicas under a running release
// is the autoscaler scaling the Deployment under it.

var scaledObjectGVR = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// createHPA creates the HPA NAME scaling deployment target between min and max.
func (e *Env) createHPA(name, target string, min, max int32) {
	e.T.Helper()
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: target},
			MinReplicas:    ptr.To(min), MaxReplicas: max,
		},
	}
	if _, err := e.Client.AutoscalingV2().HorizontalPodAutoscalers(e.NS).Create(e.Ctx, h, metav1.CreateOptions{}); err != nil {
		e.T.Fatalf("creating HPA %q: %v", name, err)
	}
}

func (e *Env) hpa(name string) *autoscalingv2.HorizontalPodAutoscaler {
	e.T.Helper()
	h, err := e.Client.AutoscalingV2().HorizontalPodAutoscalers(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatalf("reading HPA %q: %v", name, err)
	}
	return h
}

// setHPAMin sets the HPA's minReplicas: its controller then scales the target.
func (e *Env) setHPAMin(name string, min int32) {
	e.T.Helper()
	h := e.hpa(name)
	h.Spec.MinReplicas = ptr.To(min)
	if _, err := e.Client.AutoscalingV2().HorizontalPodAutoscalers(e.NS).Update(e.Ctx, h, metav1.UpdateOptions{}); err != nil {
		e.T.Fatalf("updating HPA %q: %v", name, err)
	}
}

// waitReplicasReady waits until deployment name has n replicas, all ready
// and updated.
func (e *Env) waitReplicasReady(name string, n int32) {
	e.T.Helper()
	e.waitDeployment(name, "replicas ready", func(d *appsv1.Deployment) bool {
		return d.Spec.Replicas != nil && *d.Spec.Replicas == n && d.Status.ObservedGeneration == d.Generation &&
			d.Status.ReadyReplicas == n && d.Status.UpdatedReplicas == n && d.Status.Replicas == n
	})
}

// TestAutoscalerRollout: the HPA's controller scales the Deployment from 3
// to 5 replicas in the middle of a rollout; the rollout carries on and
// judges completion against 5, not the 3 it started with.
func TestAutoscalerRollout(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(appManifest(AppSpec{Replicas: 3, ReadyDelay: "2s"}))
	env.RolloutStatus("web", 2*time.Minute)
	env.createHPA("web", "web", 3, 8)
	gen := env.deployment("web").Generation

	run := env.zddStart(nil, "rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--timeout", "2m")
	// the rollout is under way: the new template is applied, not all pods updated
	env.waitDeployment("web", "rollout started", func(d *appsv1.Deployment) bool {
		return d.Generation > gen && d.Status.UpdatedReplicas >= 1 && d.Status.UpdatedReplicas < 3
	})
	env.setHPAMin("web", 5)
	r := run.wait(t)
	wantCode(t, "rollout under an HPA", r, 0)
	out := r.Stdout + r.Stderr
	for _, want := range []string{`is sized by HorizontalPodAutoscaler "` + env.NS + `/web"`, "judges completion against 5 replicas"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollout output lacks %q", want)
		}
	}
	d := env.deployment("web")
	if *d.Spec.Replicas != 5 || d.Status.UpdatedReplicas != 5 || d.Status.ReadyReplicas != 5 {
		t.Errorf("deployment after the rollout: spec.replicas %d, updated %d, ready %d; want 5 of each (the HPA's count)", *d.Spec.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example/web:v2" {
		t.Errorf("image %q, want v2", img)
	}
}

// TestAutoscalerCanary: a canary beside a stable the HPA sizes. The canary
// never writes the stable's replicas; it sizes itself from the stable's
// count at each step; the HPA's write of the stable's replicas between two
// steps does not stop it as another writer's change; the promotion keeps
// the HPA's count.
func TestAutoscalerCanary(t *testing.T) {
	t.Parallel()
	env := canaryApp(t, 3)
	env.createHPA("web", "web", 3, 10)
	watch := env.WatchDowntime("web")

	// step 1, 25% by replica ratio beside 3 stable pods: 1 canary pod (1 of 4)
	r := env.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "25,50", "--manual", "--timeout", "2m")
	wantCode(t, "canary step 1", r, 0)
	if !strings.Contains(r.Stdout, `is sized by HorizontalPodAutoscaler "`+env.NS+`/web"`) {
		t.Errorf("canary output does not name the HPA")
	}
	if diff := cmp.Diff([]canaryStep{{Step: 1, Weight: 25, Canary: 1, All: 4}}, canarySteps(r.Stdout)); diff != "" {
		t.Errorf("step 1 (-want +got):\n%s", diff)
	}
	if got := *env.deployment("web").Spec.Replicas; got != 3 {
		t.Errorf("stable replicas %d after step 1, want 3 (left to the HPA)", got)
	}

	// the HPA scales the stable to 5 during the hold
	env.setHPAMin("web", 5)
	env.waitReplicasReady("web", 5)

	// step 2, 50%: as many canary pods as the stable has now (5 of 10)
	r = env.Zdd("canary", "promote", "deployment/web", "--timeout", "2m")
	wantCode(t, "canary promote to step 2", r, 0)
	if diff := cmp.Diff([]canaryStep{{Step: 2, Weight: 50, Canary: 5, All: 10}}, canarySteps(r.Stdout)); diff != "" {
		t.Errorf("step 2 (-want +got):\n%s", diff)
	}

	r = env.Zdd("canary", "promote", "deployment/web", "--full", "--timeout", "2m")
	wantCode(t, "canary promote --full", r, 0)
	rep := watch.Stop()
	d := env.deployment("web")
	if *d.Spec.Replicas != 5 || d.Spec.Template.Spec.Containers[0].Image != canaryV2 {
		t.Errorf("stable after promotion: %d replicas of %s, want 5 (the HPA's) of %s", *d.Spec.Replicas, d.Spec.Template.Spec.Containers[0].Image, canaryV2)
	}
	if d.Annotations["zdd.dev/result"] != "succeeded" || d.Annotations["zdd.dev/param.autoscalers"] != "HorizontalPodAutoscaler/web" {
		t.Errorf("record: result %q, autoscalers %q", d.Annotations["zdd.dev/result"], d.Annotations["zdd.dev/param.autoscalers"])
	}
	if !env.deploymentGone("web-canary") {
		t.Errorf("deployment web-canary is left")
	}
	if h := env.hpa("web"); h.Spec.ScaleTargetRef.Name != "web" {
		t.Errorf("HPA targets %q, want web", h.Spec.ScaleTargetRef.Name)
	}
	if rep.MinReady < 3 || rep.ZeroFor != 0 {
		t.Errorf("ready endpoints fell to %d (zero for %s), want never below 3", rep.MinReady, rep.ZeroFor)
	}
}

// TestAutoscalerBlueGreen: the HPA follows the live colour at each switch
// (init, deploy, rollback), its controller scales the live colour, and a
// KEDA ScaledObject (our minimal CRD, no operator) is pointed the same way.
func TestAutoscalerBlueGreen(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.installCRDs([]string{"testdata/crds/keda-scaledobject.yaml"}, []string{"scaledobjects.keda.sh"})
	env.Apply(appManifest(AppSpec{Replicas: 3}))
	env.Apply(appManifest(AppSpec{Name: "api", Replicas: 2}))
	env.RolloutStatus("web", 2*time.Minute)
	env.RolloutStatus("api", 2*time.Minute)
	env.createHPA("web", "web", 3, 6)
	so := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
		"metadata": map[string]any{"name": "api", "namespace": env.NS},
		"spec": map[string]any{"scaleTargetRef": map[string]any{"name": "api"}, "minReplicaCount": int64(2), "maxReplicaCount": int64(4),
			"triggers": []any{map[string]any{"type": "cron"}}},
	}}
	if _, err := env.Dynamic.Resource(scaledObjectGVR).Namespace(env.NS).Create(env.Ctx, so, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	target := func() string { return env.hpa("web").Spec.ScaleTargetRef.Name }

	r := env.Zdd("bluegreen", "init", "service/web", "--timeout", "2m")
	wantCode(t, "bluegreen init", r, 0)
	if !strings.Contains(r.Stdout, `preflight: HorizontalPodAutoscaler "`+env.NS+`/web"`) {
		t.Errorf("init does not name the HPA in its preflight")
	}
	if got := target(); got != "web-blue" {
		t.Fatalf("after init the HPA targets %q, want web-blue", got)
	}
	if got := env.serviceSelector("web")["version"]; got != "blue" {
		t.Fatalf("service selects version=%q, want blue", got)
	}
	// the HPA's controller scales the live colour now
	env.setHPAMin("web", 4)
	env.waitReplicasReady("web-blue", 4)
	if got := *env.deployment("web").Spec.Replicas; got != 0 {
		t.Errorf("the original deployment has %d replicas, want 0", got)
	}

	r = env.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "2m")
	wantCode(t, "bluegreen deploy", r, 0)
	if got := target(); got != "web-green" {
		t.Errorf("after deploy the HPA targets %q, want web-green", got)
	}
	svc, err := env.Client.CoreV1().Services(env.NS).Get(env.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := svc.Annotations["zdd.dev/param.autoscalers"]; got != "HorizontalPodAutoscaler/web=web-green" {
		t.Errorf("record of the autoscalers %q, want HorizontalPodAutoscaler/web=web-green", got)
	}
	if got := *env.deployment("web-green").Spec.Replicas; got != 4 {
		t.Errorf("web-green has %d replicas, want 4 (the live colour's, as the HPA sized it)", got)
	}

	r = env.Zdd("bluegreen", "rollback", "service/web", "--timeout", "2m")
	wantCode(t, "bluegreen rollback", r, 0)
	if got := target(); got != "web-blue" {
		t.Errorf("after rollback the HPA targets %q, want web-blue (restored)", got)
	}

	// KEDA: the ScaledObject follows too
	r = env.Zdd("bluegreen", "init", "service/api", "--timeout", "2m")
	wantCode(t, "bluegreen init of api", r, 0)
	if !strings.Contains(r.Stdout, `ScaledObject "`+env.NS+`/api"`) {
		t.Errorf("init of api does not name the ScaledObject")
	}
	got := env.getObject(scaledObjectGVR, "api")
	if name, _, _ := unstructured.NestedString(got.Object, "spec", "scaleTargetRef", "name"); name != "api-blue" {
		t.Errorf("after init the ScaledObject targets %q, want api-blue", name)
	}
}
