package traffic

// SMI TrafficSplit (v1alpha2 and later): spec.service is the root Service
// clients call, spec.backends[] are {service, weight} with integer weights.

func smiBackendName(ref map[string]any) string { s, _ := ref["service"].(string); return s }

func rewriteTrafficSplit(obj map[string]any, cfg RouterConfig, weight int) (bool, error) {
	spec, _ := obj["spec"].(map[string]any)
	if spec == nil {
		return false, nil
	}
	backends, _ := spec["backends"].([]any)
	pair := func(first map[string]any) []any {
		return pairRefs(first, cfg, weight, func(ref map[string]any, svc string) { ref["service"] = svc }, "weight")
	}
	out, matched := replaceMatched(backends, func(ref map[string]any) bool {
		return isOneOf(smiBackendName(ref), cfg.Service, cfg.Stable, cfg.Canary)
	}, pair)
	if !matched {
		// A split whose root is the Service and that has no backend for it yet
		// gets the pair.
		if root, _ := spec["service"].(string); root != cfg.Service {
			return false, nil
		}
		out = append(backends, pair(map[string]any{})...)
	}
	spec["backends"] = out
	return true, nil
}

func readTrafficSplit(obj map[string]any, cfg RouterConfig) (int, bool) {
	spec, _ := obj["spec"].(map[string]any)
	backends, _ := spec["backends"].([]any)
	return shareOf(backends, smiBackendName, "weight", cfg)
}
