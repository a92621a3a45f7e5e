// Package report draws the picture of a release from data: the ready
// endpoints of the Service per version over the operation (the downtime
// watcher's timeline), the phases (apply, each canary step, the switch,
// retire, rollback), the analysis measurements against their thresholds,
// the request probe's counts per second and version when it ran, and the
// operation's facts. It renders them as a compact terminal timeline
// (Timeline), as one self-contained HTML file (HTML), and as a size-capped
// summary for the operation's record (Encode, Decode), from which `kubectl
// zdd report` draws the last operation on any machine.
//
// Nothing here watches or measures: the data comes from pkg/downtime,
// pkg/analysis and the request probe, gathered by the release commands.
package report

import (
	"cmp"
	"slices"
	"sort"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
)

// Data is everything a release's picture is drawn from. Start and End bound
// the time axis (the downtime watch's Started and Stopped); anything outside
// them is clamped to them.
type Data struct {
	Facts Facts `json:"facts"`
	// Start and End bound the observation.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Versions are the ready endpoints of each version (pod-template-hash),
	// in the order they first had a ready endpoint.
	Versions []Series `json:"versions,omitempty"`
	// Ready is the Service's ready endpoints, all versions together.
	Ready []Point `json:"ready,omitempty"`
	// Gaps are the times the watch was cut off from the API server: what
	// the Service looked like then is not known.
	Gaps []Span `json:"gaps,omitempty"`
	// Phases mark the time axis, in time order.
	Phases   []Phase  `json:"phases,omitempty"`
	Analysis []Metric `json:"analysis,omitempty"`
	// Probe is the request probe's counts, when it ran.
	Probe *Probe `json:"probe,omitempty"`
}

// Facts are what a person asks of an operation first: what, who, when,
// from what to what, and how it ended.
type Facts struct {
	// Kind, Namespace and Name name the object that holds the record
	// (Deployment for rollout and canary, Service for blue-green).
	Kind      string `json:"kind,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	// Service is the Service whose endpoints were watched ("ns/name").
	Service     string `json:"service,omitempty"`
	Strategy    string `json:"strategy,omitempty"`
	OperationID string `json:"operationID,omitempty"`
	// Who ran it (the record's holder: user@host).
	Who          string    `json:"who,omitempty"`
	Started      time.Time `json:"started,omitzero"`
	Ended        time.Time `json:"ended,omitzero"`
	FromRevision string    `json:"fromRevision,omitempty"`
	ToRevision   string    `json:"toRevision,omitempty"`
	// Result is the record's result (succeeded, failed, rolled-back, ...).
	Result  string `json:"result,omitempty"`
	Message string `json:"message,omitempty"`
	// MinReady and ZeroFor are the downtime figures of the whole watch
	// (kept exact when the series are downsampled).
	MinReady int           `json:"minReady"`
	ZeroFor  time.Duration `json:"zeroFor,omitempty"`
	// Unwatched is set when no endpoint watch ran (a resumed rollout, a
	// rollback): the ready endpoints are not known.
	Unwatched bool `json:"unwatched,omitempty"`
}

// Point is a value of a step series: it holds from Time until the next
// point's time (the last one until the end).
type Point struct {
	Time  time.Time `json:"time"`
	Value int       `json:"value"`
}

// Series is the ready endpoints of one version.
type Series struct {
	// Name is what the picture calls it: "v2", "blue", "canary", or the
	// hash when nothing better is known.
	Name string `json:"name"`
	// Hash is its pod-template-hash (downtime.UnknownHash for endpoints
	// whose pod was not known).
	Hash   string  `json:"hash,omitempty"`
	Points []Point `json:"points"`
}

// Span is an interval of time.
type Span struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Phase is a mark on the time axis: "apply", "step 25%", "switch",
// "retire", "rollback", ...
type Phase struct {
	Name string    `json:"name"`
	Time time.Time `json:"time"`
}

// Metric is one analysis metric's measurements and the bounds a passing
// value lies within (either may be unset).
type Metric struct {
	Name   string    `json:"name"`
	Min    *float64  `json:"min,omitempty"`
	Max    *float64  `json:"max,omitempty"`
	Points []Measure `json:"points"`
}

// Measure is one measurement: no Value when the provider gave none (an
// error, no data).
type Measure struct {
	Time    time.Time `json:"time"`
	Value   *float64  `json:"value,omitempty"`
	Verdict string    `json:"verdict"`
}

// Probe is the request probe's counts per time bucket. The probe fills it;
// it is kept plain on purpose: buckets of Width from Start, each with the
// requests sent and failed per version.
type Probe struct {
	// Width is the time each bucket covers (a second, usually).
	Width   time.Duration `json:"width"`
	Buckets []Bucket      `json:"buckets"`
}

// Bucket is the requests of one bucket [Time, Time+Width).
type Bucket struct {
	Time time.Time `json:"time"`
	// Counts are per version: the version the answer named (the probe's
	// version header), NoVersion for failures without an answer
	// (refused, timeout, ...) and answers that named none.
	Counts map[string]Count `json:"counts"`
}

// NoVersion is the version of requests whose answer named none.
const NoVersion = ""

// Count is requests sent and, of them, failed.
type Count struct {
	Sent   int `json:"sent"`
	Failed int `json:"failed"`
}

// Total adds up a bucket's counts over its versions.
func (b Bucket) Total() Count {
	var c Count
	for _, v := range b.Counts {
		c.Sent += v.Sent
		c.Failed += v.Failed
	}
	return c
}

// FromDowntime builds the series of a downtime watch: the ready endpoints
// per pod-template-hash and in all, the gaps, the time axis and the
// downtime figures. names maps a hash to what the picture calls its version
// ("v2", "green"); a hash it does not name is called by the hash.
func FromDowntime(rep downtime.Report, names map[string]string) Data {
	d := Data{
		Start: rep.Started,
		End:   rep.Stopped,
		Facts: Facts{Service: rep.Service, MinReady: rep.MinReady, ZeroFor: rep.ZeroFor},
	}
	// the first sample is the state at Start (the watcher reads the clock
	// twice: once for Start, once for the sample)
	timeAt := func(i int) time.Time {
		if i == 0 && rep.Timeline[0].Time.After(rep.Started) {
			return rep.Started
		}
		return rep.Timeline[i].Time
	}
	type first struct {
		hash string
		at   int // index of the first sample with a ready endpoint
	}
	seen := map[string]int{}
	for i, s := range rep.Timeline {
		for h, n := range s.ByHash {
			if _, ok := seen[h]; !ok && n > 0 {
				seen[h] = i
			}
		}
	}
	order := make([]first, 0, len(seen))
	for h, i := range seen {
		order = append(order, first{h, i})
	}
	sort.Slice(order, func(a, b int) bool {
		if order[a].at != order[b].at {
			return order[a].at < order[b].at
		}
		// hashes ready at the same moment: the one with more endpoints
		// then first (the version that was there), then by hash
		sa, sb := rep.Timeline[order[a].at].ByHash[order[a].hash], rep.Timeline[order[b].at].ByHash[order[b].hash]
		if sa != sb {
			return sa > sb
		}
		return order[a].hash < order[b].hash
	})
	for _, o := range order {
		s := Series{Name: o.hash, Hash: o.hash}
		if n := names[o.hash]; n != "" {
			s.Name = n
		}
		for i := o.at; i < len(rep.Timeline); i++ {
			v := rep.Timeline[i].ByHash[o.hash]
			if n := len(s.Points); n > 0 && s.Points[n-1].Value == v {
				continue
			}
			s.Points = append(s.Points, Point{Time: timeAt(i), Value: v})
		}
		d.Versions = append(d.Versions, s)
	}
	for i, smp := range rep.Timeline {
		if n := len(d.Ready); n > 0 && d.Ready[n-1].Value == smp.Ready {
			continue
		}
		d.Ready = append(d.Ready, Point{Time: timeAt(i), Value: smp.Ready})
	}
	for _, g := range rep.Gaps {
		d.Gaps = append(d.Gaps, Span{From: g.From, To: g.To})
	}
	return d
}

// FromAnalysis groups an analysis result's measurements by metric, in the
// order the metrics were first measured.
func FromAnalysis(res *analysis.Result) []Metric {
	if res == nil {
		return nil
	}
	var out []Metric
	index := map[string]int{}
	for _, m := range res.Measurements {
		i, ok := index[m.Metric]
		if !ok {
			i = len(out)
			index[m.Metric] = i
			out = append(out, Metric{Name: m.Metric, Min: m.Min, Max: m.Max})
		}
		out[i].Points = append(out[i].Points, Measure{Time: m.Time, Value: m.Value, Verdict: string(m.Verdict)})
	}
	return out
}

// AddPhase marks the time axis.
func (d *Data) AddPhase(name string, at time.Time) {
	d.Phases = append(d.Phases, Phase{Name: name, Time: at})
	slices.SortStableFunc(d.Phases, func(a, b Phase) int { return a.Time.Compare(b.Time) })
}

// span is the time axis: End-Start, at least a millisecond.
func (d *Data) span() time.Duration {
	return max(d.End.Sub(d.Start), time.Millisecond)
}

// valueAt is the value of a step series at t (0 before its first point).
func valueAt(points []Point, t time.Time) int {
	i := sort.Search(len(points), func(i int) bool { return points[i].Time.After(t) })
	if i == 0 {
		return 0
	}
	return points[i-1].Value
}

// maxValue is the largest value of the series.
func maxValue(series ...[]Point) int {
	m := 0
	for _, s := range series {
		for _, p := range s {
			m = max(m, p.Value)
		}
	}
	return m
}

// versionNames are the names of the probe's versions, in the order of the
// ready series first and then by name; NoVersion last.
func (p *Probe) versionNames(order []Series) []string {
	set := map[string]bool{}
	for _, b := range p.Buckets {
		for v := range b.Counts {
			set[v] = true
		}
	}
	rank := map[string]int{}
	for i, s := range order {
		rank[s.Name] = i + 1
	}
	names := make([]string, 0, len(set))
	for v := range set {
		names = append(names, v)
	}
	slices.SortFunc(names, func(a, b string) int {
		if (a == NoVersion) != (b == NoVersion) {
			if a == NoVersion {
				return 1
			}
			return -1
		}
		ra, rb := rank[a], rank[b]
		if ra == 0 {
			ra = len(order) + 1
		}
		if rb == 0 {
			rb = len(order) + 1
		}
		if ra != rb {
			return cmp.Compare(ra, rb)
		}
		return cmp.Compare(a, b)
	})
	return names
}
