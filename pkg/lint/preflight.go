package lint

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// PreflightDrainSeconds is the drain the preflight of a release assumes
// (the lint default for a Deployment about to be applied).
const PreflightDrainSeconds = 10

// AuditDeployment runs the rules on one Deployment as a release is about
// to apply it (a rollout's preflight), with the Services that select it
// read for the cross-object rules only: nothing is reported on them.
func AuditDeployment(d *appsv1.Deployment, services []corev1.Service) ([]Finding, error) {
	obj, err := FromTyped(d)
	if err != nil {
		return nil, err
	}
	objs := []Object{obj}
	for i := range services {
		s := services[i].DeepCopy()
		s.APIVersion, s.Kind = "v1", "Service"
		so, err := FromTyped(s)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", s.Namespace+"/"+s.Name, err)
		}
		so.Context = true
		objs = append(objs, so)
	}
	return Audit(objs, Options{DrainSeconds: PreflightDrainSeconds}), nil
}
