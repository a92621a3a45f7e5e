package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// HTMLOptions say what the HTML report says of itself.
type HTMLOptions struct {
	// Generator names the program and version in the footer
	// ("kubectl zdd v0.3.0").
	Generator string
	// Location is the time zone the facts' times are written in (UTC when
	// nil).
	Location *time.Location
}

// HTML writes the report as one self-contained HTML page: no script, no
// font, nothing fetched; inline CSS and SVG only. It holds the facts of the
// operation, an SVG chart of the ready endpoints per version with the
// phases (id "timeline": a path of class "series" per version, with its
// name in data-version), the request probe's rate and failures when it ran
// (id "requests"), and one chart per analysis metric against its
// thresholds (class "metric") with a table of the measurements.
func HTML(w io.Writer, d *Data, o HTMLOptions) error {
	loc := o.Location
	if loc == nil {
		loc = time.UTC
	}
	var b strings.Builder
	title := pageTitle(d)
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\"/>\n")
	b.WriteString("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\n")
	fmt.Fprintf(&b, "<title>%s</title>\n<style>%s</style>\n</head>\n<body>\n", esc(title), pageCSS)
	fmt.Fprintf(&b, "<header><h1>%s</h1>", esc(heading(d)))
	if d.Facts.Result != "" {
		fmt.Fprintf(&b, "<p class=\"result result-%s\">%s</p>", cssName(d.Facts.Result), esc(d.Facts.Result))
	}
	b.WriteString("</header>\n")
	writeFacts(&b, d, loc)

	colors := seriesColors(d.Versions)
	b.WriteString("<section>\n<h2>Ready endpoints</h2>\n")
	if d.Facts.Unwatched {
		b.WriteString("<p class=\"note\">The endpoints of the Service were not watched during this operation: the chart holds its phases only.</p>\n")
	}
	writeTimelineSVG(&b, d, colors)
	b.WriteString("</section>\n")
	if d.Probe != nil && len(d.Probe.Buckets) > 0 {
		b.WriteString("<section>\n<h2>Requests</h2>\n")
		writeProbeSVG(&b, d)
		b.WriteString("</section>\n")
	}
	if len(d.Analysis) > 0 {
		b.WriteString("<section>\n<h2>Analysis</h2>\n<div class=\"metrics\">\n")
		for i, m := range d.Analysis {
			writeMetricSVG(&b, d, i, m)
		}
		b.WriteString("</div>\n")
		writeMeasurements(&b, d)
		b.WriteString("</section>\n")
	}
	gen := o.Generator
	if gen == "" {
		gen = "kubectl zdd"
	}
	fmt.Fprintf(&b, "<footer>Drawn by %s from the downtime watch of the release", esc(gen))
	if d.Probe != nil {
		b.WriteString(", its request probe")
	}
	if len(d.Analysis) > 0 {
		b.WriteString(" and its analysis")
	}
	b.WriteString(".</footer>\n</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

const pageCSS = `
:root{color-scheme:light;--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg:#fff;--panel:#f6f8fa}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1040px;padding:24px 20px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--ink);background:var(--bg)}
header{display:flex;align-items:baseline;gap:14px;flex-wrap:wrap;border-bottom:1px solid var(--line);margin-bottom:12px}
h1{font-size:22px;margin:0 0 8px}
h2{font-size:16px;margin:22px 0 6px}
.result{margin:0;padding:2px 10px;border-radius:12px;font-weight:600;background:var(--panel)}
.result-succeeded{background:#dafbe1;color:#116329}
.result-failed,.result-rolled-back,.result-aborted{background:#ffebe9;color:#a40e26}
.result-paused,.result-interrupted{background:#fff8c5;color:#7d4e00}
table{border-collapse:collapse}
.facts th{text-align:left;font-weight:600;color:var(--muted);padding:2px 16px 2px 0;vertical-align:top;white-space:nowrap}
.facts td{padding:2px 0}
.measurements{margin-top:10px;font-variant-numeric:tabular-nums}
.measurements th,.measurements td{border-bottom:1px solid var(--line);padding:3px 12px 3px 0;text-align:left}
.verdict-passed{color:#116329}.verdict-failed{color:#a40e26}.verdict-error,.verdict-inconclusive{color:#7d4e00}
svg{display:block;max-width:100%;height:auto;font:12px system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
svg text{fill:var(--ink)}
.axis line,.axis path{stroke:#8c959f;stroke-width:1}
.axis .grid{stroke:#eaeef2;stroke-width:1}
.tick{fill:var(--muted)}
.series{fill:none;stroke-width:2.5;stroke-linejoin:round}
.ready{fill:#d0d7de;fill-opacity:.55;stroke:#8c959f;stroke-width:1}
.gap{fill:#8c959f;fill-opacity:.25}
.zero{fill:#cf222e;fill-opacity:.35}
.phase{stroke:#57606a;stroke-width:1;stroke-dasharray:3 3}
.phase-label{font-weight:600}
.rate{fill:none;stroke:#57606a;stroke-width:1.5}
.failed{fill:#cf222e}
.threshold{stroke:#cf222e;stroke-width:1.2;stroke-dasharray:6 4}
.values{fill:none;stroke:#0969da;stroke-width:1.5}
.point-passed{fill:#1a7f37}.point-failed{fill:#cf222e}.point-error,.point-inconclusive{fill:#fff;stroke:#9a6700;stroke-width:1.5}
.metrics{display:flex;flex-wrap:wrap;gap:12px}
.metrics figure{margin:0;flex:1 1 460px;max-width:100%}
figcaption{color:var(--muted)}
footer{margin-top:28px;color:var(--muted);font-size:12px}
`

// esc escapes text for HTML and XML (the SVG parts parse as XML).
func esc(s string) string { return html.EscapeString(s) }

// cssName keeps the letters, digits and dashes of s.
func cssName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

// num writes a coordinate with one decimal at most.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		v = 0
	}
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64)
}

func objectName(d *Data) string {
	name := d.Facts.Name
	if d.Facts.Namespace != "" {
		name = d.Facts.Namespace + "/" + name
	}
	if d.Facts.Kind != "" {
		name = strings.ToLower(d.Facts.Kind) + " " + name
	}
	return strings.TrimSpace(name)
}

func heading(d *Data) string {
	parts := []string{}
	if d.Facts.Strategy != "" {
		parts = append(parts, d.Facts.Strategy)
	}
	if n := objectName(d); n != "" {
		parts = append(parts, n)
	}
	if len(parts) == 0 {
		return "Release"
	}
	return strings.Join(parts, " · ")
}

func pageTitle(d *Data) string {
	t := "kubectl zdd: " + heading(d)
	if d.Facts.Result != "" {
		t += " (" + d.Facts.Result + ")"
	}
	return t
}

func formatTime(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("2006-01-02 15:04:05 MST")
}

func writeFacts(b *strings.Builder, d *Data, loc *time.Location) {
	f := d.Facts
	type row struct{ k, v string }
	rows := []row{
		{"object", objectName(d)},
		{"strategy", f.Strategy},
		{"result", f.Result},
		{"message", f.Message},
		{"who", f.Who},
		{"started", formatTime(f.Started, loc)},
		{"ended", formatTime(f.Ended, loc)},
	}
	if !f.Started.IsZero() && !f.Ended.IsZero() {
		rows = append(rows, row{"took", formatDuration(f.Ended.Sub(f.Started), true)})
	}
	if f.FromRevision != "" || f.ToRevision != "" {
		rows = append(rows, row{"revision", orDash(f.FromRevision) + " → " + orDash(f.ToRevision)})
	}
	svc := f.Service
	if svc != "" {
		svc = "service " + svc + ": "
	}
	down := fmt.Sprintf("%sat least %d ready endpoints", svc, f.MinReady)
	if f.ZeroFor > 0 {
		down += fmt.Sprintf(", none ready for %s", formatDuration(f.ZeroFor, true))
	} else {
		down += ", never none"
	}
	down += fmt.Sprintf(", over %s watched", formatDuration(d.End.Sub(d.Start), true))
	if len(d.Gaps) > 0 {
		var blind time.Duration
		for _, g := range d.Gaps {
			blind += g.To.Sub(g.From)
		}
		down += fmt.Sprintf(" (the watch was cut off from the API server for %s: not counted)", formatDuration(blind, true))
	}
	rows = append(rows, row{"endpoints", down})
	if p := d.Probe; p != nil {
		var sent, failed int
		for _, bk := range p.Buckets {
			t := bk.Total()
			sent += t.Sent
			failed += t.Failed
		}
		rows = append(rows, row{"requests", fmt.Sprintf("%d sent, %d failed", sent, failed)})
	}
	rows = append(rows, row{"operation", f.OperationID})
	b.WriteString("<table class=\"facts\">\n")
	for _, r := range rows {
		if r.v == "" {
			continue
		}
		fmt.Fprintf(b, "<tr><th>%s</th><td>%s</td></tr>\n", esc(r.k), esc(r.v))
	}
	b.WriteString("</table>\n")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// VersionColors are the colours the HTML report draws d's versions in, in
// the order of d.Versions ("#0072B2", ...).
func VersionColors(d *Data) []string { return seriesColors(d.Versions) }

// palette is Okabe and Ito's colour-blind safe set (without black).
var palette = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"}

// seriesColors gives each version a colour of the palette, in order; a
// version named after a colour of the palette (blue-green's "blue" and
// "green", or "1.2 green" as the release commands name them) gets that
// colour.
func seriesColors(vs []Series) []string {
	named := map[string]string{"blue": palette[0], "green": palette[2], "orange": palette[1], "yellow": palette[6]}
	out := make([]string, len(vs))
	used := map[string]bool{}
	for i, v := range vs {
		words := strings.Fields(strings.ToLower(v.Name))
		if len(words) == 0 {
			continue
		}
		if c, ok := named[words[len(words)-1]]; ok && !used[c] {
			out[i] = c
			used[c] = true
		}
	}
	next := 0
	for i := range vs {
		if out[i] != "" {
			continue
		}
		for n := 0; n < len(palette) && used[palette[next%len(palette)]]; n++ {
			next++
		}
		out[i] = palette[next%len(palette)]
		used[out[i]] = true
		next++
	}
	return out
}

// plot maps times and values to a chart's coordinates.
type plot struct {
	d                     *Data
	left, right, top, bot float64
	ymin, ymax            float64
}

func (p plot) x(t time.Time) float64 {
	f := float64(t.Sub(p.d.Start)) / float64(p.d.span())
	f = min(max(f, 0), 1)
	return p.left + f*(p.right-p.left)
}

func (p plot) y(v float64) float64 {
	if p.ymax <= p.ymin {
		return p.bot
	}
	f := (v - p.ymin) / (p.ymax - p.ymin)
	return p.bot - f*(p.bot-p.top)
}

// xAxis draws the time axis: a line, ticks and their labels, and faint
// grid lines up the chart.
func (p plot) xAxis(b *strings.Builder) {
	span := p.d.span()
	step := tickStep(span, int(p.right-p.left), 70)
	b.WriteString("<g class=\"axis x\">")
	fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", num(p.left), num(p.bot), num(p.right), num(p.bot))
	for t := time.Duration(0); t <= span; t += step {
		x := p.x(p.d.Start.Add(t))
		if t > 0 && p.right-x < 36 {
			break // too close to the end's label
		}
		fmt.Fprintf(b, "<line class=\"grid\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", num(x), num(p.top), num(x), num(p.bot))
		fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", num(x), num(p.bot), num(x), num(p.bot+5))
		fmt.Fprintf(b, "<text class=\"tick\" x=\"%s\" y=\"%s\" text-anchor=\"middle\">%s</text>", num(x), num(p.bot+18), esc(formatDuration(t, false)))
	}
	fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", num(p.right), num(p.bot), num(p.right), num(p.bot+5))
	fmt.Fprintf(b, "<text class=\"tick\" x=\"%s\" y=\"%s\" text-anchor=\"end\">%s</text>", num(p.right), num(p.bot+18), esc(formatDuration(span, true)))
	b.WriteString("</g>\n")
}

// yAxis draws the value axis with about n ticks, labelled by label.
func (p plot) yAxis(b *strings.Builder, ticks []float64, label func(float64) string, title string) {
	b.WriteString("<g class=\"axis y\">")
	fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", num(p.left), num(p.top), num(p.left), num(p.bot))
	for _, v := range ticks {
		y := p.y(v)
		if v != p.ymin {
			fmt.Fprintf(b, "<line class=\"grid\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", num(p.left), num(y), num(p.right), num(y))
		}
		fmt.Fprintf(b, "<line x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", num(p.left-5), num(y), num(p.left), num(y))
		fmt.Fprintf(b, "<text class=\"tick\" x=\"%s\" y=\"%s\" text-anchor=\"end\">%s</text>", num(p.left-8), num(y+4), esc(label(v)))
	}
	if title != "" {
		fmt.Fprintf(b, "<text class=\"tick\" x=\"%s\" y=\"%s\" text-anchor=\"start\">%s</text>", num(p.left-8), num(p.top-8), esc(title))
	}
	b.WriteString("</g>\n")
}

// intTicks are whole-number ticks from 0 to top, at most seven: steps of
// 1, 2, 5, 10, 20, 50, ...
func intTicks(top int) []float64 {
	step := 1
	for i := 0; top/step > 6; i++ {
		step = []int{2, 5, 10}[i%3] * pow10(i/3)
	}
	var out []float64
	for v := 0; v <= top; v += step {
		out = append(out, float64(v))
	}
	return out
}

func pow10(n int) int {
	p := 1
	for range n {
		p *= 10
	}
	return p
}

// niceTicks are about n round ticks from lo to hi.
func niceTicks(lo, hi float64, n int) []float64 {
	if hi <= lo {
		return []float64{lo}
	}
	raw := (hi - lo) / float64(n)
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var out []float64
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9 && len(out) < 3*n; v += step {
		out = append(out, math.Round(v/step)*step)
		if v+step == v { // a step below the precision of v
			break
		}
	}
	if len(out) == 0 {
		out = append(out, lo)
	}
	return out
}

// phaseMarks draws a dashed line per phase across the chart and, when
// labels is set, its name above the chart on the first of three rows where
// it fits.
func (p plot) phaseMarks(b *strings.Builder, labels bool) {
	if len(p.d.Phases) == 0 {
		return
	}
	b.WriteString("<g class=\"phases\">")
	const rowH, charW = 14.0, 6.6
	var rowsEnd []float64
	for _, ph := range p.d.Phases {
		x := p.x(ph.Time)
		fmt.Fprintf(b, "<line class=\"phase\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", num(x), num(p.top), num(x), num(p.bot))
		if !labels {
			continue
		}
		w := float64(len([]rune(ph.Name)))*charW + 6
		tx := min(x+3, p.right+40-w)
		row := -1
		for r, end := range rowsEnd {
			if tx > end {
				row = r
				break
			}
		}
		if row < 0 {
			if len(rowsEnd) < 3 {
				rowsEnd = append(rowsEnd, 0)
				row = len(rowsEnd) - 1
			} else {
				// all three rows taken here: the lowest-ending row
				row = 0
				for r := range rowsEnd {
					if rowsEnd[r] < rowsEnd[row] {
						row = r
					}
				}
			}
		}
		rowsEnd[row] = tx + w
		y := p.top - 6 - float64(2-row)*rowH
		fmt.Fprintf(b, "<line class=\"phase\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", num(x), num(y+3), num(x), num(p.top))
		fmt.Fprintf(b, "<text class=\"phase-label\" x=\"%s\" y=\"%s\">%s</text>", num(tx), num(y), esc(ph.Name))
	}
	b.WriteString("</g>\n")
}

// stepPath is the SVG path of a step series from Start to End.
func (p plot) stepPath(points []Point) string {
	var b strings.Builder
	v := valueAt(points, p.d.Start)
	fmt.Fprintf(&b, "M%s %s", num(p.left), num(p.y(float64(v))))
	for _, pt := range points {
		if !pt.Time.After(p.d.Start) || !pt.Time.Before(p.d.End) || pt.Value == v {
			continue
		}
		x := p.x(pt.Time)
		fmt.Fprintf(&b, "H%sV%s", num(x), num(p.y(float64(pt.Value))))
		v = pt.Value
	}
	fmt.Fprintf(&b, "H%s", num(p.right))
	return b.String()
}

// versionPath is the SVG path of a version's series: drawn while it has
// ready endpoints, with its rises from and falls to zero, so that versions
// at zero do not pile up on the axis. A version never above zero is a
// line along the axis.
func (p plot) versionPath(points []Point) string {
	if maxValue(points) == 0 {
		return fmt.Sprintf("M%s %sH%s", num(p.left), num(p.bot), num(p.right))
	}
	var b strings.Builder
	v := valueAt(points, p.d.Start)
	if v > 0 {
		fmt.Fprintf(&b, "M%s %s", num(p.left), num(p.y(float64(v))))
	}
	for _, pt := range points {
		if !pt.Time.After(p.d.Start) || !pt.Time.Before(p.d.End) || pt.Value == v {
			continue
		}
		x := p.x(pt.Time)
		switch {
		case v == 0: // rises: move to the axis, then up
			fmt.Fprintf(&b, "M%s %sV%s", num(x), num(p.y(0)), num(p.y(float64(pt.Value))))
		default:
			fmt.Fprintf(&b, "H%sV%s", num(x), num(p.y(float64(pt.Value))))
		}
		v = pt.Value
	}
	if v > 0 {
		fmt.Fprintf(&b, "H%s", num(p.right))
	}
	return b.String()
}

const chartW = 960

func writeTimelineSVG(b *strings.Builder, d *Data, colors []string) {
	const h = 340
	p := plot{d: d, left: 56, right: chartW - 48, top: 84, bot: h - 34}
	top := maxValue(d.Ready)
	for _, s := range d.Versions {
		top = max(top, maxValue(s.Points))
	}
	top = max(top, 1)
	p.ymin, p.ymax = 0, float64(top)*1.08
	fmt.Fprintf(b, "<svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">\n",
		chartW, h, chartW, h, esc("ready endpoints per version over "+formatDuration(d.End.Sub(d.Start), true)))
	// legend
	b.WriteString("<g class=\"legend\">")
	lx := p.left
	legendItem := func(class, color, name string) {
		if class == "ready" {
			fmt.Fprintf(b, "<rect class=\"ready\" x=\"%s\" y=\"8\" width=\"18\" height=\"10\"/>", num(lx))
		} else {
			fmt.Fprintf(b, "<line x1=\"%s\" y1=\"13\" x2=\"%s\" y2=\"13\" stroke=\"%s\" stroke-width=\"3\"/>", num(lx), num(lx+18), color)
		}
		fmt.Fprintf(b, "<text x=\"%s\" y=\"17\">%s</text>", num(lx+24), esc(name))
		lx += 24 + float64(len([]rune(name)))*7 + 18
	}
	legendItem("ready", "", "all ready endpoints")
	for i, s := range d.Versions {
		legendItem("series", colors[i], s.Name)
	}
	if len(d.Gaps) > 0 {
		fmt.Fprintf(b, "<rect class=\"gap\" x=\"%s\" y=\"8\" width=\"18\" height=\"10\"/><text x=\"%s\" y=\"17\">watch cut off</text>", num(lx), num(lx+24))
		lx += 24 + 13*7 + 18
	}
	if d.Facts.ZeroFor > 0 {
		fmt.Fprintf(b, "<rect class=\"zero\" x=\"%s\" y=\"8\" width=\"18\" height=\"10\"/><text x=\"%s\" y=\"17\">none ready</text>", num(lx), num(lx+24))
	}
	b.WriteString("</g>\n")

	p.xAxis(b)
	p.yAxis(b, intTicks(top), func(v float64) string { return strconv.Itoa(int(v)) }, "ready")
	// the Service's ready endpoints, as an area
	if len(d.Ready) > 0 {
		fmt.Fprintf(b, "<path class=\"ready\" d=\"%sV%sH%sZ\"/>\n", p.stepPath(d.Ready), num(p.bot), num(p.left))
	}
	// times with no ready endpoint
	for i, pt := range d.Ready {
		if pt.Value != 0 {
			continue
		}
		end := d.End
		if i+1 < len(d.Ready) {
			end = d.Ready[i+1].Time
		}
		x0, x1 := p.x(pt.Time), p.x(end)
		fmt.Fprintf(b, "<rect class=\"zero\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\"><title>%s</title></rect>\n",
			num(x0), num(p.top), num(max(x1-x0, 2)), num(p.bot-p.top), esc("none ready for "+formatDuration(end.Sub(pt.Time), true)))
	}
	for _, g := range d.Gaps {
		x0, x1 := p.x(g.From), p.x(g.To)
		fmt.Fprintf(b, "<rect class=\"gap\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\"><title>%s</title></rect>\n",
			num(x0), num(p.top), num(max(x1-x0, 2)), num(p.bot-p.top), esc("the watch was cut off from the API server for "+formatDuration(g.To.Sub(g.From), true)))
	}
	for i, s := range d.Versions {
		fmt.Fprintf(b, "<path class=\"series s%d\" data-version=\"%s\" stroke=\"%s\" d=\"%s\"><title>%s</title></path>\n",
			i, esc(s.Name), colors[i], p.versionPath(s.Points), esc(seriesTitle(s)))
	}
	p.phaseMarks(b, true)
	b.WriteString("</svg>\n")
}

func seriesTitle(s Series) string {
	t := s.Name
	if s.Hash != "" && s.Hash != s.Name {
		t += " (pod-template-hash " + s.Hash + ")"
	}
	return t
}

func writeProbeSVG(b *strings.Builder, d *Data) {
	const h = 230
	p := plot{d: d, left: 56, right: chartW - 48, top: 46, bot: h - 34}
	pr := d.Probe
	width := pr.Width
	if width <= 0 {
		width = time.Second
	}
	buckets := append([]Bucket(nil), pr.Buckets...)
	sort.SliceStable(buckets, func(i, j int) bool { return buckets[i].Time.Before(buckets[j].Time) })
	top := 0.0
	var sent, failed int
	for _, bk := range buckets {
		t := bk.Total()
		top = max(top, float64(t.Sent)/width.Seconds())
		sent += t.Sent
		failed += t.Failed
	}
	top = max(top, 1)
	ticks := niceTicks(0, top, 4)
	p.ymin, p.ymax = 0, max(top*1.1, ticks[len(ticks)-1])
	fmt.Fprintf(b, "<svg id=\"requests\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">\n",
		chartW, h, chartW, h, esc(fmt.Sprintf("requests per second: %d sent, %d failed", sent, failed)))
	b.WriteString("<g class=\"legend\">")
	fmt.Fprintf(b, "<line class=\"rate\" x1=\"%s\" y1=\"13\" x2=\"%s\" y2=\"13\"/><text x=\"%s\" y=\"17\">sent per second (%d in all)</text>", num(p.left), num(p.left+18), num(p.left+24), sent)
	fmt.Fprintf(b, "<rect class=\"failed\" x=\"%s\" y=\"8\" width=\"10\" height=\"10\"/><text x=\"%s\" y=\"17\">failed (%d)</text>", num(p.left+250), num(p.left+266), failed)
	b.WriteString("</g>\n")
	p.xAxis(b)
	p.yAxis(b, ticks, func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }, "req/s")
	// the rate as a step path over the buckets
	var path strings.Builder
	prevEnd := time.Time{}
	for _, bk := range buckets {
		x0, x1 := p.x(bk.Time), p.x(bk.Time.Add(width))
		y := p.y(float64(bk.Total().Sent) / width.Seconds())
		if prevEnd.IsZero() || !bk.Time.Equal(prevEnd) {
			if !prevEnd.IsZero() {
				fmt.Fprintf(&path, "V%s", num(p.bot))
			}
			fmt.Fprintf(&path, "M%s %sV%s", num(x0), num(p.bot), num(y))
		} else {
			fmt.Fprintf(&path, "V%s", num(y))
		}
		fmt.Fprintf(&path, "H%s", num(x1))
		prevEnd = bk.Time.Add(width)
	}
	if path.Len() > 0 {
		fmt.Fprintf(b, "<path class=\"rate\" d=\"%sV%s\"/>\n", path.String(), num(p.bot))
	}
	names := pr.versionNames(d.Versions)
	for _, bk := range buckets {
		t := bk.Total()
		if t.Failed == 0 {
			continue
		}
		x0, x1 := p.x(bk.Time), p.x(bk.Time.Add(width))
		hgt := max(p.bot-p.y(float64(t.Failed)/width.Seconds()), 3)
		var parts []string
		for _, v := range names {
			if c := bk.Counts[v]; c.Failed > 0 {
				name := v
				if v == NoVersion {
					name = "no answer"
				}
				parts = append(parts, fmt.Sprintf("%s %d", name, c.Failed))
			}
		}
		fmt.Fprintf(b, "<rect class=\"failed\" x=\"%s\" y=\"%s\" width=\"%s\" height=\"%s\"><title>%s</title></rect>\n",
			num(x0), num(p.bot-hgt), num(max(x1-x0-1, 2)), num(hgt),
			esc(fmt.Sprintf("+%s: %d failed (%s)", formatDuration(bk.Time.Sub(d.Start), false), t.Failed, strings.Join(parts, ", "))))
	}
	p.phaseMarks(b, false)
	b.WriteString("</svg>\n")
}

func writeMetricSVG(b *strings.Builder, d *Data, i int, m Metric) {
	const w, h = 470, 190
	p := plot{d: d, left: 56, right: w - 16, top: 30, bot: h - 34}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, pt := range m.Points {
		if pt.Value != nil {
			lo, hi = min(lo, *pt.Value), max(hi, *pt.Value)
		}
	}
	for _, t := range []*float64{m.Min, m.Max} {
		if t != nil {
			lo, hi = min(lo, *t), max(hi, *t)
		}
	}
	if math.IsInf(lo, 0) {
		lo, hi = 0, 1
	}
	lo = min(lo, 0)
	if hi <= lo {
		hi = lo + 1
	}
	ticks := niceTicks(lo, hi*1.1, 4)
	p.ymin, p.ymax = ticks[0], max(ticks[len(ticks)-1], hi*1.1)
	b.WriteString("<figure>\n")
	fmt.Fprintf(b, "<svg class=\"metric\" id=\"metric-%d\" data-metric=\"%s\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"%s\">\n",
		i+1, esc(m.Name), w, h, w, h, esc("analysis metric "+m.Name))
	fmt.Fprintf(b, "<text class=\"metric-name\" x=\"%s\" y=\"16\" font-weight=\"600\">%s</text>\n", num(p.left), esc(m.Name))
	p.xAxis(b)
	p.yAxis(b, ticks, formatValue, "")
	p.phaseMarks(b, false)
	for _, t := range []struct {
		v    *float64
		name string
	}{{m.Min, "min"}, {m.Max, "max"}} {
		if t.v == nil {
			continue
		}
		y := p.y(*t.v)
		fmt.Fprintf(b, "<line class=\"threshold\" data-bound=\"%s\" x1=\"%s\" y1=\"%s\" x2=\"%s\" y2=\"%s\"/>", t.name, num(p.left), num(y), num(p.right), num(y))
		fmt.Fprintf(b, "<text class=\"threshold-label\" x=\"%s\" y=\"%s\" text-anchor=\"end\">%s %s</text>\n", num(p.right), num(y-4), t.name, esc(formatValue(*t.v)))
	}
	var path strings.Builder
	for _, pt := range m.Points {
		if pt.Value == nil {
			continue
		}
		cmd := "L"
		if path.Len() == 0 {
			cmd = "M"
		}
		fmt.Fprintf(&path, "%s%s %s", cmd, num(p.x(pt.Time)), num(p.y(*pt.Value)))
	}
	if path.Len() > 0 {
		fmt.Fprintf(b, "<path class=\"values\" d=\"%s\"/>\n", path.String())
	}
	for _, pt := range m.Points {
		y := p.bot - 6
		val := "no value"
		if pt.Value != nil {
			y = p.y(*pt.Value)
			val = formatValue(*pt.Value)
		}
		fmt.Fprintf(b, "<circle class=\"point point-%s\" cx=\"%s\" cy=\"%s\" r=\"4.5\"><title>%s</title></circle>\n",
			cssName(pt.Verdict), num(p.x(pt.Time)), num(y), esc(fmt.Sprintf("+%s: %s, %s", formatDuration(pt.Time.Sub(d.Start), false), val, pt.Verdict)))
	}
	b.WriteString("</svg>\n")
	fmt.Fprintf(b, "<figcaption>%s</figcaption>\n</figure>\n", esc(metricCaption(m)))
}

// metricCaption says what passing means and how the measurements went.
func metricCaption(m Metric) string {
	return m.Name + ": " + limitText(m.Min, m.Max) + "; " + verdictCounts(m)
}

// verdictCounts counts a metric's measurements by verdict, in the order the
// verdicts first came: "3 passed, 1 failed".
func verdictCounts(m Metric) string {
	counts := map[string]int{}
	var order []string
	for _, p := range m.Points {
		if counts[p.Verdict] == 0 {
			order = append(order, p.Verdict)
		}
		counts[p.Verdict]++
	}
	var parts []string
	for _, v := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[v], v))
	}
	if len(parts) == 0 {
		return "no measurement"
	}
	return strings.Join(parts, ", ")
}

func limitText(lo, hi *float64) string {
	switch {
	case lo != nil && hi != nil:
		return "passes from " + formatValue(*lo) + " to " + formatValue(*hi)
	case lo != nil:
		return "passes at " + formatValue(*lo) + " or more"
	case hi != nil:
		return "passes at " + formatValue(*hi) + " or less"
	}
	return "no bound"
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

func writeMeasurements(b *strings.Builder, d *Data) {
	type row struct {
		at     time.Time
		metric string
		p      Measure
		m      Metric
	}
	var rows []row
	for _, m := range d.Analysis {
		for _, p := range m.Points {
			rows = append(rows, row{p.Time, m.Name, p, m})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].at.Before(rows[j].at) })
	b.WriteString("<table class=\"measurements\">\n<tr><th>at</th><th>metric</th><th>value</th><th>passes</th><th>verdict</th></tr>\n")
	for _, r := range rows {
		val := "-"
		if r.p.Value != nil {
			val = formatValue(*r.p.Value)
		}
		fmt.Fprintf(b, "<tr><td>+%s</td><td>%s</td><td>%s</td><td>%s</td><td class=\"verdict-%s\">%s</td></tr>\n",
			esc(formatDuration(r.at.Sub(d.Start), true)), esc(r.metric), esc(val), esc(strings.TrimPrefix(limitText(r.m.Min, r.m.Max), "passes ")), cssName(r.p.Verdict), esc(r.p.Verdict))
	}
	b.WriteString("</table>\n")
}
