package traffic

import "fmt"

// Gateway API HTTPRoute: spec.rules[].backendRefs[] of kind Service (group
// "" and kind "Service" are the defaults) named name, with port and weight.

func httpRouteRefMatches(cfg RouterConfig) func(ref map[string]any) bool {
	return func(ref map[string]any) bool {
		if g, _ := ref["group"].(string); g != "" && g != "core" {
			return false
		}
		if k, _ := ref["kind"].(string); k != "" && k != "Service" {
			return false
		}
		if ns, _ := ref["namespace"].(string); ns != "" && ns != cfg.Namespace {
			return false
		}
		name, _ := ref["name"].(string)
		return isOneOf(name, cfg.Service, cfg.Stable, cfg.Canary)
	}
}

func rewriteHTTPRoute(obj map[string]any, cfg RouterConfig, weight int) (bool, error) {
	spec, _ := obj["spec"].(map[string]any)
	rules, _ := spec["rules"].([]any)
	var found bool
	for i, item := range rules {
		rule, ok := item.(map[string]any)
		if !ok {
			return false, fmt.Errorf("spec.rules[%d] is not an object", i)
		}
		refs, _ := rule["backendRefs"].([]any)
		out, matched := replaceMatched(refs, httpRouteRefMatches(cfg), func(first map[string]any) []any {
			return pairRefs(first, cfg, weight, func(ref map[string]any, name string) { ref["name"] = name }, "weight")
		})
		if matched {
			rule["backendRefs"] = out
			found = true
		}
	}
	return found, nil
}

func readHTTPRoute(obj map[string]any, cfg RouterConfig) (int, bool) {
	spec, _ := obj["spec"].(map[string]any)
	rules, _ := spec["rules"].([]any)
	match := httpRouteRefMatches(cfg)
	for _, item := range rules {
		rule, _ := item.(map[string]any)
		refs, _ := rule["backendRefs"].([]any)
		var mine []any
		for _, r := range refs {
			if ref, ok := r.(map[string]any); ok && match(ref) {
				mine = append(mine, ref)
			}
		}
		if w, ok := shareOf(mine, func(ref map[string]any) string { s, _ := ref["name"].(string); return s }, "weight", cfg); ok {
			return w, true
		}
	}
	return 0, false
}
