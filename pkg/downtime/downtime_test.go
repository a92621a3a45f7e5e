package downtime

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

func ep(pod string, ready *bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{
		Addresses:  []string{"10.0.0." + pod},
		Conditions: discoveryv1.EndpointConditions{Ready: ready},
		TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: pod},
	}
}

func slice(name string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns",
			Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   eps,
	}
}

func TestCountReady(t *testing.T) {
	hashes := map[string]string{"a": "old", "b": "old", "c": "new"}
	cases := []struct {
		name       string
		slices     []*discoveryv1.EndpointSlice
		wantReady  int
		wantByHash map[string]int
	}{
		{name: "no slices", wantReady: 0, wantByHash: map[string]int{}},
		{
			name:       "ready and unready split by hash",
			slices:     []*discoveryv1.EndpointSlice{slice("s1", ep("a", ptr.To(true)), ep("b", ptr.To(false)), ep("c", ptr.To(true)))},
			wantReady:  2,
			wantByHash: map[string]int{"old": 1, "new": 1},
		},
		{
			name:       "unset ready counts as ready",
			slices:     []*discoveryv1.EndpointSlice{slice("s1", ep("a", nil))},
			wantReady:  1,
			wantByHash: map[string]int{"old": 1},
		},
		{
			name:       "a pod in two slices counts once",
			slices:     []*discoveryv1.EndpointSlice{slice("s1", ep("a", ptr.To(true))), slice("s2", ep("a", ptr.To(true)), ep("b", ptr.To(true)))},
			wantReady:  2,
			wantByHash: map[string]int{"old": 2},
		},
		{
			name:       "pod not known is unknown",
			slices:     []*discoveryv1.EndpointSlice{slice("s1", ep("zz", ptr.To(true)))},
			wantReady:  1,
			wantByHash: map[string]int{UnknownHash: 1},
		},
		{
			name: "endpoint without target counted by address",
			slices: []*discoveryv1.EndpointSlice{slice("s1",
				discoveryv1.Endpoint{Addresses: []string{"192.0.2.1"}},
				discoveryv1.Endpoint{Addresses: []string{"192.0.2.1"}},
				discoveryv1.Endpoint{Addresses: []string{"192.0.2.2"}})},
			wantReady:  2,
			wantByHash: map[string]int{UnknownHash: 2},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ready, byHash := CountReady(tc.slices, hashes)
			if ready != tc.wantReady {
				t.Errorf("ready: want %d, got %d", tc.wantReady, ready)
			}
			if diff := cmp.Diff(tc.wantByHash, byHash); diff != "" {
				t.Errorf("by hash (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	cases := []struct {
		name     string
		timeline []Sample
		stopped  time.Time
		wantMin  int
		wantZero time.Duration
	}{
		{name: "steady", timeline: []Sample{{Time: at(0), Ready: 4}}, stopped: at(10), wantMin: 4},
		{name: "dip without zero", timeline: []Sample{{Time: at(0), Ready: 4}, {Time: at(1), Ready: 2}, {Time: at(2), Ready: 4}}, stopped: at(10), wantMin: 2},
		{name: "zero in the middle", timeline: []Sample{{Time: at(0), Ready: 2}, {Time: at(1), Ready: 0}, {Time: at(3.5), Ready: 2}}, stopped: at(10), wantMin: 0, wantZero: 2500 * time.Millisecond},
		{name: "zero twice, last until stop", timeline: []Sample{{Time: at(0), Ready: 0}, {Time: at(1), Ready: 1}, {Time: at(8), Ready: 0}}, stopped: at(10), wantMin: 0, wantZero: 3 * time.Second},
		{name: "empty timeline", stopped: at(1), wantMin: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Summarize("ns/web", tc.timeline, t0, tc.stopped)
			got := struct {
				Min  int
				Zero time.Duration
			}{r.MinReady, r.ZeroFor}
			want := struct {
				Min  int
				Zero time.Duration
			}{tc.wantMin, tc.wantZero}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestWatcherFollowsSlices drives a Watcher with a fake clientset through a
// replacement of old pods by new ones and checks the timeline it records.
func TestWatcherFollowsSlices(t *testing.T) {
	pod := func(name, hash string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"pod-template-hash": hash}}}
	}
	client := fake.NewClientset(pod("a", "old"), pod("b", "old"), pod("c", "new"),
		slice("web-1", ep("a", ptr.To(true)), ep("b", ptr.To(true))),
		// a slice of another service must be ignored
		&discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "ns",
			Labels: map[string]string{discoveryv1.LabelServiceName: "other"}}, Endpoints: []discoveryv1.Endpoint{ep("x", nil)}},
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	notify := make(chan struct{}, 1)
	w, err := start(ctx, client, "ns", "web", now, notify)
	if err != nil {
		t.Fatal(err)
	}
	<-notify // initial sample
	steps := []*discoveryv1.EndpointSlice{
		slice("web-1", ep("a", ptr.To(true)), ep("b", ptr.To(false)), ep("c", ptr.To(false))),
		slice("web-1", ep("a", ptr.To(false)), ep("c", ptr.To(false))),
		slice("web-1", ep("c", ptr.To(true))),
	}
	for _, s := range steps {
		if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case <-notify:
		case <-ctx.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("no sample recorded after update of %v", s.Endpoints)
		}
	}
	if got := w.Ready(); got != 1 {
		t.Errorf("Ready: want 1, got %d", got)
	}
	if err := w.WaitFor(ctx, func(n int) bool { return n == 1 }); err != nil {
		t.Errorf("WaitFor a condition that holds: %v", err)
	}
	if err := w.WaitForSample(ctx, func(s Sample) bool { return s.ByHash["new"] == 1 && len(s.ByHash) == 1 }); err != nil {
		t.Errorf("WaitForSample a condition that holds: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := w.WaitFor(short, func(n int) bool { return n == 5 }); err == nil {
		t.Errorf("WaitFor a condition that never holds returned no error")
	}
	r := w.Stop()
	if err := w.WaitFor(ctx, func(n int) bool { return n == 5 }); err == nil {
		t.Errorf("WaitFor after Stop returned no error")
	}
	type row struct {
		Ready  int
		ByHash map[string]int
	}
	var got []row
	for _, s := range r.Timeline {
		got = append(got, row{s.Ready, s.ByHash})
	}
	want := []row{
		{2, map[string]int{"old": 2}},
		{1, map[string]int{"old": 1}},
		{0, map[string]int{}},
		{1, map[string]int{"new": 1}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeline (-want +got):\n%s", diff)
	}
	if r.MinReady != 0 || r.ZeroFor != time.Second {
		t.Errorf("want min 0 and 1s at zero, got min %d, zero %s\n%s", r.MinReady, r.ZeroFor, r)
	}
	if r.Service != "ns/web" {
		t.Errorf("service: want ns/web, got %q", r.Service)
	}
	if again := w.Stop(); !cmp.Equal(again, r) {
		t.Errorf("second Stop returned a different report")
	}
}

func TestStartNeedsNames(t *testing.T) {
	if _, err := Start(context.Background(), fake.NewClientset(), "ns", ""); err == nil {
		t.Fatal("want an error for an empty service name")
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestReportString checks printed reports against testdata/*.golden: one
// with a dip to zero, one with a gap in the watch.
func TestReportString(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	withGap := Summarize("shop/web", []Sample{
		{Time: at(0), Ready: 4, ByHash: map[string]int{"aaa": 4}},
		{Time: at(9000), Ready: 4, ByHash: map[string]int{"aaa": 3, "bbb": 1}},
	}, t0, at(12000))
	withGap.Gaps = []Gap{{From: at(2000), To: at(8500)}, {From: at(11000), To: at(12000), Open: true}}
	cases := []struct {
		golden string
		report Report
	}{
		{golden: "report.golden", report: Summarize("shop/web", []Sample{
			{Time: at(0), Ready: 4, ByHash: map[string]int{"aaa": 4}},
			{Time: at(1500), Ready: 0, ByHash: map[string]int{}},
			{Time: at(2000), Ready: 2, ByHash: map[string]int{"bbb": 1, "aaa": 1}},
		}, t0, at(3000))},
		{golden: "report-gap.golden", report: withGap},
	}
	for _, tc := range cases {
		t.Run(tc.golden, func(t *testing.T) {
			got := tc.report.String()
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("reading %s (run with -update to create it): %v", golden, err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

// The pods' hashes are kept from the pod events: a ready endpoint whose pod
// arrives later is attributed to its hash then, a deleted pod's endpoint
// goes back to unknown, and a pod's status change leaves it as it was.
func TestWatcherFollowsPods(t *testing.T) {
	client := fake.NewClientset(slice("web-1", ep("a", ptr.To(true)), ep("b", ptr.To(true))))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { clock = clock.Add(time.Second); return clock }
	notify := make(chan struct{}, 1)
	w, err := start(ctx, client, "ns", "web", now, notify)
	if err != nil {
		t.Fatal(err)
	}
	<-notify // initial sample: two endpoints, pods unknown
	next := func(what string) {
		t.Helper()
		select {
		case <-notify:
		case <-time.After(10 * time.Second):
			t.Fatalf("no sample recorded after %s", what)
		}
	}
	pods := client.CoreV1().Pods("ns")
	a := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "ns", Labels: map[string]string{"pod-template-hash": "h1"}}}
	if _, err := pods.Create(ctx, a, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	next("pod a created")
	// a status change of a: the same hash, no new sample
	a.Status.Phase = corev1.PodRunning
	if _, err := pods.UpdateStatus(ctx, a, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	b := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "b", Namespace: "ns", Labels: map[string]string{"pod-template-hash": "h2"}}}
	if _, err := pods.Create(ctx, b, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	next("pod b created")
	if err := pods.Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	next("pod a deleted")
	r := w.Stop()
	var got []map[string]int
	for _, s := range r.Timeline {
		got = append(got, s.ByHash)
	}
	want := []map[string]int{
		{UnknownHash: 2},
		{"h1": 1, UnknownHash: 1},
		{"h1": 1, "h2": 1},
		{"h2": 1, UnknownHash: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("timeline by hash (-want +got):\n%s", diff)
	}
}

// releaseSlices are the slices of a release of 1,000 replicas while the
// surge runs (1,100 endpoints in 11 slices, 990 ready), each at
// resourceVersion 1, and the hashes of their pods.
func releaseSlices() ([]*discoveryv1.EndpointSlice, map[string]string) {
	var slices []*discoveryv1.EndpointSlice
	hashes := map[string]string{}
	for s := 0; s < 11; s++ {
		sl := slice(fmt.Sprintf("web-%d", s))
		sl.ResourceVersion = "1"
		for i := 0; i < 100; i++ {
			name := fmt.Sprintf("web-%d-%d", s, i)
			sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{name}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(i%10 != 0)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "ns", Name: name}})
			hashes[name] = fmt.Sprintf("h%d", s%2)
		}
		slices = append(slices, sl)
	}
	return slices, hashes
}

// The count at each slice event of a release of 1,000 replicas, counting
// every endpoint (BenchmarkReadyCounterEvent: by difference).
func BenchmarkCountReady(b *testing.B) {
	slices, hashes := releaseSlices()
	b.ReportAllocs()
	for b.Loop() {
		if n, _ := CountReady(slices, hashes); n != 990 {
			b.Fatalf("want 990 ready, got %d", n)
		}
	}
}
