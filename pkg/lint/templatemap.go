package lint

import (
	"strings"
)

// A finding on an object rendered from a Helm template names a line of the
// template, not of Helm's output. The output's lines are mapped back to the
// template's by aligning the two texts:
//
//  1. Lines are compared without trailing blanks. A template line without
//     an action ("{{") matches an output line equal to it; a line with an
//     action matches an output line that starts with the text before its
//     first action, when that text is not blank ("  replicas: {{ .Values.n
//     }}" matches "  replicas: 3"), with a lower weight. The alignment is the
//     heaviest common subsequence of the two, so literal lines anchor it.
//  2. An output line left unmatched comes from an action between the
//     template lines matched before and after it: the first line there
//     that writes text of its own ("{{ toYaml .Values.probe | nindent 12
//     }}", an include), else the first line with text before an action.
//  3. Failing that (lines repeated by a range loop), the nearest template
//     line before, whose literal text or text before its action starts the
//     output line, else the template line matched before it.
//
// So a field written literally or through a value in the template is
// reported on its own line, and one written by toYaml, include or tpl on the
// line of that action (its text comes from the values or a helper, which
// the finding's message names by field).

// templateLines maps output lines (1-based) to template lines.
type templateLines struct {
	m []int // m[i] is the template line of output line i+1
}

// line maps an output line; 0 stays 0 and lines past the end map to the
// template's last mapped line.
func (t *templateLines) line(out int) int {
	if out <= 0 || len(t.m) == 0 {
		return out
	}
	if out > len(t.m) {
		return t.m[len(t.m)-1]
	}
	return t.m[out-1]
}

// maxAlignCells bounds the alignment table (template lines × output lines);
// bigger templates are aligned greedily.
const maxAlignCells = 2 << 20

type tmplLine struct {
	text   string
	action bool   // holds "{{"
	prefix string // text before the first action, trailing blanks cut
	writes bool   // an action line whose own text is blank that writes output
}

func splitTextLines(b []byte) []string {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	s = strings.TrimSuffix(s, "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t\r")
	}
	return lines
}

// controlWords are the actions that write nothing of their own.
var controlWords = []string{"if ", "else", "end", "with ", "range ", "define ", "block ", "/*", "$", "fail ", "break", "continue"}

func classify(line string) tmplLine {
	l := tmplLine{text: line}
	i := strings.Index(line, "{{")
	if i < 0 {
		return l
	}
	l.action = true
	l.prefix = strings.TrimRight(line[:i], " \t")
	if strings.TrimSpace(l.prefix) != "" {
		return l
	}
	act := strings.TrimSpace(line[i+2:])
	act = strings.TrimSpace(strings.TrimPrefix(act, "-"))
	l.writes = true
	for _, w := range controlWords {
		if strings.HasPrefix(act, w) {
			l.writes = false
			break
		}
	}
	return l
}

// weight of matching template line t with output line o (0: no match).
func weight(t *tmplLine, o string) int {
	if !t.action {
		if t.text == o {
			if strings.TrimSpace(o) == "" || strings.TrimSpace(o) == "---" {
				return 1 // blank lines and separators anchor little
			}
			return 4
		}
		return 0
	}
	p := t.prefix
	if strings.TrimSpace(p) == "" || !strings.HasPrefix(o, p) {
		return 0
	}
	if strings.Contains(p, ":") {
		return 3
	}
	return 2
}

// mapTemplateLines aligns a template with its output.
func mapTemplateLines(src, out []byte) *templateLines {
	outLines := splitTextLines(out)
	if len(src) == 0 {
		// Unknown source: lines are kept.
		m := make([]int, len(outLines))
		for i := range m {
			m[i] = i + 1
		}
		return &templateLines{m: m}
	}
	srcText := splitTextLines(src)
	tl := make([]tmplLine, len(srcText))
	for i, l := range srcText {
		tl[i] = classify(l)
	}
	n, m := len(tl), len(outLines)
	match := make([]int, m) // output line -> template line index, -1 when none
	for j := range match {
		match[j] = -1
	}
	if (n+1)*(m+1) <= maxAlignCells {
		alignDP(tl, outLines, match)
	} else {
		alignGreedy(tl, outLines, match)
	}
	res := make([]int, m)
	for j := 0; j < m; j++ {
		if match[j] >= 0 {
			res[j] = match[j] + 1
			continue
		}
		prev := -1 // template index matched before
		for k := j - 1; k >= 0; k-- {
			if match[k] >= 0 {
				prev = match[k]
				break
			}
		}
		next := n // template index matched after
		for k := j + 1; k < m; k++ {
			if match[k] >= 0 {
				next = match[k]
				break
			}
		}
		res[j] = gapLine(tl, outLines[j], prev, next) + 1
	}
	return &templateLines{m: res}
}

// gapLine picks the template line (index) an unmatched output line comes
// from, between the template lines matched around it.
func gapLine(tl []tmplLine, o string, prev, next int) int {
	for i := prev + 1; i < next; i++ {
		if tl[i].writes {
			return i
		}
	}
	for i := prev + 1; i < next; i++ {
		if tl[i].action && strings.TrimSpace(tl[i].prefix) != "" {
			return i
		}
	}
	// A line repeated by a loop: the nearest line before that starts it.
	trimmed := strings.TrimSpace(o)
	for i := prev; i >= 0 && i > prev-200; i-- {
		t := &tl[i]
		if !t.action && t.text != "" && strings.TrimSpace(t.text) == trimmed {
			return i
		}
		if p := strings.TrimSpace(t.prefix); t.action && p != "" && strings.HasPrefix(trimmed, p) {
			return i
		}
	}
	if prev >= 0 {
		return prev
	}
	if next < len(tl) {
		return next
	}
	return 0
}

// alignDP finds the heaviest common subsequence of template and output
// lines.
func alignDP(tl []tmplLine, out []string, match []int) {
	n, m := len(tl), len(out)
	w := m + 1
	dp := make([]int32, (n+1)*(m+1))
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			best := dp[(i+1)*w+j]
			if v := dp[i*w+j+1]; v > best {
				best = v
			}
			if wt := weight(&tl[i], out[j]); wt > 0 {
				if v := dp[(i+1)*w+j+1] + int32(wt); v > best {
					best = v
				}
			}
			dp[i*w+j] = best
		}
	}
	for i, j := 0, 0; i < n && j < m; {
		if wt := weight(&tl[i], out[j]); wt > 0 && dp[i*w+j] == dp[(i+1)*w+j+1]+int32(wt) {
			match[j] = i
			i++
			j++
			continue
		}
		if dp[(i+1)*w+j] >= dp[i*w+j+1] {
			i++
		} else {
			j++
		}
	}
}

// alignGreedy matches each output line with the next template line equal
// to it (literal lines only), for templates too big for alignDP.
func alignGreedy(tl []tmplLine, out []string, match []int) {
	at := map[string][]int{}
	for i := range tl {
		if !tl[i].action && strings.TrimSpace(tl[i].text) != "" {
			at[tl[i].text] = append(at[tl[i].text], i)
		}
	}
	cur := 0
	for j, o := range out {
		for _, i := range at[o] {
			if i >= cur {
				match[j] = i
				cur = i + 1
				break
			}
		}
	}
}
