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
	"sort"
	"strings"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// SummaryAnnotation is the annotation that holds the summary of the last
// operation on the object that holds its record (the Deployment for
// rollout and canary, the Service for blue-green): what `kubectl zdd
// report` draws.
const SummaryAnnotation = state.Prefix + "summary"

// SummaryLimit is the most an encoded summary takes: 4 KiB, a small share
// of the 256 KiB all annotations of an object may hold.
const SummaryLimit = 4096

// The bounds Decode enforces on data read from the cluster: anyone who may
// patch the object writes the annotation.
const (
	maxEncoded      = 32 << 10  // an encoded summary
	maxDecoded      = 512 << 10 // its JSON, once decompressed
	maxSeries       = 64
	maxPoints       = 4096 // per series, metric, phases, gaps
	maxBuckets      = 8192
	maxBucketKeys   = 64
	maxText         = 4096
	maxName         = 256
	maxOffsetMillis = int64(100 * 365 * 24 * time.Hour / time.Millisecond)
)

// summaryVersion is the version of the encoding.
const summaryVersion = 1

// ErrTooLarge is returned by Encode when even the most reduced summary is
// over the limit.
var ErrTooLarge = errors.New("the release summary does not fit its size limit")

// The encoding: JSON with short keys, times in milliseconds (the axis's
// start as a Unix time, everything else after it), gzip, base64.
type wireSummary struct {
	V int         `json:"v"`
	F wireFacts   `json:"f"`
	T int64       `json:"t"` // Start, Unix milliseconds
	D int64       `json:"d"` // End - Start
	S []wireSerie `json:"s,omitempty"`
	R [][2]int64  `json:"r,omitempty"` // ready: [offset, value]
	G [][2]int64  `json:"g,omitempty"` // gaps: [from, to]
	P []wireMark  `json:"p,omitempty"`
	A []wireMet   `json:"a,omitempty"`
	Q *wireProbe  `json:"q,omitempty"`
	// Z is set when the series were downsampled to fit (how many points
	// each kept at most).
	Z int `json:"z,omitempty"`
}

type wireFacts struct {
	Kind      string `json:"k,omitempty"`
	Namespace string `json:"ns,omitempty"`
	Name      string `json:"n,omitempty"`
	Service   string `json:"svc,omitempty"`
	Strategy  string `json:"st,omitempty"`
	ID        string `json:"id,omitempty"`
	Who       string `json:"who,omitempty"`
	Started   int64  `json:"t0,omitempty"` // Unix milliseconds
	Ended     int64  `json:"t1,omitempty"`
	From      string `json:"from,omitempty"`
	To        string `json:"to,omitempty"`
	Result    string `json:"res,omitempty"`
	Message   string `json:"msg,omitempty"`
	MinReady  int    `json:"min"`
	ZeroFor   int64  `json:"zero,omitempty"`
	Unwatched bool   `json:"u,omitempty"`
}

type wireSerie struct {
	N string     `json:"n"`
	H string     `json:"h,omitempty"`
	P [][2]int64 `json:"p"`
}

type wireMark struct {
	N string `json:"n"`
	T int64  `json:"t"`
}

type wireMet struct {
	N  string     `json:"n"`
	Lo *float64   `json:"lo,omitempty"`
	Hi *float64   `json:"hi,omitempty"`
	P  []wireMeas `json:"p"`
}

type wireMeas struct {
	T int64    `json:"t"`
	V *float64 `json:"v,omitempty"`
	R string   `json:"r"`
}

type wireProbe struct {
	W int64        `json:"w"`
	B []wireBucket `json:"b"`
}

type wireBucket struct {
	T int64             `json:"t"`
	C map[string][2]int `json:"c"` // version: [sent, failed]
}

// reduction is how much Encode leaves out to fit.
type reduction struct {
	points  int // per series, metric and phases (0: all)
	message int // characters of the message
	probe   bool
	metrics bool
}

// reductions are tried in order until the summary fits.
var reductions = []reduction{
	{0, maxText, true, true},
	{1024, 1024, true, true},
	{512, 1024, true, true},
	{256, 512, true, true},
	{128, 512, true, true},
	{64, 256, true, true},
	{32, 256, true, true},
	{16, 256, true, true},
	{16, 256, false, true},
	{8, 128, false, true},
	{8, 128, false, false},
	{4, 64, false, false},
}

// Encode writes d as a summary for SummaryAnnotation in at most limit
// bytes (SummaryLimit when limit is 0): everything when it fits, else the
// series, phases, analysis and probe buckets downsampled (keeping each
// span's lowest and highest values, so a dip stays visible; the figures in
// Facts stay exact), the message shortened, then the probe and the
// analysis left out. ErrTooLarge when nothing fits.
func Encode(d *Data, limit int) (string, error) {
	if limit <= 0 {
		limit = SummaryLimit
	}
	for _, r := range reductions {
		s, err := encode(toWire(d, r))
		if err != nil {
			return "", err
		}
		if len(s) <= limit {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w (%d bytes)", ErrTooLarge, limit)
}

func encode(w *wireSummary) (string, error) {
	js, err := json.Marshal(w)
	if err != nil {
		return "", fmt.Errorf("encoding the release summary: %w", err)
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := zw.Write(js); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes()), nil
}

func toWire(d *Data, r reduction) *wireSummary {
	ms := func(t time.Time) int64 { return t.Sub(d.Start).Milliseconds() }
	unix := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	f := d.Facts
	w := &wireSummary{
		V: summaryVersion,
		T: d.Start.UnixMilli(),
		D: max(d.End.Sub(d.Start).Milliseconds(), 0),
		Z: r.points,
		F: wireFacts{
			Kind: clip(f.Kind, maxName), Namespace: clip(f.Namespace, maxName), Name: clip(f.Name, maxName),
			Service: clip(f.Service, maxName), Strategy: clip(f.Strategy, maxName), ID: clip(f.OperationID, maxName),
			Who: clip(f.Who, maxName), Started: unix(f.Started), Ended: unix(f.Ended),
			From: clip(f.FromRevision, maxName), To: clip(f.ToRevision, maxName), Result: clip(f.Result, maxName),
			Message: clip(f.Message, r.message), MinReady: f.MinReady, ZeroFor: f.ZeroFor.Milliseconds(),
			Unwatched: f.Unwatched,
		},
	}
	points := func(ps []Point) [][2]int64 {
		ps = downsample(d, ps, r.points)
		out := make([][2]int64, len(ps))
		for i, p := range ps {
			out[i] = [2]int64{ms(p.Time), int64(p.Value)}
		}
		return out
	}
	for i, s := range d.Versions {
		if i == maxSeries {
			break
		}
		w.S = append(w.S, wireSerie{N: clip(s.Name, maxName), H: clip(s.Hash, maxName), P: points(s.Points)})
	}
	w.R = points(d.Ready)
	for i, g := range d.Gaps {
		if i == maxPoints {
			break
		}
		w.G = append(w.G, [2]int64{ms(g.From), ms(g.To)})
	}
	for _, i := range keep(len(d.Phases), r.points) {
		w.P = append(w.P, wireMark{N: clip(d.Phases[i].Name, maxName), T: ms(d.Phases[i].Time)})
	}
	if r.metrics {
		for i, m := range d.Analysis {
			if i == maxSeries {
				break
			}
			wm := wireMet{N: clip(m.Name, maxName), Lo: finite(m.Min), Hi: finite(m.Max)}
			for _, j := range keepMeasures(m.Points, r.points) {
				p := m.Points[j]
				wm.P = append(wm.P, wireMeas{T: ms(p.Time), V: finite(p.Value), R: clip(p.Verdict, maxName)})
			}
			w.A = append(w.A, wm)
		}
	}
	if r.probe && d.Probe != nil && len(d.Probe.Buckets) > 0 {
		p := mergeBuckets(d.Probe, r.points)
		q := &wireProbe{W: p.Width.Milliseconds()}
		for _, b := range p.Buckets {
			c := map[string][2]int{}
			for v, n := range b.Counts {
				if len(c) == maxBucketKeys {
					break
				}
				c[clip(v, maxName)] = [2]int{n.Sent, n.Failed}
			}
			q.B = append(q.B, wireBucket{T: ms(b.Time), C: c})
		}
		w.Q = q
	}
	return w
}

// clip cuts s to n bytes at most, on a character boundary, marking the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:max(cut, 0)] + "…"
}

func finite(v *float64) *float64 {
	if v == nil || math.IsNaN(*v) || math.IsInf(*v, 0) {
		return nil
	}
	return v
}

// keep returns the indices of n items to keep when at most limit may be
// (0: all): evenly spread, the first and the last among them.
func keep(n, limit int) []int {
	out := make([]int, 0, n)
	if limit <= 0 || n <= limit {
		for i := range n {
			out = append(out, i)
		}
		return out
	}
	for k := range limit {
		i := 0
		if limit > 1 {
			i = k * (n - 1) / (limit - 1)
		}
		if len(out) == 0 || out[len(out)-1] != i {
			out = append(out, i)
		}
	}
	return out
}

// keepMeasures keeps at most limit measurements: every one that did not
// pass first, then passed ones evenly spread.
func keepMeasures(ms []Measure, limit int) []int {
	if limit <= 0 || len(ms) <= limit {
		return keep(len(ms), 0)
	}
	var bad, good []int
	for i, m := range ms {
		if m.Verdict == "passed" {
			good = append(good, i)
		} else {
			bad = append(bad, i)
		}
	}
	if len(bad) >= limit {
		var out []int
		for _, k := range keep(len(bad), limit) {
			out = append(out, bad[k])
		}
		return out
	}
	out := bad
	for _, k := range keep(len(good), limit-len(bad)) {
		out = append(out, good[k])
	}
	slices.Sort(out)
	return out
}

// downsample reduces a step series to at most limit points (0: all): the
// axis is cut into limit/3 spans, and each span keeps its lowest, highest
// and last point, so dips and peaks stay and each span ends where it did.
func downsample(d *Data, ps []Point, limit int) []Point {
	if limit <= 0 || len(ps) <= limit {
		return ps
	}
	spans := max(limit/3, 1)
	var out []Point
	add := func(p Point) {
		if n := len(out); n > 0 && out[n-1].Value == p.Value {
			return
		}
		if n := len(out); n > 0 && out[n-1].Time.Equal(p.Time) {
			out[n-1] = p
			return
		}
		out = append(out, p)
	}
	span := d.span()
	for i := 0; i < len(ps); {
		k := int(float64(ps[i].Time.Sub(d.Start)) / float64(span) * float64(spans))
		j := i
		lo, hi := i, i
		for j < len(ps) && int(float64(ps[j].Time.Sub(d.Start))/float64(span)*float64(spans)) == k {
			if ps[j].Value < ps[lo].Value {
				lo = j
			}
			if ps[j].Value > ps[hi].Value {
				hi = j
			}
			j++
		}
		if j == i { // cannot happen (ps[i] is in span k); never loop for ever
			j = i + 1
		}
		idx := []int{lo, hi, j - 1}
		slices.Sort(idx)
		for n, x := range idx {
			if n > 0 && idx[n-1] == x {
				continue
			}
			add(ps[x])
		}
		i = j
	}
	if len(out) > limit { // spans of points out of order: fall back to spreading
		var spread []Point
		for _, i := range keep(len(out), limit) {
			spread = append(spread, out[i])
		}
		out = spread
	}
	return out
}

// mergeBuckets merges neighbouring buckets until at most limit remain
// (0: all), widening them.
func mergeBuckets(p *Probe, limit int) *Probe {
	if limit <= 0 || len(p.Buckets) <= limit {
		return p
	}
	width := p.Width
	if width <= 0 {
		width = time.Second
	}
	buckets := append([]Bucket(nil), p.Buckets...)
	sort.SliceStable(buckets, func(i, j int) bool { return buckets[i].Time.Before(buckets[j].Time) })
	first := buckets[0].Time
	last := buckets[len(buckets)-1].Time
	factor := 1
	for factor < 1<<30 && int(last.Sub(first)/(width*time.Duration(factor)))+1 > limit {
		factor *= 2
	}
	w := width * time.Duration(factor)
	out := &Probe{Width: w}
	for _, b := range buckets {
		start := first.Add(b.Time.Sub(first) / w * w)
		if n := len(out.Buckets); n == 0 || !out.Buckets[n-1].Time.Equal(start) {
			out.Buckets = append(out.Buckets, Bucket{Time: start, Counts: map[string]Count{}})
		}
		cur := out.Buckets[len(out.Buckets)-1].Counts
		for v, c := range b.Counts {
			t := cur[v]
			t.Sent += c.Sent
			t.Failed += c.Failed
			cur[v] = t
		}
	}
	return out
}

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
