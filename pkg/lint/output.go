package lint

import (
	"fmt"
	"io"
	"path/filepath"
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
