package report

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

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
