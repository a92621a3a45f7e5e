package report

import (
	"math"
	"slices"
	"sort"
	"time"
)

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
