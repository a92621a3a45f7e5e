package traffic

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// NGINX ingress canary: the user's Ingress keeps serving, pointed at the
// stable Service, and a second Ingress NAME-canary with the same rules,
// pointed at the canary Service, carries nginx.ingress.kubernetes.io/canary
// "true" and canary-weight. ingress-nginx sends canary-weight percent of the
// requests matching those rules to it.
const (
	NGINXCanaryAnnotation       = "nginx.ingress.kubernetes.io/canary"
	NGINXCanaryWeightAnnotation = "nginx.ingress.kubernetes.io/canary-weight"
	nginxAnnotationPrefix       = "nginx.ingress.kubernetes.io/"
)

var ingressGVR = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}

type nginxRouter struct {
	cfg RouterConfig
	dyn dynamic.Interface
	// wroteWeight is the canary-weight this router last wrote to the
	// canary Ingress ("" before its first write): a different value found
	// there is another writer's, and SetWeight stops instead of
	// overwriting it.
	wroteWeight string
}

// NGINXCanaryIngressName is the name of the canary Ingress of an Ingress.
func NGINXCanaryIngressName(ingress string) string { return ingress + "-canary" }

func (r *nginxRouter) Kind() string { return RouterNGINX }

func (r *nginxRouter) Describe() string {
	return fmt.Sprintf("ingress %q", r.cfg.Namespace+"/"+r.cfg.Name)
}

func (r *nginxRouter) ingresses() dynamic.ResourceInterface {
	return r.dyn.Resource(ingressGVR).Namespace(r.cfg.Namespace)
}

func (r *nginxRouter) primary(ctx context.Context) (*unstructured.Unstructured, error) {
	obj, err := r.ingresses().Get(ctx, r.cfg.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, exitcode.Usagef("%s not found", r.Describe())
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.Describe(), err)
	}
	return obj, nil
}

// eachIngressBackend calls f with every service backend of an Ingress spec
// (the default backend and every path's backend).
func eachIngressBackend(spec map[string]any, f func(svc map[string]any)) {
	if db, ok := spec["defaultBackend"].(map[string]any); ok {
		if svc, ok := db["service"].(map[string]any); ok {
			f(svc)
		}
	}
	rules, _ := spec["rules"].([]any)
	for _, item := range rules {
		rule, _ := item.(map[string]any)
		http, _ := rule["http"].(map[string]any)
		paths, _ := http["paths"].([]any)
		for _, p := range paths {
			path, _ := p.(map[string]any)
			backend, _ := path["backend"].(map[string]any)
			if svc, ok := backend["service"].(map[string]any); ok {
				f(svc)
			}
		}
	}
}

// retarget renames the backends of spec named one of from to to; it reports
// whether any backend routes to one of from.
func retarget(spec map[string]any, to string, from ...string) bool {
	var found bool
	eachIngressBackend(spec, func(svc map[string]any) {
		if name, _ := svc["name"].(string); isOneOf(name, from...) {
			svc["name"] = to
			found = true
		}
	})
	return found
}

func (r *nginxRouter) Check(ctx context.Context) error {
	obj, err := r.primary(ctx)
	if err != nil {
		return err
	}
	if obj.GetAnnotations()[NGINXCanaryAnnotation] == "true" {
		return exitcode.Usagef("%s is itself a canary Ingress (%s: \"true\"): name the main Ingress", r.Describe(), NGINXCanaryAnnotation)
	}
	spec, _ := obj.Object["spec"].(map[string]any)
	if !retarget(runtimeCopy(spec), r.cfg.Stable, r.cfg.Service, r.cfg.Stable) {
		return exitcode.Usagef("%s has no backend for service %q (nor %q)", r.Describe(), r.cfg.Service, r.cfg.Stable)
	}
	return nil
}

func runtimeCopy(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return deepCopyMap(m)
}

func (r *nginxRouter) SetWeight(ctx context.Context, weight int) error {
	if err := ValidateWeight(weight); err != nil {
		return exitcode.UsageError(err)
	}
	var primarySpec map[string]any
	var primaryObj *unstructured.Unstructured
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := r.primary(ctx)
		if err != nil {
			return err
		}
		spec, _ := obj.Object["spec"].(map[string]any)
		before := runtimeCopy(spec)
		if !retarget(spec, r.cfg.Stable, r.cfg.Service, r.cfg.Stable) {
			return fmt.Errorf("%s no longer routes to service %q", r.Describe(), r.cfg.Service)
		}
		primarySpec, primaryObj = runtimeCopy(spec), obj
		if equalJSON(before, spec) {
			return nil
		}
		_, err = r.ingresses().Update(ctx, obj, metav1.UpdateOptions{FieldManager: kube.FieldManager})
		if err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("pointing %s at service %q: %w", r.Describe(), r.cfg.Stable, err)
		}
		return err
	})
	if err != nil {
		return err
	}

	canarySpec := primarySpec
	retarget(canarySpec, r.cfg.Canary, r.cfg.Stable)
	name := NGINXCanaryIngressName(r.cfg.Name)
	ann := map[string]any{}
	for k, v := range primaryObj.GetAnnotations() {
		if strings.HasPrefix(k, nginxAnnotationPrefix) {
			ann[k] = v
		}
	}
	ann[NGINXCanaryAnnotation] = "true"
	ann[NGINXCanaryWeightAnnotation] = strconv.Itoa(weight)
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur, err := r.ingresses().Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			obj := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "networking.k8s.io/v1",
				"kind":       "Ingress",
				"metadata": map[string]any{
					"name":        name,
					"namespace":   r.cfg.Namespace,
					"labels":      map[string]any{kube.ManagedByLabel: kube.FieldManager},
					"annotations": ann,
				},
				"spec": canarySpec,
			}}
			if _, err := r.ingresses().Create(ctx, obj, metav1.CreateOptions{FieldManager: kube.FieldManager}); err != nil {
				return fmt.Errorf("creating canary ingress %q: %w", r.cfg.Namespace+"/"+name, err)
			}
			r.wroteWeight = strconv.Itoa(weight)
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading canary ingress %q: %w", r.cfg.Namespace+"/"+name, err)
		}
		a := cur.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		if r.wroteWeight != "" && a[NGINXCanaryWeightAnnotation] != r.wroteWeight {
			return &kube.ChangedError{Object: fmt.Sprintf("ingress %q", r.cfg.Namespace+"/"+name), Fields: []string{"metadata.annotations[" + NGINXCanaryWeightAnnotation + "]"},
				From: r.wroteWeight, To: a[NGINXCanaryWeightAnnotation],
				Writer: kube.WriterOf(cur, kube.FieldPath{"metadata", "annotations", NGINXCanaryWeightAnnotation}), Seen: cur}
		}
		for k, v := range ann {
			a[k] = v.(string)
		}
		cur.SetAnnotations(a)
		cur.Object["spec"] = canarySpec
		_, err = r.ingresses().Update(ctx, cur, metav1.UpdateOptions{FieldManager: kube.FieldManager})
		if err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("setting weight %d%% on canary ingress %q: %w", weight, r.cfg.Namespace+"/"+name, err)
		}
		if err == nil {
			r.wroteWeight = strconv.Itoa(weight)
		}
		return err
	})
}

func (r *nginxRouter) Weight(ctx context.Context) (int, error) {
	name := NGINXCanaryIngressName(r.cfg.Name)
	cur, err := r.ingresses().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading canary ingress %q: %w", r.cfg.Namespace+"/"+name, err)
	}
	a := cur.GetAnnotations()
	if a[NGINXCanaryAnnotation] != "true" {
		return 0, nil
	}
	w, err := strconv.Atoi(a[NGINXCanaryWeightAnnotation])
	if err != nil {
		return 0, fmt.Errorf("canary ingress %q: %s is %q, not a number", r.cfg.Namespace+"/"+name, NGINXCanaryWeightAnnotation, a[NGINXCanaryWeightAnnotation])
	}
	return w, nil
}
