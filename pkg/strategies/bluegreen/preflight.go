package bluegreen

import (
	"context"
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NewColour is what a deploy would release, read without a write (for the
// preflight before the first one): the idle colour, the pod template it
// would get, and the Services that send it traffic after the switch (each
// Service that switches, with its selector on the idle colour).
type NewColour struct {
	// Base is the live colour's Deployment under the new colour's
	// Deployment name: what the new colour copies, besides its template.
	Base     *appsv1.Deployment
	Colour   string
	Template *corev1.PodTemplateSpec
	Services []corev1.Service
}

// PreviewDeploy reads the Service and its colours as Deploy(ctx, cfg) does
// and returns the new colour it would release. Its errors are Deploy's own
// (Deploy reports them again).
func (r *Runner) PreviewDeploy(ctx context.Context, cfg Config) (*NewColour, error) {
	r.config = cfg
	snap, err := r.discover(ctx)
	if err != nil {
		return nil, err
	}
	tmpl, err := r.idleTemplate(snap)
	if err != nil {
		return nil, err
	}
	base := snap.ActiveDep.DeepCopy()
	base.Name = snap.IdleName
	nc := &NewColour{Base: base, Colour: snap.Idle, Template: tmpl}
	for _, name := range snap.Services {
		svc := snap.Service
		if name != snap.Service.Name {
			if svc, err = r.Client.CoreV1().Services(r.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
				return nil, fmt.Errorf("reading service %q: %w", r.Namespace+"/"+name, err)
			}
		}
		after := svc.DeepCopy()
		after.Spec.Selector = maps.Clone(after.Spec.Selector)
		after.Spec.Selector[r.Colours.Label] = snap.Idle
		nc.Services = append(nc.Services, *after)
	}
	return nc, nil
}
