package lint

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// What the traffic objects (Ingresses, Gateway API routes, AWS
// TargetGroupBindings), the Namespaces and the RBAC of the input say about
// the Services and ServiceAccounts the workloads use. Everything is
// matched within one scope (see Object.scope).

// keyOf is the index key of a namespace of a scope (nsKey of its objects).
func keyOf(scope, ns string) string {
	if scope == "" {
		return ns
	}
	return scope + "\x00" + ns
}

// addTrafficContext keeps a context object that is not a Service, PDB or
// HPA.
func (a *auditor) addTrafficContext(it *item) {
	o := it.obj
	switch {
	case it.ing != nil:
		a.ingresses = append(a.ingresses, it)
	case it.route != nil:
		a.routes = append(a.routes, it)
	case it.tgb != nil:
		a.tgbs = append(a.tgbs, it)
	case it.rbac != nil:
		a.rbacItems = append(a.rbacItems, it)
	case it.nsObj != nil:
		a.namespaces[keyOf(o.scope, o.Name)] = it.nsObj
	case it.bc != nil:
		a.ns(nsKey(o)).backendConfigs[o.Name] = it.bc
	case it.pods != nil:
		a.podLabels = append(a.podLabels, it)
	}
}

// Annotations that say a connection may last longer than 60 s, or that an
// AWS or GKE load balancer sends traffic straight to the pods.
const (
	nginxReadTimeout    = "nginx.ingress.kubernetes.io/proxy-read-timeout"
	nginxSendTimeout    = "nginx.ingress.kubernetes.io/proxy-send-timeout"
	nginxIncReadTimeout = "nginx.org/proxy-read-timeout"
	nginxIncSendTimeout = "nginx.org/proxy-send-timeout"
	nginxIncWebSockets  = "nginx.org/websocket-services"
	albAttributes       = "alb.ingress.kubernetes.io/load-balancer-attributes"
	albTargetType       = "alb.ingress.kubernetes.io/target-type"
	awsIdleTimeout      = "service.beta.kubernetes.io/aws-load-balancer-connection-idle-timeout"
	awsNLBTargetType    = "service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"
	gkeNEG              = "cloud.google.com/neg"

	// LongLivedGraceSeconds is the termination grace a pod that holds
	// long-lived connections needs (and what --fix sets).
	LongLivedGraceSeconds = 120
	// proxyDefaultTimeout is the read timeout of ingress-nginx, NGINX and
	// AWS load balancers when none is set.
	proxyDefaultTimeout = 60
)

// timeoutSeconds reads a timeout annotation: a number of seconds, or a duration
// ("300s", "5m").
func timeoutSeconds(v string) (int64, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return n, true
	}
	if d, err := time.ParseDuration(v); err == nil {
		return int64(d / time.Second), true
	}
	return 0, false
}

// albAttribute reads key=value out of a comma-separated attribute list.
func albAttribute(list, key string) (string, bool) {
	for _, kv := range strings.Split(list, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// indexTraffic computes the facts of every Service: its own, and those of
// the Ingresses, routes and TargetGroupBindings that send it traffic.
func (a *auditor) indexTraffic() {
	for _, n := range a.byNS {
		for _, s := range n.byName {
			s.ownFacts()
		}
	}
	for _, it := range a.ingresses {
		a.ingressFacts(it)
	}
	for _, it := range a.routes {
		a.routeFacts(it)
	}
	for _, it := range a.tgbs {
		t := it.tgb
		if t.Spec.TargetType == nil || !strings.EqualFold(*t.Spec.TargetType, "ip") {
			continue
		}
		if n := a.byNS[nsKey(it.obj)]; n != nil {
			if s := n.byName[t.Spec.ServiceRef.Name]; s != nil {
				s.awsIP = append(s.awsIP, fmt.Sprintf("TargetGroupBinding %q registers them by IP", it.obj.Name))
			}
		}
	}
}

func (s *service) ownFacts() {
	for _, p := range s.s.Spec.Ports {
		if p.AppProtocol == nil {
			continue
		}
		if ap := *p.AppProtocol; ap == "kubernetes.io/ws" || ap == "kubernetes.io/wss" {
			port := p.Name
			if port == "" {
				port = strconv.Itoa(int(p.Port))
			}
			s.longLived = append(s.longLived, fmt.Sprintf("Service %q port %q has appProtocol %s", s.it.obj.Name, port, ap))
		}
	}
	ann := s.s.Annotations
	if len(ann) == 0 {
		return
	}
	if n, ok := timeoutSeconds(ann[awsIdleTimeout]); ok && n > proxyDefaultTimeout {
		s.longLived = append(s.longLived, fmt.Sprintf("Service %q sets %s %d", s.it.obj.Name, awsIdleTimeout, n))
	}
	if strings.EqualFold(strings.TrimSpace(ann[awsNLBTargetType]), "ip") {
		s.awsIP = append(s.awsIP, fmt.Sprintf("Service %q sets %s: ip", s.it.obj.Name, awsNLBTargetType))
	}
	if v := ann[gkeNEG]; v != "" {
		var neg struct {
			Ingress      bool           `json:"ingress"`
			ExposedPorts map[string]any `json:"exposed_ports"`
		}
		if json.Unmarshal([]byte(v), &neg) == nil && (neg.Ingress || len(neg.ExposedPorts) > 0) {
			s.neg = true
		}
	}
}

// ingressServices are the names of the Services an Ingress sends traffic to.
func ingressServices(ing *networkingv1.Ingress) []string {
	var names []string
	add := func(b *networkingv1.IngressBackend) {
		if b != nil && b.Service != nil && b.Service.Name != "" && !contains(names, b.Service.Name) {
			names = append(names, b.Service.Name)
		}
	}
	add(ing.Spec.DefaultBackend)
	for _, r := range ing.Spec.Rules {
		if r.HTTP == nil {
			continue
		}
		for i := range r.HTTP.Paths {
			add(&r.HTTP.Paths[i].Backend)
		}
	}
	return names
}

func (a *auditor) ingressFacts(it *item) {
	ing := it.ing
	n := a.byNS[nsKey(it.obj)]
	if n == nil {
		return
	}
	ann := ing.Annotations
	var longLived, awsIP []string
	for _, key := range []string{nginxReadTimeout, nginxSendTimeout, nginxIncReadTimeout, nginxIncSendTimeout} {
		if v, ok := timeoutSeconds(ann[key]); ok && v > proxyDefaultTimeout {
			longLived = append(longLived, fmt.Sprintf("Ingress %q sets %s %s", it.obj.Name, key, strings.TrimSpace(ann[key])))
		}
	}
	if v, ok := albAttribute(ann[albAttributes], "idle_timeout.timeout_seconds"); ok {
		if n, ok := timeoutSeconds(v); ok && n > proxyDefaultTimeout {
			longLived = append(longLived, fmt.Sprintf("Ingress %q sets idle_timeout.timeout_seconds=%d in %s", it.obj.Name, n, albAttributes))
		}
	}
	if strings.EqualFold(strings.TrimSpace(ann[albTargetType]), "ip") {
		awsIP = append(awsIP, fmt.Sprintf("Ingress %q sets %s: ip", it.obj.Name, albTargetType))
	}
	websockets := map[string]bool{}
	for _, name := range strings.Split(ann[nginxIncWebSockets], ",") {
		if name = strings.TrimSpace(name); name != "" {
			websockets[name] = true
		}
	}
	for _, name := range ingressServices(ing) {
		s := n.byName[name]
		if s == nil {
			continue
		}
		s.longLived = append(s.longLived, longLived...)
		if websockets[name] {
			s.longLived = append(s.longLived, fmt.Sprintf("Ingress %q lists it in %s", it.obj.Name, nginxIncWebSockets))
		}
		s.awsIP = append(s.awsIP, awsIP...)
	}
}

// routeTimeout is a route timeout as the rules judge it: long when above
// 60 s, or "0s" (no timeout at all).
func routeTimeout(v *string) (string, bool) {
	if v == nil {
		return "", false
	}
	d, err := time.ParseDuration(strings.TrimSpace(*v))
	if err != nil {
		return "", false
	}
	if d == 0 || d > proxyDefaultTimeout*time.Second {
		return strings.TrimSpace(*v), true
	}
	return "", false
}

// routeBackends calls f with every Service a route sends traffic to.
func (a *auditor) routeBackends(it *item, f func(rule int, s *service)) {
	for ri, r := range it.route.Spec.Rules {
		for _, b := range r.BackendRefs {
			if (b.Group != nil && *b.Group != "") || (b.Kind != nil && *b.Kind != "Service") {
				continue
			}
			ns := it.obj.Namespace
			if b.Namespace != nil && *b.Namespace != "" {
				ns = *b.Namespace
			}
			if n := a.byNS[keyOf(it.obj.scope, ns)]; n != nil {
				if s := n.byName[b.Name]; s != nil {
					f(ri, s)
				}
			}
		}
	}
}

func (a *auditor) routeFacts(it *item) {
	a.routeBackends(it, func(ri int, s *service) {
		r := it.route.Spec.Rules[ri]
		if r.Timeouts == nil {
			return
		}
		for _, t := range []struct {
			name string
			v    *string
		}{{"request", r.Timeouts.Request}, {"backendRequest", r.Timeouts.BackendRequest}} {
			if v, long := routeTimeout(t.v); long {
				what := "a " + t.name + " timeout of " + v
				if v == "0s" || v == "0" {
					what = "no " + t.name + " timeout (0s)"
				}
				s.longLived = append(s.longLived, fmt.Sprintf("%s %q sets %s", it.obj.Kind, it.obj.Name, what))
			}
		}
	})
}

// leaseGrant is a grant to update Leases: through which role and binding,
// and on which Leases (none: all of them).
type leaseGrant struct {
	via   string
	names []string
}

// saKey is the key of a ServiceAccount's grants; groupKey of the grants to
// every ServiceAccount of a namespace ("*": of every namespace).
func saKey(scope, ns, name string) string { return scope + "\x00" + ns + "\x00" + name }
func groupKey(scope, ns string) string    { return scope + "\x00" + ns + "\x00*" }
func allSAKey(scope string) string        { return scope + "\x00*\x00*" }
func grantsLeases(rules []rbacv1.PolicyRule) (bool, []string) {
	var names []string
	found := false
	for _, r := range rules {
		if !(containsAny(r.APIGroups, "coordination.k8s.io", "*") && containsAny(r.Resources, "leases", "*") && containsAny(r.Verbs, "update", "*")) {
			continue
		}
		if len(r.ResourceNames) == 0 {
			return true, nil
		}
		found = true
		names = append(names, r.ResourceNames...)
	}
	return found, names
}

func containsAny(list []string, vals ...string) bool {
	for _, v := range vals {
		if contains(list, v) {
			return true
		}
	}
	return false
}

// indexRBAC finds, in the Roles, ClusterRoles and their bindings of the
// input, the ServiceAccounts that may update Leases: what leader election
// with client-go (and controller-runtime) needs.
func (a *auditor) indexRBAC() {
	roles := map[string][]rbacv1.PolicyRule{} // "Role" or "ClusterRole", scope, namespace, name
	key := func(kind, scope, ns, name string) string { return kind + "\x00" + scope + "\x00" + ns + "\x00" + name }
	for _, it := range a.rbacItems {
		switch r := it.rbac.(type) {
		case *rbacv1.Role:
			roles[key("Role", it.obj.scope, it.obj.Namespace, r.Name)] = r.Rules
		case *rbacv1.ClusterRole:
			roles[key("ClusterRole", it.obj.scope, "", r.Name)] = r.Rules
		}
	}
	bind := func(it *item, bindingKind, bindingNS string, ref rbacv1.RoleRef, subjects []rbacv1.Subject) {
		scope := it.obj.scope
		rk := key(ref.Kind, scope, "", ref.Name)
		if ref.Kind == "Role" {
			rk = key("Role", scope, bindingNS, ref.Name)
		}
		rules, ok := roles[rk]
		if !ok {
			return
		}
		can, names := grantsLeases(rules)
		if !can {
			return
		}
		g := leaseGrant{via: fmt.Sprintf("%s %q through %s %q", ref.Kind, ref.Name, bindingKind, it.obj.Name), names: names}
		for _, s := range subjects {
			switch {
			case s.Kind == rbacv1.ServiceAccountKind:
				ns := s.Namespace
				if ns == "" {
					ns = bindingNS
				}
				k := saKey(scope, ns, s.Name)
				a.leaseGrants[k] = append(a.leaseGrants[k], g)
			case s.Kind == rbacv1.GroupKind && (s.Name == "system:serviceaccounts" || s.Name == "system:authenticated"):
				a.leaseGrants[allSAKey(scope)] = append(a.leaseGrants[allSAKey(scope)], g)
			case s.Kind == rbacv1.GroupKind && strings.HasPrefix(s.Name, "system:serviceaccounts:"):
				k := groupKey(scope, strings.TrimPrefix(s.Name, "system:serviceaccounts:"))
				a.leaseGrants[k] = append(a.leaseGrants[k], g)
			}
		}
	}
	for _, it := range a.rbacItems {
		switch b := it.rbac.(type) {
		case *rbacv1.RoleBinding:
			bind(it, "RoleBinding", it.obj.Namespace, b.RoleRef, b.Subjects)
		case *rbacv1.ClusterRoleBinding:
			bind(it, "ClusterRoleBinding", "", b.RoleRef, b.Subjects)
		}
	}
}

// serviceAccountOf is the ServiceAccount a pod template runs as.
func serviceAccountOf(spec *corev1.PodSpec) string {
	switch {
	case spec.ServiceAccountName != "":
		return spec.ServiceAccountName
	case spec.DeprecatedServiceAccount != "":
		return spec.DeprecatedServiceAccount
	}
	return "default"
}

// leaseGrantsOf are the grants to update Leases that the ServiceAccount sa
// of namespace ns has in the scope.
func (a *auditor) leaseGrantsOf(scope, ns, sa string) []leaseGrant {
	var out []leaseGrant
	out = append(out, a.leaseGrants[saKey(scope, ns, sa)]...)
	out = append(out, a.leaseGrants[groupKey(scope, ns)]...)
	out = append(out, a.leaseGrants[allSAKey(scope)]...)
	return out
}
