package bluegreen

// Autoscalers (HorizontalPodAutoscalers, KEDA ScaledObjects) of the
// Deployments behind the Service follow the live colour: at every switch
// (init, promote, rollback, a switch back after a failure, abort) each one
// that scales a Deployment of the Service is pointed at the Deployment of
// the colour switched to, so the idle colour is never scaled up by it and
// the live one always is. What they scale is recorded in the operation
// (ParamAutoscalers); a switch back points them back.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// ParamAutoscalers records the autoscalers and the Deployment each scales
// after the last switch: "KIND/NAME=DEPLOYMENT", comma separated.
const ParamAutoscalers = "autoscalers"

// deploymentsOf names every Deployment of the Service that an autoscaler
// may scale: both colours' and the original that init copied.
func (s *session) deploymentsOf(snap *Snapshot) []string {
	var names []string
	add := func(n string) {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if snap.ActiveDep != nil {
		add(snap.ActiveDep.Name)
	}
	if snap.IdleDep != nil {
		add(snap.IdleDep.Name)
	}
	add(snap.IdleName)
	if s.op != nil {
		add(s.op.Params[ParamOriginal])
	}
	return names
}

// preflightAutoscalers names the autoscalers of the Service's Deployments
// and what the operation will do with them.
func (s *session) preflightAutoscalers(ctx context.Context, snap *Snapshot, extra ...string) error {
	r := s.r
	as, err := kube.FindAutoscalers(ctx, r.Client, r.Dynamic, r.Namespace, append(s.deploymentsOf(snap), extra...)...)
	if err != nil {
		return fmt.Errorf("preflight of service %q: %w", r.key(), err)
	}
	if len(as) > 0 {
		r.printf("preflight: %s: pointed at the live colour's deployment at the switch (and back on a switch back)", kube.Describe(as))
	}
	return nil
}

// followAutoscalers points the autoscalers of the Service's Deployments at
// toDep, the live colour's Deployment after a switch, and records it.
func (s *session) followAutoscalers(ctx context.Context, snap *Snapshot, toDep string) error {
	r := s.r
	names := append(s.deploymentsOf(snap), toDep)
	as, err := kube.FindAutoscalers(ctx, r.Client, r.Dynamic, r.Namespace, names...)
	if err != nil {
		return err
	}
	var rec []string
	for _, a := range as {
		if a.Target != toDep {
			if err := r.fenced(ctx); err != nil {
				return err
			}
			if err := kube.Retarget(ctx, r.Client, r.Dynamic, a, toDep); err != nil {
				return err
			}
			r.printf("%s now scales deployment %q (was %q)", a.Ref(), r.Namespace+"/"+toDep, a.Target)
		}
		rec = append(rec, a.Key()+"="+toDep)
	}
	if len(rec) > 0 || s.op.Params[ParamAutoscalers] != "" {
		s.op.Params[ParamAutoscalers] = strings.Join(rec, ",")
	}
	return nil
}
