package lint

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// JSON schema (docs/lint-json.md). Field names and meanings are stable
// within apiVersion zdd.dev/v1: new fields may be added, none removed.

// JSONReport is the document `kubectl zdd lint -o json` prints.
type JSONReport struct {
	APIVersion string        `json:"apiVersion"`
	Kind       string        `json:"kind"`
	Summary    JSONSummary   `json:"summary"`
	Skipped    []JSONSkipped `json:"skipped"`
	Findings   []Finding     `json:"findings"`
}

// JSONSummary counts what was audited and found.
type JSONSummary struct {
	Objects  int      `json:"objects"`
	Skipped  int      `json:"skipped"`
	Findings int      `json:"findings"`
	Errors   int      `json:"errors"`
	Warnings int      `json:"warnings"`
	Infos    int      `json:"infos"`
	FailOn   Severity `json:"failOn"`
	Failed   bool     `json:"failed"`
}

// JSONSkipped is an object that was not audited, and why.
type JSONSkipped struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Name       string `json:"name"`
	File       string `json:"file,omitempty"`
	Line       int    `json:"line,omitempty"`
	Reason     string `json:"reason"`
}

// JSON returns the report as its JSON document.
func (r *Report) JSON() JSONReport {
	e, wn, in := r.Counts()
	findings, skipped := r.relative()
	out := JSONReport{
		APIVersion: "zdd.dev/v1",
		Kind:       "LintReport",
		Summary: JSONSummary{
			Objects: r.Objects, Skipped: len(r.Skipped), Findings: len(r.Findings),
			Errors: e, Warnings: wn, Infos: in, FailOn: r.FailOn, Failed: r.Failed(),
		},
		Skipped:  []JSONSkipped{},
		Findings: findings,
	}
	if out.Findings == nil {
		out.Findings = []Finding{}
	}
	for _, s := range skipped {
		out.Skipped = append(out.Skipped, JSONSkipped{
			APIVersion: s.APIVersion, Kind: s.Kind, Namespace: s.Namespace, Name: s.Name,
			File: s.Source.File, Line: s.Source.Line, Reason: s.Reason,
		})
	}
	return out
}

// WriteJSON prints the report as indented JSON (what encoding/json's
// indenting encoder prints for JSON()), one finding at a time, so that a
// big report is never held in memory twice.
func (r *Report) WriteJSON(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	doc := r.JSON()
	head, err := json.MarshalIndent(struct {
		APIVersion string      `json:"apiVersion"`
		Kind       string      `json:"kind"`
		Summary    JSONSummary `json:"summary"`
	}{doc.APIVersion, doc.Kind, doc.Summary}, "", "  ")
	if err != nil {
		return err
	}
	bw.Write(head[:len(head)-2]) // without "\n}"
	writeArray := func(name string, n int, item func(i int) any) error {
		fmt.Fprintf(bw, ",\n  %q: [", name)
		for i := 0; i < n; i++ {
			b, err := json.MarshalIndent(item(i), "    ", "  ")
			if err != nil {
				return err
			}
			if i > 0 {
				bw.WriteByte(',')
			}
			bw.WriteString("\n    ")
			bw.Write(b)
		}
		if n > 0 {
			bw.WriteString("\n  ")
		}
		bw.WriteByte(']')
		return nil
	}
	if err := writeArray("skipped", len(doc.Skipped), func(i int) any { return doc.Skipped[i] }); err != nil {
		return err
	}
	bw.WriteString(",\n  \"findings\": [")
	var buf []byte
	for i := range doc.Findings {
		if i > 0 {
			bw.WriteByte(',')
		}
		buf = appendFindingJSON(buf[:0], &doc.Findings[i])
		bw.Write(buf)
	}
	if len(doc.Findings) > 0 {
		bw.WriteString("\n  ")
	}
	bw.WriteString("]\n}\n")
	return bw.Flush()
}

// appendFindingJSON writes a finding as an element of the findings array,
// exactly as encoding/json's indenting encoder writes it (a test compares
// the two), without reflection.
func appendFindingJSON(b []byte, f *Finding) []byte {
	field := func(name, v string, omitEmpty bool) {
		if omitEmpty && v == "" {
			return
		}
		b = append(b, ",\n      \""...)
		b = append(b, name...)
		b = append(b, "\": "...)
		b = appendEncodedString(b, v)
	}
	num := func(name string, v int) {
		if v == 0 {
			return
		}
		b = append(b, ",\n      \""...)
		b = append(b, name...)
		b = append(b, "\": "...)
		b = strconv.AppendInt(b, int64(v), 10)
	}
	b = append(b, "\n    {\n      \"rule\": "...)
	b = appendEncodedString(b, f.Rule)
	field("severity", f.Severity.String(), false)
	field("kind", f.Kind, false)
	field("namespace", f.Namespace, true)
	field("name", f.Name, false)
	field("container", f.Container, true)
	field("field", f.Field, false)
	field("message", f.Message, false)
	field("hint", f.Hint, false)
	field("file", f.File, true)
	num("line", f.Line)
	num("fieldLine", f.FieldLine)
	return append(b, "\n    }"...)
}

// appendEncodedString writes s as encoding/json does (HTML characters
// escaped); strings with control or non-ASCII characters are left to
// encoding/json itself.
func appendEncodedString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 {
			j, _ := json.Marshal(s)
			return append(b, j...)
		}
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '"':
			esc = `\"`
		case '\\':
			esc = `\\`
		case '<':
			esc = `\u003c`
		case '>':
			esc = `\u003e`
		case '&':
			esc = `\u0026`
		default:
			continue
		}
		b = append(b, s[start:i]...)
		b = append(b, esc...)
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
