package gitops

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"

	"sigs.k8s.io/kustomize/kyaml/kio/filters"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// A kustomization takes a release's images in its images: entries and
// every other changed field as a strategic-merge patch in its patches:
// list: one entry per object (the Deployment; a Service whose selector a
// blue-green switch moved), its inline patch holding only the changed
// fields (containers and the other lists merged by name, by name), and a
// target of kind and name so the patch finds the object whatever
// namespace the files give it. The first line of each patch is a comment
// (patchMarker) by which the next write-back finds the entry again and
// updates it rather than add a second one.

// patchMarker is the first line of the patch a write-back keeps for the
// object kind/name.
func patchMarker(kind, name string) string {
	return fmt.Sprintf("# written by kubectl zdd --write-back for %s %s", strings.ToLower(kind), name)
}

// mergeByName are the lists of a pod spec whose strategic-merge key is
// name: their elements are patched one by one.
var mergeByName = map[string]bool{
	"containers": true, "initContainers": true, "ephemeralContainers": true,
	"env": true, "volumes": true, "imagePullSecrets": true,
}

// patchDiff is the strategic-merge patch taking before to after under
// field (the key holding them): the changed fields only, null for a field
// removed, lists merged by name as {name, changed fields} ({name, $patch:
// delete} for an element removed), other lists whole. Containers' images
// are left out (they go to images:). ok is false when nothing but images
// changed.
func patchDiff(field string, before, after any) (any, bool) {
	if reflect.DeepEqual(before, after) {
		return nil, false
	}
	bm, bok := before.(map[string]any)
	am, aok := after.(map[string]any)
	if bok && aok {
		out := map[string]any{}
		for _, k := range unionKeys(bm, am) {
			b, inB := bm[k]
			a, inA := am[k]
			switch {
			case !inA:
				out[k] = nil
			case !inB:
				out[k] = prune(a)
			default:
				if d, ok := patchDiff(k, b, a); ok {
					out[k] = d
				}
			}
		}
		return out, len(out) > 0
	}
	if mergeByName[field] {
		bl, bok := keyed(before)
		al, aok := keyed(after)
		if before == nil {
			bl, bok = map[string]map[string]any{}, true
		}
		if bok && aok {
			var out []any
			for _, n := range listOrder(before, after) {
				b, inB := bl[n]
				a, inA := al[n]
				switch {
				case !inA:
					out = append(out, map[string]any{"name": n, "$patch": "delete"})
				case !inB:
					out = append(out, prune(a))
				default:
					d, ok := patchDiff("", withoutImage(field, b), withoutImage(field, a))
					if ok {
						e := d.(map[string]any)
						e["name"] = n
						out = append(out, e)
					}
				}
			}
			return out, len(out) > 0
		}
	}
	return prune(after), true
}

// listOrder names the elements of two lists keyed by name: after's in
// its order (the order the patched list takes), then those only before has.
func listOrder(before, after any) []string {
	var names []string
	seen := map[string]bool{}
	for _, l := range []any{after, before} {
		elems, _ := l.([]any)
		for _, e := range elems {
			m, _ := e.(map[string]any)
			if n, _ := m["name"].(string); !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	return names
}

// withoutImage is a container without its image (images go to images:).
func withoutImage(list string, ct map[string]any) map[string]any {
	if !strings.HasSuffix(list, "ontainers") {
		return ct
	}
	out := map[string]any{}
	for k, v := range ct {
		if k != "image" {
			out[k] = v
		}
	}
	return out
}

// mergePatches lays the patch next over prev (what an earlier write-back
// wrote): maps field by field, lists merged by name element by element
// (next's element, a deletion included, over prev's), anything else next.
func mergePatches(field string, prev, next any) any {
	pm, pok := prev.(map[string]any)
	nm, nok := next.(map[string]any)
	if pok && nok {
		out := map[string]any{}
		for k, v := range pm {
			out[k] = v
		}
		for k, v := range nm {
			if p, in := pm[k]; in {
				v = mergePatches(k, p, v)
			}
			out[k] = v
		}
		return out
	}
	if mergeByName[field] {
		pl, pok := prev.([]any)
		nl, nok := next.([]any)
		if pok && nok {
			out := append([]any(nil), pl...)
			index := map[string]int{}
			for i, e := range out {
				if m, ok := e.(map[string]any); ok {
					if n, ok := m["name"].(string); ok {
						index[n] = i
					}
				}
			}
			for _, e := range nl {
				m, _ := e.(map[string]any)
				n, _ := m["name"].(string)
				i, in := index[n]
				if !in {
					out = append(out, e)
					continue
				}
				if m["$patch"] == "delete" || out[i].(map[string]any)["$patch"] == "delete" {
					out[i] = e
				} else {
					out[i] = mergePatches("", out[i], e)
				}
			}
			return out
		}
	}
	return next
}

// objectPatch is one patches: entry a write-back keeps.
type objectPatch struct {
	apiVersion, kind, name string
	// spec is the patch of the object's spec
	spec any
}

// kustomizePatches are the change's fields other than images as patches:
// the Deployment's, and each switched Service's selector.
func (c Change) kustomizePatches() ([]objectPatch, error) {
	before, after, err := c.specs()
	if err != nil {
		return nil, err
	}
	var out []objectPatch
	if d, ok := patchDiff("spec", before, after); ok {
		out = append(out, objectPatch{apiVersion: "apps/v1", kind: "Deployment", name: c.Name, spec: d})
	}
	for _, s := range c.Selectors {
		if s.From != s.To {
			out = append(out, objectPatch{apiVersion: "v1", kind: "Service", name: s.Service,
				spec: map[string]any{"selector": map[string]any{s.Label: s.To}}})
		}
	}
	return out, nil
}

// text renders the patch (spec laid over prev's when an earlier write-back
// wrote one) with its marker first and the fields in the order manifests
// have them (name first in a container).
func (p objectPatch) text(prev string) (string, error) {
	spec := p.spec
	if prev != "" {
		var old map[string]any
		if err := sigsyaml.Unmarshal([]byte(prev), &old); err != nil {
			return "", fmt.Errorf("the patch of %s %q it wrote before: %w", strings.ToLower(p.kind), p.name, err)
		}
		if s, ok := old["spec"]; ok {
			spec = mergePatches("spec", s, spec)
		}
	}
	b, err := sigsyaml.Marshal(map[string]any{
		"apiVersion": p.apiVersion, "kind": p.kind,
		"metadata": map[string]any{"name": p.name},
		"spec":     spec,
	})
	if err != nil {
		return "", err
	}
	formatted, err := filters.FormatInput(bytes.NewReader(b))
	if err != nil {
		return "", err
	}
	return patchMarker(p.kind, p.name) + "\n" + formatted.String(), nil
}

// findPatch is the entry of patches: whose inline patch starts with the
// marker of kind/name, and that patch's text.
func findPatch(kust *kyaml.RNode, kind, name string) (*kyaml.RNode, string, error) {
	list := kust.Field("patches")
	if list == nil || list.Value.YNode().Kind != kyaml.SequenceNode {
		return nil, "", nil
	}
	elems, err := list.Value.Elements()
	if err != nil {
		return nil, "", err
	}
	marker := patchMarker(kind, name)
	for _, e := range elems {
		if e.YNode().Kind != kyaml.MappingNode {
			continue
		}
		text := fieldString(e, "patch")
		if first, _, _ := strings.Cut(text, "\n"); first == marker {
			return e, text, nil
		}
	}
	return nil, "", nil
}

// setKustomizePatch writes p into the kustomization's patches: the entry
// an earlier write-back wrote for the object, updated, or a new one.
func setKustomizePatch(kust *kyaml.RNode, p objectPatch, set setFunc) error {
	entry, prev, err := findPatch(kust, p.kind, p.name)
	if err != nil {
		return err
	}
	text, err := p.text(prev)
	if err != nil {
		return err
	}
	if entry != nil {
		if text == prev {
			return nil
		}
		// a block scalar is never replaced in place: set rewrites the file
		return set(entry, "patch", text)
	}
	if err := set(kust, "", nil); err != nil {
		return err
	}
	list, err := blockList(kust, "patches")
	if err != nil {
		return err
	}
	entry = kyaml.NewMapRNode(nil)
	target := kyaml.NewMapRNode(nil)
	for _, kv := range [][2]string{{"kind", p.kind}, {"name", p.name}} {
		if err := target.PipeE(kyaml.SetField(kv[0], kyaml.NewScalarRNode(kv[1]))); err != nil {
			return err
		}
	}
	if err := entry.PipeE(kyaml.SetField("target", target)); err != nil {
		return err
	}
	if err := entry.PipeE(kyaml.SetField("patch", kyaml.NewRNode(&kyaml.Node{Kind: kyaml.ScalarNode, Tag: kyaml.NodeTagString, Style: kyaml.LiteralStyle, Value: text}))); err != nil {
		return err
	}
	return list.PipeE(kyaml.Append(entry.YNode()))
}

// blockList is the list field of kust that a write-back appends to, in
// block style: created when missing or empty (`patches:`, `patches: []`),
// turned to block style when written in flow style (its elements keep
// theirs).
func blockList(kust *kyaml.RNode, field string) (*kyaml.RNode, error) {
	if f := kust.Field(field); f != nil {
		n := f.Value.YNode()
		if n.Kind == kyaml.SequenceNode && len(n.Content) > 0 {
			n.Style = 0
			return f.Value, nil
		}
		if n.Kind == kyaml.SequenceNode || (n.Kind == kyaml.ScalarNode && n.ShortTag() == kyaml.NodeTagNull) {
			// made an empty block list where it stands, its comments kept
			n.Kind, n.Tag, n.Value, n.Style, n.Content = kyaml.SequenceNode, kyaml.NodeTagSeq, "", 0, nil
			return f.Value, nil
		}
		return nil, fmt.Errorf("%s is not a list", field)
	}
	return kust.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, field))
}

// unprefixed is an object's name in the cluster as the kustomization's
// resources have it: without the kustomization's namePrefix and
// nameSuffix (its patches run before they are added).
func unprefixed(kust *kyaml.RNode, name string) string {
	prefix, suffix := fieldString(kust, "namePrefix"), fieldString(kust, "nameSuffix")
	if len(name) > len(prefix)+len(suffix) && strings.HasPrefix(name, prefix) && strings.HasSuffix(name, suffix) {
		return name[len(prefix) : len(name)-len(suffix)]
	}
	return name
}
