package traffic

import (
	"fmt"
	"strings"
)

// Istio VirtualService: spec.http[].route[] with destination.host (a short
// Service name, NAME.NAMESPACE, or the cluster FQDN), optional
// destination.port, and weight.

func istioHostService(host, namespace string) string {
	name, rest, found := strings.Cut(host, ".")
	if !found {
		return name
	}
	switch rest {
	case namespace, namespace + ".svc", namespace + ".svc.cluster.local":
		return name
	}
	return ""
}

func istioDestName(namespace string) func(ref map[string]any) string {
	return func(ref map[string]any) string {
		dest, _ := ref["destination"].(map[string]any)
		host, _ := dest["host"].(string)
		return istioHostService(host, namespace)
	}
}

func rewriteVirtualService(obj map[string]any, cfg RouterConfig, weight int) (bool, error) {
	spec, _ := obj["spec"].(map[string]any)
	routes, _ := spec["http"].([]any)
	name := istioDestName(cfg.Namespace)
	var found bool
	for i, item := range routes {
		route, ok := item.(map[string]any)
		if !ok {
			return false, fmt.Errorf("spec.http[%d] is not an object", i)
		}
		dests, _ := route["route"].([]any)
		out, matched := replaceMatched(dests, func(ref map[string]any) bool {
			return isOneOf(name(ref), cfg.Service, cfg.Stable, cfg.Canary)
		}, func(first map[string]any) []any {
			return pairRefs(first, cfg, weight, func(ref map[string]any, svc string) {
				dest, _ := ref["destination"].(map[string]any)
				if dest == nil {
					dest = map[string]any{}
					ref["destination"] = dest
				}
				dest["host"] = svc
				delete(dest, "subset")
			}, "weight")
		})
		if matched {
			route["route"] = out
			found = true
		}
	}
	return found, nil
}

func readVirtualService(obj map[string]any, cfg RouterConfig) (int, bool) {
	spec, _ := obj["spec"].(map[string]any)
	routes, _ := spec["http"].([]any)
	for _, item := range routes {
		route, _ := item.(map[string]any)
		dests, _ := route["route"].([]any)
		if w, ok := shareOf(dests, istioDestName(cfg.Namespace), "weight", cfg); ok {
			return w, true
		}
	}
	return 0, false
}
