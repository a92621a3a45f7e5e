package kube

import (
	"context"
	"errors"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// ErrDeploymentFailed is wrapped by WaitForDeployment's error when the
// controller reports ProgressDeadlineExceeded.
var ErrDeploymentFailed = errors.New("deployment failed")

// Condition is what a wait for a Deployment waits for: done, or why not
// yet. It is judged on every version of the Deployment the watch sees.
type Condition func(d *appsv1.Deployment, p Progress) (done bool, reason string)

// RolledOut is the condition `kubectl rollout status` waits for: the new
// revision fully rolled out and available, nothing old left (Progress.Done).
func RolledOut(_ *appsv1.Deployment, p Progress) (bool, string) { return p.Done, p.Reason }

// Settled is stricter than RolledOut: every pod is of the current template
// and ready, and no pod beyond spec.replicas is counted, so a side that
// was scaled down has really shrunk before the next move (a canary step).
func Settled(d *appsv1.Deployment, p Progress) (bool, string) {
	if !p.Done {
		return false, p.Reason
	}
	if d.Status.Replicas != p.Desired || d.Status.ReadyReplicas != p.Desired {
		return false, fmt.Sprintf("waiting for %d replicas (%d counted, %d ready)", p.Desired, d.Status.Replicas, d.Status.ReadyReplicas)
	}
	return true, p.Reason
}

// WaitForDeployment watches ns/name (a name-scoped, reconnecting watch)
// until until holds (RolledOut when nil) and returns the last object seen:
// the one condition wait of every strategy. It returns an error when the
// rollout fails (ProgressDeadlineExceeded), the Deployment is deleted, or
// ctx ends (its deadline is the caller's --timeout). onUpdate, when set, is
// called for every change seen.
func WaitForDeployment(ctx context.Context, client kubernetes.Interface, ns, name string, until Condition, onUpdate func(*appsv1.Deployment, Progress)) (*appsv1.Deployment, error) {
	if until == nil {
		until = RolledOut
	}
	ref := ns + "/" + name
	lw := For(client, NameScoped(client.AppsV1().Deployments(ns), name))
	var last *appsv1.Deployment
	reason := "no status seen"
	precondition := func(store cache.Store) (bool, error) {
		_, exists, err := store.Get(&metav1.ObjectMeta{Namespace: ns, Name: name})
		if err != nil {
			return true, err
		}
		if !exists {
			return true, fmt.Errorf("deployment %q not found", ref)
		}
		return false, nil
	}
	_, err := UntilWithSync(ctx, lw, &appsv1.Deployment{}, precondition, func(ev watch.Event) (bool, error) {
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
		p := DeploymentProgress(d)
		if onUpdate != nil {
			onUpdate(d, p)
		}
		if p.Failed {
			reason = p.Reason
			return false, fmt.Errorf("deployment %q: %w: %s", ref, ErrDeploymentFailed, p.Reason)
		}
		var done bool
		done, reason = until(d, p)
		return done, nil
	})
	if err != nil {
		if errors.Is(err, ErrDeploymentFailed) {
			return last, err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, ctxErr) {
				return last, fmt.Errorf("waiting for deployment %q (%s): %w", ref, reason, cause)
			}
			if errors.Is(ctxErr, context.DeadlineExceeded) {
				return last, fmt.Errorf("waiting for deployment %q: timed out (%s): %w", ref, reason, ctxErr)
			}
			return last, fmt.Errorf("waiting for deployment %q (%s): %w", ref, reason, ctxErr)
		}
		return last, err
	}
	return last, nil
}
