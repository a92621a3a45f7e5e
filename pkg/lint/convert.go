package lint

import (
	"fmt"
	"reflect"

	appsv1 "k8s.io/api/apps/v1"
	appsv1beta1 "k8s.io/api/apps/v1beta1"
	appsv1beta2 "k8s.io/api/apps/v1beta2"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	policyv1beta1 "k8s.io/api/policy/v1beta1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// modern is the typed object each audited group/kind is decoded into.
var modern = map[schema.GroupKind]struct {
	apiVersion string
	versions   map[string]bool // the API versions accepted for it
	new        func() runtime.Object
}{
	{Group: "apps", Kind: "Deployment"}:                     {"apps/v1", set("v1", "v1beta1", "v1beta2"), func() runtime.Object { return &appsv1.Deployment{} }},
	{Group: "extensions", Kind: "Deployment"}:               {"apps/v1", set("v1beta1"), func() runtime.Object { return &appsv1.Deployment{} }},
	{Group: "apps", Kind: "StatefulSet"}:                    {"apps/v1", set("v1", "v1beta1", "v1beta2"), func() runtime.Object { return &appsv1.StatefulSet{} }},
	{Group: "apps", Kind: "DaemonSet"}:                      {"apps/v1", set("v1", "v1beta2"), func() runtime.Object { return &appsv1.DaemonSet{} }},
	{Group: "extensions", Kind: "DaemonSet"}:                {"apps/v1", set("v1beta1"), func() runtime.Object { return &appsv1.DaemonSet{} }},
	{Group: "apps", Kind: "ReplicaSet"}:                     {"apps/v1", set("v1", "v1beta2"), func() runtime.Object { return &appsv1.ReplicaSet{} }},
	{Group: "extensions", Kind: "ReplicaSet"}:               {"apps/v1", set("v1beta1"), func() runtime.Object { return &appsv1.ReplicaSet{} }},
	{Group: "batch", Kind: "Job"}:                           {"batch/v1", set("v1"), func() runtime.Object { return &batchv1.Job{} }},
	{Group: "", Kind: "Service"}:                            {"v1", set("v1"), func() runtime.Object { return &corev1.Service{} }},
	{Group: "policy", Kind: "PodDisruptionBudget"}:          {"policy/v1", set("v1", "v1beta1"), func() runtime.Object { return &policyv1.PodDisruptionBudget{} }},
	{Group: "autoscaling", Kind: "HorizontalPodAutoscaler"}: {"autoscaling/v2", set("v2", "v1", "v2beta1", "v2beta2"), func() runtime.Object { return &autoscalingv2.HorizontalPodAutoscaler{} }},

	// Read by the cross-object rules only (traffic, RBAC, namespaces).
	{Group: "networking.k8s.io", Kind: "Ingress"}:                    {"networking.k8s.io/v1", set("v1", "v1beta1"), func() runtime.Object { return &networkingv1.Ingress{} }},
	{Group: "extensions", Kind: "Ingress"}:                           {"networking.k8s.io/v1", set("v1beta1"), func() runtime.Object { return &networkingv1.Ingress{} }},
	{Group: "gateway.networking.k8s.io", Kind: "HTTPRoute"}:          {"gateway.networking.k8s.io/v1", set("v1", "v1beta1", "v1alpha2"), func() runtime.Object { return &GatewayRoute{} }},
	{Group: "gateway.networking.k8s.io", Kind: "GRPCRoute"}:          {"gateway.networking.k8s.io/v1", set("v1", "v1alpha2"), func() runtime.Object { return &GatewayRoute{} }},
	{Group: "rbac.authorization.k8s.io", Kind: "Role"}:               {"rbac.authorization.k8s.io/v1", set("v1", "v1beta1"), func() runtime.Object { return &rbacv1.Role{} }},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        {"rbac.authorization.k8s.io/v1", set("v1", "v1beta1"), func() runtime.Object { return &rbacv1.ClusterRole{} }},
	{Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"}:        {"rbac.authorization.k8s.io/v1", set("v1", "v1beta1"), func() runtime.Object { return &rbacv1.RoleBinding{} }},
	{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: {"rbac.authorization.k8s.io/v1", set("v1", "v1beta1"), func() runtime.Object { return &rbacv1.ClusterRoleBinding{} }},
	{Group: "", Kind: "Namespace"}:                                   {"v1", set("v1"), func() runtime.Object { return &corev1.Namespace{} }},
	{Group: "cloud.google.com", Kind: "BackendConfig"}:               {"cloud.google.com/v1", set("v1", "v1beta1"), func() runtime.Object { return &BackendConfig{} }},
	{Group: "elbv2.k8s.aws", Kind: "TargetGroupBinding"}:             {"elbv2.k8s.aws/v1beta1", set("v1beta1"), func() runtime.Object { return &TargetGroupBinding{} }},
}

func set(vs ...string) map[string]bool {
	m := make(map[string]bool, len(vs))
	for _, v := range vs {
		m[v] = true
	}
	return m
}

// typedGVK names the group/version/kind of the typed objects FromTyped
// accepts (a typed object read with client-go has an empty TypeMeta).
func typedGVK(obj runtime.Object) (schema.GroupVersionKind, bool) {
	gv := func(g, v, k string) (schema.GroupVersionKind, bool) {
		return schema.GroupVersionKind{Group: g, Version: v, Kind: k}, true
	}
	switch obj.(type) {
	case *appsv1.Deployment:
		return gv("apps", "v1", "Deployment")
	case *appsv1.StatefulSet:
		return gv("apps", "v1", "StatefulSet")
	case *appsv1.DaemonSet:
		return gv("apps", "v1", "DaemonSet")
	case *appsv1.ReplicaSet:
		return gv("apps", "v1", "ReplicaSet")
	case *batchv1.Job:
		return gv("batch", "v1", "Job")
	case *corev1.Service:
		return gv("", "v1", "Service")
	case *policyv1.PodDisruptionBudget:
		return gv("policy", "v1", "PodDisruptionBudget")
	case *autoscalingv2.HorizontalPodAutoscaler:
		return gv("autoscaling", "v2", "HorizontalPodAutoscaler")
	case *autoscalingv1.HorizontalPodAutoscaler:
		return gv("autoscaling", "v1", "HorizontalPodAutoscaler")
	case *appsv1beta1.Deployment:
		return gv("apps", "v1beta1", "Deployment")
	case *appsv1beta1.StatefulSet:
		return gv("apps", "v1beta1", "StatefulSet")
	case *appsv1beta2.Deployment:
		return gv("apps", "v1beta2", "Deployment")
	case *appsv1beta2.StatefulSet:
		return gv("apps", "v1beta2", "StatefulSet")
	case *appsv1beta2.DaemonSet:
		return gv("apps", "v1beta2", "DaemonSet")
	case *appsv1beta2.ReplicaSet:
		return gv("apps", "v1beta2", "ReplicaSet")
	case *extensionsv1beta1.Deployment:
		return gv("extensions", "v1beta1", "Deployment")
	case *extensionsv1beta1.DaemonSet:
		return gv("extensions", "v1beta1", "DaemonSet")
	case *extensionsv1beta1.ReplicaSet:
		return gv("extensions", "v1beta1", "ReplicaSet")
	case *policyv1beta1.PodDisruptionBudget:
		return gv("policy", "v1beta1", "PodDisruptionBudget")
	case *networkingv1.Ingress:
		return gv("networking.k8s.io", "v1", "Ingress")
	case *rbacv1.Role:
		return gv("rbac.authorization.k8s.io", "v1", "Role")
	case *rbacv1.ClusterRole:
		return gv("rbac.authorization.k8s.io", "v1", "ClusterRole")
	case *rbacv1.RoleBinding:
		return gv("rbac.authorization.k8s.io", "v1", "RoleBinding")
	case *rbacv1.ClusterRoleBinding:
		return gv("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding")
	case *corev1.Namespace:
		return gv("", "v1", "Namespace")
	}
	return schema.GroupVersionKind{}, false
}

// FromTyped makes an Object from a typed object (apps/v1 Deployment, an old
// extensions/v1beta1 Deployment, ...) or an unstructured one. Objects of old
// API versions (extensions/v1beta1, apps/v1beta1, apps/v1beta2 workloads,
// policy/v1beta1 PDBs, autoscaling/v1, v2beta1 and v2beta2 HPAs) are
// converted to their modern typed equivalent, with the defaults of the old
// version written out where they differ (see convertOld). A kind or API
// version no rule audits returns the object's identity and an error wrapping
// ErrUnsupportedKind; an object whose fields cannot be decoded returns
// another error naming it.
func FromTyped(obj runtime.Object) (out Object, err error) {
	if obj == nil {
		return Object{}, fmt.Errorf("no object: %w", ErrUnsupportedKind)
	}
	defer func() {
		// The converter reports bad input with errors; this is a last guard
		// so that a malformed object can never crash the linter.
		if p := recover(); p != nil {
			err = fmt.Errorf("decoding %s: %v", out.Ref(), p)
		}
	}()
	// Fast path: a modern typed object is used as it is.
	if gvk, ok := typedGVK(obj); ok && modern[gvk.GroupKind()].apiVersion == gvk.GroupVersion().String() {
		u, err := toUnstructured(obj, gvk)
		if err != nil {
			return Object{Kind: gvk.Kind}, err
		}
		o := identity(u)
		o.Typed = obj
		return o, nil
	}
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		gvk, known := typedGVK(obj)
		if !known {
			gvk = obj.GetObjectKind().GroupVersionKind()
			if gvk.Kind == "" {
				// A typed object of another kind, read without TypeMeta.
				if t := reflect.TypeOf(obj); t.Kind() == reflect.Pointer {
					gvk.Kind = t.Elem().Name()
				}
			}
		}
		if u, err = toUnstructured(obj, gvk); err != nil {
			return Object{Kind: gvk.Kind}, err
		}
	}
	out = identity(u)
	gvk := u.GroupVersionKind()
	m, known := modern[gvk.GroupKind()]
	if !known || !m.versions[gvk.Version] {
		return out, fmt.Errorf("%s %q (%s): %w", gvk.Kind, out.Name, u.GetAPIVersion(), ErrUnsupportedKind)
	}
	content := u.Object
	if gvk.GroupVersion().String() != m.apiVersion {
		content = runtime.DeepCopyJSON(u.Object)
		convertOld(gvk, content)
		content["apiVersion"] = m.apiVersion
	}
	typed := m.new()
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(content, typed); err != nil {
		return out, fmt.Errorf("decoding %s (%s): %w", out.Ref(), u.GetAPIVersion(), err)
	}
	out.Typed = typed
	return out, nil
}

func identity(u *unstructured.Unstructured) Object {
	return Object{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(), Raw: u}
}

func toUnstructured(obj runtime.Object, gvk schema.GroupVersionKind) (*unstructured.Unstructured, error) {
	content, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("reading %s object: %w", gvk.Kind, err)
	}
	u := &unstructured.Unstructured{Object: content}
	if !gvk.Empty() {
		u.SetGroupVersionKind(gvk)
	}
	return u, nil
}

// convertOld writes out, in the content of an object of an old API version,
// the defaults of that version that differ from the modern one, so the rules
// judge what the cluster would really do:
//   - extensions/v1beta1 and apps/v1beta1 workloads: a missing selector is the
//     template's labels;
//   - extensions/v1beta1 Deployment: the rolling update defaults to
//     maxUnavailable 1 and maxSurge 1 (not 25%);
//   - extensions/v1beta1 DaemonSet and apps/v1beta1 StatefulSet: the update
//     strategy defaults to OnDelete;
//   - policy/v1beta1 PDB: an empty selector matches no pod (in policy/v1 it
//     matches every pod), so it is dropped;
//   - autoscaling/v1, v2beta1, v2beta2 HPAs: only scaleTargetRef, minReplicas
//     and maxReplicas are kept (the metrics changed shape).
func convertOld(gvk schema.GroupVersionKind, content map[string]interface{}) {
	spec, _ := content["spec"].(map[string]interface{})
	if spec == nil {
		return
	}
	oldSelector := gvk.Group == "extensions" || (gvk.Group == "apps" && gvk.Version == "v1beta1")
	if oldSelector && gvk.Kind != "PodDisruptionBudget" {
		if _, has := spec["selector"]; !has {
			if lbls, ok, _ := unstructured.NestedMap(spec, "template", "metadata", "labels"); ok && len(lbls) > 0 {
				spec["selector"] = map[string]interface{}{"matchLabels": lbls}
			}
		}
	}
	switch {
	case gvk.Group == "extensions" && gvk.Kind == "Deployment":
		strategy, _ := spec["strategy"].(map[string]interface{})
		if strategy == nil {
			strategy = map[string]interface{}{}
			spec["strategy"] = strategy
		}
		if t, _ := strategy["type"].(string); t == "" || t == "RollingUpdate" {
			strategy["type"] = "RollingUpdate"
			ru, _ := strategy["rollingUpdate"].(map[string]interface{})
			if ru == nil {
				ru = map[string]interface{}{}
				strategy["rollingUpdate"] = ru
			}
			for _, k := range []string{"maxUnavailable", "maxSurge"} {
				if _, has := ru[k]; !has {
					ru[k] = int64(1)
				}
			}
		}
	case (gvk.Group == "extensions" && gvk.Kind == "DaemonSet") || (gvk.Group == "apps" && gvk.Version == "v1beta1" && gvk.Kind == "StatefulSet"):
		if _, has := spec["updateStrategy"]; !has {
			spec["updateStrategy"] = map[string]interface{}{"type": "OnDelete"}
		}
	case gvk.Kind == "PodDisruptionBudget":
		if sel, ok := spec["selector"].(map[string]interface{}); ok && len(sel) == 0 {
			delete(spec, "selector")
		} else if ok {
			ml, _ := sel["matchLabels"].(map[string]interface{})
			me, _ := sel["matchExpressions"].([]interface{})
			if len(ml) == 0 && len(me) == 0 {
				delete(spec, "selector")
			}
		}
	case gvk.Kind == "Ingress":
		convertIngressV1beta1(spec)
	case gvk.Kind == "HorizontalPodAutoscaler":
		for k := range spec {
			if k != "scaleTargetRef" && k != "minReplicas" && k != "maxReplicas" {
				delete(spec, k)
			}
		}
	}
}

// convertIngressV1beta1 rewrites the backends of an extensions/v1beta1 or
// networking.k8s.io/v1beta1 Ingress in the networking.k8s.io/v1 form:
// spec.backend becomes spec.defaultBackend, and serviceName/servicePort
// become service.name and service.port.number or .name.
func convertIngressV1beta1(spec map[string]interface{}) {
	backend := func(b map[string]interface{}) {
		name, hasName := b["serviceName"]
		port, hasPort := b["servicePort"]
		if !hasName && !hasPort {
			return
		}
		delete(b, "serviceName")
		delete(b, "servicePort")
		svc := map[string]interface{}{"name": name}
		switch p := port.(type) {
		case string:
			svc["port"] = map[string]interface{}{"name": p}
		case nil:
		default:
			svc["port"] = map[string]interface{}{"number": p}
		}
		b["service"] = svc
	}
	if b, ok := spec["backend"].(map[string]interface{}); ok {
		backend(b)
		spec["defaultBackend"] = b
		delete(spec, "backend")
	}
	rules, _ := spec["rules"].([]interface{})
	for _, r := range rules {
		rule, _ := r.(map[string]interface{})
		http, _ := rule["http"].(map[string]interface{})
		paths, _ := http["paths"].([]interface{})
		for _, p := range paths {
			path, _ := p.(map[string]interface{})
			if b, ok := path["backend"].(map[string]interface{}); ok {
				backend(b)
			}
		}
	}
}
