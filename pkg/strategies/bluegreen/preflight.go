package bluegreen

import (
	"fmt"
	"maps"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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

// PreviewDeploy returns the new colour a deploy of cfg would release from
// snap, the Service and its colours as Discover read them: it makes no
// request. Its errors are Deploy's own (Deploy reports them again).
func (r *Runner) PreviewDeploy(cfg Config, snap *Snapshot) (*NewColour, error) {
	r.config = cfg
	tmpl, err := r.idleTemplate(snap)
	if err != nil {
		return nil, err
	}
	base := snap.ActiveDep.DeepCopy()
	base.Name = snap.IdleName
	nc := &NewColour{Base: base, Colour: snap.Idle, Template: tmpl}
	for _, name := range snap.Services {
		svc, ok := snap.ServiceObjects[name]
		if !ok {
			return nil, fmt.Errorf("service %q: not read", r.Namespace+"/"+name)
		}
		after := svc.DeepCopy()
		after.Spec.Selector = maps.Clone(after.Spec.Selector)
		after.Spec.Selector[r.Colours.Label] = snap.Idle
		nc.Services = append(nc.Services, *after)
	}
	return nc, nil
}
