package downtime

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/watchlist"
)

// MinGap is the shortest time without a watch that the report calls a gap.
// The API server ends every watch after a few minutes and the informer opens
// the next one at once, from the resourceVersion it had reached, so nothing
// is missed; only a longer absence (the API server stopped, the network
// cut) is reported.
const MinGap = time.Second

// connection follows whether the watcher's list-watches are connected to
// the API server, and records the gaps: from the moment one of them was cut
// off (its watch ended, or a list or watch call failed) until all of them
// are connected again (a list or watch call succeeded).
type connection struct {
	now func() time.Time

	mu    sync.Mutex
	down  map[string]bool
	since time.Time
	gaps  []Gap
}

func (c *connection) lost(src string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down == nil {
		c.down = map[string]bool{}
	}
	if len(c.down) == 0 {
		c.since = c.now()
	}
	c.down[src] = true
}

func (c *connection) ok(src string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.down[src] {
		return
	}
	delete(c.down, src)
	if len(c.down) > 0 {
		return
	}
	if to := c.now(); to.Sub(c.since) >= MinGap {
		c.gaps = append(c.gaps, Gap{From: c.since, To: to})
	}
}

// reset forgets what happened before t (the start of the observation): a
// source still down is down since t.
func (c *connection) reset(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gaps = nil
	if len(c.down) > 0 {
		c.since = t
	}
}

// gapsUntil returns the gaps, with one still open ending at stopped.
func (c *connection) gapsUntil(stopped time.Time) []Gap {
	c.mu.Lock()
	defer c.mu.Unlock()
	gaps := append([]Gap(nil), c.gaps...)
	if len(c.down) > 0 {
		gaps = append(gaps, Gap{From: c.since, To: stopped, Open: true})
	}
	return gaps
}

// track wraps lw so that its calls and the end of its watches tell c
// whether source src is connected. client is asked whether it supports the
// watch-list semantics, as client-go's own informers do.
func (c *connection) track(src string, client any, lw *cache.ListWatch) cache.ListerWatcher {
	return &trackedListWatch{ListWatch: lw, c: c, src: src, unsupported: watchlist.DoesClientNotSupportWatchListSemantics(client)}
}

type trackedListWatch struct {
	*cache.ListWatch
	c           *connection
	src         string
	unsupported bool
}

func (t *trackedListWatch) IsWatchListSemanticsUnSupported() bool { return t.unsupported }

func (t *trackedListWatch) ListWithContext(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
	obj, err := t.ListWatch.ListWithContext(ctx, o)
	t.result(ctx, err)
	return obj, err
}

func (t *trackedListWatch) WatchWithContext(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
	w, err := t.ListWatch.WatchWithContext(ctx, o)
	t.result(ctx, err)
	if err != nil {
		return nil, err
	}
	return newTrackedWatch(w, func() { t.c.lost(t.src) }), nil
}

func (t *trackedListWatch) result(ctx context.Context, err error) {
	switch {
	case err == nil:
		t.c.ok(t.src)
	case ctx.Err() == nil:
		t.c.lost(t.src)
	}
}

// List and Watch are the older forms of the calls, which the reflector no
// longer makes; they are tracked all the same.
func (t *trackedListWatch) List(o metav1.ListOptions) (runtime.Object, error) {
	return t.ListWithContext(context.Background(), o)
}

func (t *trackedListWatch) Watch(o metav1.ListOptions) (watch.Interface, error) {
	return t.WatchWithContext(context.Background(), o)
}

// trackedWatch forwards a watch's events and calls ended when the watch
// ends by itself (the server closed it or the connection dropped), not when
// its consumer stopped it.
type trackedWatch struct {
	inner    watch.Interface
	out      chan watch.Event
	stop     chan struct{}
	stopOnce sync.Once
}

func newTrackedWatch(inner watch.Interface, ended func()) *trackedWatch {
	w := &trackedWatch{inner: inner, out: make(chan watch.Event), stop: make(chan struct{})}
	go func() {
		defer close(w.out)
		for ev := range inner.ResultChan() {
			select {
			case w.out <- ev:
			case <-w.stop:
				return
			}
		}
		select {
		case <-w.stop:
		default:
			ended()
		}
	}()
	return w
}

func (w *trackedWatch) ResultChan() <-chan watch.Event { return w.out }

func (w *trackedWatch) Stop() {
	w.stopOnce.Do(func() { close(w.stop) })
	w.inner.Stop()
}
