package kube

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
)

func hpa(name, apiVersion, kind, target string, min *int32, owner string) *autoscalingv2.HorizontalPodAutoscaler {
	h := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: apiVersion, Kind: kind, Name: target},
			MinReplicas:    min, MaxReplicas: 10,
		},
	}
	if owner != "" {
		h.OwnerReferences = []metav1.OwnerReference{{APIVersion: "keda.sh/v1alpha1", Kind: "ScaledObject", Name: owner}}
	}
	return h
}

func scaledObject(name, target string, spec map[string]any) *unstructured.Unstructured {
	s := map[string]any{"scaleTargetRef": map[string]any{"name": target}}
	for k, v := range spec {
		s[k] = v
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
		"metadata": map[string]any{"name": name, "namespace": "shop"}, "spec": s,
	}}
}

func TestFindAutoscalers(t *testing.T) {
	three := int32(3)
	cs := fake.NewClientset(
		hpa("web", "apps/v1", "Deployment", "web", &three, ""),
		hpa("default-min", "apps/v1", "Deployment", "web-blue", nil, ""),
		hpa("other", "apps/v1", "Deployment", "api", nil, ""),
		hpa("a-statefulset", "apps/v1", "StatefulSet", "web", nil, ""),
		hpa("keda-hpa-web-so", "apps/v1", "Deployment", "web", nil, "web-so"),
	)
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{ScaledObjectGVR: "ScaledObjectList"},
		scaledObject("web-so", "web", map[string]any{"minReplicaCount": int64(2), "maxReplicaCount": int64(20)}),
		scaledObject("defaults", "web-green", nil),
		scaledObject("api-so", "api", nil),
	)
	got, err := FindAutoscalers(context.Background(), cs, dyn, "shop", "web", "web-blue", "web-green")
	if err != nil {
		t.Fatal(err)
	}
	want := []Autoscaler{
		{Kind: KindHPA, Namespace: "shop", Name: "default-min", Target: "web-blue", Min: 1, Max: 10},
		{Kind: KindHPA, Namespace: "shop", Name: "web", Target: "web", Min: 3, Max: 10},
		{Kind: KindScaledObject, Namespace: "shop", Name: "defaults", Target: "web-green", Min: 0, Max: 100},
		{Kind: KindScaledObject, Namespace: "shop", Name: "web-so", Target: "web", Min: 2, Max: 20},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("FindAutoscalers (-want +got):\n%s", diff)
	}
	// no dynamic client: HPAs only
	got, err = FindAutoscalers(context.Background(), cs, nil, "shop", "api")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Autoscaler{{Kind: KindHPA, Namespace: "shop", Name: "other", Target: "api", Min: 1, Max: 10}}, got); diff != "" {
		t.Errorf("FindAutoscalers without KEDA (-want +got):\n%s", diff)
	}
}

func TestRetargetRefusesAnotherWritersTarget(t *testing.T) {
	cs := fake.NewClientset(hpa("web", "apps/v1", "Deployment", "web-green", nil, ""))
	a := Autoscaler{Kind: KindHPA, Namespace: "shop", Name: "web", Target: "web-blue"}
	err := Retarget(context.Background(), cs, nil, a, "web-blue-2")
	if _, ok := err.(*ChangedError); !ok {
		t.Fatalf("Retarget of an HPA someone pointed elsewhere: got %v, want a *ChangedError", err)
	}
	a.Target = "web-green"
	if err := Retarget(context.Background(), cs, nil, a, "web-blue"); err != nil {
		t.Fatal(err)
	}
	h, _ := cs.AutoscalingV2().HorizontalPodAutoscalers("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if h.Spec.ScaleTargetRef.Name != "web-blue" {
		t.Errorf("scaleTargetRef.name = %q, want web-blue", h.Spec.ScaleTargetRef.Name)
	}
}
