package gitops

import (
	"bytes"
	"sort"
	"strings"

	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
)

// setFunc sets field of the mapping m to the scalar value (nil or ""
// removes it); an empty field says that the caller changes the document's
// structure itself (adds or removes a node).
type setFunc func(m *kyaml.RNode, field string, value any) error

func removes(value any) bool { return value == nil || value == "" }

func kyamlSet(m *kyaml.RNode, field string, value any) error {
	if field == "" {
		return nil
	}
	if removes(value) {
		return m.PipeE(kyaml.Clear(field))
	}
	text, tag := scalarText(value)
	if f := m.Field(field); f != nil && f.Value != nil && f.Value.YNode().Kind == kyaml.ScalarNode {
		n := f.Value.YNode() // keeps its style and comments
		n.Value = text
		if n.ShortTag() != tag {
			n.Tag = tag
			if tag != kyaml.NodeTagString {
				n.Style = 0
			}
		}
		return nil
	}
	return m.PipeE(kyaml.SetField(field, kyaml.NewRNode(&kyaml.Node{Kind: kyaml.ScalarNode, Value: text, Tag: tag})))
}

// plainIs says whether text written plain in YAML reads as tag.
func plainIs(text, tag string) bool {
	n, err := kyaml.Parse(text)
	return err == nil && n.YNode().Kind == kyaml.ScalarNode && n.YNode().ShortTag() == tag
}

// inPlaceSetter records replacements of existing scalars by their position
// in the file; anything else marks the change structural.
type inPlaceSetter struct {
	edits      []*kyaml.Node
	values     []string
	structural bool
}

func (s *inPlaceSetter) set(m *kyaml.RNode, field string, value any) error {
	if field == "" {
		s.structural = true
		return nil
	}
	f := m.Field(field)
	switch {
	case f == nil && removes(value):
		return nil
	case f == nil || removes(value) || f.Value.YNode().Kind != kyaml.ScalarNode:
		s.structural = true
		return nil
	}
	text, tag := scalarText(value)
	n := f.Value.YNode()
	if n.Value == text && n.ShortTag() == tag {
		return nil
	}
	switch n.Style {
	case 0:
		if !plainIs(text, tag) {
			s.structural = true
			return nil
		}
	case kyaml.DoubleQuotedStyle, kyaml.SingleQuotedStyle:
		if tag != kyaml.NodeTagString || strings.ContainsAny(text, `"'\`) {
			s.structural = true
			return nil
		}
	default:
		s.structural = true
		return nil
	}
	s.edits = append(s.edits, n)
	s.values = append(s.values, text)
	return nil
}

// apply replaces each recorded scalar in data, last first.
func (s *inPlaceSetter) apply(data []byte) []byte {
	lineStart := []int{0}
	for i, b := range data {
		if b == '\n' {
			lineStart = append(lineStart, i+1)
		}
	}
	type span struct {
		from, to int
		text     string
	}
	var spans []span
	for i, n := range s.edits {
		from := lineStart[n.Line-1] + n.Column - 1
		to := from + len(n.Value)
		text := s.values[i]
		switch n.Style {
		case kyaml.DoubleQuotedStyle:
			to = from + 1 + bytes.IndexByte(data[from+1:], '"') + 1
			text = `"` + text + `"`
		case kyaml.SingleQuotedStyle:
			to = from + 1 + bytes.IndexByte(data[from+1:], '\'') + 1
			text = "'" + text + "'"
		}
		spans = append(spans, span{from, to, text})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from > spans[j].from })
	out := append([]byte(nil), data...)
	for _, sp := range spans {
		out = append(out[:sp.from], append([]byte(sp.text), out[sp.to:]...)...)
	}
	return out
}
