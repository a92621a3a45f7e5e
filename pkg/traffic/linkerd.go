package traffic

import (
	"context"
	"errors"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// Linkerd splits the traffic of meshed clients by an HTTPRoute attached to
// the Service they call (a parentRef of kind Service): the Gateway API's
// HTTPRoute (the GAMMA pattern, read by Linkerd 2.14 and later) or Linkerd's
// own policy.linkerd.io HTTPRoute. Both keep the weights where the Gateway
// API does, in spec.rules[].backendRefs[], so the rewrite is the HTTPRoute
// one; what differs is finding the route (two APIs, either or both served)
// and checking that it is attached to a Service, without which Linkerd's
// proxies ignore its weights.

// The API groups of the two HTTPRoutes Linkerd reads.
const (
	LinkerdGatewayGroup = "gateway.networking.k8s.io"
	LinkerdPolicyGroup  = "policy.linkerd.io"
)

var linkerdAPIs = []struct {
	group    string
	versions []string
}{
	{LinkerdGatewayGroup, []string{"v1", "v1beta1"}},
	{LinkerdPolicyGroup, []string{"v1beta3", "v1beta2"}},
}

// linkerdRouter picks one of its candidate routes (one per API group, or the
// one --route names with GROUP/NAME) at Check and then acts as that route.
type linkerdRouter struct {
	cfg        RouterConfig
	candidates []*crdRouter
	chosen     *crdRouter
}

// parseLinkerdRoute splits --route [httproute[s].]GROUP/NAME or NAME.
func parseLinkerdRoute(s string) (group, name string, err error) {
	g, n, qualified := strings.Cut(s, "/")
	if !qualified {
		return "", s, nil
	}
	g = strings.TrimPrefix(strings.TrimPrefix(g, "httproutes."), "httproute.")
	if n == "" || strings.Contains(n, "/") || (g != LinkerdGatewayGroup && g != LinkerdPolicyGroup) {
		return "", "", exitcode.Usagef("--route %q: want NAME or GROUP/NAME with GROUP %s or %s", s, LinkerdGatewayGroup, LinkerdPolicyGroup)
	}
	return g, n, nil
}

func newLinkerdRouter(cfg RouterConfig, dyn dynamic.Interface, disc discovery.DiscoveryInterface) (WeightRouter, error) {
	group, name, err := parseLinkerdRoute(cfg.Name)
	if err != nil {
		return nil, err
	}
	l := &linkerdRouter{cfg: cfg}
	l.cfg.Name = name
	for _, api := range linkerdAPIs {
		if group != "" && api.group != group {
			continue
		}
		l.candidates = append(l.candidates, &crdRouter{cfg: l.cfg, dyn: dyn, disc: disc, kind: "HTTPRoute", group: api.group, resource: "httproutes",
			versions: api.versions, label: "httproute." + api.group, rewrite: rewriteHTTPRoute, read: readHTTPRoute})
	}
	if len(l.candidates) == 1 {
		l.chosen = l.candidates[0]
	}
	return l, nil
}

func (l *linkerdRouter) Kind() string { return RouterLinkerd }

func (l *linkerdRouter) Describe() string {
	if l.chosen != nil {
		return l.chosen.Describe()
	}
	return fmt.Sprintf("httproute %q", l.cfg.Namespace+"/"+l.cfg.Name)
}

// choose finds the route among the served APIs: exactly one of them must
// hold an HTTPRoute of that name.
func (l *linkerdRouter) choose(ctx context.Context) error {
	if l.chosen != nil {
		return nil
	}
	var served, found []*crdRouter
	var missing []string
	for _, c := range l.candidates {
		if err := c.resolve(); err != nil {
			var m *MissingAPIError
			if !errors.As(err, &m) {
				return err
			}
			missing = append(missing, fmt.Sprintf("%s.%s versions %s", m.Resource, m.Group, strings.Join(m.Versions, ", ")))
			continue
		}
		served = append(served, c)
		_, err := c.dyn.Resource(c.gvr).Namespace(l.cfg.Namespace).Get(ctx, l.cfg.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading %s: %w", c.Describe(), err)
		}
		found = append(found, c)
	}
	switch {
	case len(served) == 0:
		return exitcode.Usagef("--traffic-router linkerd: the cluster serves neither HTTPRoute Linkerd reads (%s): are the Gateway API or Linkerd CRDs installed?", strings.Join(missing, "; "))
	case len(found) == 0:
		var groups []string
		for _, c := range served {
			groups = append(groups, c.group)
		}
		return exitcode.Usagef("--traffic-router linkerd: httproute %q not found (looked in %s)", l.cfg.Namespace+"/"+l.cfg.Name, strings.Join(groups, " and "))
	case len(found) > 1:
		return exitcode.Usagef("--route %s: both %s and %s hold an HTTPRoute %q: name one with --route %s/%s or --route %s/%s",
			l.cfg.Name, found[0].group, found[1].group, l.cfg.Namespace+"/"+l.cfg.Name, found[0].group, l.cfg.Name, found[1].group, l.cfg.Name)
	}
	l.chosen = found[0]
	return nil
}

func (l *linkerdRouter) Check(ctx context.Context) error {
	if err := l.choose(ctx); err != nil {
		return err
	}
	if err := l.chosen.Check(ctx); err != nil {
		return err
	}
	if !attachedToService(l.chosen.seen.Object, l.cfg.Namespace) {
		return exitcode.Usagef("%s has no parentRef of kind Service: Linkerd applies a route's weights only when it is attached to the Service its clients call (parentRefs: [{group: core, kind: Service, name: %s}])",
			l.chosen.Describe(), l.cfg.Service)
	}
	return nil
}

// attachedToService reports whether the route has a parentRef of kind
// Service in its own namespace (group "" in the Gateway API, "core" in
// policy.linkerd.io).
func attachedToService(obj map[string]any, namespace string) bool {
	spec, _ := obj["spec"].(map[string]any)
	parents, _ := spec["parentRefs"].([]any)
	for _, item := range parents {
		ref, _ := item.(map[string]any)
		if k, _ := ref["kind"].(string); k != "Service" {
			continue
		}
		if g, _ := ref["group"].(string); g != "" && g != "core" {
			continue
		}
		if ns, _ := ref["namespace"].(string); ns != "" && ns != namespace {
			continue
		}
		if n, _ := ref["name"].(string); n != "" {
			return true
		}
	}
	return false
}

func (l *linkerdRouter) SetWeight(ctx context.Context, weight int) error {
	if err := l.choose(ctx); err != nil {
		return err
	}
	return l.chosen.SetWeight(ctx, weight)
}

func (l *linkerdRouter) Weight(ctx context.Context) (int, error) {
	if err := l.choose(ctx); err != nil {
		return 0, err
	}
	return l.chosen.Weight(ctx)
}
