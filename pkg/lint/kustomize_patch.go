package lint

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
	"strconv"
	"strings"
)

func (p kustPatch) targets(kind, name string, ref *docRef) bool {
	if p.targetKind != "" && p.targetKind != kind {
		return false
	}
	original := ""
	if ref.data != nil {
		var id struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		_ = sigsyaml.Unmarshal(ref.data, &id)
		original = id.Metadata.Name
	}
	if p.targetName != "" && !names(p.targetName, name, original) {
		// target names are regular expressions
		re, err := regexp.Compile("^(?:" + p.targetName + ")$")
		if err != nil || !(re.MatchString(name) || re.MatchString(original)) {
			return false
		}
	}
	return true
}

// patchesOf reads the patches a kustomization file declares:
// patchesStrategicMerge, then patches, then patchesJson6902 (the order of
// kustomize's transformers), from files or inline.
func (k *kustomizeSources) patchesOf(kustomization string) *kustPatches {
	if kp, ok := k.kusts[kustomization]; ok {
		return kp
	}
	kp := &kustPatches{}
	k.kusts[kustomization] = kp
	data, err := os.ReadFile(kustomization)
	if err != nil {
		return kp
	}
	rn, err := kyaml.Parse(string(data))
	if err != nil {
		return kp
	}
	root := rn.YNode()
	dir := filepath.Dir(kustomization)
	// fromFile adds every document of a patch file; inline adds the text
	// of a scalar of the kustomization.
	add := func(doc *patchDoc, kind, name string) {
		if kind == "" || name == "" {
			var id struct {
				Kind     string `json:"kind"`
				Metadata struct {
					Name string `json:"name"`
				} `json:"metadata"`
			}
			if !doc.json6902 && sigsyaml.Unmarshal(doc.data, &id) == nil {
				if kind == "" {
					kind = id.Kind
				}
				if name == "" {
					name = id.Metadata.Name
				}
			}
		}
		kp.patches = append(kp.patches, kustPatch{targetKind: kind, targetName: name, doc: doc})
	}
	fromFile := func(path string, json6902 bool, kind, name string) {
		file := filepath.Clean(filepath.Join(dir, path))
		data, err := os.ReadFile(file)
		if err != nil {
			return
		}
		for _, d := range splitDocuments(data) {
			add(&patchDoc{file: file, startLine: d.startLine, line: d.line, data: d.data, json6902: json6902 || isJSONPatch(d.data)}, kind, name)
		}
	}
	inline := func(n *kyaml.Node, json6902 bool, kind, name string) {
		text := n.Value
		start := n.Line
		if n.Style == kyaml.LiteralStyle || n.Style == kyaml.FoldedStyle {
			start++ // a block scalar's text starts on the next line
		}
		for _, d := range splitDocuments([]byte(text)) {
			line := start
			if n.Style == kyaml.LiteralStyle {
				line = start + d.line - 1
			}
			add(&patchDoc{file: kustomization, startLine: start + d.startLine - 1, line: line, data: d.data, json6902: json6902 || isJSONPatch(d.data)}, kind, name)
		}
	}
	target := func(entry *kyaml.Node) (string, string) {
		t := mapValue(entry, "target")
		if t == nil {
			return "", ""
		}
		kind, name := "", ""
		if v := mapValue(t, "kind"); v != nil {
			kind = v.Value
		}
		if v := mapValue(t, "name"); v != nil {
			name = v.Value
		}
		return kind, name
	}
	if list := mapValue(root, "patchesStrategicMerge"); list != nil && list.Kind == kyaml.SequenceNode {
		for _, e := range list.Content {
			if e.Kind != kyaml.ScalarNode {
				continue
			}
			if strings.Contains(e.Value, "\n") || strings.Contains(e.Value, ":") {
				inline(e, false, "", "")
			} else {
				fromFile(e.Value, false, "", "")
			}
		}
	}
	for _, field := range []string{"patches", "patchesJson6902"} {
		list := mapValue(root, field)
		if list == nil || list.Kind != kyaml.SequenceNode {
			continue
		}
		for _, e := range list.Content {
			kind, name := target(e)
			json6902 := field == "patchesJson6902"
			if p := mapValue(e, "path"); p != nil {
				fromFile(p.Value, json6902, kind, name)
			} else if p := mapValue(e, "patch"); p != nil {
				inline(p, json6902, kind, name)
			}
		}
	}
	return kp
}

// isJSONPatch reports whether a patch document is a list of JSON 6902
// operations rather than a strategic-merge patch.
func isJSONPatch(doc []byte) bool {
	t := bytes.TrimSpace(doc)
	for len(t) > 0 && t[0] == '#' {
		if i := bytes.IndexByte(t, '\n'); i >= 0 {
			t = bytes.TrimSpace(t[i+1:])
		} else {
			t = nil
		}
	}
	return len(t) > 0 && (t[0] == '-' || t[0] == '[')
}

// locatePatch finds the last patch that writes field, and where.
func (k *kustSource) locatePatch(field, container string) (Location, bool) {
	path := parseFieldPath(field)
	for i := len(k.patches) - 1; i >= 0; i-- {
		p := k.patches[i]
		if line, ok := p.find(path, container); ok {
			return Location{File: p.file, Line: p.line, FieldLine: p.startLine + line - 1}, true
		}
	}
	return Location{}, false
}

// find returns the line (relative to the patch text) where the patch writes
// the whole of path.
func (p *patchDoc) find(path []pathSeg, container string) (int, bool) {
	if !p.parsed {
		p.parsed = true
		if rn, err := kyaml.Parse(string(p.data)); err == nil {
			p.node = rn.YNode()
		}
	}
	if p.node == nil {
		return 0, false
	}
	if !p.json6902 {
		return walkField(p.node, path, container)
	}
	// A JSON patch writes a field when an operation's path is the field or
	// a parent of it whose value holds the rest.
	ops := deref(p.node)
	if ops.Kind != kyaml.SequenceNode {
		return 0, false
	}
	for i := len(ops.Content) - 1; i >= 0; i-- {
		op := deref(ops.Content[i])
		opPath := mapValue(op, "path")
		kind := mapValue(op, "op")
		if opPath == nil || kind == nil || (kind.Value != "add" && kind.Value != "replace" && kind.Value != "copy" && kind.Value != "move") {
			continue
		}
		segs := pointerSegs(opPath.Value)
		if len(segs) > len(path) || !samePrefix(segs, path) {
			continue
		}
		if len(segs) == len(path) {
			return opPath.Line, true
		}
		if v := mapValue(op, "value"); v != nil {
			if line, ok := walkField(v, path[len(segs):], container); ok {
				return line, true
			}
		}
	}
	return 0, false
}

// pointerSegs splits a JSON pointer (/spec/template/spec/containers/0).
func pointerSegs(p string) []pathSeg {
	var segs []pathSeg
	for _, part := range strings.Split(strings.TrimPrefix(p, "/"), "/") {
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		if n, err := strconv.Atoi(part); err == nil {
			segs = append(segs, pathSeg{index: n})
		} else {
			segs = append(segs, pathSeg{key: part, index: -1})
		}
	}
	return segs
}

func samePrefix(prefix, path []pathSeg) bool {
	for i, s := range prefix {
		if s != path[i] {
			return false
		}
	}
	return true
}
