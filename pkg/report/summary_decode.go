package report

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"time"
)

// Decode reads a summary written by Encode. The summary comes from the
// cluster, where anyone allowed to patch the object may have written it:
// Decode bounds what it reads and checks every value, and says what is
// wrong instead of drawing nonsense.
func Decode(s string) (*Data, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("the release summary is empty")
	}
	if len(s) > maxEncoded {
		return nil, fmt.Errorf("the release summary is %d bytes, more than the %d a summary may take", len(s), maxEncoded)
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("the release summary is not base64: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("the release summary is not gzip: %w", err)
	}
	js, err := io.ReadAll(io.LimitReader(zr, maxDecoded+1))
	if err != nil {
		return nil, fmt.Errorf("the release summary does not decompress: %w", err)
	}
	if len(js) > maxDecoded {
		return nil, fmt.Errorf("the release summary decompresses to more than %d bytes", maxDecoded)
	}
	var w wireSummary
	if err := json.Unmarshal(js, &w); err != nil {
		return nil, fmt.Errorf("the release summary is not valid: %w", err)
	}
	if err := w.check(); err != nil {
		return nil, fmt.Errorf("the release summary is not valid: %w", err)
	}
	return w.data(), nil
}

func checkOffset(what string, ms int64) error {
	if ms < -maxOffsetMillis || ms > maxOffsetMillis {
		return fmt.Errorf("%s at %d ms is out of range", what, ms)
	}
	return nil
}

func checkText(what, s string, n int) error {
	if len(s) > n {
		return fmt.Errorf("%s is %d bytes, more than %d", what, len(s), n)
	}
	return nil
}

func checkPoints(what string, ps [][2]int64) error {
	if len(ps) > maxPoints {
		return fmt.Errorf("%s has %d points, more than %d", what, len(ps), maxPoints)
	}
	for _, p := range ps {
		if err := checkOffset(what, p[0]); err != nil {
			return err
		}
		if p[1] < 0 || p[1] > math.MaxInt32 {
			return fmt.Errorf("%s has the value %d", what, p[1])
		}
	}
	return nil
}

func (w *wireSummary) check() error {
	if w.V != summaryVersion {
		return fmt.Errorf("version %d is not one this kubectl zdd reads (%d)", w.V, summaryVersion)
	}
	if err := checkOffset("the start", w.T); err != nil {
		return err
	}
	if w.D < 0 || w.D > maxOffsetMillis {
		return fmt.Errorf("the duration %d ms is out of range", w.D)
	}
	f := w.F
	for _, t := range []struct {
		what, s string
		n       int
	}{
		{"the kind", f.Kind, maxName}, {"the namespace", f.Namespace, maxName}, {"the name", f.Name, maxName},
		{"the service", f.Service, maxName}, {"the strategy", f.Strategy, maxName}, {"the operation id", f.ID, maxName},
		{"who", f.Who, maxName}, {"the from revision", f.From, maxName}, {"the to revision", f.To, maxName},
		{"the result", f.Result, maxName}, {"the message", f.Message, maxText},
	} {
		if err := checkText(t.what, t.s, t.n); err != nil {
			return err
		}
	}
	for _, t := range []int64{f.Started, f.Ended} {
		if err := checkOffset("a time", t); err != nil {
			return err
		}
	}
	if f.MinReady < 0 || f.MinReady > math.MaxInt32 {
		return fmt.Errorf("the minimum of ready endpoints %d is out of range", f.MinReady)
	}
	if f.ZeroFor < 0 || f.ZeroFor > maxOffsetMillis {
		return fmt.Errorf("the time with none ready %d ms is out of range", f.ZeroFor)
	}
	if len(w.S) > maxSeries {
		return fmt.Errorf("%d versions, more than %d", len(w.S), maxSeries)
	}
	for _, s := range w.S {
		if err := checkText("a version's name", s.N, maxName); err != nil {
			return err
		}
		if err := checkText("a version's hash", s.H, maxName); err != nil {
			return err
		}
		if err := checkPoints(fmt.Sprintf("version %q", s.N), s.P); err != nil {
			return err
		}
	}
	if err := checkPoints("the ready endpoints", w.R); err != nil {
		return err
	}
	if err := checkPoints("the gaps", w.G); err != nil {
		return err
	}
	for _, g := range w.G {
		if g[1] < g[0] || g[1] > maxOffsetMillis {
			return fmt.Errorf("a gap from %d ms to %d ms", g[0], g[1])
		}
	}
	if len(w.P) > maxPoints {
		return fmt.Errorf("%d phases, more than %d", len(w.P), maxPoints)
	}
	for _, p := range w.P {
		if err := checkText("a phase's name", p.N, maxName); err != nil {
			return err
		}
		if err := checkOffset("a phase", p.T); err != nil {
			return err
		}
	}
	if len(w.A) > maxSeries {
		return fmt.Errorf("%d metrics, more than %d", len(w.A), maxSeries)
	}
	for _, m := range w.A {
		if err := checkText("a metric's name", m.N, maxName); err != nil {
			return err
		}
		if len(m.P) > maxPoints {
			return fmt.Errorf("metric %q has %d measurements, more than %d", m.N, len(m.P), maxPoints)
		}
		for _, p := range m.P {
			if err := checkOffset("a measurement", p.T); err != nil {
				return err
			}
			if err := checkText("a verdict", p.R, maxName); err != nil {
				return err
			}
		}
	}
	if q := w.Q; q != nil {
		if q.W <= 0 || q.W > maxOffsetMillis {
			return fmt.Errorf("the probe's buckets are %d ms wide", q.W)
		}
		if len(q.B) > maxBuckets {
			return fmt.Errorf("the probe has %d buckets, more than %d", len(q.B), maxBuckets)
		}
		for _, b := range q.B {
			if err := checkOffset("a probe bucket", b.T); err != nil {
				return err
			}
			if len(b.C) > maxBucketKeys {
				return fmt.Errorf("a probe bucket has %d versions, more than %d", len(b.C), maxBucketKeys)
			}
			for v, c := range b.C {
				if err := checkText("a probe version", v, maxName); err != nil {
					return err
				}
				if c[0] < 0 || c[1] < 0 || c[0] > math.MaxInt32 || c[1] > math.MaxInt32 {
					return fmt.Errorf("a probe bucket counts %d sent, %d failed", c[0], c[1])
				}
			}
		}
	}
	return nil
}

// data turns a checked summary back into Data, points in time order.
func (w *wireSummary) data() *Data {
	start := time.UnixMilli(w.T).UTC()
	at := func(ms int64) time.Time { return start.Add(time.Duration(ms) * time.Millisecond) }
	unix := func(ms int64) time.Time {
		if ms == 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms).UTC()
	}
	points := func(ps [][2]int64) []Point {
		if len(ps) == 0 {
			return nil
		}
		out := make([]Point, len(ps))
		for i, p := range ps {
			out[i] = Point{Time: at(p[0]), Value: int(p[1])}
		}
		slices.SortStableFunc(out, func(a, b Point) int { return a.Time.Compare(b.Time) })
		return out
	}
	f := w.F
	d := &Data{
		Start: start,
		End:   at(w.D),
		Facts: Facts{
			Kind: f.Kind, Namespace: f.Namespace, Name: f.Name, Service: f.Service, Strategy: f.Strategy,
			OperationID: f.ID, Who: f.Who, Started: unix(f.Started), Ended: unix(f.Ended),
			FromRevision: f.From, ToRevision: f.To, Result: f.Result, Message: f.Message,
			MinReady: f.MinReady, ZeroFor: time.Duration(f.ZeroFor) * time.Millisecond,
			Unwatched: f.Unwatched,
		},
		Ready: points(w.R),
	}
	for _, s := range w.S {
		d.Versions = append(d.Versions, Series{Name: s.N, Hash: s.H, Points: points(s.P)})
	}
	for _, g := range w.G {
		d.Gaps = append(d.Gaps, Span{From: at(g[0]), To: at(g[1])})
	}
	for _, p := range w.P {
		d.Phases = append(d.Phases, Phase{Name: p.N, Time: at(p.T)})
	}
	slices.SortStableFunc(d.Phases, func(a, b Phase) int { return a.Time.Compare(b.Time) })
	for _, m := range w.A {
		dm := Metric{Name: m.N, Min: m.Lo, Max: m.Hi}
		for _, p := range m.P {
			dm.Points = append(dm.Points, Measure{Time: at(p.T), Value: p.V, Verdict: p.R})
		}
		slices.SortStableFunc(dm.Points, func(a, b Measure) int { return a.Time.Compare(b.Time) })
		d.Analysis = append(d.Analysis, dm)
	}
	if q := w.Q; q != nil {
		p := &Probe{Width: time.Duration(q.W) * time.Millisecond}
		for _, b := range q.B {
			c := make(map[string]Count, len(b.C))
			for v, n := range b.C {
				c[v] = Count{Sent: n[0], Failed: n[1]}
			}
			p.Buckets = append(p.Buckets, Bucket{Time: at(b.T), Counts: c})
		}
		slices.SortStableFunc(p.Buckets, func(a, b Bucket) int { return a.Time.Compare(b.Time) })
		d.Probe = p
	}
	return d
}
