package bluegreen

import (
	"context"
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// initTarget reads what 'bluegreen init' recorded: the Service, the original
// Deployment, the colour copy's name and the first colour.
func (r *Runner) initTarget(ctx context.Context, op *state.Operation) (svc *corev1.Service, orig string, copyName string, colour string, err error) {
	orig, colour = op.Params[ParamOriginal], op.Params[ParamTarget]
	svc, err = r.Client.CoreV1().Services(r.Namespace).Get(ctx, r.Service, metav1.GetOptions{})
	if err != nil {
		return nil, "", "", "", fmt.Errorf("reading service %q: %w", r.key(), err)
	}
	return svc, orig, orig + "-" + colour, colour, nil
}

// resumeInit finishes 'bluegreen init': before the switch it does init
// again with the recorded original Deployment (the copy is created only if
// missing); after it, it waits until the endpoints list only the copy's
// pods and scales the original to 0.
func (r *Runner) resumeInit(s *session) error {
	label := r.Colours.Label
	svc, origName, name, colour, err := r.initTarget(s.ctx, s.op)
	if err != nil {
		return err
	}
	deps := r.Client.AppsV1().Deployments(r.Namespace)
	orig, err := deps.Get(s.ctx, origName, metav1.GetOptions{})
	if err != nil {
		return exitcode.NeedsPersonf("reading the original deployment %q of init: %w", r.Namespace+"/"+origName, err)
	}
	app := maps.Clone(svc.Spec.Selector)
	delete(app, label)
	snap := &Snapshot{Service: svc, AppSelector: app, Active: colour, Idle: r.Colours.Other(colour)}
	snap.Services = append([]string{r.Service}, r.Services...)
	r.printf("resume: blue-green init %s of service %q from phase %s (colour %s, a copy of deployment %q)", s.op.ID, r.key(), s.op.Phase, colour, orig.Name)
	switch cur, has := svc.Spec.Selector[label]; {
	case !has:
		existing, err := deps.Get(s.ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			existing = nil
		case err != nil:
			return fmt.Errorf("reading deployment %q: %w", r.Namespace+"/"+name, err)
		case existing.Spec.Template.Labels[label] != colour:
			return exitcode.NeedsPersonf("deployment %q exists and its pods are not labelled %s=%s", r.Namespace+"/"+name, label, colour)
		}
		return r.init(s, snap, orig, existing, name, colour)
	case cur != colour:
		return exitcode.NeedsPersonf("service %q selects %s=%s, not %s (the colour of init %s)", r.key(), label, cur, colour, s.op.ID)
	}
	// switched: the copy serves; retire the original
	s.op.Phase = "switched"
	if err := s.save(); err != nil {
		return err
	}
	d, err := r.waitReady(s.ctx, name, colour)
	if err != nil {
		return exitcode.NeedsPersonf("service %q selects %s=%s, which is not fully ready: %w", r.key(), label, colour, err)
	}
	wctx, cancel := context.WithTimeout(s.ctx, r.timeout())
	defer cancel()
	for _, svcName := range snap.Services {
		if _, err := traffic.WaitConverged(wctx, r.Client, r.Namespace, svcName, snap.Selector(label, colour), int(replicasOf(d))); err != nil {
			return exitcode.NeedsPersonf("service %q selects %s=%s but its endpoints did not converge: %w", r.Namespace+"/"+svcName, label, colour, err)
		}
	}
	if err := r.scale(s.ctx, orig.Name, 0); err != nil {
		return err
	}
	r.printf("deployment %q scaled to 0; service %q is blue-green, live colour %s", r.Namespace+"/"+orig.Name, r.key(), colour)
	s.op.Phase = "done"
	return nil
}

// abortInit undoes 'bluegreen init' before its switch: the Service never
// selected the colour, so the copy is scaled to 0 once the original is
// fully ready. After the switch it refuses: resume finishes it.
func (r *Runner) abortInit(s *session) error {
	svc, origName, name, colour, err := r.initTarget(s.ctx, s.op)
	if err != nil {
		return err
	}
	if cur, has := svc.Spec.Selector[r.Colours.Label]; has {
		return exitcode.Usagef("blue-green init %s already switched service %q to %s=%s; it cannot be aborted: run 'kubectl zdd resume service/%s' to finish it", s.op.ID, r.key(), r.Colours.Label, cur, r.Service)
	}
	s.op.Phase = "aborting"
	if err := s.save(); err != nil {
		return err
	}
	if _, err := r.waitReady(s.ctx, origName, "(original)"); err != nil {
		return exitcode.NeedsPersonf("the original deployment %q of service %q is not fully ready: %w", r.Namespace+"/"+origName, r.key(), err)
	}
	d, err := r.Client.AppsV1().Deployments(r.Namespace).Get(s.ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return fmt.Errorf("reading deployment %q: %w", r.Namespace+"/"+name, err)
	case d.Spec.Template.Labels[r.Colours.Label] == colour && replicasOf(d) > 0:
		if err := r.scale(s.ctx, name, 0); err != nil {
			return err
		}
		r.printf("colour %s: deployment %q scaled to 0", colour, r.Namespace+"/"+name)
	}
	r.printf("service %q is as before init %s", r.key(), s.op.ID)
	return nil
}

// waitConverged waits until the endpoints of every Service of snap list
// only colour's ready pods (as many as the active Deployment's replicas).
func (r *Runner) waitConverged(ctx context.Context, snap *Snapshot, colour string) error {
	sel := snap.Selector(r.Colours.Label, colour)
	wctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	for _, name := range snap.Services {
		if _, err := traffic.WaitConverged(wctx, r.Client, r.Namespace, name, sel, int(replicasOf(snap.ActiveDep))); err != nil {
			return exitcode.NeedsPersonf("service %q selects %s=%s but its endpoints did not converge: %w", r.Namespace+"/"+name, r.Colours.Label, colour, err)
		}
	}
	return nil
}
