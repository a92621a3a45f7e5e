package canary

// Another writer during a canary: every write of a Deployment carries the
// resourceVersion of the version this run last saw (read at the start, or
// returned by its own last write). A Conflict is read again: when what the
// canary manages changed (the replicas, the pod template, the selector) the
// release stops without overwriting it and names the field and the writer
// (from managedFields); when anything else changed (an annotation, a label,
// the status the controllers write) the new version becomes the base and the
// write is retried. Between steps the Deployments, the Service's selector and
// the split Services' selectors are compared with what this run last saw,
// so a change made during a pause stops the release before the next step.

import (
	"context"
	"errors"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// maxConflicts bounds the re-reads of one write whose conflicts are all
// unrelated changes.
const maxConflicts = 10

// deploymentChange compares what the canary manages in two versions of a
// Deployment (its replicas, pod template and selector): nil when they
// agree, else the changed fields and their writer.
func deploymentChange(seen, cur *appsv1.Deployment) *kube.ChangedError {
	changed := kube.DeploymentChange(seen, cur, kube.SpecReplicas, kube.SpecTemplate, kube.SpecSelector)
	if changed != nil {
		changed.Object = fmt.Sprintf("deployment %q", cur.Namespace+"/"+cur.Name)
	}
	return changed
}

// remember records d as the version of its Deployment this run last saw.
func (p *plan) remember(d *appsv1.Deployment) {
	if p.seen == nil {
		p.seen = map[string]*appsv1.Deployment{}
	}
	p.seen[d.Name] = d.DeepCopy()
}

// writeDeployment applies mutate to the version of Deployment name this run
// last saw and updates it with that resourceVersion; see the file comment
// for conflicts.
func (c *Canary) writeDeployment(ctx context.Context, p *plan, name string, mutate func(d *appsv1.Deployment)) (*appsv1.Deployment, error) {
	ns := p.stable.Namespace
	deps := c.Client.AppsV1().Deployments(ns)
	base := p.seen[name]
	if base == nil {
		d, err := deps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading deployment %q: %w", ns+"/"+name, err)
		}
		base = d
	}
	for attempt := 0; ; attempt++ {
		d := base.DeepCopy()
		mutate(d)
		if err := c.fenced(ctx); err != nil {
			return nil, err
		}
		out, err := deps.Update(ctx, d, metav1.UpdateOptions{FieldManager: kube.FieldManager})
		if err == nil {
			p.remember(out)
			if name == p.stable.Name && p.rec != nil {
				p.rec.Observe(out)
			}
			return out, nil
		}
		if !apierrors.IsConflict(err) || attempt >= maxConflicts {
			return nil, fmt.Errorf("updating deployment %q: %w", ns+"/"+name, err)
		}
		cur, gerr := deps.Get(ctx, name, metav1.GetOptions{})
		if gerr != nil {
			return nil, fmt.Errorf("reading deployment %q after a conflict: %w", ns+"/"+name, gerr)
		}
		if changed := p.change(base, cur); changed != nil {
			return nil, fmt.Errorf("updating deployment %q: %w", ns+"/"+name, changed)
		}
		base = cur
	}
}

// checkWriters compares, between steps, what the canary manages with what
// this run last saw: both Deployments, the Service's selector and the
// selectors of SERVICE-stable and SERVICE-canary it set.
func (c *Canary) checkWriters(ctx context.Context, p *plan) error {
	ns := p.stable.Namespace
	for _, name := range []string{p.stable.Name, p.canaryName()} {
		seen := p.seen[name]
		if seen == nil {
			continue
		}
		cur, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return &kube.ChangedError{Object: fmt.Sprintf("deployment %q", ns+"/"+name), Fields: []string{"the whole object"}, From: "present", To: "deleted"}
		}
		if err != nil {
			return fmt.Errorf("reading deployment %q: %w", ns+"/"+name, err)
		}
		if changed := p.change(seen, cur); changed != nil {
			return changed
		}
	}
	want := map[string]map[string]string{p.service.Name: p.service.Spec.Selector}
	maps.Copy(want, p.splitSel)
	for name, sel := range want {
		cur, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return &kube.ChangedError{Object: fmt.Sprintf("service %q", ns+"/"+name), Fields: []string{"the whole object"}, From: "present", To: "deleted"}
		}
		if err != nil {
			return fmt.Errorf("reading service %q: %w", ns+"/"+name, err)
		}
		if !maps.Equal(sel, cur.Spec.Selector) {
			return &kube.ChangedError{Object: fmt.Sprintf("service %q", ns+"/"+name), Fields: []string{"spec.selector"},
				From: labels.Set(sel).String(), To: labels.Set(cur.Spec.Selector).String(),
				Writer: kube.WriterOf(cur, kube.Path("spec.selector")), Seen: cur}
		}
	}
	return nil
}

// stopForWriter ends the release when err is another writer's change: the
// phase stays recorded with the result failed and a message naming the
// change, nothing is overwritten or rolled back, and the error exits 1. nil
// when err is something else.
func (c *Canary) stopForWriter(ctx context.Context, p *plan, err error) error {
	var changed *kube.ChangedError
	if !errors.As(err, &changed) {
		return nil
	}
	p.op.Result = state.ResultFailed
	p.op.Message = fmt.Sprintf("stopped at phase %s: %v", p.op.Phase, changed)
	if serr := c.save(context.WithoutCancel(ctx), p); serr != nil {
		return serr
	}
	return exitcode.FailedError(fmt.Errorf("canary of deployment %q stopped at phase %s: %w; check that change, then run 'kubectl zdd resume deployment/%s' to carry on over it, or 'kubectl zdd abort deployment/%s' to return to the stable at full size",
		p.ref(), p.op.Phase, err, p.stable.Name, p.stable.Name))
}
