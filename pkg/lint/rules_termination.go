package lint

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/probes"
)

// preStopWaits says whether a preStop hook delays the shutdown: a sleep, or
// an exec or httpGet hook, whose duration may not be readable (a script, an
// endpoint that returns once drained) but which is written to wait. A
// tcpSocket hook does nothing (the kubelet only keeps it for old objects),
// and a sleep of 0 s does not wait; why says which.
func preStopWaits(ps probes.PreStop) (waits bool, why string) {
	switch {
	case !ps.Present:
		return false, ""
	case ps.Handler == "tcpSocket":
		return false, "a tcpSocket hook does nothing"
	case ps.Known && ps.Seconds == 0:
		return false, "it sleeps 0 s"
	}
	return true, ""
}

// PreStopWaits says whether container c has a preStop hook that delays
// its shutdown (preStopWaits): what --fix adds when it has none.
func PreStopWaits(c *corev1.Container) bool {
	waits, _ := preStopWaits(probes.PreStopOf(c))
	return waits
}

func checkPreStopMissing(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	for i := range w.tmpl.Spec.Containers {
		ct := &w.tmpl.Spec.Containers[i]
		waits, why := preStopWaits(probes.PreStopOf(ct))
		if waits {
			continue
		}
		what := "has no preStop hook"
		if why != "" {
			what = "has a preStop hook that does not wait (" + why + ")"
		}
		field := containerField(i, "lifecycle.preStop")
		switch {
		case w.traffic[i]:
			c.add(Error, ct.Name, field,
				fmt.Sprintf("container %q of %s receives traffic from %s but %s: it is stopped while endpoints and proxies still send it requests, and those fail", ct.Name, ref(c.it), serviceNames(w), what), "")
		case len(w.services) == 0 && len(ct.Ports) > 0 && !c.a.opts.Live:
			c.add(Info, ct.Name, field,
				fmt.Sprintf("container %q of %s declares ports but %s; no Service in the input selects it, but if one does, requests are cut while endpoints update", ct.Name, ref(c.it), what), "")
		}
	}
}

func checkGracePeriod(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	grace := probes.GracePeriod(&w.tmpl.Spec)
	var longest probes.PreStop
	container := ""
	for i := range w.tmpl.Spec.Containers {
		ct := &w.tmpl.Spec.Containers[i]
		if ps := probes.PreStopOf(ct); ps.Seconds > longest.Seconds || container == "" && ps.Present {
			longest, container = ps, ct.Name
		}
	}
	drain := c.a.drain()
	need := longest.Seconds + drain
	if grace >= need {
		return
	}
	graceText := fmt.Sprint(grace)
	if w.tmpl.Spec.TerminationGracePeriodSeconds == nil {
		graceText += " (the default)"
	}
	// Behind a Service, requests are in flight when the grace period ends:
	// an error. Elsewhere (a worker), a warning unless even the preStop
	// hook is cut.
	sev := Warning
	cut := "in-flight requests are cut when the grace period runs out"
	if len(w.services) > 0 {
		sev = Error
		cut = fmt.Sprintf("requests from %s still in flight when the grace period runs out are cut", serviceNames(w))
	}
	var msg string
	if longest.Seconds > 0 {
		msg = fmt.Sprintf("terminationGracePeriodSeconds of %s is %s, shorter than the preStop sleep of container %q (%ds) plus the drain budget (%ds)", ref(c.it), graceText, container, longest.Seconds, drain)
		if grace <= longest.Seconds {
			sev = Error
			msg += ": the container is killed before its preStop hook even ends"
		} else {
			msg += ": " + cut
		}
	} else {
		container = ""
		msg = fmt.Sprintf("terminationGracePeriodSeconds of %s is %s, shorter than the drain budget (%ds): %s", ref(c.it), graceText, drain, cut)
	}
	c.add(sev, container, podSpecField("terminationGracePeriodSeconds"), msg,
		fmt.Sprintf("set spec.template.spec.terminationGracePeriodSeconds to at least %d", need))
}
