package canary

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// settled is stricter than a finished rollout: every pod is of the current
// template and ready, and no pod beyond spec.replicas is counted, so a side
// that was scaled down has really shrunk before the next move.
func settled(d *appsv1.Deployment) (bool, string) {
	p := kube.DeploymentProgress(d)
	if !p.Done {
		return false, p.Reason
	}
	if d.Status.Replicas != p.Desired || d.Status.ReadyReplicas != p.Desired {
		return false, fmt.Sprintf("waiting for %d replicas (%d counted, %d ready)", p.Desired, d.Status.Replicas, d.Status.ReadyReplicas)
	}
	return true, p.Reason
}

// waitSettled watches ns/name until settled; the rollout's failure, its
// deletion or the end of ctx is an error.
func (c *Canary) waitSettled(ctx context.Context, ns, name string) (*appsv1.Deployment, error) {
	if _, err := kube.WaitForDeployment(ctx, c.Client, ns, name, nil); err != nil {
		return nil, err
	}
	ref := ns + "/" + name
	lw := kube.For(c.Client, kube.NameScoped(c.Client.AppsV1().Deployments(ns), name))
	var last *appsv1.Deployment
	reason := "no status seen"
	_, err := watchtools.UntilWithSync(ctx, lw, &appsv1.Deployment{}, nil, func(ev watch.Event) (bool, error) {
		switch ev.Type {
		case watch.Deleted:
			return false, fmt.Errorf("deployment %q was deleted while waiting for it", ref)
		case watch.Error:
			return false, fmt.Errorf("watching deployment %q: %v", ref, ev.Object)
		}
		d, ok := ev.Object.(*appsv1.Deployment)
		if !ok {
			return false, fmt.Errorf("watching deployment %q: unexpected object %T", ref, ev.Object)
		}
		last = d
		var done bool
		done, reason = settled(d)
		return done, nil
	})
	if err != nil {
		return last, fmt.Errorf("waiting for deployment %q (%s): %w", ref, reason, err)
	}
	return last, nil
}
