// Package downtime measures how many endpoints of a Service are ready while an
// operation runs. A Watcher watches the Service's EndpointSlices (and the pods
// behind them, to learn each endpoint's pod-template-hash) from Start until
// Stop, and reports the smallest number of ready endpoints it saw, how long
// the Service had no ready endpoint at all, and a timeline of ready endpoints
// per pod-template-hash.
package downtime

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// UnknownHash is the hash recorded for a ready endpoint whose pod is not
// known (no targetRef, a pod not seen yet, or a pod without the
// pod-template-hash label).
const UnknownHash = "unknown"

// Sample is the state of the Service at one moment: the number of ready
// endpoints and how they split by pod-template-hash.
type Sample struct {
	Time   time.Time
	Ready  int
	ByHash map[string]int
}

// Report is what a Watcher saw between Start and Stop.
type Report struct {
	// Service is "namespace/name".
	Service string
	// MinReady is the smallest number of ready endpoints seen.
	MinReady int
	// ZeroFor is the total time with no ready endpoint.
	ZeroFor time.Duration
	// Timeline holds one sample per change, the first taken at Start.
	Timeline []Sample
	// Started and Stopped bound the observation.
	Started, Stopped time.Time
	// Gaps are the times the watch was cut off from the API server (it
	// re-establishes itself): what the Service looked like then is not
	// known, so a gap is neither counted as ready nor as zero endpoints.
	// The samples after a gap show the state the watch found on return.
	Gaps []Gap
}

// Gap is a time the watcher could not see the Service (From until To; To is
// the end of the observation when the watch had not come back by then).
type Gap struct {
	From, To time.Time
	// Open is true when the watch had not come back when it was stopped.
	Open bool
}

// BlindFor is the total time of the gaps.
func (r Report) BlindFor() time.Duration {
	var d time.Duration
	for _, g := range r.Gaps {
		d += g.To.Sub(g.From)
	}
	return d
}

// Summary is a one-line account of the report, for the end of an operation.
func (r Report) Summary() string {
	s := fmt.Sprintf("service %q: minimum ready endpoints %d, %s with none ready, over %s",
		r.Service, r.MinReady, r.ZeroFor.Round(time.Millisecond), r.Stopped.Sub(r.Started).Round(time.Millisecond))
	if n := len(r.Gaps); n > 0 {
		times := "once"
		if n > 1 {
			times = fmt.Sprintf("%d times", n)
		}
		s += fmt.Sprintf("; the watch lost the API server %s, for %s in all (not counted: the endpoints then are unknown)", times, r.BlindFor().Round(time.Millisecond))
	}
	return s
}

// Capacity is the end-of-operation line of the report, said for what it
// is: capacity (the smallest number of ready endpoints as a share of the
// desired replicas, "a capacity dip" below them, and the time with none
// ready), not the requests users felt. desired 0: not known, no share.
func (r Report) Capacity(desired int32) string {
	blind := ""
	if n := len(r.Gaps); n > 0 {
		times := "once"
		if n > 1 {
			times = fmt.Sprintf("%d times", n)
		}
		blind = fmt.Sprintf("; the watch lost the API server %s, for %.1fs in all (not counted: the endpoints then are unknown)", times, r.BlindFor().Seconds())
	}
	return CapacityLine(r.Service, r.MinReady, desired, r.ZeroFor.Seconds(), r.Stopped.Sub(r.Started).Seconds(), blind)
}

// CapacityLine formats the capacity line of service from its figures:
// the minimum of ready endpoints, the desired replicas (0: not known), the
// seconds with none ready and watched, and blind (what the watch could not
// see, "" or "; ...").
func CapacityLine(service string, minReady int, desired int32, zeroFor, observed float64, blind string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "capacity: service %q: minimum ready endpoints %d", service, minReady)
	if desired > 0 {
		fmt.Fprintf(&b, " of %d desired (%d%%)", desired, minReady*100/int(desired))
		if minReady < int(desired) {
			b.WriteString(", a capacity dip")
		}
	}
	fmt.Fprintf(&b, ", %.1fs with none ready, watched for %.1fs%s", zeroFor, observed, blind)
	return b.String()
}

// String renders the timeline, one line per sample, offsets from Start.
func (r Report) String() string {
	var b strings.Builder
	b.WriteString(r.Summary())
	b.WriteString("\n")
	type line struct {
		at   time.Time
		text string
	}
	var lines []line
	for _, s := range r.Timeline {
		lines = append(lines, line{s.Time, fmt.Sprintf("ready=%d %s", s.Ready, formatHashes(s.ByHash))})
	}
	for _, g := range r.Gaps {
		text := fmt.Sprintf("gap: watch cut off from the API server for %s", g.To.Sub(g.From).Round(time.Millisecond))
		if g.Open {
			text = "gap: watch cut off from the API server until the end"
		}
		lines = append(lines, line{g.From, text})
	}
	sort.SliceStable(lines, func(i, j int) bool { return lines[i].at.Before(lines[j].at) })
	for _, l := range lines {
		b.WriteString(strings.TrimRight(fmt.Sprintf("  +%-8s %s", l.at.Sub(r.Started).Round(time.Millisecond), l.text), " "))
		b.WriteString("\n")
	}
	return b.String()
}

func formatHashes(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// Watcher records the ready endpoints of one Service, read from a
// kube.EndpointWatch at each change. Create it with Start.
type Watcher struct {
	service   string
	endpoints *kube.EndpointWatch
	now       func() time.Time
	// notify, when set, receives a value after each recorded sample (tests).
	notify chan struct{}
	conn   *connection

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced at each new sample
	synced   bool
	stopped  bool
	started  time.Time
	timeline []Sample
	report   Report
	// hashes maps each watched pod to its pod-template-hash, kept from
	// the pod events: a pod's status changes (most of the events of a
	// release) leave it as it was and cost no count.
	hashes map[string]string
	// counter keeps the count of ready endpoints by difference
	// (CountReady's result, without recounting every slice)
	counter *readyCounter
}

// Start begins watching the EndpointSlices of Service namespace/service and
// returns once the initial list of slices and pods has been read, so that
// anything that happens after Start returns is seen. The watch ends at Stop
// or when ctx is cancelled; call Stop in either case to get the report.
func Start(ctx context.Context, client kubernetes.Interface, namespace, service string) (*Watcher, error) {
	return start(ctx, client, namespace, service, time.Now, nil)
}

func start(ctx context.Context, client kubernetes.Interface, namespace, service string, now func() time.Time, notify chan struct{}) (*Watcher, error) {
	w := &Watcher{
		service: namespace + "/" + service,
		now:     now,
		notify:  notify,
		changed: make(chan struct{}),
		hashes:  map[string]string{},
		counter: newReadyCounter(),
	}
	w.conn = &connection{now: now}
	// the watch errors (connection refused while the API server is away)
	// are the gaps of the report
	ew, err := kube.WatchEndpoints(ctx, client, namespace, service, kube.EndpointOptions{
		Track: func(resource string, lw *cache.ListWatch) cache.ListerWatcher {
			return w.conn.track(resource, client, lw)
		},
		OnChange: w.onChange,
	})
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.endpoints = ew
	w.synced = true
	w.started = now()
	// the pods as the synced cache holds them; the events still queued
	// for the handler then update this account one pod at a time
	w.hashes = PodHashes(ew.Pods())
	w.mu.Unlock()
	// a gap before the start (the first list failed) is not part of the
	// observation
	w.conn.reset(w.started)
	w.mu.Lock()
	w.record()
	w.mu.Unlock()
	return w, nil
}

// Endpoints is the watch the Watcher records from, for a reader of the
// same Service's endpoints during the operation (a canary's step waits):
// one watch of the Service, not one more per wait. It ends with the
// Watcher.
func (w *Watcher) Endpoints() *kube.EndpointWatch { return w.endpoints }

// onChange is the EndpointWatch's event: a pod event updates the account
// of pod-template-hashes and takes a sample only when that changed (a pod
// came or went: a status change alters no endpoint's hash, and an
// endpoint's readiness arrives as a slice event); a slice event takes one.
func (w *Watcher) onChange(pod *corev1.Pod, deleted bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if pod != nil {
		h := pod.Labels["pod-template-hash"]
		old, had := w.hashes[pod.Name]
		switch {
		case deleted || h == "":
			if !had {
				return
			}
			delete(w.hashes, pod.Name)
		case had && old == h:
			return
		default:
			w.hashes[pod.Name] = h
		}
		w.counter.setHash(pod.Name, w.hashes[pod.Name])
	}
	w.record()
}

// record takes a sample from the slices' cache and the pods' hashes, and
// appends it to the timeline when it differs from the last one. w.mu is
// held.
func (w *Watcher) record() {
	if !w.synced || w.stopped {
		return
	}
	ready, byHash := w.counter.count(w.endpoints.Slices(), w.hashes)
	s := Sample{Time: w.now(), Ready: ready, ByHash: byHash}
	if n := len(w.timeline); n > 0 && w.timeline[n-1].Ready == s.Ready && maps.Equal(w.timeline[n-1].ByHash, s.ByHash) {
		return
	}
	w.timeline = append(w.timeline, s)
	close(w.changed)
	w.changed = make(chan struct{})
	if w.notify != nil {
		select {
		case w.notify <- struct{}{}:
		default:
		}
	}
}

// Ready returns the number of ready endpoints in the latest sample.
func (w *Watcher) Ready() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.timeline); n > 0 {
		return w.timeline[n-1].Ready
	}
	return 0
}

// WaitFor waits until cond holds for the number of ready endpoints, checking
// the current sample and then each new one. It returns an error when ctx
// ends first or the watcher is stopped.
func (w *Watcher) WaitFor(ctx context.Context, cond func(ready int) bool) error {
	return w.WaitForSample(ctx, func(s Sample) bool { return cond(s.Ready) })
}

// WaitForSample is WaitFor with the whole latest sample (ready endpoints by
// pod-template-hash), e.g. to wait until all ready endpoints are new pods.
// Before the first sample, cond sees a zero Sample.
func (w *Watcher) WaitForSample(ctx context.Context, cond func(Sample) bool) error {
	for {
		w.mu.Lock()
		var last Sample
		if n := len(w.timeline); n > 0 {
			last = w.timeline[n-1]
		}
		changed, stopped := w.changed, w.stopped
		w.mu.Unlock()
		if cond(last) {
			return nil
		}
		if stopped {
			return fmt.Errorf("waiting for endpoints of service %q: watcher stopped with %d ready", w.service, last.Ready)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("waiting for endpoints of service %q (%d ready): %w", w.service, last.Ready, context.Cause(ctx))
		}
	}
}

// Stop ends the watch and returns the report. It may be called more than
// once; later calls return the same report.
func (w *Watcher) Stop() Report {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.stopped {
		w.stopped = true
		w.endpoints.Stop()
		close(w.changed)
		w.changed = make(chan struct{})
		stopped := w.now()
		w.report = Summarize(w.service, w.timeline, w.started, stopped)
		w.report.Gaps = w.conn.gapsUntil(stopped)
	}
	return w.report
}

// PodHashes maps pod name to its pod-template-hash label.
func PodHashes(pods []*corev1.Pod) map[string]string {
	m := make(map[string]string, len(pods))
	for _, p := range pods {
		if h := p.Labels["pod-template-hash"]; h != "" {
			m[p.Name] = h
		}
	}
	return m
}

// CountReady counts the distinct ready endpoints across slices (a pod that
// appears in several slices, for example one per address family, counts
// once), and splits them by the pod-template-hash that hashes gives for the
// endpoint's target pod. An endpoint whose ready condition is unset counts
// as ready, as the EndpointSlice API specifies.
func CountReady(slices []*discoveryv1.EndpointSlice, hashes map[string]string) (int, map[string]int) {
	n := 0
	for _, sl := range slices {
		n += len(sl.Endpoints)
	}
	seen := make(map[endpointKey]struct{}, n)
	byHash := map[string]int{}
	for _, sl := range slices {
		for i := range sl.Endpoints {
			key, ok := readyKey(&sl.Endpoints[i])
			if !ok {
				continue
			}
			if _, dup := seen[key]; dup {
				continue
			}
			seen[key] = struct{}{}
			byHash[key.hash(hashes)]++
		}
	}
	return len(seen), byHash
}

// Summarize computes the report of a timeline observed from started to
// stopped: the minimum of the samples' ready counts and the total time spent
// at zero (the last sample lasts until stopped).
func Summarize(service string, timeline []Sample, started, stopped time.Time) Report {
	r := Report{Service: service, Timeline: timeline, Started: started, Stopped: stopped}
	for i, s := range timeline {
		if i == 0 || s.Ready < r.MinReady {
			r.MinReady = s.Ready
		}
		if s.Ready != 0 {
			continue
		}
		end := stopped
		if i+1 < len(timeline) {
			end = timeline[i+1].Time
		}
		if end.After(s.Time) {
			r.ZeroFor += end.Sub(s.Time)
		}
	}
	return r
}
