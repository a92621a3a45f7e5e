package report

import (
	"fmt"
	"math"
	"strings"
	"time"
)

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
