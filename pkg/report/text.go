package report

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

// TextOptions say how the terminal timeline is drawn.
type TextOptions struct {
	// Width is the columns the timeline may take (the terminal's width);
	// below MinWidth it takes MinWidth.
	Width int
	// ASCII draws with ASCII characters only (--ascii, or a locale that is
	// not UTF-8: terminal.UTF8).
	ASCII bool
}

// MinWidth is the narrowest timeline drawn.
const MinWidth = 40

// glyphs are the characters of one drawing style.
type glyphs struct {
	// levels draw 0 to 8 eighths of a cell's height.
	levels [9]string
	// zero is the ready row at no ready endpoint (downtime).
	zero string
	// gap is a cell the watch could not see.
	gap                string
	axis, tick, marker string
	arrow              string
	fail               string
}

var (
	unicodeGlyphs = glyphs{
		levels: [9]string{" ", "▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"},
		zero:   "×", gap: "░", axis: "─", tick: "┬", marker: "▲", arrow: "→", fail: "✗",
	}
	asciiGlyphs = glyphs{
		levels: [9]string{" ", ".", ":", "-", "=", "+", "*", "#", "@"},
		zero:   "x", gap: "?", axis: "-", tick: "+", marker: "^", arrow: "->", fail: "x",
	}
)

// maxPhaseRows is how many lines of phase labels are drawn under the axis
// before the phases are numbered instead.
const maxPhaseRows = 3

// Timeline writes the compact terminal picture of a release: a header, one
// row for the Service's ready endpoints and one per version (each column
// the lowest count of its time span, so no dip hides between columns; a
// cell the watch could not see is shaded), the request probe's rows when it
// ran (requests per second, failures per version), the time axis and the
// phase marks under it. Every line fits o.Width columns.
func Timeline(w io.Writer, d *Data, o TextOptions) error {
	_, err := io.WriteString(w, strings.Join(timelineLines(d, o), "\n")+"\n")
	return err
}

// row is one line of the chart before layout.
type row struct {
	label, suffix string
	cells         []string
}

func timelineLines(d *Data, o TextOptions) []string {
	g := unicodeGlyphs
	if o.ASCII {
		g = asciiGlyphs
	}
	width := max(o.Width, MinWidth)

	// labels and suffixes first: the chart takes the rest of the width
	type rowSpec struct {
		label, suffix string
		draw          func(cols int) []string
	}
	var specs []rowSpec
	scale := maxValue(d.Ready)
	for _, s := range d.Versions {
		scale = max(scale, maxValue(s.Points))
	}
	if !d.Facts.Unwatched {
		specs = append(specs, rowSpec{"ready", "min " + strconv.Itoa(d.Facts.MinReady), func(cols int) []string {
			return stepCells(d, d.Ready, cols, scale, g, true)
		}})
	}
	for _, s := range d.Versions {
		s := s
		specs = append(specs, rowSpec{s.Name, course(d, s.Points, g), func(cols int) []string {
			return stepCells(d, s.Points, cols, scale, g, false)
		}})
	}
	if d.Probe != nil && len(d.Probe.Buckets) > 0 {
		p := d.Probe
		var sent, failed int
		byVersion := map[string]int{}
		for _, b := range p.Buckets {
			for v, c := range b.Counts {
				sent += c.Sent
				failed += c.Failed
				byVersion[v] += c.Failed
			}
		}
		rate := float64(sent) / probeSeconds(d, p)
		specs = append(specs, rowSpec{"req/s", formatRate(rate) + "/s", func(cols int) []string {
			return probeCells(d, p, cols, g, func(c map[string]Count) float64 {
				n := 0
				for _, v := range c {
					n += v.Sent
				}
				return float64(n)
			})
		}})
		if failed == 0 {
			specs = append(specs, rowSpec{g.fail + " failed", "0", func(cols int) []string {
				return probeCells(d, p, cols, g, func(map[string]Count) float64 { return 0 })
			}})
		}
		for _, v := range p.versionNames(d.Versions) {
			if byVersion[v] == 0 {
				continue
			}
			v := v
			name := v
			if v == NoVersion {
				name = "no answer"
			}
			specs = append(specs, rowSpec{g.fail + " " + name, strconv.Itoa(byVersion[v]), func(cols int) []string {
				return probeCells(d, p, cols, g, func(c map[string]Count) float64 { return float64(c[v].Failed) })
			}})
		}
	}

	labelW, suffixW := 0, 0
	for _, s := range specs {
		labelW = max(labelW, terminal.StringWidth(s.label))
		suffixW = max(suffixW, terminal.StringWidth(s.suffix))
	}
	labelW = min(labelW, 16, width/5)
	suffixW = min(suffixW, 10)
	cols := width - labelW - 1 - 1 - suffixW
	if cols < 20 { // narrow: the suffixes go first
		suffixW = 0
		cols = width - labelW - 1
	}
	indent := strings.Repeat(" ", labelW+1)

	var lines []string
	lines = append(lines, terminal.Truncate(header(d), width, o.ASCII))
	for _, s := range specs {
		cells := s.draw(cols)
		line := pad(terminal.Truncate(s.label, labelW, o.ASCII), labelW) + " " + strings.Join(cells, "")
		if suffixW > 0 {
			line += " " + terminal.Truncate(s.suffix, suffixW, o.ASCII)
		}
		lines = append(lines, strings.TrimRight(line, " "))
	}
	axis, ticks := axisLines(d, cols, width-labelW-1, g)
	lines = append(lines, indent+axis, strings.TrimRight(indent+ticks, " "))
	for _, l := range phaseLines(d, cols, width-labelW-1, g, o.ASCII) {
		lines = append(lines, strings.TrimRight(indent+l, " "))
	}
	if l := legend(d, g, o.ASCII); l != "" {
		lines = append(lines, terminal.Wrap(l, width)...)
	}
	return lines
}

// header is the first line: what was watched and for how long.
func header(d *Data) string {
	svc := "the service"
	if d.Facts.Service != "" {
		svc = "service " + d.Facts.Service
	}
	if d.Facts.Unwatched {
		return fmt.Sprintf("the phases over %s (the endpoints of %s were not watched)", formatDuration(d.End.Sub(d.Start), true), svc)
	}
	return fmt.Sprintf("ready endpoints of %s over %s", svc, formatDuration(d.End.Sub(d.Start), true))
}

// legend explains the marks that need it: no ready endpoint, and the times
// the watch was cut off.
func legend(d *Data, g glyphs, ascii bool) string {
	var parts []string
	if d.Facts.ZeroFor > 0 {
		parts = append(parts, fmt.Sprintf("%s none ready for %s", g.zero, formatDuration(d.Facts.ZeroFor, true)))
	}
	if len(d.Gaps) > 0 {
		var blind time.Duration
		for _, gp := range d.Gaps {
			blind += gp.To.Sub(gp.From)
		}
		parts = append(parts, fmt.Sprintf("%s watch cut off from the API server for %s, not counted", g.gap, formatDuration(blind, true)))
	}
	sep := " · "
	if ascii {
		sep = "; "
	}
	return strings.Join(parts, sep)
}

func pad(s string, w int) string {
	return s + strings.Repeat(" ", max(0, w-terminal.StringWidth(s)))
}

// course is how a version's count went: first and last, and between them
// the highest when it is above both, or the lowest when it is below both
// ("0→3→0", "3→0→3").
func course(d *Data, points []Point, g glyphs) string {
	first, last := valueAt(points, d.Start), valueAt(points, d.End)
	top, bottom := first, first
	for _, p := range points {
		if p.Time.After(d.Start) && p.Time.Before(d.End) {
			top, bottom = max(top, p.Value), min(bottom, p.Value)
		}
	}
	s := strconv.Itoa(first) + g.arrow
	switch {
	case top > first && top > last:
		s += strconv.Itoa(top) + g.arrow
	case bottom < first && bottom < last:
		s += strconv.Itoa(bottom) + g.arrow
	}
	return s + strconv.Itoa(last)
}

// colSpan is the time span of column i of cols.
func colSpan(d *Data, i, cols int) (time.Time, time.Time) {
	span := d.span()
	from := d.Start.Add(time.Duration(float64(span) * float64(i) / float64(cols)))
	to := d.Start.Add(time.Duration(float64(span) * float64(i+1) / float64(cols)))
	return from, to
}

// colOf is the column time t falls in.
func colOf(d *Data, t time.Time, cols int) int {
	f := float64(t.Sub(d.Start)) / float64(d.span())
	return min(max(int(f*float64(cols)), 0), cols-1)
}

// inGap reports whether [from, to) overlaps a gap.
func inGap(d *Data, from, to time.Time) bool {
	for _, g := range d.Gaps {
		if g.From.Before(to) && g.To.After(from) {
			return true
		}
	}
	return false
}

// level is v of scale in eighths: 0 only for 0, at least 1 for anything
// above.
func level(v, scale float64) int {
	if v <= 0 || scale <= 0 {
		return 0
	}
	return min(max(int(math.Ceil(v*8/scale)), 1), 8)
}

// stepCells draws a step series: each column the lowest value of its span.
func stepCells(d *Data, points []Point, cols, scale int, g glyphs, zeroMark bool) []string {
	cells := make([]string, cols)
	for i := range cols {
		from, to := colSpan(d, i, cols)
		if inGap(d, from, to) {
			cells[i] = g.gap
			continue
		}
		v := valueAt(points, from)
		for _, p := range points {
			if p.Time.After(from) && p.Time.Before(to) {
				v = min(v, p.Value)
			}
		}
		if v == 0 && zeroMark {
			cells[i] = g.zero
			continue
		}
		cells[i] = g.levels[level(float64(v), float64(scale))]
	}
	return cells
}

// probeSeconds is the time the probe's buckets cover.
func probeSeconds(d *Data, p *Probe) float64 {
	if len(p.Buckets) == 0 || p.Width <= 0 {
		return d.span().Seconds()
	}
	first, last := p.Buckets[0].Time, p.Buckets[0].Time
	for _, b := range p.Buckets {
		first = minTime(first, b.Time)
		last = maxTime(last, b.Time)
	}
	return max(last.Add(p.Width).Sub(first).Seconds(), 1e-3)
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// probeCells draws a per-second quantity of the probe's buckets: each
// bucket's value is spread over the columns its time overlaps, and each
// column shows its rate against the busiest column.
func probeCells(d *Data, p *Probe, cols int, g glyphs, value func(map[string]Count) float64) []string {
	sums := probeColumns(d, p, cols, value)
	scale := 0.0
	for _, v := range sums {
		scale = max(scale, v)
	}
	cells := make([]string, cols)
	for i, v := range sums {
		cells[i] = g.levels[level(v, scale)]
	}
	return cells
}

// probeColumns spreads each bucket's value over the columns it overlaps,
// in proportion to the overlap.
func probeColumns(d *Data, p *Probe, cols int, value func(map[string]Count) float64) []float64 {
	sums := make([]float64, cols)
	width := p.Width
	if width <= 0 {
		width = time.Second
	}
	for _, b := range p.Buckets {
		v := value(b.Counts)
		if v == 0 {
			continue
		}
		from, to := b.Time, b.Time.Add(width)
		if !to.After(d.Start) || !from.Before(d.End) {
			// outside the axis: it counts at the nearest end
			i := 0
			if !from.Before(d.End) {
				i = cols - 1
			}
			sums[i] += v
			continue
		}
		for i := colOf(d, from, cols); i < cols; i++ {
			cf, ct := colSpan(d, i, cols)
			if !cf.Before(to) {
				break
			}
			overlap := minTime(ct, to).Sub(maxTime(cf, from))
			if overlap > 0 {
				sums[i] += v * float64(overlap) / float64(width)
			}
		}
	}
	return sums
}

// niceSteps are the tick intervals of the time axis.
var niceSteps = []time.Duration{
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second, 30 * time.Second,
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour,
}

// tickStep is the smallest nice interval that leaves at least minGap units
// of room between ticks over room units.
func tickStep(span time.Duration, room, minGap int) time.Duration {
	room = max(room, minGap)
	for _, s := range niceSteps {
		if float64(span)/float64(s)*float64(minGap) <= float64(room) {
			return s
		}
	}
	// more than days: whole days, as many as it takes
	day := 24 * time.Hour
	n := time.Duration(math.Ceil(float64(span) / float64(day) * float64(minGap) / float64(room)))
	return max(n, 1) * day
}

// axisLines draws the axis under the chart and the time labels under its
// ticks (the end's label last, right-aligned under the last column). The
// labels may run into the suffix column, up to room.
func axisLines(d *Data, cols, room int, g glyphs) (string, string) {
	span := d.span()
	step := tickStep(span, cols, 9)
	axis := make([]string, cols)
	for i := range axis {
		axis[i] = g.axis
	}
	labels := []rune(strings.Repeat(" ", room))
	used := make([]bool, room)
	place := func(at int, text string) bool {
		n := len([]rune(text))
		if at < 0 || at+n > room {
			return false
		}
		for i := max(at-1, 0); i < min(at+n+1, room); i++ {
			if used[i] {
				return false
			}
		}
		copy(labels[at:], []rune(text))
		for i := at; i < at+n; i++ {
			used[i] = true
		}
		return true
	}
	endLabel := formatDuration(span, true)
	place(max(cols-len(endLabel), 0), endLabel)
	axis[cols-1] = g.tick
	for t := time.Duration(0); t < span; t += step {
		c := colOf(d, d.Start.Add(t), cols)
		if place(c, formatDuration(t, false)) {
			axis[c] = g.tick
		}
	}
	return strings.Join(axis, ""), string(labels)
}

// phaseLines draws the phase marks under the axis: a marker at each
// phase's column, and its name under it on the first of maxPhaseRows lines
// where it fits. When they do not all fit, the markers are numbered and
// the names listed after them, wrapped to the width.
func phaseLines(d *Data, cols, room int, g glyphs, ascii bool) []string {
	if len(d.Phases) == 0 {
		return nil
	}
	markers := []rune(strings.Repeat(" ", cols))
	at := make([]int, len(d.Phases))
	for i, p := range d.Phases {
		at[i] = colOf(d, p.Time, cols)
		markers[at[i]] = []rune(g.marker)[0]
	}
	var rows [][]rune
	var used [][]bool
	fits := true
	for i, p := range d.Phases {
		name := []rune(terminal.Truncate(p.Name, room, ascii))
		start := min(at[i], room-len(name))
		placed := false
		for r := 0; r < maxPhaseRows && !placed; r++ {
			if r == len(rows) {
				rows = append(rows, []rune(strings.Repeat(" ", room)))
				used = append(used, make([]bool, room))
			}
			free := true
			for c := max(start-1, 0); c < min(start+len(name)+1, room); c++ {
				if used[r][c] {
					free = false
					break
				}
			}
			if !free {
				continue
			}
			copy(rows[r][start:], name)
			for c := start; c < start+len(name); c++ {
				used[r][c] = true
			}
			placed = true
		}
		if !placed {
			fits = false
			break
		}
	}
	if fits {
		out := []string{string(markers)}
		for _, r := range rows {
			out = append(out, string(r))
		}
		return out
	}
	// numbered: 1-9, then a-z, then * for the rest
	markers = []rune(strings.Repeat(" ", cols))
	var legend []string
	for i, p := range d.Phases {
		mark := "*"
		switch {
		case i < 9:
			mark = strconv.Itoa(i + 1)
		case i < 9+26:
			mark = string(rune('a' + i - 9))
		}
		if markers[at[i]] == ' ' {
			markers[at[i]] = []rune(mark)[0]
		}
		legend = append(legend, mark+" "+p.Name+" +"+formatDuration(p.Time.Sub(d.Start), false))
	}
	out := []string{string(markers)}
	sep := " · "
	if ascii {
		sep = ", "
	}
	out = append(out, terminal.Wrap(strings.Join(legend, sep), room)...)
	return out
}

// formatDuration writes a duration as a person reads it on an axis: 0s,
// 500ms, 1.5s, 45s, 1m, 1m30s, 2h5m. exact keeps a tenth of a second under
// ten seconds; otherwise seconds are whole.
func formatDuration(d time.Duration, exact bool) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Second {
		return strconv.Itoa(int(d.Round(time.Millisecond)/time.Millisecond)) + "ms"
	}
	if d < 10*time.Second && exact {
		return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
	}
	if d < time.Minute {
		if d%time.Second != 0 && d < 10*time.Second {
			return strconv.FormatFloat(d.Round(100*time.Millisecond).Seconds(), 'f', -1, 64) + "s"
		}
		return strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s"
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	var b strings.Builder
	if h > 0 {
		b.WriteString(strconv.Itoa(h) + "h")
	}
	if m > 0 {
		b.WriteString(strconv.Itoa(m) + "m")
	}
	if s > 0 && h == 0 {
		b.WriteString(strconv.Itoa(s) + "s")
	}
	if b.Len() == 0 {
		return "0s"
	}
	return b.String()
}

// formatRate writes a rate with two significant figures at most.
func formatRate(r float64) string {
	switch {
	case r >= 100:
		return strconv.Itoa(int(math.Round(r)))
	case r >= 10:
		return strconv.FormatFloat(math.Round(r), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(r*10)/10, 'f', -1, 64)
}

// Text writes the facts of the operation, wrapped to o.Width, and then its
// Timeline: what `kubectl zdd report -o text` prints.
//
//	canary of deployment shop/web: succeeded
//	  canary promoted: deployment shop/web runs shop/web:2.0.0 on 5 replicas
//	  by ana@laptop at 2025-03-14 09:26:51 UTC, took 54s, revision 3 → 4
//	  requests: 1048 sent, 4 failed
//	  analysis: error-rate 4 passed; p99-latency 4 passed
func Text(w io.Writer, d *Data, o TextOptions) error {
	width := max(o.Width, MinWidth)
	var lines []string
	lines = append(lines, terminal.Wrap(factsTitle(d), width)...)
	g := unicodeGlyphs
	if o.ASCII {
		g = asciiGlyphs
	}
	for _, l := range factsLines(d, g) {
		for _, wl := range terminal.Wrap(l, width-2) {
			lines = append(lines, "  "+wl)
		}
	}
	lines = append(lines, "")
	lines = append(lines, timelineLines(d, o)...)
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

func factsTitle(d *Data) string {
	f := d.Facts
	s := objectName(d)
	if f.Strategy != "" {
		if s != "" {
			s = f.Strategy + " of " + s
		} else {
			s = f.Strategy
		}
	}
	if s == "" {
		s = "release"
	}
	if f.Result != "" {
		s += ": " + f.Result
	} else {
		s += ": in flight or not recorded"
	}
	return s
}

func factsLines(d *Data, g glyphs) []string {
	f := d.Facts
	var lines []string
	if f.Message != "" {
		lines = append(lines, f.Message)
	}
	var who []string
	if f.Who != "" {
		who = append(who, "by "+f.Who)
	}
	if !f.Started.IsZero() {
		who = append(who, "at "+formatTime(f.Started, time.UTC))
	}
	if !f.Started.IsZero() && !f.Ended.IsZero() {
		who = append(who, "took "+formatDuration(f.Ended.Sub(f.Started), true))
	}
	if f.FromRevision != "" || f.ToRevision != "" {
		who = append(who, "revision "+orDash(f.FromRevision)+" "+g.arrow+" "+orDash(f.ToRevision))
	}
	if f.OperationID != "" {
		who = append(who, "operation "+f.OperationID)
	}
	if len(who) > 0 {
		lines = append(lines, strings.Join(who, ", "))
	}
	if p := d.Probe; p != nil {
		var sent, failed int
		for _, b := range p.Buckets {
			t := b.Total()
			sent += t.Sent
			failed += t.Failed
		}
		lines = append(lines, fmt.Sprintf("requests: %d sent, %d failed", sent, failed))
	}
	if len(d.Analysis) > 0 {
		var parts []string
		for _, m := range d.Analysis {
			parts = append(parts, m.Name+" "+verdictCounts(m))
		}
		lines = append(lines, "analysis: "+strings.Join(parts, "; "))
	}
	return lines
}
