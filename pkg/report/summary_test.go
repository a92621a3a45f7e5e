package report

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
)

// TestSummaryRoundTrip: a summary that fits keeps everything, to the
// millisecond.
func TestSummaryRoundTrip(t *testing.T) {
	for name, data := range map[string]func() *Data{"canary": canaryData, "bluegreen": blueGreenData} {
		t.Run(name, func(t *testing.T) {
			d := data()
			s, err := Encode(d, 0)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %d bytes encoded", name, len(s))
			if len(s) > SummaryLimit {
				t.Errorf("%d bytes, more than %d", len(s), SummaryLimit)
			}
			got, err := Decode(s)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(d, got); diff != "" {
				t.Errorf("decoded summary (-want +got):\n%s", diff)
			}
		})
	}
}

// longRollout is a rolling update of 30 replicas over 12 minutes with a
// sample at every endpoint change (a few thousand), and one 40 ms dip to no
// ready endpoint in the middle.
func longRollout() *Data {
	rng := rand.New(rand.NewPCG(1, 2))
	var tl []downtime.Sample
	at := time.Duration(0)
	const steps = 3000
	for i := range steps {
		at += time.Duration(100+rng.IntN(300)) * time.Millisecond
		nu := min(30, i*30/(steps-300))
		old := 30 - nu
		if rng.IntN(3) == 0 && old > 0 { // a pod flaps
			tl = append(tl, sample(at, old-1, nu))
			at += 80 * time.Millisecond
		}
		if i == steps/2 {
			tl = append(tl, sample(at, 0, 0))
			at += 40 * time.Millisecond
		}
		tl = append(tl, sample(at, old, nu))
	}
	rep := downtime.Summarize("shop/web", tl, t0, t0.Add(at+2*time.Second))
	d := FromDowntime(rep, map[string]string{"aaa": "v1", "bbb": "v2"})
	d.Facts.Kind, d.Facts.Namespace, d.Facts.Name, d.Facts.Strategy = "Deployment", "shop", "web", "rolling"
	d.Facts.Message = strings.Repeat("a long message from the cluster ", 200)
	d.AddPhase("apply", t0.Add(time.Second))
	d.AddPhase("done", t0.Add(at))
	d.Probe = &Probe{Width: time.Second}
	for s := time.Duration(0); s < at; s += time.Second {
		d.Probe.Buckets = append(d.Probe.Buckets, Bucket{Time: t0.Add(s), Counts: map[string]Count{"v1": {Sent: 10 + rng.IntN(3)}, "v2": {Sent: 10, Failed: rng.IntN(2)}}})
	}
	for i := range 300 {
		v := rng.Float64() / 10
		verdict := "passed"
		if v > 0.095 {
			verdict = "failed"
		}
		d.Analysis = append(d.Analysis[:0:0], d.Analysis...)
		if i == 0 {
			d.Analysis = []Metric{{Name: "error-rate", Max: f64(0.095)}}
		}
		d.Analysis[0].Points = append(d.Analysis[0].Points, Measure{Time: t0.Add(time.Duration(i) * 2 * time.Second), Value: &v, Verdict: verdict})
	}
	return &d
}

func sample(at time.Duration, old, nu int) downtime.Sample {
	by := map[string]int{}
	if old > 0 {
		by["aaa"] = old
	}
	if nu > 0 {
		by["bbb"] = nu
	}
	return downtime.Sample{Time: t0.Add(at), Ready: old + nu, ByHash: by}
}

// TestSummaryFitsAndKeepsDips: a long timeline is downsampled to fit 4 KiB,
// and what a person must see survives: the dip to zero, each version's
// course, the failed measurements, every failed request.
func TestSummaryFitsAndKeepsDips(t *testing.T) {
	d := longRollout()
	var points int
	for _, s := range d.Versions {
		points += len(s.Points)
	}
	s, err := Encode(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d samples, %d version points, %d probe buckets, %d measurements: %d bytes encoded", len(d.Ready), points, len(d.Probe.Buckets), len(d.Analysis[0].Points), len(s))
	if len(s) > SummaryLimit {
		t.Fatalf("%d bytes, more than %d", len(s), SummaryLimit)
	}
	got, err := Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	if got.Facts.MinReady != 0 || got.Facts.ZeroFor != d.Facts.ZeroFor {
		t.Errorf("figures: min %d, zero for %s; want 0 and %s", got.Facts.MinReady, got.Facts.ZeroFor, d.Facts.ZeroFor)
	}
	if min := minPoint(got.Ready); min != 0 {
		t.Errorf("the dip to 0 ready endpoints was lost: lowest kept %d", min)
	}
	for i, s := range got.Versions {
		want := d.Versions[i]
		if first, last := valueAt(s.Points, got.Start), valueAt(s.Points, got.End); first != valueAt(want.Points, d.Start) || last != valueAt(want.Points, d.End) {
			t.Errorf("version %s goes %d to %d, want %d to %d", s.Name, first, last, valueAt(want.Points, d.Start), valueAt(want.Points, d.End))
		}
	}
	sumFailed := func(p *Probe) (n int) {
		if p == nil {
			return -1
		}
		for _, b := range p.Buckets {
			n += b.Total().Failed
		}
		return n
	}
	if g, w := sumFailed(got.Probe), sumFailed(d.Probe); g != w {
		t.Errorf("%d failed requests kept, want %d", g, w)
	}
	var failed, wantFailed int
	for _, m := range d.Analysis[0].Points {
		if m.Verdict != "passed" {
			wantFailed++
		}
	}
	if len(got.Analysis) == 1 {
		for _, m := range got.Analysis[0].Points {
			if m.Verdict != "passed" {
				failed++
			}
		}
	}
	if failed != wantFailed {
		t.Errorf("%d failed measurements kept, want %d", failed, wantFailed)
	}
	if !strings.HasSuffix(got.Facts.Message, "…") || len(got.Facts.Message) > 1024 {
		t.Errorf("the long message was not shortened: %d bytes", len(got.Facts.Message))
	}
	// and it still draws
	var buf bytes.Buffer
	if err := Timeline(&buf, got, TextOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), unicodeGlyphs.zero) {
		t.Errorf("the timeline of the decoded summary does not show the dip:\n%s", buf.String())
	}
}

func minPoint(ps []Point) int {
	m := -1
	for _, p := range ps {
		if m < 0 || p.Value < m {
			m = p.Value
		}
	}
	return m
}

func TestSummaryTooLarge(t *testing.T) {
	d := canaryData()
	for i := range 200 {
		d.Versions = append(d.Versions, Series{Name: fmt.Sprintf("version-%03d-%x", i, rand.Uint64())})
	}
	if _, err := Encode(d, 1000); err == nil {
		t.Error("a summary that cannot fit 1000 bytes was encoded")
	}
}

// gz encodes a JSON text as a summary, bypassing Encode's checks.
func gz(js string) string {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	io.WriteString(zw, js)
	zw.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// TestDecodeRejects: what the cluster may hold that is not a summary, or
// not one to draw.
func TestDecodeRejects(t *testing.T) {
	bomb := func() string {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		zw.Write([]byte(`{"v":1,"f":{"msg":"`))
		zw.Write(bytes.Repeat([]byte("a"), 4<<20))
		zw.Write([]byte(`"}}`))
		zw.Close()
		return base64.StdEncoding.EncodeToString(buf.Bytes())
	}()
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "empty"},
		{"not base64", "%%%", "not base64"},
		{"not gzip", base64.StdEncoding.EncodeToString([]byte("hello")), "not gzip"},
		{"not JSON", gz("hello"), "not valid"},
		{"too long", strings.Repeat("A", maxEncoded+4), "more than"},
		{"gzip bomb", bomb, "decompresses to more than"},
		{"newer version", gz(`{"v":2}`), "version 2"},
		{"negative value", gz(`{"v":1,"r":[[0,-1]]}`), "the value -1"},
		{"time out of range", gz(`{"v":1,"p":[{"n":"x","t":9223372036854775807}]}`), "out of range"},
		{"negative duration", gz(`{"v":1,"d":-5}`), "duration"},
		{"backwards gap", gz(`{"v":1,"g":[[10,5]]}`), "a gap"},
		{"zero-width probe", gz(`{"v":1,"q":{"w":0,"b":[]}}`), "wide"},
		{"negative requests", gz(`{"v":1,"q":{"w":1000,"b":[{"t":0,"c":{"v1":[-3,0]}}]}}`), "counts"},
		{"long name", gz(`{"v":1,"s":[{"n":"` + strings.Repeat("n", 300) + `","p":[]}]}`), "a version's name"},
		{"too many points", gz(`{"v":1,"r":[` + strings.Repeat("[0,1],", maxPoints) + `[0,1]]}`), "more than 4096"},
		{"wrong type", gz(`{"v":"1"}`), "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Decode: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

func TestDecodeSortsAndDrawsHandWritten(t *testing.T) {
	// out of order, unknown fields ignored (a newer writer's additions)
	d, err := Decode(gz(`{"v":1,"t":1700000000000,"d":60000,"x":"new","r":[[30000,1],[0,3]],"p":[{"n":"b","t":20000},{"n":"a","t":10000}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if d.Ready[0].Value != 3 || d.Phases[0].Name != "a" {
		t.Errorf("points not in time order: %+v %+v", d.Ready, d.Phases)
	}
	var buf bytes.Buffer
	if err := Timeline(&buf, d, TextOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	if err := HTML(&buf, d, HTMLOptions{}); err != nil {
		t.Fatal(err)
	}
}

// FuzzDecode: any annotation value either decodes into a summary that
// draws and encodes again to the same data, or is refused with an error;
// nothing panics or runs away.
func FuzzDecode(f *testing.F) {
	for _, d := range []*Data{canaryData(), blueGreenData(), {}} {
		s, err := Encode(d, 0)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
	}
	f.Add(gz(`{"v":1,"t":0,"d":1,"r":[[0,1]],"s":[{"n":"a","p":[[0,1],[1,0]]}],"a":[{"n":"m","lo":-1e308,"hi":1e308,"p":[{"t":0,"v":1e308,"r":"passed"}]}],"q":{"w":1,"b":[{"t":-5,"c":{"":[1,1]}}]}}`))
	f.Add("H4sIAAAAAAAA/w==")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Decode(s)
		if err != nil {
			return
		}
		if err := Timeline(io.Discard, d, TextOptions{Width: 80}); err != nil {
			t.Fatal(err)
		}
		if err := Timeline(io.Discard, d, TextOptions{Width: 40, ASCII: true}); err != nil {
			t.Fatal(err)
		}
		if err := HTML(io.Discard, d, HTMLOptions{}); err != nil {
			t.Fatal(err)
		}
		again, err := Encode(d, maxEncoded)
		if err != nil {
			return // a valid summary can be bigger than Encode makes them
		}
		d2, err := Decode(again)
		if err != nil {
			t.Fatalf("a decoded summary, encoded again, does not decode: %v", err)
		}
		if d2.Facts != d.Facts && !strings.HasSuffix(d2.Facts.Message, "…") {
			t.Errorf("facts changed in a round trip (-first +second):\n%s", cmp.Diff(d.Facts, d2.Facts))
		}
	})
}
