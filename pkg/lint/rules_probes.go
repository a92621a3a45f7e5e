package lint

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zdd-dev/kubectl-zdd/pkg/probes"
)

// serving is a workload whose pods may serve requests: not a Job.
func serving(it *item) *workload {
	if it.w == nil || it.w.job != nil {
		return nil
	}
	return it.w
}

func checkReadinessMissing(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	for i := range w.tmpl.Spec.Containers {
		ct := &w.tmpl.Spec.Containers[i]
		if ct.ReadinessProbe != nil {
			continue
		}
		field := containerField(i, "readinessProbe")
		switch {
		case w.traffic[i]:
			c.add(Error, ct.Name, field,
				fmt.Sprintf("container %q of %s has no readinessProbe, but %s sends it traffic: new pods get requests before they can serve them", ct.Name, ref(c.it), serviceNames(w)), "")
		case len(ct.Ports) > 0:
			c.add(Warning, ct.Name, field,
				fmt.Sprintf("container %q of %s declares ports but has no readinessProbe: any Service in front of it sends requests to pods that are not ready", ct.Name, ref(c.it)), "")
		}
	}
}

func checkReadinessEqualsLiveness(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	for i := range w.tmpl.Spec.Containers {
		ct := &w.tmpl.Spec.Containers[i]
		if ct.ReadinessProbe == nil || ct.LivenessProbe == nil {
			continue
		}
		if probes.Equal(ct.ReadinessProbe, ct.LivenessProbe, ct) {
			c.add(Warning, ct.Name, containerField(i, "livenessProbe"),
				fmt.Sprintf("container %q of %s has a livenessProbe identical to its readinessProbe (with defaults filled in): a pod that is only overloaded is restarted instead of resting out of the endpoints", ct.Name, ref(c.it)), "")
		}
	}
}

// probeList is the probes of a container with their field names.
func probeList(ct *corev1.Container) [3]struct {
	name string
	p    *corev1.Probe
} {
	return [3]struct {
		name string
		p    *corev1.Probe
	}{{"readinessProbe", ct.ReadinessProbe}, {"livenessProbe", ct.LivenessProbe}, {"startupProbe", ct.StartupProbe}}
}

func checkProbePort(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	for i := range w.tmpl.Spec.Containers {
		ct := &w.tmpl.Spec.Containers[i]
		for _, pr := range probeList(ct) {
			port, ok := probes.Port(pr.p)
			if !ok {
				continue
			}
			if _, found := probes.FindPort(ct, port); found {
				continue
			}
			field := containerField(i, pr.name+"."+probes.PortField(pr.p))
			if port.Type == intstr.String && !isNumber(port.StrVal) {
				c.add(Error, ct.Name, field,
					fmt.Sprintf("%s of container %q of %s targets port %q, which the container does not declare: the kubelet cannot resolve it and the probe always fails", pr.name, ct.Name, ref(c.it), port.StrVal),
					fmt.Sprintf("declare a port named %q under the container's ports, or probe one it has", port.StrVal))
				continue
			}
			if len(ct.Ports) == 0 {
				// Ports are informational: with none declared there is
				// nothing to compare a number with.
				continue
			}
			c.add(Warning, ct.Name, field,
				fmt.Sprintf("%s of container %q of %s targets port %s, which is not among the container's declared ports (%s): probably a typo, and the probe fails if nothing listens there", pr.name, ct.Name, ref(c.it), port.String(), declaredPorts(ct)), "")
		}
	}
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func declaredPorts(ct *corev1.Container) string {
	s := ""
	for i, p := range ct.Ports {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(p.ContainerPort)
	}
	return s
}

func checkProbeTiming(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	for i := range w.tmpl.Spec.Containers {
		ct := &w.tmpl.Spec.Containers[i]
		for _, pr := range probeList(ct) {
			if pr.p == nil {
				continue
			}
			d := probes.TimingOf(pr.p)
			if d.TimeoutSeconds < d.PeriodSeconds {
				continue
			}
			c.add(Warning, ct.Name, containerField(i, pr.name+".timeoutSeconds"),
				fmt.Sprintf("%s of container %q of %s has timeoutSeconds %d, not shorter than periodSeconds %d: a slow answer is still pending when the next probe starts", pr.name, ct.Name, ref(c.it), d.TimeoutSeconds, d.PeriodSeconds),
				fmt.Sprintf("make timeoutSeconds shorter than periodSeconds (%d)", d.PeriodSeconds))
		}
	}
}

func checkLivenessBeforeReady(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	for i := range w.tmpl.Spec.Containers {
		ct := &w.tmpl.Spec.Containers[i]
		if ct.LivenessProbe == nil || ct.ReadinessProbe == nil || ct.StartupProbe != nil {
			continue
		}
		kill, ready := probes.KillAfter(ct.LivenessProbe), probes.ReadyAfter(ct.ReadinessProbe)
		if kill > ready {
			continue
		}
		c.add(Error, ct.Name, containerField(i, "livenessProbe"),
			fmt.Sprintf("livenessProbe of container %q of %s can restart it %ds after start, but its readinessProbe cannot succeed before %ds: a container that needs that long to start is killed before it is ever ready", ct.Name, ref(c.it), kill, ready),
			fmt.Sprintf("add a startupProbe, or let the livenessProbe tolerate failures for more than %ds (initialDelaySeconds + (failureThreshold-1) * periodSeconds + timeoutSeconds)", ready))
	}
}
