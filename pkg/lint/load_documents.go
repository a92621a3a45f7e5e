package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"io"
	"regexp"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
	"strconv"
	"strings"
)

// document is one non-empty document of a file: its bytes and the line
// (1-based) of its first significant line.
type document struct {
	data []byte
	// startLine is the file line of data's first byte.
	startLine int
	// line is the line the object starts on (first line that is not blank
	// or a comment).
	line int
	json bool
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// splitDocuments splits a file into the documents the builder decodes, in
// the same order, without parsing YAML: a JSON stream is split with a JSON
// decoder, YAML on "---" lines exactly as apimachinery's YAMLReader does.
// Documents that hold only blanks and comments are left out, as the builder
// leaves them out.
func splitDocuments(data []byte) []document {
	data = bytes.TrimPrefix(data, bom)
	if docs, ok := splitJSON(data); ok {
		return docs
	}
	return splitYAML(data, significant)
}

func splitJSON(data []byte) ([]document, bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var docs []document
	for {
		var raw json.RawMessage
		start := dec.InputOffset()
		if err := dec.Decode(&raw); err != nil {
			if err == io.EOF {
				return docs, true
			}
			return nil, false
		}
		// skip whitespace between the previous value and this one
		off := int(start)
		for off < len(data) && (data[off] == ' ' || data[off] == '\t' || data[off] == '\r' || data[off] == '\n') {
			off++
		}
		l := 1 + bytes.Count(data[:off], []byte("\n"))
		docs = append(docs, document{data: raw, startLine: l, line: l, json: true})
	}
}

// splitYAML splits on lines starting with "---" and keeps the documents keep
// says are not empty.
func splitYAML(data []byte, keep func([]byte) bool) []document {
	var docs []document
	lineNo := 0
	docStart, docStartLine := 0, 1
	flush := func(end int) {
		chunk := data[docStart:end]
		if len(chunk) > 0 && keep(chunk) {
			docs = append(docs, document{data: chunk, startLine: docStartLine, line: docStartLine + firstSignificantLine(chunk)})
		}
	}
	for pos := 0; pos < len(data); {
		lineNo++
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		if bytes.HasPrefix(data[pos:], []byte("---")) {
			flush(pos)
			docStart, docStartLine = next, lineNo+1
		}
		pos = next
	}
	flush(len(data))
	return docs
}

// significant reports whether a YAML document holds anything but blank
// lines, comments and document markers.
func significant(doc []byte) bool {
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("...")) {
			continue
		}
		if bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("~")) {
			continue
		}
		return true
	}
	return false
}

// firstSignificantLine is the 0-based index of a document's first line that
// is neither blank nor a comment.
func firstSignificantLine(doc []byte) int {
	n := 0
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return n
		}
		n++
	}
	return 0
}

var yamlLineRE = regexp.MustCompile(`line (\d+): `)

// explainLoadError turns a decoding error into a usage error that names the
// file and the line of the problem: the decoder's own messages give lines
// relative to the document, or none at all.
func explainLoadError(err error, src string, data []byte) error {
	var loc located
	if errors.As(err, &loc) {
		return exitcode.UsageError(err)
	}
	if perr := checkDocuments(src, data); perr != nil {
		return exitcode.UsageError(perr)
	}
	name := src
	if src == stdinSource {
		name = "-"
	}
	return exitcode.UsageError(fmt.Errorf("%s: %w", name, err))
}

// checkDocuments parses a file document by document, as the builder does,
// and returns the first problem with its file line.
func checkDocuments(src string, data []byte) error {
	name := src
	if src == stdinSource {
		name = "-"
	}
	data = bytes.TrimPrefix(data, bom)
	if docs, ok := splitJSON(data); ok {
		for _, d := range docs {
			if err := checkObject(d.data); err != nil {
				return fmt.Errorf("%s:%d: %w", name, d.line, err)
			}
		}
		return nil
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				if err == io.EOF {
					break
				}
				off := int(dec.InputOffset())
				var se *json.SyntaxError
				if errors.As(err, &se) {
					off = int(se.Offset)
				} else if errors.Is(err, io.ErrUnexpectedEOF) {
					off = len(bytes.TrimRight(data, " \t\r\n"))
				}
				if off > len(data) {
					off = len(data)
				}
				return fmt.Errorf("%s:%d: malformed JSON: %w", name, 1+bytes.Count(data[:off], []byte("\n")), err)
			}
		}
	}
	for pos, lineNo := 0, 1; pos < len(data); lineNo++ {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		line := data[pos:next]
		if bytes.HasPrefix(line, []byte("---")) {
			rest := strings.TrimSpace(string(line[3:]))
			if rest != "" && rest[0] != '#' {
				return fmt.Errorf("%s:%d: malformed YAML: invalid document separator %q", name, lineNo, strings.TrimSpace(string(line)))
			}
		}
		pos = next
	}
	for _, d := range splitYAML(data, func([]byte) bool { return true }) {
		j, err := sigsyaml.YAMLToJSON(d.data)
		if _, skipped := unconvertible(&d, name); err != nil && skipped {
			continue
		}
		if err != nil {
			line := d.line
			text := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
			text = strings.TrimPrefix(text, "yaml: ")
			if m := yamlLineRE.FindStringSubmatchIndex(text); m != nil {
				n, _ := strconv.Atoi(text[m[2]:m[3]])
				line = d.startLine + n - 1
				text = text[:m[0]] + text[m[1]:]
			}
			return fmt.Errorf("%s:%d: malformed YAML: %s", name, line, text)
		}
		j = bytes.TrimSpace(j)
		if len(j) == 0 || bytes.Equal(j, []byte("null")) {
			continue
		}
		if err := checkObject(j); err != nil {
			return fmt.Errorf("%s:%d: %w", name, d.line, err)
		}
	}
	return nil
}

// checkSeparators rejects a "---" line followed by anything but a comment,
// as apimachinery's YAML reader does.
func checkSeparators(src string, data []byte) error {
	name := src
	if src == stdinSource {
		name = "-"
	}
	for pos, lineNo := 0, 1; pos < len(data); lineNo++ {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		if line := data[pos:next]; bytes.HasPrefix(line, []byte("---")) {
			rest := strings.TrimSpace(string(line[3:]))
			if rest != "" && rest[0] != '#' {
				return fmt.Errorf("%s:%d: malformed YAML: invalid document separator %q", name, lineNo, strings.TrimSpace(string(line)))
			}
		}
		pos = next
	}
	return nil
}

// checkObject checks a decoded document: only an object of a kind the
// linter reads that lacks its apiVersion is a problem; other documents
// without an apiVersion or a kind are skipped with a note.
func checkObject(j []byte) error {
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil
	}
	kind, _ := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	_, err := missingIdentity(apiVersion, kind)
	return err
}

// listItemLines returns the file line of every item of a kind List document.
func listItemLines(doc *document) []int {
	node, err := kyaml.Parse(string(doc.data))
	if err != nil {
		return nil
	}
	items, err := node.Pipe(kyaml.Lookup("items"))
	if err != nil || items == nil || items.YNode().Kind != kyaml.SequenceNode {
		return nil
	}
	var lines []int
	for _, item := range items.YNode().Content {
		lines = append(lines, doc.startLine+item.Line-1)
	}
	return lines
}
