package bluegreen

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// waitReady waits until Deployment name is fully rolled out and available.
func (r *Runner) waitReady(ctx context.Context, name, colour string) (*appsv1.Deployment, error) {
	wctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	last := ""
	d, err := kube.WaitForDeployment(wctx, r.Client, r.Namespace, name, nil, func(_ *appsv1.Deployment, p kube.Progress) {
		if s := p.String(); s != last {
			last = s
			r.printf("colour %s (deployment %q): %s", colour, r.Namespace+"/"+name, s)
		}
	})
	if err != nil {
		return d, err
	}
	return d, nil
}

// readyPods counts the ready, not terminating pods matching sel.
func (r *Runner) readyPods(ctx context.Context, sel map[string]string) (int32, error) {
	pods, err := r.Client.CoreV1().Pods(r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		return 0, err
	}
	var n int32
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

// guard is the check made right before each selector patch: the target
// colour's Deployment is fully rolled out and it has at least need ready pods.
func (r *Runner) guard(dep, colour string, sel map[string]string, need int32, why string, applied *appsv1.Deployment) traffic.Guard {
	// only the Deployment deploy wrote is compared with what it wrote; the
	// colour a switch back returns to is whatever it is (before, a switch
	// back compared it with the new colour and refused it as changed by
	// someone else once their generations differed)
	if applied != nil && applied.Name != dep {
		applied = nil
	}
	return func(ctx context.Context) error {
		d, err := r.Client.AppsV1().Deployments(r.Namespace).Get(ctx, dep, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("guard: reading deployment %q of colour %s: %w", r.Namespace+"/"+dep, colour, err)
		}
		if changed := specChange(applied, d); changed != nil {
			changed.Object = fmt.Sprintf("deployment %q", r.Namespace+"/"+dep)
			changed.Change += " since deploy applied it"
			changed.Err = fmt.Errorf("generation %d, deploy wrote %d", d.Generation, applied.Generation)
			return exitcode.FailedError(changed)
		}
		if p := kube.DeploymentProgress(d); !p.Done {
			return fmt.Errorf("guard: colour %s (deployment %q) is not fully rolled out: %s", colour, r.Namespace+"/"+dep, p.Reason)
		}
		n, err := r.readyPods(ctx, sel)
		if err != nil {
			return fmt.Errorf("guard: listing pods of colour %s: %w", colour, err)
		}
		if n < need {
			return fmt.Errorf("guard: colour %s has %d ready pods, needs %d (%s)", colour, n, need, why)
		}
		return nil
	}
}

// need is how many ready pods the target colour must have: --min-ready, or
// as many as the live colour has ready now (at least 1).
func (r *Runner) need(liveReady int32) (int32, string) {
	if r.MinReady > 0 {
		return r.MinReady, "--min-ready"
	}
	if liveReady < 1 {
		return 1, "at least one"
	}
	return liveReady, "as many as the live colour has ready"
}
