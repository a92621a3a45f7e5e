package lint

import (
	"fmt"

	"github.com/zdd-dev/kubectl-zdd/pkg/probes"
)

func checkPreStopMissing(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	for i := range w.tmpl.Spec.Containers {
		ct := &w.tmpl.Spec.Containers[i]
		if probes.PreStopOf(ct).Present {
			continue
		}
		field := containerField(i, "lifecycle.preStop")
		switch {
		case w.traffic[i]:
			c.add(Warning, ct.Name, field,
				fmt.Sprintf("container %q of %s receives traffic from %s but has no preStop hook: it is stopped while endpoints still route requests to it", ct.Name, ref(c.it), serviceNames(w)), "")
		case len(w.services) == 0 && len(ct.Ports) > 0 && !c.a.opts.Live:
			c.add(Info, ct.Name, field,
				fmt.Sprintf("container %q of %s declares ports but has no preStop hook; no Service in the input selects it, but if one does, requests are cut while endpoints update", ct.Name, ref(c.it)), "")
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
	sev := Warning
	var msg string
	if longest.Seconds > 0 {
		msg = fmt.Sprintf("terminationGracePeriodSeconds of %s is %s, shorter than the preStop sleep of container %q (%ds) plus the drain budget (%ds)", ref(c.it), graceText, container, longest.Seconds, drain)
		if grace <= longest.Seconds {
			sev = Error
			msg += ": the container is killed before its preStop hook even ends"
		} else {
			msg += ": in-flight requests are cut when the grace period runs out"
		}
	} else {
		container = ""
		msg = fmt.Sprintf("terminationGracePeriodSeconds of %s is %s, shorter than the drain budget (%ds): in-flight requests are cut when the grace period runs out", ref(c.it), graceText, drain)
	}
	c.add(sev, container, podSpecField("terminationGracePeriodSeconds"), msg,
		fmt.Sprintf("set spec.template.spec.terminationGracePeriodSeconds to at least %d", need))
}
