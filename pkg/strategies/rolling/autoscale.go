package rolling

// A Deployment sized by an autoscaler (a HorizontalPodAutoscaler or a KEDA
// ScaledObject): the rollout writes the pod template only, lets the
// autoscaler change spec.replicas under it (the guard takes a change of
// replicas alone as no other writer's) and judges completion against the
// replicas the Deployment has when it looks.

import (
	"context"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// preflightAutoscalers names the autoscalers of the Deployment; a manifest
// that sets spec.replicas beside one is warned about (the autoscaler sets
// it again at once).
func (r *Rollout) preflightAutoscalers(ctx context.Context, rel *release) {
	if rel.live == nil {
		return
	}
	as, err := kube.FindAutoscalers(ctx, r.Kube, r.Dynamic, rel.cfg.Namespace, rel.cfg.Name)
	if err != nil {
		r.logf("preflight: deployment %q: the autoscalers could not be listed: %v", rel.ref, err)
		return
	}
	if len(as) == 0 {
		return
	}
	r.logf("preflight: deployment %q is sized by %s: the rollout leaves its replicas to it and judges completion against the count it has", rel.ref, kube.Describe(as))
	if rel.cfg.Manifest != nil {
		if n, found, _ := unstructured.NestedInt64(rel.cfg.Manifest.Object, "spec", "replicas"); found {
			r.logf("  warning: the manifest sets spec.replicas %d, which %s will change again: leave spec.replicas out of a manifest whose deployment an autoscaler sizes", n, as[0].Ref())
		}
	}
}
