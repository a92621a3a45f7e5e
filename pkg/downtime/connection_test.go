package downtime

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// outageClient is a fake clientset whose API server can be taken away: its
// open watches end, and lists and watches fail with "connection refused"
// until it is back.
type outageClient struct {
	*fake.Clientset
	down    atomic.Bool
	mu      sync.Mutex
	watches []watch.Interface
}

func newOutageClient(objs ...runtime.Object) *outageClient {
	c := &outageClient{Clientset: fake.NewClientset(objs...)}
	refused := fmt.Errorf("dial tcp 127.0.0.1:6443: connect: %w", syscall.ECONNREFUSED)
	c.PrependReactor("list", "*", func(k8stesting.Action) (bool, runtime.Object, error) {
		if c.down.Load() {
			return true, nil, refused
		}
		return false, nil, nil
	})
	c.PrependWatchReactor("*", func(a k8stesting.Action) (bool, watch.Interface, error) {
		if c.down.Load() {
			return true, nil, refused
		}
		wa := a.(k8stesting.WatchActionImpl)
		w, err := c.Tracker().Watch(a.GetResource(), a.GetNamespace(), wa.ListOptions)
		if err != nil {
			return true, nil, err
		}
		c.mu.Lock()
		c.watches = append(c.watches, w)
		c.mu.Unlock()
		return true, w, nil
	})
	return c
}

func (c *outageClient) stopServer() {
	c.down.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.watches {
		w.Stop()
	}
	c.watches = nil
}

func (c *outageClient) startServer() { c.down.Store(false) }

// TestWatcherOutage takes the API server away from a running Watcher for
// 1.5s and checks that its watch comes back by itself (a change made after
// the outage is seen), that the outage is reported as a gap and not as a
// time with zero ready endpoints, and that a watcher stopped during an
// outage reports the gap as open.
func TestWatcherOutage(t *testing.T) {
	cases := []struct {
		name string
		// back brings the server back before the end
		back     bool
		wantGaps int
		wantOpen bool
		wantLast int
	}{
		{name: "outage ends, the watch comes back", back: true, wantGaps: 1, wantLast: 3},
		{name: "stopped during the outage", back: false, wantGaps: 1, wantOpen: true, wantLast: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			pod := func(name string) *corev1.Pod {
				return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"pod-template-hash": "h"}}}
			}
			client := newOutageClient(pod("a"), pod("b"), pod("c"), slice("web-1", ep("a", ptr.To(true)), ep("b", ptr.To(true))))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			w, err := start(ctx, client, "ns", "web", time.Now, nil)
			if err != nil {
				t.Fatal(err)
			}
			client.stopServer()
			time.Sleep(1500 * time.Millisecond) // the outage
			if tc.back {
				client.startServer()
				// written after the server is back: the watch must see it
				if _, err := client.DiscoveryV1().EndpointSlices("ns").Update(ctx, slice("web-1", ep("a", ptr.To(true)), ep("b", ptr.To(true)), ep("c", ptr.To(true))), metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				if err := w.WaitFor(ctx, func(n int) bool { return n == 3 }); err != nil {
					t.Fatalf("the endpoint slice watch did not come back after the outage: %v", err)
				}
				// and a pod relabelled after the outage: the pod watch is back too
				c := pod("c")
				c.Labels["pod-template-hash"] = "h2"
				if _, err := client.CoreV1().Pods("ns").Update(ctx, c, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
				if err := w.WaitForSample(ctx, func(s Sample) bool { return s.ByHash["h2"] == 1 }); err != nil {
					t.Fatalf("the pod watch did not come back after the outage: %v", err)
				}
			}
			r := w.Stop()
			t.Logf("%s", r)
			type got struct {
				Gaps     int
				Open     bool
				MinReady int
				ZeroFor  time.Duration
				Last     int
			}
			g := got{Gaps: len(r.Gaps), MinReady: r.MinReady, ZeroFor: r.ZeroFor}
			if len(r.Gaps) > 0 {
				g.Open = r.Gaps[len(r.Gaps)-1].Open
			}
			if n := len(r.Timeline); n > 0 {
				g.Last = r.Timeline[n-1].Ready
			}
			want := got{Gaps: tc.wantGaps, Open: tc.wantOpen, MinReady: 2, Last: tc.wantLast}
			if diff := cmp.Diff(want, g); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if r.BlindFor() < MinGap {
				t.Errorf("gap of %s for an outage of 1.5s", r.BlindFor())
			}
			if !strings.Contains(r.Summary(), "the watch lost the API server once") {
				t.Errorf("summary does not report the gap: %s", r.Summary())
			}
		})
	}
}

func TestConnectionGaps(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	type ev struct {
		at  float64 // seconds after t0
		src string
		ok  bool
	}
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	cases := []struct {
		name    string
		events  []ev
		stopped float64
		want    []Gap
	}{
		{name: "nothing lost", stopped: 10},
		{name: "a watch re-opened at once is no gap", events: []ev{{1, "pods", false}, {1.2, "pods", true}}, stopped: 10},
		{name: "one source away 3s", events: []ev{{1, "pods", false}, {4, "pods", true}}, stopped: 10, want: []Gap{{From: at(1), To: at(4)}}},
		{name: "overlapping sources make one gap until both are back", events: []ev{{1, "pods", false}, {2, "slices", false}, {4, "pods", true}, {6, "slices", true}}, stopped: 10, want: []Gap{{From: at(1), To: at(6)}}},
		{name: "still away at the end", events: []ev{{1, "pods", false}, {1.5, "pods", true}, {5, "slices", false}}, stopped: 10, want: []Gap{{From: at(5), To: at(10), Open: true}}},
		{name: "ok without a loss changes nothing", events: []ev{{1, "pods", true}}, stopped: 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var clock time.Time
			c := &connection{now: func() time.Time { return clock }}
			for _, e := range tc.events {
				clock = at(e.at)
				if e.ok {
					c.ok(e.src)
				} else {
					c.lost(e.src)
				}
			}
			if diff := cmp.Diff(tc.want, c.gapsUntil(at(tc.stopped))); diff != "" {
				t.Errorf("gaps (-want +got):\n%s", diff)
			}
		})
	}
}
