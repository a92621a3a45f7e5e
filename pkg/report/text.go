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
