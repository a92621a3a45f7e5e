package kube

// Autoscalers that size a Deployment: a HorizontalPodAutoscaler
// (autoscaling/v2) whose scaleTargetRef names it, or a KEDA ScaledObject
// (keda.sh/v1alpha1, looked for only when the cluster serves it) whose
// scaleTargetRef names it. KEDA sizes its target through an HPA it owns
// (keda-hpa-NAME); that HPA is reported as its ScaledObject, which is
// the object to edit.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// Kinds of autoscaler.
const (
	KindHPA          = "HorizontalPodAutoscaler"
	KindScaledObject = "ScaledObject"
)

// ScaledObjectGVR is KEDA's ScaledObject resource.
var ScaledObjectGVR = schema.GroupVersionResource{Group: "keda.sh", Version: "v1alpha1", Resource: "scaledobjects"}

// Autoscaler is one object that sizes a Deployment.
type Autoscaler struct {
	Kind      string // KindHPA or KindScaledObject
	Namespace string
	Name      string
	// Target is the name of the Deployment it scales.
	Target string
	// Min and Max are its bounds (a ScaledObject's minReplicaCount and
	// maxReplicaCount, with KEDA's defaults 0 and 100).
	Min, Max int32
}

// Ref is `HorizontalPodAutoscaler "shop/web"`.
func (a Autoscaler) Ref() string { return fmt.Sprintf("%s %q", a.Kind, a.Namespace+"/"+a.Name) }

// String is the Ref with its target and bounds.
func (a Autoscaler) String() string {
	return fmt.Sprintf("%s (scales deployment %q, %d-%d replicas)", a.Ref(), a.Target, a.Min, a.Max)
}

// Key is "KIND/NAME", as a record stores it.
func (a Autoscaler) Key() string { return a.Kind + "/" + a.Name }

// Describe joins the autoscalers' Ref()s.
func Describe(as []Autoscaler) string {
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// isDeployment says whether a scaleTargetRef names a Deployment (apps).
func isDeployment(apiVersion, kind string) bool {
	if kind != "" && kind != "Deployment" {
		return false
	}
	group, _, found := strings.Cut(apiVersion, "/")
	return apiVersion == "" || (found && group == "apps")
}

// FindAutoscalers lists the autoscalers in ns that scale one of the
// Deployments named. dyn nil, or a cluster that does not serve
// ScaledObjects, looks for HPAs only; a kind the credentials may not list
// is left out (an API server refuses a resource it does not serve as
// Forbidden when RBAC does not name it).
func FindAutoscalers(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, ns string, deployments ...string) ([]Autoscaler, error) {
	var out []Autoscaler
	hpas, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsForbidden(err) {
		return nil, fmt.Errorf("listing horizontal pod autoscalers in namespace %q: %w", ns, err)
	}
	if err == nil {
		for _, h := range hpas.Items {
			ref := h.Spec.ScaleTargetRef
			if !isDeployment(ref.APIVersion, ref.Kind) || !slices.Contains(deployments, ref.Name) || ownedByScaledObject(h.OwnerReferences) {
				continue
			}
			a := Autoscaler{Kind: KindHPA, Namespace: ns, Name: h.Name, Target: ref.Name, Min: 1, Max: h.Spec.MaxReplicas}
			if h.Spec.MinReplicas != nil {
				a.Min = *h.Spec.MinReplicas
			}
			out = append(out, a)
		}
	}
	if dyn == nil {
		return out, nil
	}
	list, err := dyn.Resource(ScaledObjectGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		// not served (KEDA is not installed), or not ours to see
		return out, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing KEDA scaled objects in namespace %q: %w", ns, err)
	}
	for _, so := range list.Items {
		name, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name")
		apiVersion, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "apiVersion")
		kind, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "kind")
		if !isDeployment(apiVersion, kind) || !slices.Contains(deployments, name) {
			continue
		}
		a := Autoscaler{Kind: KindScaledObject, Namespace: ns, Name: so.GetName(), Target: name, Min: 0, Max: 100}
		if v, ok, _ := unstructured.NestedInt64(so.Object, "spec", "minReplicaCount"); ok {
			a.Min = int32(v)
		}
		if v, ok, _ := unstructured.NestedInt64(so.Object, "spec", "maxReplicaCount"); ok {
			a.Max = int32(v)
		}
		out = append(out, a)
	}
	return out, nil
}

func ownedByScaledObject(refs []metav1.OwnerReference) bool {
	for _, r := range refs {
		if r.Kind == KindScaledObject && strings.HasPrefix(r.APIVersion, ScaledObjectGVR.Group+"/") {
			return true
		}
	}
	return false
}

// Retarget points a at Deployment to: an HPA's spec.scaleTargetRef.name, or
// a ScaledObject's (KEDA then moves its own HPA). The update carries the
// resourceVersion it read; a change of the target by someone else since
// (it no longer names a.Target nor to) is a *ChangedError.
func Retarget(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, a Autoscaler, to string) error {
	changed := func(cur string, obj metav1.Object) error {
		return &ChangedError{Object: a.Ref(), Fields: []string{"spec.scaleTargetRef.name"}, From: a.Target, To: cur,
			Writer: WriterOf(obj, Path("spec.scaleTargetRef")), Seen: obj}
	}
	switch a.Kind {
	case KindHPA:
		hpas := client.AutoscalingV2().HorizontalPodAutoscalers(a.Namespace)
		h, err := hpas.Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading %s: %w", a.Ref(), err)
		}
		switch h.Spec.ScaleTargetRef.Name {
		case to:
			return nil
		case a.Target:
		default:
			return changed(h.Spec.ScaleTargetRef.Name, h)
		}
		h.Spec.ScaleTargetRef.Name = to
		if _, err := hpas.Update(ctx, h, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			return fmt.Errorf("pointing %s at deployment %q: %w", a.Ref(), to, err)
		}
		return nil
	case KindScaledObject:
		if dyn == nil {
			return fmt.Errorf("pointing %s at deployment %q: no dynamic client", a.Ref(), to)
		}
		res := dyn.Resource(ScaledObjectGVR).Namespace(a.Namespace)
		so, err := res.Get(ctx, a.Name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading %s: %w", a.Ref(), err)
		}
		cur, _, _ := unstructured.NestedString(so.Object, "spec", "scaleTargetRef", "name")
		switch cur {
		case to:
			return nil
		case a.Target:
		default:
			return changed(cur, so)
		}
		if err := unstructured.SetNestedField(so.Object, to, "spec", "scaleTargetRef", "name"); err != nil {
			return fmt.Errorf("pointing %s at deployment %q: %w", a.Ref(), to, err)
		}
		if _, err := res.Update(ctx, so, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			return fmt.Errorf("pointing %s at deployment %q: %w", a.Ref(), to, err)
		}
		return nil
	}
	return fmt.Errorf("unknown autoscaler kind %q", a.Kind)
}
