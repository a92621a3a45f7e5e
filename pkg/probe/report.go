package probe

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// Why a probe ended (Report.Ended).
const (
	EndedRunning     = ""             // a Snapshot of a probe still sending
	EndedDuration    = "duration"     // it ran for Options.Duration
	EndedStopped     = "stopped"      // Stop was called
	EndedCancelled   = "cancelled"    // its context was cancelled (Ctrl-C, the command ended)
	EndedMaxDuration = "max-duration" // it reached Options.MaxDuration, its hard bound
)

// NoVersion is the version of an answer that lacks the version header, and
// OtherVersions holds the answers of the versions beyond MaxVersions.
const (
	NoVersion     = "(none)"
	OtherVersions = "(others)"
)

// Report is what a probe measured. It is JSON-serialisable as it is (the
// `-o json` of the commands that probe); every duration is in seconds.
type Report struct {
	URL string `json:"url"`
	// Rate is the requests sent per second, Timeout the bound of each.
	Rate           int     `json:"rate"`
	TimeoutSeconds float64 `json:"timeoutSeconds"`
	Expect         string  `json:"expect"`
	// Start is when the first request was due; Seconds how long the probe
	// sent requests.
	Start   time.Time `json:"start"`
	Seconds float64   `json:"seconds"`
	// Sent counts the requests sent: each Succeeded, Failed or was still
	// Unfinished when the probe was cut short (Ctrl-C): those are not
	// judged.
	Sent       int `json:"sent"`
	Succeeded  int `json:"succeeded"`
	Failed     int `json:"failed"`
	Unfinished int `json:"unfinished,omitempty"`
	// Skipped counts the requests that were due but not sent: too many
	// were in flight already, or this machine fell more than a second
	// behind the schedule. They are neither a success nor a failure.
	Skipped int `json:"skipped,omitempty"`
	// FailedByKind counts the failures by kind: refused, reset, timeout,
	// eof, unreachable, dns, tls, other, or "status NNN".
	FailedByKind map[string]int `json:"failedByKind,omitempty"`
	// P50Seconds and P99Seconds are the latency percentiles of the
	// requests that succeeded (to within 1%), from sending the request
	// to the end of the answer's body.
	P50Seconds float64 `json:"p50Seconds"`
	P99Seconds float64 `json:"p99Seconds"`
	// VersionHeader names the response header that carries the version;
	// Versions counts the answers per version (NoVersion for an answer
	// without it). Failures with no answer (refused, timeout, ...) belong
	// to no version.
	VersionHeader string                  `json:"versionHeader,omitempty"`
	Versions      map[string]VersionCount `json:"versions,omitempty"`
	// Failures lists the failures in groups (one kind, each failure within
	// a second of the one before), in time order; at most MaxFailureGroups,
	// the rest counted in FailureGroupsDropped.
	Failures             []FailureGroup `json:"failures,omitempty"`
	FailureGroupsDropped int            `json:"failureGroupsDropped,omitempty"`
	// MaxFailed is the failure budget (NoBudget: none); Exceeded is set
	// once more requests than that failed, at ExceededAt.
	MaxFailed  int        `json:"maxFailedRequests"`
	Exceeded   bool       `json:"exceeded"`
	ExceededAt *time.Time `json:"exceededAt,omitempty"`
	// Ended says why the probe stopped (EndedDuration, EndedStopped,
	// EndedCancelled, EndedMaxDuration; empty while it runs).
	Ended string `json:"ended,omitempty"`
}

// VersionCount is the answers of one version.
type VersionCount struct {
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
}

// FailureGroup is a run of failures of one kind.
type FailureGroup struct {
	// Time is when the first request of the group was sent; AtSeconds the
	// same, in seconds after the probe's start.
	Time      time.Time `json:"time"`
	AtSeconds float64   `json:"atSeconds"`
	Kind      string    `json:"kind"`
	Count     int       `json:"count"`
	// LastSeconds is when the last request of the group was sent, after
	// the probe's start.
	LastSeconds float64 `json:"lastSeconds"`
	// Detail is the error of the first failure of the group (header
	// values redacted).
	Detail string `json:"detail,omitempty"`
}

// MaxFailureGroups bounds Report.Failures.
const MaxFailureGroups = 100

// String is the report on one line: sent, failed by kind, latency, and the
// answers per version when a version header was named.
//
//	requests: 600 sent in 30.0s, 3 failed (refused 3), p50 1.2ms, p99 5.3ms; v1 297 ok 1 failed, v2 299 ok
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "requests: %d sent in %.1fs, %d failed", r.Sent, r.Seconds, r.Failed)
	if len(r.FailedByKind) > 0 {
		b.WriteString(" (" + kindList(r.FailedByKind) + ")")
	}
	if r.Succeeded > 0 {
		fmt.Fprintf(&b, ", p50 %s, p99 %s", latency(r.P50Seconds), latency(r.P99Seconds))
	}
	if r.Skipped > 0 {
		fmt.Fprintf(&b, ", %d not sent (probe overloaded)", r.Skipped)
	}
	if r.Unfinished > 0 {
		fmt.Fprintf(&b, ", %d unfinished when cut short", r.Unfinished)
	}
	if r.VersionHeader != "" {
		b.WriteString("; ")
		if len(r.Versions) == 0 {
			b.WriteString("no answer carried " + r.VersionHeader)
		}
		for i, v := range sortedKeys(r.Versions) {
			if i > 0 {
				b.WriteString(", ")
			}
			c := r.Versions[v]
			fmt.Fprintf(&b, "%s %d ok", v, c.Succeeded)
			if c.Failed > 0 {
				fmt.Fprintf(&b, " %d failed", c.Failed)
			}
		}
	}
	return b.String()
}

// FailureLines are the failure groups, one a line, for a person to read:
//
//	12:04:05 (+12.3s) refused x3 over 0.4s: dial tcp 10.0.0.7:80: connect: connection refused
func (r *Report) FailureLines() []string {
	var out []string
	for _, g := range r.Failures {
		s := fmt.Sprintf("%s (+%.1fs) %s x%d", g.Time.Format("15:04:05"), g.AtSeconds, g.Kind, g.Count)
		if g.Count > 1 {
			s += fmt.Sprintf(" over %.1fs", g.LastSeconds-g.AtSeconds)
		}
		if g.Detail != "" {
			s += ": " + g.Detail
		}
		out = append(out, s)
	}
	if r.FailureGroupsDropped > 0 {
		out = append(out, fmt.Sprintf("... and %d more groups of failures", r.FailureGroupsDropped))
	}
	return out
}

// KindsText is the failures by kind, the most frequent first:
// "refused 2, reset 1".
func (r *Report) KindsText() string { return kindList(r.FailedByKind) }

// Within says whether the failures stay within the budget: always true
// without one.
func (r *Report) Within() bool { return r.MaxFailed < 0 || r.Failed <= r.MaxFailed }

func kindList(m map[string]int) string {
	keys := sortedKeys(m)
	// the most frequent first; ties by name
	sort.SliceStable(keys, func(i, j int) bool { return m[keys[i]] > m[keys[j]] })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// latency prints seconds the way a person reads a latency: 850µs, 1.2ms,
// 340ms, 1.25s.
func latency(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	}
	return fmt.Sprintf("%.2fs", d.Seconds())
}

// histogram counts latencies in buckets 1% wide, so that a probe of any
// length keeps a fixed amount of memory and its percentiles are within 1%.
type histogram struct {
	counts []int
	n      int
}

// bucketBase is the ratio between the bounds of consecutive buckets.
const bucketBase = 1.01

// The first bucket holds every latency up to 1µs.
func bucketOf(d time.Duration) int {
	us := float64(d) / float64(time.Microsecond)
	if us <= 1 {
		return 0
	}
	return int(math.Log(us)/math.Log(bucketBase)) + 1
}

func (h *histogram) add(d time.Duration) {
	i := bucketOf(d)
	if i >= len(h.counts) {
		grown := make([]int, i+1)
		copy(grown, h.counts)
		h.counts = grown
	}
	h.counts[i]++
	h.n++
}

// quantile is the latency, in seconds, at or below which a share q of the
// latencies lie: the middle of the bucket that holds the ceil(q*n)-th
// smallest (0 when empty).
func (h *histogram) quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	seen := 0
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if i == 0 {
				return 1e-6
			}
			lo := math.Pow(bucketBase, float64(i-1))
			return math.Sqrt(lo*lo*bucketBase) * 1e-6
		}
	}
	return 0
}
