package lint

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// TestReadLiveFacts reads, from fake clients, what live mode adds: the
// Ingresses and HTTPRoutes of the namespace as context, the pods of the
// Deployment (their proxy container and readiness gates), the Lease one
// of them holds, and the API server's answer on its ServiceAccount; a read
// the user may not make becomes a note.
func TestReadLiveFacts(t *testing.T) {
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{ServiceAccountName: "web", Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
			},
		},
	}
	pod := func(name string, lbl map[string]string, containers ...string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: lbl}}
		for _, c := range containers {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: c, Env: []corev1.EnvVar{{Name: "X", Value: c}}})
		}
		return p
	}
	gated := pod("web-2", map[string]string{"app": "web"}, "web")
	gated.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: gkeNEGGate}}
	client := fake.NewClientset(
		pod("web-1", map[string]string{"app": "web", "pod-template-hash": "1"}, "web", istioProxy),
		gated,
		pod("other-1", map[string]string{"app": "other"}, "other"),
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "web-lock", Namespace: "shop"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("web-1_6c1f")}},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "other-lock", Namespace: "shop"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("other-1")}},
		&networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}},
	)
	var asked []string
	client.PrependReactor("create", "localsubjectaccessreviews", func(a clienttesting.Action) (bool, runtime.Object, error) {
		r := a.(clienttesting.CreateAction).GetObject().(*authorizationv1.LocalSubjectAccessReview)
		asked = append(asked, r.Spec.User+" "+r.Spec.ResourceAttributes.Verb+" "+r.Spec.ResourceAttributes.Resource)
		r.Status.Allowed = true
		return true, r, nil
	})
	route := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
		"metadata": map[string]any{"name": "web", "namespace": "shop"},
		"spec":     map[string]any{"rules": []any{map[string]any{"backendRefs": []any{map[string]any{"name": "web"}}}}},
	}}
	gvr := func(g, v, r string) schema.GroupVersionResource {
		return schema.GroupVersionResource{Group: g, Version: v, Resource: r}
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		gvr("gateway.networking.k8s.io", "v1", "httproutes"):   "HTTPRouteList",
		gvr("gateway.networking.k8s.io", "v1", "grpcroutes"):   "GRPCRouteList",
		gvr("cloud.google.com", "v1", "backendconfigs"):        "BackendConfigList",
		gvr("elbv2.k8s.aws", "v1beta1", "targetgroupbindings"): "TargetGroupBindingList",
	}, route)
	dyn.PrependReactor("list", "targetgroupbindings", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(schema.GroupResource{Group: "elbv2.k8s.aws", Resource: "targetgroupbindings"}, "")
	})
	dyn.PrependReactor("list", "backendconfigs", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "cloud.google.com", Resource: "backendconfigs"}, "", nil)
	})

	o, err := FromTyped(dep)
	if err != nil {
		t.Fatal(err)
	}
	out := &Loaded{Objects: []Object{o}}
	addContext := func(obj runtime.Object, kind, ns, name string) {
		c, err := FromTyped(obj)
		if err != nil {
			t.Errorf("%s %s: %v", kind, name, err)
			return
		}
		c.Context = true
		out.Objects = append(out.Objects, c)
	}
	ctx := context.Background()
	if err := readTrafficContext(ctx, client, dyn, "shop", out, addContext); err != nil {
		t.Fatal(err)
	}
	if err := readPodFacts(ctx, client, out, []string{"shop"}); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, c := range out.Objects[1:] {
		kinds = append(kinds, c.Kind+"/"+c.Name)
	}
	if diff := cmp.Diff([]string{"Ingress/web", "HTTPRoute/web"}, kinds); diff != "" {
		t.Errorf("context read (-want +got):\n%s", diff)
	}
	got := out.Objects[0].live
	yes := true
	want := &liveFacts{
		pods: []podFacts{
			{name: "web-1", containers: []string{"web", istioProxy}, proxyEnv: map[string]string{"X": istioProxy}},
			{name: "web-2", containers: []string{"web"}, readinessGates: []string{gkeNEGGate}},
		},
		leases:      []string{"web-lock"},
		leaseWriter: &yes,
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(liveFacts{}, podFacts{})); diff != "" {
		t.Errorf("live facts (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"system:serviceaccount:shop:web update leases"}, asked); diff != "" {
		t.Errorf("access reviews (-want +got):\n%s", diff)
	}
	if len(out.Notes) != 1 || !strings.Contains(out.Notes[0], `cannot list backendconfigs.cloud.google.com in namespace "shop"`) {
		t.Errorf("notes %q, want one on the backendconfigs it may not list", out.Notes)
	}
}
