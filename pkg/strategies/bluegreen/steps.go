package bluegreen

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// ensurePreview creates or updates the preview Service selecting colour.
func (r *Runner) ensurePreview(ctx context.Context, snap *Snapshot, colour string) error {
	ctx, cancel := writeCtx(ctx)
	defer cancel()
	name := PreviewName(r.Service)
	sel := snap.Selector(r.Colours.Label, colour)
	svcs := r.Client.CoreV1().Services(r.Namespace)
	cur, err := svcs.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ports := make([]corev1.ServicePort, 0, len(snap.Service.Spec.Ports))
		for _, p := range snap.Service.Spec.Ports {
			p.NodePort = 0
			ports = append(ports, p)
		}
		pv := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.Namespace,
				Labels: map[string]string{PreviewLabel: r.Service, kube.ManagedByLabel: kube.FieldManager}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: sel, Ports: ports},
		}
		if err := r.fenced(ctx); err != nil {
			return err
		}
		// a create is safe to repeat when the API server dropped the
		// connection: one that went through answers AlreadyExists, and the
		// Service is then read and judged as any existing preview
		_, err := kube.RetryUnreachable(ctx, func() (*corev1.Service, error) {
			return svcs.Create(ctx, pv, metav1.CreateOptions{FieldManager: kube.FieldManager})
		})
		if apierrors.IsAlreadyExists(err) {
			return r.ensurePreview(ctx, snap, colour)
		}
		if err != nil {
			return fmt.Errorf("creating preview service %q: %w", r.Namespace+"/"+name, err)
		}
		r.printf("preview service %q selects %s", r.Namespace+"/"+name, formatSelector(sel))
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading preview service %q: %w", r.Namespace+"/"+name, err)
	}
	if cur.Labels[PreviewLabel] != r.Service {
		return exitcode.Usagef("service %q exists and is not the preview of service %q (no %s=%s label); not touching it", r.Namespace+"/"+name, r.key(), PreviewLabel, r.Service)
	}
	if maps.Equal(cur.Spec.Selector, sel) {
		return nil
	}
	patch, err := traffic.SelectorPatch(r.Colours.Label, colour, "", nil)
	if err != nil {
		return err
	}
	if err := r.fenced(ctx); err != nil {
		return err
	}
	if _, err := svcs.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kube.FieldManager}); err != nil {
		return fmt.Errorf("pointing preview service %q at %s: %w", r.Namespace+"/"+name, colour, err)
	}
	r.printf("preview service %q selects %s", r.Namespace+"/"+name, formatSelector(sel))
	return nil
}

// scale sets the replicas of Deployment name.
func (r *Runner) scale(ctx context.Context, name string, n int32) error {
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	ctx, cancel := writeCtx(ctx)
	defer cancel()
	if err := r.fenced(ctx); err != nil {
		return err
	}
	_, err := r.Client.AppsV1().Deployments(r.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kube.FieldManager})
	if err != nil {
		return fmt.Errorf("scaling deployment %q to %d: %w", r.Namespace+"/"+name, n, err)
	}
	return nil
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func (r *Runner) vars(colour, service string) analysis.Vars {
	return analysis.Vars{Namespace: r.Namespace, Name: service, Color: colour, Version: colour}
}

// runAnalysis runs a and returns nil when it passed.
func (r *Runner) runAnalysis(ctx context.Context, what string, a analysis.Analyzer, vars analysis.Vars) error {
	r.printf("%s analysis of colour %s: started", what, vars.Color)
	strategies.Announce(r.Events, strategies.MarkAnalysis)
	res, err := a(ctx, vars)
	strategies.Measured(r.Events, res)
	if err != nil {
		return fmt.Errorf("%s analysis of colour %s of service %q: %w", what, vars.Color, r.key(), err)
	}
	r.printf("%s analysis of colour %s: %s %s", what, vars.Color, res.Verdict, res.Message)
	if res.Verdict != analysis.Passed {
		return fmt.Errorf("%s analysis of colour %s of service %q: %s: %s", what, vars.Color, r.key(), res.Verdict, res.Message)
	}
	return nil
}
