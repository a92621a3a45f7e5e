package lint

import (
	"strconv"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// Location is where a finding is reported: the file and the line of the
// document it is about (the object's document, or for kustomize output the
// patch that set the field at fault), and the line of the field itself.
type Location struct {
	File      string
	Line      int
	FieldLine int
}

// docRef is the document an object was read from, kept with the object so
// that a finding on it can name the line of its field. The document is
// parsed (once) only when a finding asks for a line.
type docRef struct {
	// file is the name findings carry (a path as given or walked, "-").
	file string
	// data is the document (a slice of the file's bytes), startLine the
	// file line of its first byte, line the line the object starts on.
	data      []byte
	startLine int
	line      int

	// fast is set when the document is plain block YAML (fastYAMLToJSON
	// took it): its fields are then found without parsing it again.
	fast  bool
	lines *fastParser // the lines of a fast document, split once

	// kust is set for objects of a kustomize build: the patches that may
	// have set a field are searched before the resource's own file.
	kust *kustSource

	parsed bool
	node   *kyaml.Node // the object's mapping, nil when the document cannot be parsed

	// lineMap, when set, turns a line of data's file into a line of another
	// file: a Helm template's output into the template's own lines.
	lineMap func(int) int
}

// locate returns where a finding on field (of container, when the field is
// under a container) is reported.
func (d *docRef) locate(field, container string) Location {
	loc := d.locateIn(field, container)
	if d.lineMap != nil {
		loc.Line, loc.FieldLine = d.lineMap(loc.Line), d.lineMap(loc.FieldLine)
	}
	return loc
}

func (d *docRef) locateIn(field, container string) Location {
	if d.kust != nil {
		if loc, ok := d.kust.locatePatch(field, container); ok {
			return loc
		}
	}
	loc := Location{File: d.file, Line: d.line, FieldLine: d.line}
	if d.data == nil {
		return loc
	}
	if d.fast && d.line == d.startLine+firstSignificantLine(d.data) {
		if d.lines == nil {
			d.lines = newLineIndex(d.data)
		}
		if l := fastFieldLine(d.lines, parseFieldPath(field), container); l > 0 {
			loc.FieldLine = d.startLine + l - 1
		}
		return loc
	}
	if n := d.object(); n != nil {
		if l := fieldLine(n, field, container); l > 0 {
			loc.FieldLine = d.startLine + l - 1
		}
	}
	return loc
}

// object parses the document and returns the mapping of the object (the
// document's root, or the item of a kind List that starts on d.line).
func (d *docRef) object() *kyaml.Node {
	if d.parsed {
		return d.node
	}
	d.parsed = true
	d.node = objectNode(d.data, d.line-d.startLine+1)
	return d.node
}

// objectNode parses doc and returns the mapping that starts on line (1-based,
// relative to doc): the root, or an item of the root's items list.
func objectNode(doc []byte, line int) *kyaml.Node {
	rn, err := kyaml.Parse(string(doc))
	if err != nil {
		return nil
	}
	root := rn.YNode()
	if root.Kind != kyaml.MappingNode {
		return nil
	}
	if root.Line == line {
		return root
	}
	if items := mapValue(root, "items"); items != nil && items.Kind == kyaml.SequenceNode {
		for _, it := range items.Content {
			if it.Line == line && it.Kind == kyaml.MappingNode {
				return it
			}
		}
	}
	return root
}

// pathSeg is one step of a field path: a key, or an index in a list.
type pathSeg struct {
	key   string
	index int // -1 for a key
}

// parseFieldPath splits "spec.template.spec.containers[0].readinessProbe".
func parseFieldPath(field string) []pathSeg {
	var segs []pathSeg
	for _, part := range strings.Split(field, ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				segs = append(segs, pathSeg{key: part, index: -1})
				break
			}
			if i > 0 {
				segs = append(segs, pathSeg{key: part[:i], index: -1})
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				return segs
			}
			n, err := strconv.Atoi(part[i+1 : i+j])
			if err != nil {
				return segs
			}
			segs = append(segs, pathSeg{index: n})
			part = part[i+j+1:]
		}
	}
	return segs
}

// fieldLine is the line (relative to the parsed document) of field in obj:
// the line of its key, or of the closest parent written there when the field
// itself is not (a default, or a missing probe). An item of containers or
// initContainers is found by its name when container is given (a patch, or
// kustomize, may order them differently), else by its index. 0 when not
// even the first step is there.
func fieldLine(obj *kyaml.Node, field, container string) int {
	line, _ := walkField(obj, parseFieldPath(field), container)
	return line
}

// walkField follows path from n and returns the line of the deepest step
// found, and whether every step was found.
func walkField(n *kyaml.Node, path []pathSeg, container string) (int, bool) {
	line := 0
	prevKey := ""
	for _, s := range path {
		n = deref(n)
		if n == nil {
			return line, false
		}
		if s.index < 0 {
			if n.Kind != kyaml.MappingNode {
				return line, false
			}
			k, v := mapEntry(n, s.key)
			if k == nil {
				return line, false
			}
			line, n, prevKey = k.Line, v, s.key
			continue
		}
		if n.Kind != kyaml.SequenceNode {
			return line, false
		}
		var item *kyaml.Node
		if container != "" && (prevKey == "containers" || prevKey == "initContainers") {
			for _, it := range n.Content {
				if v := mapValue(deref(it), "name"); v != nil && v.Value == container {
					item = it
					break
				}
			}
		} else if s.index < len(n.Content) {
			item = n.Content[s.index]
		}
		if item == nil {
			return line, false
		}
		line, n = item.Line, item
	}
	return line, true
}

func deref(n *kyaml.Node) *kyaml.Node {
	for n != nil && n.Kind == kyaml.AliasNode {
		n = n.Alias
	}
	return n
}

// mapEntry returns the key and value nodes of key in mapping m.
func mapEntry(m *kyaml.Node, key string) (*kyaml.Node, *kyaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func mapValue(m *kyaml.Node, key string) *kyaml.Node {
	if m == nil || m.Kind != kyaml.MappingNode {
		return nil
	}
	_, v := mapEntry(m, key)
	return deref(v)
}
