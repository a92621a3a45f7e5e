package lint

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/probes"
)

// The gotchas of the zero-downtime guide that lie beyond the pod template:
// long-lived connections, leader election, sticky sessions, load balancers
// that target pods directly, mesh sidecars.

// oneOf names the first of several reasons, and how many more there are.
func oneOf(reasons []string) string {
	uniq := reasons[:0:0]
	for _, r := range reasons {
		if !contains(uniq, r) {
			uniq = append(uniq, r)
		}
	}
	switch len(uniq) {
	case 1:
		return uniq[0]
	case 2:
		return uniq[0] + ", and 1 other reason"
	}
	return fmt.Sprintf("%s, and %d other reasons", uniq[0], len(uniq)-1)
}

// graceText is a workload's grace period as messages write it.
func graceText(spec *corev1.PodSpec) string {
	s := strconv.FormatInt(probes.GracePeriod(spec), 10)
	if spec.TerminationGracePeriodSeconds == nil {
		s += " (the default)"
	}
	return s
}

func checkLongLivedGrace(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	var reasons []string
	for _, s := range w.services {
		reasons = append(reasons, s.longLived...)
	}
	if len(reasons) == 0 || probes.GracePeriod(&w.tmpl.Spec) >= LongLivedGraceSeconds {
		return
	}
	c.add(Warning, "", podSpecField("terminationGracePeriodSeconds"),
		fmt.Sprintf("%s serves long-lived connections (%s) but its terminationGracePeriodSeconds is %s, under %d: connections still open when the grace period ends are cut instead of being closed by the program", ref(c.it), oneOf(reasons), graceText(&w.tmpl.Spec), LongLivedGraceSeconds), "")
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

func checkLeaderElection(c *check) {
	w := c.it.w
	if w == nil || w.deploy == nil {
		return
	}
	recreate := w.deploy.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType
	n, _ := w.expected()
	if !recreate && n != 1 {
		return
	}
	spec := &w.tmpl.Spec
	sa := serviceAccountOf(spec)
	o := c.it.obj
	var evidence string
	switch live := o.live; {
	case live != nil && len(live.leases) > 0:
		lease := "Lease " + quoteList(live.leases)
		if len(live.leases) > 1 {
			lease = "Leases " + quoteList(live.leases)
		}
		evidence = "its pod holds " + lease
	case spec.AutomountServiceAccountToken != nil && !*spec.AutomountServiceAccountToken:
		return // no credentials to update a Lease with
	case live != nil && live.leaseWriter != nil:
		if !*live.leaseWriter {
			return
		}
		evidence = fmt.Sprintf("its ServiceAccount %q may update Leases (the API server's answer)", sa)
	case len(c.a.leaseGrants) == 0:
		return // no Role of the input lets anyone update Leases
	default:
		grants := c.a.leaseGrantsOf(o.scope, o.Namespace, sa)
		if len(grants) == 0 {
			return
		}
		g := grants[0]
		which := "Leases"
		if len(g.names) > 0 {
			which = "the Lease " + quoteList(g.names)
			if len(g.names) > 1 {
				which = "the Leases " + quoteList(g.names)
			}
		}
		evidence = fmt.Sprintf("its ServiceAccount %q may update %s (%s)", sa, which, g.via)
	}
	what, field := fmt.Sprintf("has replicas %d", n), "spec.replicas"
	if w.hpa != nil && !recreate {
		what = fmt.Sprintf("scales down to 1 pod (HPA minReplicas, not spec.replicas)")
	}
	if recreate {
		what, field = "has strategy type Recreate", "spec.strategy.type"
	}
	c.add(Warning, "", field,
		fmt.Sprintf("%s %s and %s: if it elects a leader, a release leaves it without one until the new pod takes the Lease over, up to the Lease's duration after the old pod stops renewing it", ref(c.it), what, evidence), "")
}

// Sticky-session settings.
const (
	nginxAffinity     = "nginx.ingress.kubernetes.io/affinity"
	albTargetGroup    = "alb.ingress.kubernetes.io/target-group-attributes"
	traefikStickiness = "traefik.ingress.kubernetes.io/service.sticky.cookie"
)

func checkCookieAffinity(c *check) {
	const why = "each client sticks to one pod, and a release replaces every pod, so the sessions a pod keeps in memory are lost with it"
	it := c.it
	switch {
	case it.ing != nil:
		ann := it.ing.Annotations
		what := ""
		if strings.EqualFold(strings.TrimSpace(ann[nginxAffinity]), "cookie") {
			what = nginxAffinity + ": cookie"
		} else if v, ok := albAttribute(ann[albTargetGroup], "stickiness.enabled"); ok && strings.EqualFold(v, "true") {
			what = albTargetGroup + " with stickiness.enabled=true"
		}
		if what != "" {
			c.add(Warning, "", "metadata.annotations",
				fmt.Sprintf("%s sets %s in its annotations: %s", ref(it), what, why), "")
		}
	case it.svc != nil:
		if strings.EqualFold(strings.TrimSpace(it.svc.s.Annotations[traefikStickiness]), "true") {
			c.add(Warning, "", "metadata.annotations",
				fmt.Sprintf("%s sets %s: \"true\" in its annotations (a Traefik sticky cookie): %s", ref(it), traefikStickiness, why), "")
		}
	case it.route != nil:
		for i, r := range it.route.Spec.Rules {
			sp := r.SessionPersistence
			if sp == nil {
				continue
			}
			typ := "Cookie"
			if sp.Type != nil && *sp.Type != "" {
				typ = *sp.Type
			}
			c.add(Warning, "", fmt.Sprintf("spec.rules[%d].sessionPersistence", i),
				fmt.Sprintf("rule %d of %s sets sessionPersistence (type %s): %s", i, ref(it), typ, why), "")
		}
	}
}

// Readiness gates of the load balancers that target pods by IP.
const (
	awsGatePrefix    = "target-health.elbv2.k8s.aws/"
	awsGatePrefixOld = "target-health.alb.ingress.k8s.aws/"
	awsGateInject    = "elbv2.k8s.aws/pod-readiness-gate-inject"
	gkeNEGGate       = "cloud.google.com/load-balancer-neg-ready"
)

func hasGate(gates []string, prefixes ...string) bool {
	for _, g := range gates {
		for _, p := range prefixes {
			if strings.HasPrefix(g, p) {
				return true
			}
		}
	}
	return false
}

func templateGates(spec *corev1.PodSpec) []string {
	var out []string
	for _, g := range spec.ReadinessGates {
		out = append(out, string(g.ConditionType))
	}
	return out
}

func checkLBReadinessGate(c *check) {
	w := serving(c.it)
	if w == nil || len(w.services) == 0 {
		return
	}
	var aws []string
	var neg []string
	for _, s := range w.services {
		aws = append(aws, s.awsIP...)
		if s.neg {
			neg = append(neg, fmt.Sprintf("Service %q has a NEG", s.it.obj.Name))
		}
	}
	o := c.it.obj
	var pods []podFacts
	if o.live != nil {
		pods = o.live.pods
	}
	// without lists the pods that lack a gate of the given prefixes.
	without := func(prefixes ...string) []string {
		var out []string
		for _, p := range pods {
			if !hasGate(p.readinessGates, prefixes...) {
				out = append(out, p.name)
			}
		}
		return out
	}
	field := podSpecField("readinessGates")
	if len(aws) > 0 {
		missing := false
		switch {
		case len(pods) > 0:
			missing = len(without(awsGatePrefix, awsGatePrefixOld)) > 0
		case hasGate(templateGates(&w.tmpl.Spec), awsGatePrefix, awsGatePrefixOld):
		default:
			ns := c.a.namespaces[keyOf(o.scope, o.Namespace)]
			missing = ns == nil || ns.Labels[awsGateInject] != "enabled"
		}
		if missing {
			where := "its pod template has"
			if len(pods) > 0 {
				where = "its pods have"
			}
			c.add(Warning, "", field,
				fmt.Sprintf("%s is a target of an AWS load balancer by IP (%s), but %s no readiness gate %s... in readinessGates: a rollout can stop old pods before the load balancer has registered the new ones as healthy, leaving it no target", ref(c.it), oneOf(aws), where, awsGatePrefix),
				fmt.Sprintf("label the namespace %s=enabled: the AWS Load Balancer Controller then adds the readiness gate to the pods it registers (restart them once)", awsGateInject))
		}
	}
	if len(neg) > 0 && len(pods) > 0 {
		if lacking := without(gkeNEGGate); len(lacking) > 0 {
			c.add(Warning, "", field,
				fmt.Sprintf("%s is behind a GKE container-native load balancer (%s), but its pods %s have no readiness gate %s in readinessGates: GKE adds it only to pods created after the Service has its NEG, so a rollout does not wait for the load balancer to see new pods healthy", ref(c.it), oneOf(neg), quoteList(lacking), gkeNEGGate),
				"restart the pods (kubectl rollout restart) so that GKE adds the readiness gate to their replacements")
		}
	}
}

// AGIC (Azure Application Gateway Ingress Controller) annotations.
const (
	agicPrefix       = "appgw.ingress.kubernetes.io/"
	agicDraining     = "appgw.ingress.kubernetes.io/connection-draining"
	agicDrainTimeout = "appgw.ingress.kubernetes.io/connection-draining-timeout"
	agicClass        = "azure-application-gateway"
	agicClassOld     = "azure/application-gateway"
)

// checkAGICDraining is lb-no-connection-draining for an Ingress served by
// Azure Application Gateway.
func checkAGICDraining(c *check) {
	ing := c.it.ing
	ann := ing.Annotations
	why := ""
	switch {
	case ing.Spec.IngressClassName != nil && *ing.Spec.IngressClassName == agicClass:
		why = "ingressClassName " + agicClass
	case ann["kubernetes.io/ingress.class"] == agicClassOld:
		why = "kubernetes.io/ingress.class: " + agicClassOld
	default:
		var keys []string
		for k := range ann {
			if strings.HasPrefix(k, agicPrefix) {
				keys = append(keys, k)
			}
		}
		if len(keys) == 0 {
			return
		}
		sort.Strings(keys)
		why = "annotation " + keys[0]
	}
	if strings.EqualFold(strings.TrimSpace(ann[agicDraining]), "true") {
		return
	}
	c.add(Warning, "", "metadata.annotations",
		fmt.Sprintf("%s is served by Azure Application Gateway (%s) and its annotations do not enable connection draining: the gateway cuts open connections when a pod leaves its backend pool", ref(c.it), why),
		fmt.Sprintf("annotate %s: \"true\" and %s: \"30\"", agicDraining, agicDrainTimeout))
}
