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
