package report

import (
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// Recorder gathers the data of one operation's picture while it runs. It
// is the strategies.Events the release commands hand to the engine: the
// engine announces its phases, hands over its analysis results and, when
// its endpoint watch stops, that watch's report. It watches and measures
// nothing itself. Its methods are safe for concurrent use.
type Recorder struct {
	now func() time.Time

	mu      sync.Mutex
	start   time.Time
	phases  []Phase
	results []*analysis.Result
	watches []downtime.Report
}

// NewRecorder starts a recording now (the time axis of an operation with
// no endpoint watch starts here). now is time.Now when nil.
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now, start: now()}
}

// Phase marks the time axis now.
func (r *Recorder) Phase(name string) {
	at := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.phases = append(r.phases, Phase{Name: name, Time: at})
}

// Measured keeps an analysis result.
func (r *Recorder) Measured(res *analysis.Result) {
	if res == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
}

// Watched keeps the report of an endpoint watch (once: a watch stopped
// twice hands over the same report).
func (r *Recorder) Watched(rep downtime.Report) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, w := range r.watches {
		if w.Service == rep.Service && w.Started.Equal(rep.Started) {
			return
		}
	}
	r.watches = append(r.watches, rep)
}

// Started is when the recording started.
func (r *Recorder) Started() time.Time { return r.start }

// Heard says whether anything was recorded: a phase, a measurement or a
// watch (an operation that stopped before it changed anything has none).
func (r *Recorder) Heard() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.phases)+len(r.results)+len(r.watches) > 0
}

// Data builds the picture: the endpoint watch of service ("ns/name"; the
// first watch when none is of it) with each pod-template-hash named by
// names, the phases, the analyses' measurements grouped by metric and the
// probe's seconds. With no watch, the time axis is from NewRecorder to now.
func (r *Recorder) Data(service string, names map[string]string, seconds []probe.Second) *Data {
	r.mu.Lock()
	defer r.mu.Unlock()
	var d Data
	switch w := r.watchOf(service); {
	case w != nil:
		d = FromDowntime(*w, names)
	default:
		d = Data{Start: r.start, End: r.now()}
		d.Facts.Service = service
		d.Facts.Unwatched = true
	}
	for _, p := range r.phases {
		d.AddPhase(p.Name, p.Time)
	}
	var all analysis.Result
	for _, res := range r.results {
		all.Measurements = append(all.Measurements, res.Measurements...)
	}
	sort.SliceStable(all.Measurements, func(i, j int) bool { return all.Measurements[i].Time.Before(all.Measurements[j].Time) })
	d.Analysis = FromAnalysis(&all)
	d.Probe = FromProbe(seconds)
	// the axis covers what was recorded outside the watch too (a phase
	// announced before it started, the probe's last requests)
	for _, p := range d.Phases {
		d.Start, d.End = minTime(d.Start, p.Time), maxTime(d.End, p.Time)
	}
	return &d
}

func (r *Recorder) watchOf(service string) *downtime.Report {
	for i := range r.watches {
		if r.watches[i].Service == service {
			return &r.watches[i]
		}
	}
	if len(r.watches) > 0 {
		return &r.watches[0]
	}
	return nil
}

// FromProbe turns the probe's seconds into the picture's buckets: a
// second each, NoVersion for the requests that got no answer (nil without
// seconds).
func FromProbe(seconds []probe.Second) *Probe {
	if len(seconds) == 0 {
		return nil
	}
	p := &Probe{Width: time.Second}
	for _, s := range seconds {
		b := Bucket{Time: s.At, Counts: make(map[string]Count, len(s.Versions))}
		for v, c := range s.Versions {
			name := v
			if v == probe.NoAnswer {
				name = NoVersion
			}
			n := b.Counts[name]
			n.Sent += c.Succeeded + c.Failed
			n.Failed += c.Failed
			b.Counts[name] = n
		}
		p.Buckets = append(p.Buckets, b)
	}
	return p
}

// SetFacts fills the facts from the operation's record: what, who, when,
// from and to which revision, and how it ended. kind is "deployment" or
// "service".
func (d *Data) SetFacts(kind, namespace, name string, op *state.Operation) {
	d.Facts.Kind = kindName(kind)
	d.Facts.Namespace, d.Facts.Name = namespace, name
	if op == nil {
		return
	}
	d.Facts.Strategy, d.Facts.OperationID = op.Strategy, op.ID
	d.Facts.Who = Who(op.Holder)
	d.Facts.Started, d.Facts.Ended = op.StartTime, op.UpdateTime
	d.Facts.FromRevision, d.Facts.ToRevision = op.FromRevision, op.ToRevision
	d.Facts.Result, d.Facts.Message = op.Result, op.Message
}

func kindName(kind string) string {
	switch strings.ToLower(kind) {
	case "deployment":
		return "Deployment"
	case "service":
		return "Service"
	}
	return kind
}

// Who is the person of a record's holder ("ana@laptop pid 7 op X" is
// "ana@laptop").
func Who(holder string) string {
	who, _, _ := strings.Cut(holder, " ")
	return who
}

// VersionNames names each pod-template-hash of the ReplicaSets for the
// picture: the tag of its first container's image ("v2"), and, when the
// ReplicaSet belongs to another Deployment than base (a canary's, a
// colour's: base-canary, base-green), what follows base in that name ("v2
// canary", "v2 green"). Two hashes that would have the same name are told
// apart by their revision ("v1 r3").
func VersionNames(rss []appsv1.ReplicaSet, base string) map[string]string {
	names := map[string]string{}
	count := map[string]int{}
	type entry struct{ hash, name, rev string }
	var entries []entry
	for _, rs := range rss {
		hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		if hash == "" || len(rs.Spec.Template.Spec.Containers) == 0 {
			continue
		}
		name := imageTag(rs.Spec.Template.Spec.Containers[0].Image)
		owner := ""
		for _, ref := range rs.OwnerReferences {
			if ref.Kind == "Deployment" {
				owner = ref.Name
			}
		}
		if owner != "" && owner != base {
			name += " " + strings.TrimPrefix(owner, base+"-")
		}
		entries = append(entries, entry{hash, name, rs.Annotations["deployment.kubernetes.io/revision"]})
		count[name]++
	}
	for _, e := range entries {
		name := e.name
		if count[name] > 1 {
			if e.rev != "" {
				name += " r" + e.rev
			} else {
				name += " " + e.hash
			}
		}
		names[e.hash] = name
	}
	return names
}

// imageTag is what tells an image's versions apart: its tag ("v2" of
// registry.example/shop:v2), the start of its digest, or its last path
// element when it has neither.
func imageTag(image string) string {
	if at := strings.LastIndex(image, "@"); at >= 0 {
		digest := image[at+1:]
		if _, hex, ok := strings.Cut(digest, ":"); ok {
			digest = hex
		}
		return "@" + digest[:min(len(digest), 12)]
	}
	last := image[strings.LastIndex(image, "/")+1:]
	if i := strings.LastIndex(last, ":"); i >= 0 {
		return last[i+1:]
	}
	return last
}
