// Package browsertest opens an HTML report in a real browser, headless
// Chromium (Debian's chromium package), and checks that its chart drew:
// the DOM the browser built holds an SVG path per version and the phase
// labels, and the screenshot it took holds pixels of each version's
// colour. Only tests import it; it drives Chromium through its own
// command-line flags (--dump-dom, --screenshot), with no library.
package browsertest

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Find returns the path of a Chromium: $ZDD_CHROMIUM, else chromium,
// chromium-browser, google-chrome or google-chrome-stable on PATH.
func Find() (string, error) {
	if p := os.Getenv("ZDD_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium on PATH (Debian: apt-get install chromium; hack/install-deps.sh installs it)")
}

// Required reports whether a missing browser must fail the test rather
// than skip it: on CI (CI=true, where hack/install-deps.sh installs
// chromium) and when ZDD_REQUIRE_BROWSER=1 (make docs).
func Required() bool {
	return os.Getenv("CI") == "true" || os.Getenv("ZDD_REQUIRE_BROWSER") == "1"
}

// Browser runs one Chromium binary, each run with a fresh profile.
type Browser struct {
	Path string
	// Dir holds the profiles (a test's temporary directory).
	Dir string
	// Timeout bounds each run (default 90 s: a loaded machine is slow to
	// start a browser).
	Timeout time.Duration
	runs    int
}

// flags are the flags every run takes: headless, and as quiet as Chromium
// can be made: no sandbox (it refuses to run as root with one), no GPU, no
// network of its own (updates, sync, first-run pages).
func (b *Browser) flags() []string {
	b.runs++
	return []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
		"--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--user-data-dir=" + filepath.Join(b.Dir, "profile-"+strconv.Itoa(b.runs)),
	}
}

func (b *Browser) run(args ...string) ([]byte, error) {
	timeout := b.Timeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.Path, append(b.flags(), args...)...)
	cmd.Env = append(os.Environ(), "HOME="+b.Dir)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w\n%s", filepath.Base(b.Path), strings.Join(args, " "), err, tail(stderr.String(), 2000))
	}
	return stdout.Bytes(), nil
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

func fileURL(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// DumpDOM opens the page and returns the DOM the browser built, serialised.
func (b *Browser) DumpDOM(page string) (string, error) {
	u, err := fileURL(page)
	if err != nil {
		return "", err
	}
	out, err := b.run("--dump-dom", u)
	return string(out), err
}

// Screenshot opens the page in a window of width x height and returns the
// PNG it drew.
func (b *Browser) Screenshot(page string, width, height int) (image.Image, []byte, error) {
	u, err := fileURL(page)
	if err != nil {
		return nil, nil, err
	}
	shot := filepath.Join(b.Dir, "screenshot-"+strconv.Itoa(b.runs+1)+".png")
	if _, err := b.run("--screenshot="+shot, fmt.Sprintf("--window-size=%d,%d", width, height), u); err != nil {
		return nil, nil, err
	}
	data, err := os.ReadFile(shot)
	if err != nil {
		return nil, nil, fmt.Errorf("the browser wrote no screenshot: %w", err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("the screenshot is not a PNG: %w", err)
	}
	return img, data, nil
}

// Node is an element of an SVG of the DOM.
type Node struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Children []Node     `xml:",any"`
	Text     string     `xml:",chardata"`
}

// Attr is the value of the attribute name.
func (n Node) Attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// HasClass reports whether the element has class c.
func (n Node) HasClass(c string) bool {
	return strings.Contains(" "+n.Attr("class")+" ", " "+c+" ")
}

// Find returns the elements under n (n included) that match.
func (n Node) Find(match func(Node) bool) []Node {
	var out []Node
	if match(n) {
		out = append(out, n)
	}
	for _, c := range n.Children {
		out = append(out, c.Find(match)...)
	}
	return out
}

// SVG returns the <svg> element with the given id in a serialised DOM,
// parsed as XML (the browser writes SVG content as well-formed markup).
func SVG(dom, id string) (Node, error) {
	start := strings.Index(dom, `<svg id="`+id+`"`)
	if start < 0 {
		return Node{}, fmt.Errorf("the DOM holds no <svg id=%q>", id)
	}
	end := strings.Index(dom[start:], "</svg>")
	if end < 0 {
		return Node{}, fmt.Errorf("<svg id=%q> is not closed", id)
	}
	var n Node
	if err := xml.Unmarshal([]byte(dom[start:start+end+len("</svg>")]), &n); err != nil {
		return Node{}, fmt.Errorf("<svg id=%q> does not parse: %w", id, err)
	}
	return n, nil
}

// Chart is what a report's timeline chart must show.
type Chart struct {
	// Versions are the names of the versions, in order: one path of class
	// "series" each, named in data-version.
	Versions []string
	// Colors are their stroke colours ("#0072B2"), in the same order.
	Colors []string
	// Phases are the phase labels, in order.
	Phases []string
}

// CheckDOM checks the timeline chart (<svg id="timeline">) of the DOM: a
// path per version with a drawing in it, the phase labels, both axes.
func CheckDOM(dom string, want Chart) error {
	svg, err := SVG(dom, "timeline")
	if err != nil {
		return err
	}
	var problems []string
	var got []string
	for _, p := range svg.Find(func(n Node) bool { return n.XMLName.Local == "path" && n.HasClass("series") }) {
		got = append(got, p.Attr("data-version"))
		if !strings.HasPrefix(p.Attr("d"), "M") {
			problems = append(problems, fmt.Sprintf("the path of version %q draws nothing: d=%q", p.Attr("data-version"), p.Attr("d")))
		}
	}
	if strings.Join(got, "\x00") != strings.Join(want.Versions, "\x00") {
		problems = append(problems, fmt.Sprintf("series paths for versions %q, want %q", got, want.Versions))
	}
	var labels []string
	for _, t := range svg.Find(func(n Node) bool { return n.XMLName.Local == "text" && n.HasClass("phase-label") }) {
		labels = append(labels, t.Text)
	}
	if strings.Join(labels, "\x00") != strings.Join(want.Phases, "\x00") {
		problems = append(problems, fmt.Sprintf("phase labels %q, want %q", labels, want.Phases))
	}
	for _, axis := range []string{"x", "y"} {
		if len(svg.Find(func(n Node) bool { return n.XMLName.Local == "g" && n.HasClass("axis") && n.HasClass(axis) })) != 1 {
			problems = append(problems, "no "+axis+" axis")
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// CountColor counts the pixels of img within a small distance of the
// colour hex ("#0072B2"), which anti-aliasing blurs at the edges of lines.
func CountColor(img image.Image, hex string) (int, error) {
	v, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil || len(strings.TrimPrefix(hex, "#")) != 6 {
		return 0, fmt.Errorf("colour %q is not #RRGGBB", hex)
	}
	wr, wg, wb := int(v>>16&0xff), int(v>>8&0xff), int(v&0xff)
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if abs(int(r>>8)-wr) <= 12 && abs(int(g>>8)-wg) <= 12 && abs(int(b>>8)-wb) <= 12 {
				n++
			}
		}
	}
	return n, nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// CheckScreenshot checks that each version's colour covers at least
// minPixels pixels of the screenshot: its line was drawn.
func CheckScreenshot(img image.Image, want Chart, minPixels int) error {
	var problems []string
	for i, c := range want.Colors {
		n, err := CountColor(img, c)
		if err != nil {
			return err
		}
		if n < minPixels {
			name := c
			if i < len(want.Versions) {
				name = want.Versions[i] + " (" + c + ")"
			}
			problems = append(problems, fmt.Sprintf("%d pixels of %s, want at least %d", n, name, minPixels))
		}
	}
	if len(problems) > 0 {
		return errors.New("the chart did not draw: " + strings.Join(problems, "; "))
	}
	return nil
}
