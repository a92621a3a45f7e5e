package lint

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"

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

// Service mesh annotations and containers.
const (
	istioInject         = "sidecar.istio.io/inject"
	istioRev            = "istio.io/rev"
	istioInjectionLabel = "istio-injection"
	istioProxyConfig    = "proxy.istio.io/config"
	istioNativeSidecar  = "sidecar.istio.io/nativeSidecar"
	istioProxy          = "istio-proxy"
	istioExitOnZero     = "EXIT_ON_ZERO_ACTIVE_CONNECTIONS"
	linkerdInject       = "linkerd.io/inject"
	linkerdProxy        = "linkerd-proxy"
	linkerdWait         = "config.alpha.linkerd.io/proxy-wait-before-exit-seconds"
	linkerdNativeAlpha  = "config.alpha.linkerd.io/proxy-enable-native-sidecar"
	linkerdNativeBeta   = "config.beta.linkerd.io/proxy-enable-native-sidecar"
	// istioDefaultDrain is Istio's terminationDrainDuration when none is set.
	istioDefaultDrain = 5 * time.Second
)

// mesh is what the rules know of the sidecar a workload's pods get.
type mesh struct {
	name string // "Istio" or "Linkerd"
	how  string // why the pods get it
	// native: the proxy is a native sidecar (an init container that keeps
	// running), which the kubelet stops after the app containers.
	native bool
	env    map[string]string // the proxy container's env, when known
}

// podContainers lists the names of a pod template's containers and native
// sidecars.
func podContainers(spec *corev1.PodSpec) (containers, sidecars []string, env map[string]map[string]string) {
	env = map[string]map[string]string{}
	vars := func(c *corev1.Container) map[string]string {
		m := map[string]string{}
		for _, e := range c.Env {
			m[e.Name] = e.Value
		}
		return m
	}
	for i := range spec.Containers {
		containers = append(containers, spec.Containers[i].Name)
		env[spec.Containers[i].Name] = vars(&spec.Containers[i])
	}
	for i := range spec.InitContainers {
		ic := &spec.InitContainers[i]
		if ic.RestartPolicy != nil && *ic.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars = append(sidecars, ic.Name)
			env[ic.Name] = vars(ic)
		}
	}
	return containers, sidecars, env
}

// meshOf says which mesh proxy a workload's pods get, if any: from its
// running pods in live mode, else from a proxy already in the template
// (istioctl kube-inject, linkerd inject), else from the injection labels
// and annotations of the pod template and of its Namespace (when the input
// holds it).
func (a *auditor) meshOf(it *item, w *workload) (mesh, bool) {
	o := it.obj
	// A proxy container that is there.
	find := func(containers, sidecars []string, env map[string]map[string]string, where string) (mesh, bool) {
		for _, m := range []struct{ name, container string }{{"Istio", istioProxy}, {"Linkerd", linkerdProxy}} {
			if contains(sidecars, m.container) {
				return mesh{name: m.name, how: fmt.Sprintf("container %q %s", m.container, where), native: true, env: env[m.container]}, true
			}
			if contains(containers, m.container) {
				return mesh{name: m.name, how: fmt.Sprintf("container %q %s", m.container, where), env: env[m.container]}, true
			}
		}
		return mesh{}, false
	}
	if o.live != nil && len(o.live.pods) > 0 {
		for _, p := range o.live.pods {
			if m, ok := find(p.containers, p.sidecars, map[string]map[string]string{istioProxy: p.proxyEnv, linkerdProxy: p.proxyEnv}, "in its pod "+strconv.Quote(p.name)); ok {
				return m, true
			}
		}
		return mesh{}, false
	}
	if hasProxyContainer(&w.tmpl.Spec) {
		cs, sc, env := podContainers(&w.tmpl.Spec)
		if m, ok := find(cs, sc, env, "in its pod template"); ok {
			return m, true
		}
	}
	lbl, ann := w.tmpl.Labels, w.tmpl.Annotations
	ns := a.namespaces[keyOf(o.scope, o.Namespace)]
	var nsLabels, nsAnn map[string]string
	if ns != nil {
		nsLabels, nsAnn = ns.Labels, ns.Annotations
	}
	// Istio: the pod's label (or older annotation) decides, else the
	// namespace's labels.
	v, ok := lbl[istioInject]
	if !ok {
		v, ok = ann[istioInject]
	}
	switch {
	case ok && strings.EqualFold(v, "true"):
		return mesh{name: "Istio", how: fmt.Sprintf("%s: %q on its pod template", istioInject, v)}, true
	case ok:
	case nsLabels[istioInjectionLabel] == "enabled":
		return mesh{name: "Istio", how: fmt.Sprintf("its namespace is labelled %s=enabled", istioInjectionLabel)}, true
	case nsLabels[istioRev] != "" && nsLabels[istioInjectionLabel] != "disabled":
		return mesh{name: "Istio", how: fmt.Sprintf("its namespace is labelled %s=%s", istioRev, nsLabels[istioRev])}, true
	case lbl[istioRev] != "":
		return mesh{name: "Istio", how: fmt.Sprintf("%s=%s on its pod template", istioRev, lbl[istioRev])}, true
	}
	switch v := ann[linkerdInject]; {
	case v == "enabled" || v == "ingress":
		return mesh{name: "Linkerd", how: fmt.Sprintf("%s: %s on its pod template", linkerdInject, v)}, true
	case v == "":
		if nv := nsAnn[linkerdInject]; nv == "enabled" || nv == "ingress" {
			return mesh{name: "Linkerd", how: fmt.Sprintf("its namespace is annotated %s: %s", linkerdInject, nv)}, true
		}
	}
	return mesh{}, false
}

// hasProxyContainer reports whether a pod template already holds a mesh
// proxy (injected before it was written down).
func hasProxyContainer(spec *corev1.PodSpec) bool {
	for i := range spec.Containers {
		if n := spec.Containers[i].Name; n == istioProxy || n == linkerdProxy {
			return true
		}
	}
	for i := range spec.InitContainers {
		if n := spec.InitContainers[i].Name; n == istioProxy || n == linkerdProxy {
			return true
		}
	}
	return false
}

// istioProxyConfig reads the proxy.istio.io/config annotation (YAML).
type istioProxyConfigValue struct {
	TerminationDrainDuration string            `json:"terminationDrainDuration"`
	ProxyMetadata            map[string]string `json:"proxyMetadata"`
}

func checkMeshDrain(c *check) {
	w := serving(c.it)
	if w == nil {
		return
	}
	ports := false
	for i := range w.tmpl.Spec.Containers {
		ports = ports || len(w.tmpl.Spec.Containers[i].Ports) > 0
	}
	if len(w.services) == 0 && !ports {
		return
	}
	m, ok := c.a.meshOf(c.it, w)
	if !ok || m.native {
		return
	}
	ann := w.tmpl.Annotations
	o := c.it.obj
	var nsAnn map[string]string
	if ns := c.a.namespaces[keyOf(o.scope, o.Namespace)]; ns != nil {
		nsAnn = ns.Annotations
	}
	// need is how long the app may still serve after SIGTERM: its longest
	// preStop sleep plus the drain budget.
	var longest int64
	for i := range w.tmpl.Spec.Containers {
		if ct := &w.tmpl.Spec.Containers[i]; ct.Name != istioProxy && ct.Name != linkerdProxy {
			if ps := probes.PreStopOf(ct); ps.Seconds > longest {
				longest = ps.Seconds
			}
		}
	}
	need := longest + c.a.drain()
	field := "spec.template.metadata.annotations"
	switch m.name {
	case "Istio":
		if strings.EqualFold(ann[istioNativeSidecar], "true") || strings.EqualFold(m.env[istioExitOnZero], "true") {
			return
		}
		var cfg istioProxyConfigValue
		if v := ann[istioProxyConfig]; v != "" {
			_ = sigsyaml.Unmarshal([]byte(v), &cfg)
		}
		if strings.EqualFold(cfg.ProxyMetadata[istioExitOnZero], "true") {
			return
		}
		hint := fmt.Sprintf(`annotate the pod template with %s: '{"proxyMetadata": {"%s": "true"}}' (or a terminationDrainDuration of at least %ds)`, istioProxyConfig, istioExitOnZero, need)
		if d, err := time.ParseDuration(strings.TrimSpace(cfg.TerminationDrainDuration)); err == nil {
			if int64(d/time.Second) >= need {
				return
			}
			c.add(Warning, "", field,
				fmt.Sprintf("%s gets an Istio sidecar (%s) whose annotations set terminationDrainDuration %s in %s, shorter than the app's preStop and drain (%ds): the proxy exits while the app still serves, and requests in flight fail", ref(c.it), m.how, cfg.TerminationDrainDuration, istioProxyConfig, need), hint)
			return
		}
		c.add(Warning, "", field,
			fmt.Sprintf("%s gets an Istio sidecar (%s) but its annotations set no drain on shutdown (%s or terminationDrainDuration in %s): the proxy exits %s after SIGTERM while the app still serves for up to %ds (preStop and drain), and requests in flight fail", ref(c.it), m.how, istioExitOnZero, istioProxyConfig, istioDefaultDrain, need), hint)
	case "Linkerd":
		for _, k := range []string{linkerdNativeAlpha, linkerdNativeBeta} {
			if strings.EqualFold(ann[k], "true") || (ann[k] == "" && strings.EqualFold(nsAnn[k], "true")) {
				return
			}
		}
		hint := fmt.Sprintf("annotate the pod template with %s: \"%d\" (the preStop sleep plus the drain budget, within terminationGracePeriodSeconds)", linkerdWait, need)
		v, src := ann[linkerdWait], "its"
		if v == "" && nsAnn[linkerdWait] != "" {
			v, src = nsAnn[linkerdWait], "its namespace's"
		}
		if v == "" {
			c.add(Warning, "", field,
				fmt.Sprintf("%s gets a Linkerd proxy (%s) but its annotations do not set %s: the proxy stops at SIGTERM, while endpoints still send requests during the app's preStop and drain (%ds), and they fail", ref(c.it), m.how, linkerdWait, need), hint)
			return
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil && n < need {
			c.add(Warning, "", field,
				fmt.Sprintf("%s gets a Linkerd proxy (%s) and %s annotations set %s %s, shorter than the app's preStop and drain (%ds): the proxy stops while the app still serves, and requests in flight fail", ref(c.it), m.how, src, linkerdWait, v, need), hint)
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
