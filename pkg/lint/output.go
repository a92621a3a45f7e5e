package lint

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

// Output formats of `kubectl zdd lint -o`.
const (
	// FormatTable is the findings grouped by object, one block per
	// finding, wrapped to the terminal's width.
	FormatTable = "table"
	// FormatWide is one table per object with a column per field, as
	// wide as its longest message.
	FormatWide  = "wide"
	FormatJSON  = "json"
	FormatSARIF = "sarif"
)

// Formats lists the accepted -o values.
var Formats = []string{FormatTable, FormatWide, FormatJSON, FormatSARIF}

// Report is the result of one lint run, ready to print.
type Report struct {
	// Objects is how many objects were audited.
	Objects  int
	Skipped  []Skipped
	Findings []Finding
	// FailOn is the lowest severity that fails the run (--fail-on).
	FailOn Severity
	// ToolVersion is the version printed in SARIF's driver.
	ToolVersion string
	// Root is the absolute folder that file paths are written relative to,
	// in every format (SARIF's %SRCROOT%); WorkDir is the absolute folder
	// that relative paths of findings are relative to (the current
	// directory). Either may be empty: paths are then written as they are.
	Root    string
	WorkDir string
	// Width is the columns the table format may take (0: 80); Color lets
	// it colour severities and titles with ANSI escapes (a terminal that
	// NO_COLOR does not forbid).
	Width int
	Color bool
}

// RelPath is how a report writes a finding's file: relative to root when
// the file is under it, whatever form it was given in; otherwise as it was
// given when root is the working directory, else absolute. Standard input
// ("-") and URLs are kept.
func RelPath(file, root, workDir string) string {
	if file == "" || file == "-" || strings.HasPrefix(file, "http://") || strings.HasPrefix(file, "https://") || root == "" {
		return file
	}
	abs := file
	if !filepath.IsAbs(file) {
		if workDir == "" {
			workDir = root
		}
		abs = filepath.Join(workDir, file)
	}
	if rel, err := filepath.Rel(root, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return rel
	}
	if !filepath.IsAbs(file) && (workDir == "" || workDir == root) {
		return filepath.Clean(file)
	}
	return abs
}

// relative returns the findings and skipped objects with their files
// written relative to the report's root.
func (r *Report) relative() ([]Finding, []Skipped) {
	if r.Root == "" {
		return r.Findings, r.Skipped
	}
	rel := map[string]string{}
	fs := make([]Finding, len(r.Findings))
	for i, f := range r.Findings {
		p, ok := rel[f.File]
		if !ok {
			p = RelPath(f.File, r.Root, r.WorkDir)
			rel[f.File] = p
		}
		f.File = p
		fs[i] = f
	}
	sk := make([]Skipped, len(r.Skipped))
	for i, s := range r.Skipped {
		s.Source.File = RelPath(s.Source.File, r.Root, r.WorkDir)
		sk[i] = s
	}
	return fs, sk
}

// Failed reports whether a finding is at or above FailOn.
func (r *Report) Failed() bool {
	for _, f := range r.Findings {
		if f.Severity >= r.FailOn {
			return true
		}
	}
	return false
}

// Counts returns the number of findings of each severity.
func (r *Report) Counts() (errors, warnings, infos int) {
	for _, f := range r.Findings {
		switch f.Severity {
		case Error:
			errors++
		case Warning:
			warnings++
		default:
			infos++
		}
	}
	return
}

// Write prints the report in the given format.
func (r *Report) Write(w io.Writer, format string) error {
	switch format {
	case FormatTable, "":
		return r.WriteTable(w)
	case FormatWide:
		return r.WriteWide(w)
	case FormatJSON:
		return r.WriteJSON(w)
	case FormatSARIF:
		return r.WriteSARIF(w)
	}
	return fmt.Errorf("unknown output format %q (want %s)", format, strings.Join(Formats, ", "))
}

// findingGroup is the findings of one object (of one file).
type findingGroup struct {
	title    string
	findings []Finding
}

// groups gathers the findings by object, in the order objects first come.
func (r *Report) groups() []*findingGroup {
	var groups []*findingGroup
	index := map[string]*findingGroup{}
	findings, _ := r.relative()
	for _, f := range findings {
		key := f.Kind + "\x00" + f.Namespace + "\x00" + f.Name + "\x00" + f.File
		g, ok := index[key]
		if !ok {
			g = &findingGroup{title: objectTitle(f)}
			index[key] = g
			groups = append(groups, g)
		}
		g.findings = append(g.findings, f)
	}
	return groups
}

// ANSI escapes of the table format's colours.
const (
	ansiBold   = "\x1b[1m"
	ansiRed    = "\x1b[1;31m"
	ansiYellow = "\x1b[33m"
	ansiCyan   = "\x1b[36m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

// tableIndent is where a finding's message, field and hint start: after
// the severity column.
const tableIndent = 11

// WriteTable prints the findings grouped by object, one block per
// finding, every line within r.Width columns (kube-score's human output is
// the model):
//
//	Deployment shop/web (deploy/app.yaml:2)
//	  error    max-unavailable-nonzero
//	           Deployment "shop/web" updates with maxUnavailable 1, which is
//	           all 1 of its pods
//	           at spec.strategy.rollingUpdate.maxUnavailable (line 14)
//	           hint: set rollingUpdate maxUnavailable: 0 and maxSurge: 1
//
// followed by the summary line. With r.Color the title is bold and the
// severity coloured.
func (r *Report) WriteTable(w io.Writer) error {
	width := r.Width
	if width <= 0 {
		width = terminal.DefaultWidth
	}
	textW := max(width-tableIndent, 20)
	pad := strings.Repeat(" ", tableIndent)
	paint := func(code, s string) string {
		if !r.Color {
			return s
		}
		return code + s + ansiReset
	}
	var b strings.Builder
	for i, g := range r.groups() {
		if i > 0 {
			b.WriteByte('\n')
		}
		for _, l := range terminal.Wrap(g.title, width) {
			b.WriteString(paint(ansiBold, l) + "\n")
		}
		for _, f := range g.findings {
			sev := f.Severity.String()
			head := "  " + paint(severityColor(f.Severity), sev) + strings.Repeat(" ", max(tableIndent-2-len(sev), 1)) + f.Rule
			headW := tableIndent + terminal.StringWidth(f.Rule)
			at := ""
			if f.Field != "" {
				at = "at " + f.Field
			}
			if f.Container != "" {
				if c := "  container " + f.Container; headW+terminal.StringWidth(c) <= width {
					head += c
				} else {
					at = strings.TrimSpace(at + " (container " + f.Container + ")")
				}
			}
			if f.FieldLine > 0 {
				at = strings.TrimSpace(at + " (line " + strconv.Itoa(f.FieldLine) + ")")
			}
			b.WriteString(head + "\n")
			block := func(text, label string) {
				for j, l := range terminal.Wrap(label+text, textW) {
					if j == 0 && label != "" && strings.HasPrefix(l, label) {
						l = paint(ansiDim, strings.TrimSuffix(label, " ")) + " " + strings.TrimPrefix(l, label)
					}
					b.WriteString(pad + l + "\n")
				}
			}
			block(f.Message, "")
			if at != "" {
				block(at, "")
			}
			if f.Hint != "" {
				block(f.Hint, "hint: ")
			}
		}
	}
	if len(r.Findings) > 0 {
		b.WriteByte('\n')
	}
	for _, l := range terminal.Wrap(r.summaryLine(), width) {
		b.WriteString(l + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func severityColor(s Severity) string {
	switch s {
	case Error:
		return ansiRed
	case Warning:
		return ansiYellow
	}
	return ansiCyan
}

// WriteWide prints the findings grouped by object, one table per object
// (severity, rule, container, field, message, hint), followed by a summary
// line; each table is as wide as its longest cells.
func (r *Report) WriteWide(w io.Writer) error {
	groups := r.groups()
	for i, g := range groups {
		if i > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		if _, err := fmt.Fprintln(w, g.title); err != nil {
			return err
		}
		rows := make([][]string, 0, len(g.findings))
		for _, f := range g.findings {
			container := f.Container
			if container == "" {
				container = "-"
			}
			rows = append(rows, []string{f.Severity.String(), f.Rule, container, f.Field, f.Message, f.Hint})
		}
		if err := writeTable(w, tableHeader, rows); err != nil {
			return err
		}
	}
	if len(groups) > 0 {
		if _, err := fmt.Fprintln(w); err != nil {
			return err
		}
	}
	_, err := fmt.Fprintln(w, r.summaryLine())
	return err
}

// tableHeader heads the table of an object's findings.
var tableHeader = []string{"SEVERITY", "RULE", "CONTAINER", "FIELD", "MESSAGE", "HINT"}

func objectTitle(f Finding) string {
	name := f.Name
	if f.Namespace != "" {
		name = f.Namespace + "/" + f.Name
	}
	title := f.Kind + " " + name
	if f.File != "" {
		title += " (" + f.File
		if f.Line > 0 {
			title += ":" + strconv.Itoa(f.Line)
		}
		title += ")"
	}
	return title
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func (r *Report) summaryLine() string {
	e, wn, in := r.Counts()
	s := plural(r.Objects, "object", "objects") + " audited"
	if len(r.Skipped) > 0 {
		s += ", " + plural(len(r.Skipped), "skipped", "skipped")
	}
	if len(r.Findings) == 0 {
		return s + ": no findings"
	}
	s += ": " + plural(e, "error", "errors") + ", " + plural(wn, "warning", "warnings") + ", " + plural(in, "info", "infos")
	if r.Failed() {
		s += " (failing on " + r.FailOn.String() + ")"
	}
	return s
}

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

// SARIF 2.1.0 (https://docs.oasis-open.org/sarif/sarif/v2.1.0/): only the
// parts code-scanning tools read.

const (
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	sarifVersion = "2.1.0"
	// InformationURI is the project's home, printed in SARIF's driver.
	InformationURI = "https://github.com/zdd-dev/kubectl-zdd"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool               sarifTool                `json:"tool"`
	OriginalURIBaseIDs map[string]sarifArtifact `json:"originalUriBaseIds,omitempty"`
	Results            []sarifResult            `json:"results"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version"`
	InformationURI string      `json:"informationUri"`
	Rules          []sarifRule `json:"rules"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name"`
	ShortDescription     sarifText      `json:"shortDescription"`
	Help                 sarifText      `json:"help"`
	DefaultConfiguration sarifRuleLevel `json:"defaultConfiguration"`
}

type sarifRuleLevel struct {
	Level string `json:"level"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           *int              `json:"ruleIndex,omitempty"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
}

type sarifLocation struct {
	PhysicalLocation *sarifPhysical `json:"physicalLocation,omitempty"`
	LogicalLocations []sarifLogical `json:"logicalLocations,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI         string     `json:"uri,omitempty"`
	URIBaseID   string     `json:"uriBaseId,omitempty"`
	Description *sarifText `json:"description,omitempty"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

type sarifLogical struct {
	FullyQualifiedName string `json:"fullyQualifiedName"`
	Kind               string `json:"kind"`
}

// sarifLevel maps a severity to SARIF's level.
func sarifLevel(s Severity) string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	}
	return "note"
}

// srcRoot is the uriBaseId of the files under the report's root.
const srcRoot = "%SRCROOT%"

// FingerprintKey names the partialFingerprints entry of each result.
const FingerprintKey = "zddFinding/v1"

// sarifArtifactOf is a file's artifact location: a path relative to
// %SRCROOT% (the report's root) for a file under it, a file:// URI for one
// elsewhere, the URL of a remote file, "stdin" for standard input.
func sarifArtifactOf(file string, root string) sarifArtifact {
	switch {
	case file == "-":
		return sarifArtifact{URI: "stdin"}
	case strings.HasPrefix(file, "http://") || strings.HasPrefix(file, "https://"):
		return sarifArtifact{URI: file}
	case filepath.IsAbs(file):
		return sarifArtifact{URI: fileURI(file)}
	}
	rel := strings.TrimPrefix(filepath.ToSlash(filepath.Clean(file)), "./")
	if root == "" || !strings.HasPrefix(rel, "../") {
		return sarifArtifact{URI: (&url.URL{Path: rel}).EscapedPath(), URIBaseID: srcRoot}
	}
	return sarifArtifact{URI: fileURI(filepath.Join(root, file))}
}

// fileURI is the file:// URI of an absolute path (a folder's ends in /).
func fileURI(abs string) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // C:/x on Windows
	}
	return "file://" + (&url.URL{Path: p}).EscapedPath()
}

// Fingerprint identifies a finding across commits, whatever its line: a
// hash of the rule, the object (kind, namespace, name), the container and
// the field.
func Fingerprint(f Finding) string {
	h := sha256.Sum256([]byte(strings.Join([]string{f.Rule, f.Kind, f.Namespace, f.Name, f.Container, f.Field}, "\x00")))
	return hex.EncodeToString(h[:16])
}

// WriteSARIF prints the report as a SARIF 2.1.0 log whose rules are every
// rule of the linter (Rules()).
func (r *Report) WriteSARIF(w io.Writer) error {
	rules := Rules()
	sort.Slice(rules, func(i, j int) bool { return rules[i].ID < rules[j].ID })
	driver := sarifDriver{
		Name:           "kubectl-zdd",
		Version:        r.ToolVersion,
		InformationURI: InformationURI,
		Rules:          []sarifRule{},
	}
	index := map[string]int{}
	for i, ri := range rules {
		index[ri.ID] = i
		driver.Rules = append(driver.Rules, sarifRule{
			ID:                   ri.ID,
			Name:                 ri.ID,
			ShortDescription:     sarifText{Text: ri.Description},
			Help:                 sarifText{Text: ri.Hint},
			DefaultConfiguration: sarifRuleLevel{Level: sarifLevel(ri.Severity)},
		})
	}
	run := sarifRun{Tool: sarifTool{Driver: driver}, Results: []sarifResult{}}
	base := sarifArtifact{Description: &sarifText{Text: "the folder file paths are relative to (--sarif-root; by default the repository holding the current directory)"}}
	if r.Root != "" {
		base.URI = strings.TrimSuffix(fileURI(r.Root), "/") + "/"
	}
	run.OriginalURIBaseIDs = map[string]sarifArtifact{srcRoot: base}
	findings, _ := r.relative()
	seen := map[string]int{}
	for _, f := range findings {
		res := sarifResult{
			RuleID:  f.Rule,
			Level:   sarifLevel(f.Severity),
			Message: sarifText{Text: sarifMessage(f)},
		}
		if i, ok := index[f.Rule]; ok {
			i := i
			res.RuleIndex = &i
		}
		loc := sarifLocation{LogicalLocations: []sarifLogical{{FullyQualifiedName: logicalName(f), Kind: "object"}}}
		if f.File != "" {
			loc.PhysicalLocation = &sarifPhysical{ArtifactLocation: sarifArtifactOf(f.File, r.Root)}
			line := f.FieldLine
			if line == 0 {
				line = f.Line
			}
			if line > 0 {
				loc.PhysicalLocation.Region = &sarifRegion{StartLine: line}
			}
		}
		res.Locations = []sarifLocation{loc}
		// Two findings with the same identity (rule, object, container,
		// field) are told apart by their order, as code scanning's own
		// line hashes are.
		fp := Fingerprint(f)
		seen[fp]++
		res.PartialFingerprints = map[string]string{FingerprintKey: fp + ":" + strconv.Itoa(seen[fp])}
		run.Results = append(run.Results, res)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}})
}

func sarifMessage(f Finding) string {
	msg := f.Message
	if f.Hint != "" {
		msg += " Fix: " + f.Hint
	}
	return msg
}

func logicalName(f Finding) string {
	parts := []string{f.Kind}
	if f.Namespace != "" {
		parts = append(parts, f.Namespace)
	}
	parts = append(parts, f.Name)
	name := strings.Join(parts, "/")
	if f.Container != "" {
		name += "/" + f.Container
	}
	return name
}

// RepositoryRoot is the top of the git work tree that holds dir (the
// nearest folder, dir itself or a parent, with a .git entry), or dir when
// there is none. dir must be absolute.
func RepositoryRoot(dir string) string {
	for d := dir; ; {
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			return dir
		}
		d = parent
	}
}
