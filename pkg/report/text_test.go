package report

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// TestTimelineGolden draws the fixtures at 80 and 120 columns, in UTF-8
// and in ASCII.
func TestTimelineGolden(t *testing.T) {
	fixtures := map[string]func() *Data{"canary": canaryData, "bluegreen": blueGreenData}
	for name, data := range fixtures {
		for _, width := range []int{80, 120} {
			for _, ascii := range []bool{false, true} {
				style := "utf8"
				if ascii {
					style = "ascii"
				}
				t.Run(fmt.Sprintf("%s-%d-%s", name, width, style), func(t *testing.T) {
					var buf bytes.Buffer
					if err := Timeline(&buf, data(), TextOptions{Width: width, ASCII: ascii}); err != nil {
						t.Fatal(err)
					}
					checkFits(t, buf.String(), width, ascii)
					golden(t, fmt.Sprintf("timeline/%s-%d-%s.txt", name, width, style), buf.Bytes())
				})
			}
		}
	}
}

// checkFits fails when a line is wider than width, or when an ASCII
// drawing holds anything but ASCII.
func checkFits(t *testing.T, out string, width int, ascii bool) {
	t.Helper()
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if w := terminal.StringWidth(l); w > width {
			t.Errorf("line %d is %d columns, wider than %d:\n%s", i+1, w, width, l)
		}
		if ascii {
			for _, r := range l {
				if r > 0x7e || (r < 0x20) {
					t.Errorf("line %d holds %q, not printable ASCII:\n%s", i+1, r, l)
					break
				}
			}
		}
	}
}

// TestTimelineFitsAnyWidth draws every fixture, and some awkward data, at
// widths from very narrow to very wide: no line is ever wider.
func TestTimelineFitsAnyWidth(t *testing.T) {
	many := canaryData()
	many.Phases = nil
	for i := range 14 {
		many.AddPhase(fmt.Sprintf("step %d%%", (i+1)*7), at(time.Duration(i)*3*time.Second))
	}
	long := blueGreenData()
	long.Versions[0].Name = "a-very-long-version-name-that-does-not-fit"
	long.Facts.Service = "a-namespace-with-a-long-name/and-a-service-with-a-longer-one"
	empty := &Data{Start: t0, End: t0}
	instant := &Data{Start: t0, End: t0.Add(time.Millisecond), Ready: []Point{{t0, 2}}}
	hours := canaryData()
	hours.End = hours.Start.Add(3*time.Hour + 7*time.Minute)
	for name, d := range map[string]*Data{"canary": canaryData(), "bluegreen": blueGreenData(), "many phases": many, "long names": long, "empty": empty, "instant": instant, "hours": hours} {
		for _, width := range []int{1, 30, 40, 41, 57, 80, 99, 120, 200, 333} {
			for _, ascii := range []bool{false, true} {
				var buf bytes.Buffer
				if err := Timeline(&buf, d, TextOptions{Width: width, ASCII: ascii}); err != nil {
					t.Fatal(err)
				}
				t.Run(fmt.Sprintf("%s/%d/ascii=%v", name, width, ascii), func(t *testing.T) {
					checkFits(t, buf.String(), max(width, MinWidth), ascii)
				})
			}
		}
	}
}

// TestTimelineManyPhasesNumbered: phases that do not fit under the axis
// are numbered, and every name is still written.
func TestTimelineManyPhasesNumbered(t *testing.T) {
	d := canaryData()
	d.Phases = nil
	for i := range 12 {
		d.AddPhase(fmt.Sprintf("step %d%%", (i+1)*8), at(time.Duration(i)*time.Second))
	}
	var buf bytes.Buffer
	if err := Timeline(&buf, d, TextOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for i := range 12 {
		if !strings.Contains(out, fmt.Sprintf("step %d%%", (i+1)*8)) {
			t.Errorf("phase %q missing:\n%s", fmt.Sprintf("step %d%%", (i+1)*8), out)
		}
	}
	if !strings.Contains(out, "1 step 8% +0s") {
		t.Errorf("phases not numbered:\n%s", out)
	}
}

// TestStepCellsShowDips: a dip shorter than a column still shows, as the
// column's lowest value.
func TestStepCellsShowDips(t *testing.T) {
	d := &Data{Start: t0, End: t0.Add(100 * time.Second),
		Ready: []Point{{t0, 4}, {at(50 * time.Second), 0}, {at(50*time.Second + 10*time.Millisecond), 4}}}
	cells := stepCells(d, d.Ready, 10, 4, unicodeGlyphs, true)
	want := strings.Split("█████×████", "")
	if diff := cmp.Diff(want, cells); diff != "" {
		t.Errorf("cells (-want +got):\n%s", diff)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d     time.Duration
		exact bool
		want  string
	}{
		{0, false, "0s"},
		{500 * time.Millisecond, false, "500ms"},
		{1500 * time.Millisecond, false, "1.5s"},
		{1500 * time.Millisecond, true, "1.5s"},
		{7 * time.Second, false, "7s"},
		{12400 * time.Millisecond, true, "12s"},
		{45 * time.Second, false, "45s"},
		{time.Minute, false, "1m"},
		{90 * time.Second, false, "1m30s"},
		{81 * time.Second, true, "1m21s"},
		{2*time.Hour + 5*time.Minute + 3*time.Second, false, "2h5m"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.d, tt.exact); got != tt.want {
			t.Errorf("formatDuration(%v, %v) = %q, want %q", tt.d, tt.exact, got, tt.want)
		}
	}
}

// TestFromDowntimeFirstSampleAtStart: the watcher's first sample is the
// state at Start even when its clock read came a moment later.
func TestFromDowntimeFirstSampleAtStart(t *testing.T) {
	rep := downtime.Summarize("shop/web", []downtime.Sample{
		{Time: t0.Add(time.Microsecond), Ready: 3, ByHash: map[string]int{"a": 3}},
		{Time: at(5 * time.Second), Ready: 3, ByHash: map[string]int{"a": 2, "b": 1}},
	}, t0, at(10*time.Second))
	d := FromDowntime(rep, nil)
	if !d.Ready[0].Time.Equal(t0) || !d.Versions[0].Points[0].Time.Equal(t0) || valueAt(d.Versions[0].Points, t0) != 3 {
		t.Errorf("the first sample is not at the start: ready %+v, version a %+v", d.Ready, d.Versions[0].Points)
	}
	if !d.Versions[1].Points[0].Time.Equal(at(5 * time.Second)) {
		t.Errorf("version b's first point %v, want +5s", d.Versions[1].Points[0].Time)
	}
	var buf bytes.Buffer
	if err := Timeline(&buf, &d, TextOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), unicodeGlyphs.zero) {
		t.Errorf("a zero drawn at the start:\n%s", buf.String())
	}
}
