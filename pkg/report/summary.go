package report

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
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
