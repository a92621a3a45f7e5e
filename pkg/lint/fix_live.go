package lint

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// LivePatch is the patch --fix applies to one live object.
type LivePatch struct {
	Object Object
	// Patch is a strategic merge patch (containers are merged by name).
	Patch   []byte
	Changes []string
}

// patchTypes are the live kinds --fix patches, with the Go type the
// strategic merge patch is computed against.
var patchTypes = map[string]any{
	"Deployment":  appsv1.Deployment{},
	"StatefulSet": appsv1.StatefulSet{},
	"DaemonSet":   appsv1.DaemonSet{},
}

// FixLive computes, for every live object with fixable findings, the
// strategic merge patch that makes the same edits --fix makes in files.
// Objects of other kinds are left alone. The patch carries the object's
// resourceVersion, so it fails rather than overwrite a concurrent change.
func FixLive(objs []Object, findings []Finding, drainSeconds int) ([]LivePatch, error) {
	type key struct{ kind, ns, name string }
	byObject := map[key][]Finding{}
	for _, fd := range findings {
		if Fixable(fd.Rule) {
			k := key{fd.Kind, fd.Namespace, fd.Name}
			byObject[k] = append(byObject[k], fd)
		}
	}
	var out []LivePatch
	for _, o := range objs {
		fds := byObject[key{o.Kind, o.Namespace, o.Name}]
		dataStruct, ok := patchTypes[o.Kind]
		if len(fds) == 0 || !ok || o.Raw == nil || o.Context {
			continue
		}
		original, err := json.Marshal(o.Raw.Object)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", o.Ref(), err)
		}
		node, err := kyaml.FromMap(o.Raw.DeepCopy().Object)
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", o.Ref(), err)
		}
		changes, err := FixNode(node, o.Kind, fds, drainSeconds)
		if err != nil {
			return nil, err
		}
		if len(changes) == 0 {
			continue
		}
		m, err := node.Map()
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", o.Ref(), err)
		}
		modified, err := json.Marshal(m)
		if err != nil {
			return nil, fmt.Errorf("encoding %s: %w", o.Ref(), err)
		}
		patch, err := strategicpatch.CreateTwoWayMergePatch(original, modified, dataStruct)
		if err != nil {
			return nil, fmt.Errorf("computing the patch of %s: %w", o.Ref(), err)
		}
		if rv := o.Raw.GetResourceVersion(); rv != "" {
			var p map[string]any
			if err := json.Unmarshal(patch, &p); err != nil {
				return nil, err
			}
			meta, _ := p["metadata"].(map[string]any)
			if meta == nil {
				meta = map[string]any{}
			}
			meta["resourceVersion"] = rv
			p["metadata"] = meta
			if patch, err = json.Marshal(p); err != nil {
				return nil, err
			}
		}
		out = append(out, LivePatch{Object: o, Patch: patch, Changes: changes})
	}
	return out, nil
}
