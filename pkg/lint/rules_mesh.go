package lint

import (
	"fmt"
	"github.com/zdd-dev/kubectl-zdd/pkg/probes"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
	"strconv"
	"strings"
	"time"
)

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
