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
	watchtools "k8s.io/client-go/tools/watch"
)

// ErrDeploymentFailed is wrapped by WaitForDeployment's error when the
// controller reports ProgressDeadlineExceeded.
var ErrDeploymentFailed = errors.New("deployment failed")

// WaitForDeployment watches ns/name until its rollout is complete (Progress
// Done) and returns the last object seen. It returns an error when the
// rollout fails, the Deployment is deleted, or ctx ends (its deadline is the
// caller's --timeout). onUpdate, when set, is called for every change seen.
func WaitForDeployment(ctx context.Context, client kubernetes.Interface, ns, name string, onUpdate func(*appsv1.Deployment, Progress)) (*appsv1.Deployment, error) {
	ref := ns + "/" + name
	lw := For(client, NameScoped(client.AppsV1().Deployments(ns), name))
	var last *appsv1.Deployment
	var lastProgress Progress
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
	_, err := watchtools.UntilWithSync(ctx, lw, &appsv1.Deployment{}, precondition, func(ev watch.Event) (bool, error) {
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
		lastProgress = DeploymentProgress(d)
		if onUpdate != nil {
			onUpdate(d, lastProgress)
		}
		if lastProgress.Failed {
			return false, fmt.Errorf("deployment %q: %w: %s", ref, ErrDeploymentFailed, lastProgress.Reason)
		}
		return lastProgress.Done, nil
	})
	if err != nil {
		if errors.Is(err, ErrDeploymentFailed) {
			return last, err
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			reason := "no status seen"
			if last != nil {
				reason = lastProgress.Reason
			}
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
