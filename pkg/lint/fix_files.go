package lint

import (
	"bytes"
	"fmt"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	"strings"
)

// FileFix is the result of fixing one file.
type FileFix struct {
	File    string
	Content []byte
	Changed bool
	Changes []Change
	// Notes are objects of the file --fix could not rewrite, and why.
	Notes []string
}

// FixFiles rewrites the files of loaded for the fixable findings. Only the
// documents that change are re-encoded; every other byte of a file is kept.
// Files are returned in the order they were read.
func FixFiles(loaded *Loaded, findings []Finding, drainSeconds int) ([]FileFix, error) {
	type key struct {
		file string
		line int
	}
	byObject := map[key][]Finding{}
	for _, fd := range findings {
		if Fixable(fd.Rule) && fd.File != "" {
			k := key{fd.File, fd.Line}
			byObject[k] = append(byObject[k], fd)
		}
	}
	var order []string
	seen := map[string]bool{}
	renderedBy := map[string]string{}
	for _, o := range loaded.Objects {
		if o.Source.File != "" && !seen[o.Source.File] {
			seen[o.Source.File] = true
			order = append(order, o.Source.File)
		}
		if o.rendered != "" && o.Source.File != "" {
			renderedBy[o.Source.File] = o.rendered
		}
	}
	var out []FileFix
	for _, file := range order {
		src := file
		if file == "-" {
			src = stdinSource
		}
		data, ok := loaded.Files[src]
		ff := FileFix{File: file, Content: data}
		if by := renderedBy[file]; by != "" && !ok {
			// A Helm template or a kustomize resource: what the linter read
			// is not the file. Only worth a note when it has findings.
			for k := range byObject {
				if k.file == file {
					ff.Notes = append(ff.Notes, renderedNote(file, by))
					break
				}
			}
			out = append(out, ff)
			continue
		}
		if !ok {
			ff.Notes = append(ff.Notes, fmt.Sprintf("%s: not a local file, not rewritten", file))
			out = append(out, ff)
			continue
		}
		body := bytes.TrimPrefix(data, bom)
		docs := splitDocuments(body)
		var buf bytes.Buffer
		buf.Write(data[:len(data)-len(body)])
		pos := 0
		for _, d := range docs {
			fds := byObject[key{file, d.line}]
			if len(fds) == 0 {
				continue
			}
			start := offsetOf(body, d.data)
			if d.json {
				ff.Notes = append(ff.Notes, fmt.Sprintf("%s:%d: JSON documents are not rewritten", file, d.line))
				continue
			}
			fixed, changes, err := fixDocument(d.data, fds, drainSeconds)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %w", file, d.line, err)
			}
			if len(changes) == 0 {
				continue
			}
			buf.Write(body[pos:start])
			buf.Write(fixed)
			pos = start + len(d.data)
			ff.Changed = true
			for _, c := range changes {
				ff.Changes = append(ff.Changes, Change{Kind: fds[0].Kind, Namespace: fds[0].Namespace, Name: fds[0].Name, Source: Source{File: file, Line: d.line}, Description: c})
			}
		}
		if ff.Changed {
			buf.Write(body[pos:])
			ff.Content = buf.Bytes()
		}
		out = append(out, ff)
	}
	return out, nil
}

// offsetOf is the offset of sub, a subslice of data.
func offsetOf(data, sub []byte) int {
	if len(sub) == 0 {
		return 0
	}
	return cap(data) - cap(sub)
}

// fixDocument fixes one YAML document and re-encodes it in its own
// sequence-indent style. A document that is a kind List is left alone.
func fixDocument(doc []byte, findings []Finding, drainSeconds int) ([]byte, []string, error) {
	node, err := kyaml.Parse(string(doc))
	if err != nil {
		return nil, nil, err
	}
	kind := node.GetKind()
	if strings.HasSuffix(kind, "List") {
		return nil, nil, nil
	}
	changes, err := FixNode(node, kind, findings, drainSeconds)
	if err != nil || len(changes) == 0 {
		return nil, nil, err
	}
	style := kyaml.DeriveSeqIndentStyle(string(doc))
	out, err := kyaml.MarshalWithOptions(node.Document(), &kyaml.EncoderOptions{SeqIndent: kyaml.SequenceIndentStyle(style)})
	if err != nil {
		return nil, nil, err
	}
	// Keep the comment lines and blank lines that came before the object,
	// which the encoder may drop or move.
	lead := doc[:leadingLen(doc)]
	if !bytes.HasPrefix(out, bytes.TrimLeft(lead, "\n")) {
		out = append(append([]byte{}, lead...), bytes.TrimLeft(stripLeadingComments(out), "\n")...)
	}
	if !bytes.HasSuffix(doc, []byte("\n")) {
		out = bytes.TrimSuffix(out, []byte("\n"))
	}
	return out, changes, nil
}

// leadingLen is the length of the blank and comment lines a document starts
// with.
func leadingLen(doc []byte) int {
	n := 0
	for n < len(doc) {
		end := bytes.IndexByte(doc[n:], '\n')
		line := doc[n:]
		if end >= 0 {
			line = doc[n : n+end+1]
		}
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			break
		}
		n += len(line)
	}
	return n
}

func stripLeadingComments(doc []byte) []byte { return doc[leadingLen(doc):] }

// intNode is an integer scalar (tagged, so that it decodes as a number).
func intNode(v string) *kyaml.RNode {
	n := kyaml.NewScalarRNode(v)
	n.YNode().Tag = kyaml.NodeTagInt
	return n
}

// parseNode parses one YAML object for FixNode.
func parseNode(s string) (*kyaml.RNode, error) { return kyaml.Parse(s) }
