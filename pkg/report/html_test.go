package report

import (
	"bytes"
	"encoding/xml"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// node is an element of a parsed SVG.
type node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []node     `xml:",any"`
	Text     string     `xml:",chardata"`
}

func (n node) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

func (n node) hasClass(c string) bool {
	return strings.Contains(" "+n.attr("class")+" ", " "+c+" ")
}

// find returns the elements under n (n included) that match.
func (n node) find(match func(node) bool) []node {
	var out []node
	if match(n) {
		out = append(out, n)
	}
	for _, c := range n.Children {
		out = append(out, c.find(match)...)
	}
	return out
}

func byClass(tag, class string) func(node) bool {
	return func(n node) bool { return n.XMLName.Local == tag && n.hasClass(class) }
}

// svgs parses every <svg> element of an HTML page with encoding/xml.
func svgs(t *testing.T, page string) []node {
	t.Helper()
	var out []node
	for rest := page; ; {
		i := strings.Index(rest, "<svg ")
		if i < 0 {
			break
		}
		j := strings.Index(rest[i:], "</svg>")
		if j < 0 {
			t.Fatalf("an <svg> is not closed")
		}
		var n node
		if err := xml.Unmarshal([]byte(rest[i:i+j+len("</svg>")]), &n); err != nil {
			t.Fatalf("the SVG does not parse as XML: %v\n%s", err, rest[i:i+j+len("</svg>")])
		}
		out = append(out, n)
		rest = rest[i+j:]
	}
	return out
}

func svgByID(t *testing.T, all []node, id string) node {
	t.Helper()
	for _, n := range all {
		if n.attr("id") == id {
			return n
		}
	}
	t.Fatalf("no <svg id=%q>", id)
	return node{}
}

func renderHTML(t *testing.T, d *Data) string {
	t.Helper()
	var buf bytes.Buffer
	if err := HTML(&buf, d, HTMLOptions{Generator: "kubectl zdd test"}); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

func texts(ns []node) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Text)
	}
	return out
}

var pathNumber = regexp.MustCompile(`([MHVL])(-?[0-9.]+)(?: (-?[0-9.]+))?`)

// verticals are the y coordinates a path's V commands go to, and of its
// first M.
func verticals(d string) []float64 {
	var out []float64
	for _, m := range pathNumber.FindAllStringSubmatch(d, -1) {
		switch m[1] {
		case "V":
			v, _ := strconv.ParseFloat(m[2], 64)
			out = append(out, v)
		case "M":
			v, _ := strconv.ParseFloat(m[3], 64)
			out = append(out, v)
		}
	}
	return out
}

func TestHTMLTimelineSeries(t *testing.T) {
	d := canaryData()
	page := renderHTML(t, d)
	all := svgs(t, page)
	tl := svgByID(t, all, "timeline")

	series := tl.find(byClass("path", "series"))
	var names []string
	for _, s := range series {
		names = append(names, s.attr("data-version"))
		if !strings.HasPrefix(s.attr("d"), "M") {
			t.Errorf("series %s: path %q does not start with a move", s.attr("data-version"), s.attr("d"))
		}
	}
	if diff := cmp.Diff([]string{"v1", "v2"}, names); diff != "" {
		t.Errorf("a path per version (-want +got):\n%s", diff)
	}
	if n := len(tl.find(byClass("path", "ready"))); n != 1 {
		t.Errorf("%d paths of all ready endpoints, want 1", n)
	}

	// the geometry: each V of a version's path is a count it had, on the
	// chart's scale (top 8 endpoints: y = bot - v/(8*1.08)*(bot-top))
	p := plot{d: d, left: 56, right: chartW - 48, top: 84, bot: 340 - 34, ymin: 0, ymax: 8 * 1.08}
	y := func(vs ...int) []float64 {
		var out []float64
		for _, v := range vs {
			f, _ := strconv.ParseFloat(num(p.y(float64(v))), 64)
			out = append(out, f)
		}
		return out
	}
	// v1: 5 from the start, 4, 3, then 0 (its last move)
	if diff := cmp.Diff(y(5, 4, 3, 0), verticals(series[0].attr("d"))); diff != "" {
		t.Errorf("v1's path heights (-want +got):\n%s\npath: %s", diff, series[0].attr("d"))
	}
	// v2: rises from 0 to 1, then 2, 3, 5
	if diff := cmp.Diff(y(0, 1, 2, 3, 5), verticals(series[1].attr("d"))); diff != "" {
		t.Errorf("v2's path heights (-want +got):\n%s\npath: %s", diff, series[1].attr("d"))
	}
	if !strings.HasSuffix(series[1].attr("d"), "H"+num(p.right)) {
		t.Errorf("v2 still ready at the end: its path should reach the right edge: %s", series[1].attr("d"))
	}

	// phase labels, in time order, each with its dashed line
	labels := texts(tl.find(byClass("text", "phase-label")))
	var want []string
	for _, ph := range d.Phases {
		want = append(want, ph.Name)
	}
	if diff := cmp.Diff(want, labels); diff != "" {
		t.Errorf("phase labels (-want +got):\n%s", diff)
	}
	if n := len(tl.find(byClass("line", "phase"))); n < len(d.Phases) {
		t.Errorf("%d phase lines, want at least %d", n, len(d.Phases))
	}

	// axes: time labels from 0s to the end, counts from 0
	xAxis := tl.find(byClass("g", "x"))
	yAxis := tl.find(byClass("g", "y"))
	if len(xAxis) != 1 || len(yAxis) != 1 {
		t.Fatalf("axes: %d x, %d y; want one of each", len(xAxis), len(yAxis))
	}
	xt := texts(xAxis[0].find(byClass("text", "tick")))
	if len(xt) < 3 || xt[0] != "0s" || xt[len(xt)-1] != "52s" {
		t.Errorf("time axis labels %q: want 0s first and 52s last", xt)
	}
	yt := texts(yAxis[0].find(byClass("text", "tick")))
	if diff := cmp.Diff([]string{"0", "2", "4", "6", "8", "ready"}, yt); diff != "" {
		t.Errorf("count axis labels (-want +got):\n%s", diff)
	}
}

func TestHTMLProbeAndAnalysis(t *testing.T) {
	d := canaryData()
	all := svgs(t, renderHTML(t, d))

	req := svgByID(t, all, "requests")
	if n := len(req.find(byClass("path", "rate"))); n != 1 {
		t.Errorf("%d rate paths, want 1", n)
	}
	failed := req.find(byClass("rect", "failed"))
	// the legend's swatch, and the two seconds with failures
	if len(failed) != 3 {
		t.Fatalf("%d failed rects, want 3 (legend, +27s, +36s)", len(failed))
	}
	var titles []string
	for _, f := range failed[1:] {
		titles = append(titles, f.find(func(n node) bool { return n.XMLName.Local == "title" })[0].Text)
	}
	if diff := cmp.Diff([]string{"+27s: 1 failed (v2 1)", "+36s: 3 failed (no answer 3)"}, titles); diff != "" {
		t.Errorf("failure titles (-want +got):\n%s", diff)
	}

	var metrics []node
	for _, n := range all {
		if n.hasClass("metric") {
			metrics = append(metrics, n)
		}
	}
	if len(metrics) != 2 {
		t.Fatalf("%d metric charts, want 2", len(metrics))
	}
	for i, name := range []string{"error-rate", "p99-latency"} {
		m := metrics[i]
		if m.attr("data-metric") != name {
			t.Errorf("metric chart %d is %q, want %q", i, m.attr("data-metric"), name)
		}
		bounds := m.find(byClass("line", "threshold"))
		if len(bounds) != 1 || bounds[0].attr("data-bound") != "max" {
			t.Errorf("%s: thresholds %v, want one max", name, bounds)
		}
		if n := len(m.find(byClass("circle", "point-passed"))); n != 4 {
			t.Errorf("%s: %d passed points, want 4", name, n)
		}
		if n := len(m.find(byClass("path", "values"))); n != 1 {
			t.Errorf("%s: %d value paths, want 1", name, n)
		}
	}
}

func TestHTMLBlueGreen(t *testing.T) {
	d := blueGreenData()
	page := renderHTML(t, d)
	all := svgs(t, page)
	tl := svgByID(t, all, "timeline")
	series := tl.find(byClass("path", "series"))
	if len(series) != 2 || series[0].attr("stroke") != palette[0] || series[1].attr("stroke") != palette[2] {
		t.Errorf("blue and green should be drawn in the palette's blue and green: %v", series)
	}
	if n := len(tl.find(byClass("rect", "gap"))); n != 2 { // legend + the gap
		t.Errorf("%d gap rects, want 2 (legend and the gap)", n)
	}
	if n := len(tl.find(byClass("rect", "zero"))); n != 2 { // legend + the 0.6 s
		t.Errorf("%d zero rects, want 2 (legend and the dip)", n)
	}
	for _, n := range all {
		if n.attr("id") == "requests" {
			t.Error("a requests chart without a probe")
		}
	}
	m := all[len(all)-1]
	if n := len(m.find(byClass("circle", "point-failed"))); n != 2 {
		t.Errorf("%d failed points, want 2", n)
	}
	if n := len(m.find(byClass("circle", "point-error"))); n != 1 {
		t.Errorf("%d error points, want 1", n)
	}
	for _, want := range []string{"failed", "ci@runner-7", "blue → green", "none ready for 600ms", "switched service shop/web back to blue"} {
		if !strings.Contains(page, want) {
			t.Errorf("the page does not say %q", want)
		}
	}
}

// TestHTMLSelfContained: nothing is fetched, no script runs, and what the
// record says is escaped.
func TestHTMLSelfContained(t *testing.T) {
	d := canaryData()
	d.Versions[0].Name = `<script>alert("x")</script>`
	d.Facts.Message = `it's <b>bold</b> & "quoted"`
	d.AddPhase(`</text><script>`, at(sec(5)))
	page := renderHTML(t, d)
	svgs(t, page) // still parses
	lower := strings.ToLower(page)
	for _, bad := range []string{"<script", "<link", "@import", "url(", "<img", "<iframe", "src=", "href="} {
		if strings.Contains(lower, bad) {
			t.Errorf("the page holds %q", bad)
		}
	}
	if n := strings.Count(page, "http"); n != strings.Count(page, `xmlns="http://www.w3.org/2000/svg"`) {
		t.Errorf("the page names an address other than the SVG namespace")
	}
	if !strings.Contains(page, "it&#39;s &lt;b&gt;bold&lt;/b&gt; &amp; &#34;quoted&#34;") {
		t.Errorf("the message is not escaped")
	}
}

func TestIntTicks(t *testing.T) {
	tests := map[int][]float64{
		1:   {0, 1},
		5:   {0, 1, 2, 3, 4, 5},
		8:   {0, 2, 4, 6, 8},
		13:  {0, 2, 4, 6, 8, 10, 12},
		15:  {0, 5, 10, 15},
		40:  {0, 10, 20, 30, 40},
		100: {0, 20, 40, 60, 80, 100},
	}
	for top, want := range tests {
		if diff := cmp.Diff(want, intTicks(top)); diff != "" {
			t.Errorf("intTicks(%d) (-want +got):\n%s", top, diff)
		}
	}
}
