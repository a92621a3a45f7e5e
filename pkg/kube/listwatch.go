package kube

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
)

// ListWatcher is the List/Watch pair of a typed namespaced client, such as
// client.AppsV1().Deployments(ns) or client.BatchV1().Jobs(ns).
type ListWatcher[L runtime.Object] interface {
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Watch(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error)
}

// NameScoped returns a ListWatch of the single object called name, for
// watchtools.UntilWithSync. It is Reconnecting: a wait rides out an API
// server outage and picks up within ReconnectEvery of its return.
func NameScoped[L runtime.Object](c ListWatcher[L], name string) *cache.ListWatch {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	return Reconnecting(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return c.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return c.Watch(ctx, o)
		},
	})
}

// ReconnectEvery is how often a Reconnecting ListWatch tries a list or watch
// again while the API server cannot be reached.
const ReconnectEvery = 500 * time.Millisecond

// maxThrottledBackoff bounds the wait between the tries of a list or watch
// that the API server answers with 429 Too Many Requests or 503 Service
// Unavailable, unless its Retry-After asks for more.
const maxThrottledBackoff = 8 * time.Second

// Reconnecting wraps lw (its context-taking functions) so that a list or
// watch that cannot reach the API server (connection refused or reset, the
// server shutting down, overloaded or timing out) is tried again until it
// succeeds or its context ends, instead of returning the error: every
// ReconnectEvery while the server cannot be reached, so a wait sees its
// return within half a second; but a server that answers 429 or 503 (it is
// there, and asks clients to slow down) is tried again after a backoff that
// doubles from ReconnectEvery up to maxThrottledBackoff, and never sooner
// than its Retry-After says. The reflector behind watchtools.UntilWithSync
// and informers retries too, but with an exponential backoff that grows to
// 30s and more during an outage. Any other error is returned at once.
func Reconnecting(lw *cache.ListWatch) *cache.ListWatch {
	out := *lw
	if list := lw.ListWithContextFunc; list != nil {
		out.ListWithContextFunc = func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			return RetryUnreachable(ctx, func() (runtime.Object, error) { return list(ctx, o) })
		}
	}
	if w := lw.WatchFuncWithContext; w != nil {
		out.WatchFuncWithContext = func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			wi, err := RetryUnreachable(ctx, func() (watch.Interface, error) { return w(ctx, o) })
			if err != nil && ctx.Err() != nil {
				// the caller is stopping: a watch that stays open until
				// stopped ends the reflector quietly, where the error of
				// the cut request would be logged on the user's terminal
				return watch.NewFake(), nil
			}
			return wi, err
		}
	}
	return &out
}

// reconnectWait waits d or until ctx ends (tests record the waits).
var reconnectWait = func(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// retryDelay is how long to wait before trying again after err, given the
// backoff of the throttled tries so far; it returns the next backoff.
func retryDelay(err error, backoff time.Duration) (wait, next time.Duration) {
	if !apierrors.IsTooManyRequests(err) && !apierrors.IsServiceUnavailable(err) {
		return ReconnectEvery, ReconnectEvery
	}
	wait = backoff
	if secs, ok := apierrors.SuggestsClientDelay(err); ok {
		wait = max(wait, time.Duration(secs)*time.Second)
	}
	return wait, min(backoff*2, maxThrottledBackoff)
}

// RetryUnreachable calls call until it succeeds, fails for another reason
// than an unreachable API server (Unreachable), or ctx ends. Only for calls
// that are safe to repeat: reads, watches, a create whose AlreadyExists the
// caller handles.
func RetryUnreachable[T any](ctx context.Context, call func() (T, error)) (T, error) {
	backoff := ReconnectEvery
	for {
		v, err := call()
		if err == nil || !Unreachable(err) || ctx.Err() != nil {
			return v, err
		}
		var wait time.Duration
		wait, backoff = retryDelay(err, backoff)
		reconnectWait(ctx, wait)
		if ctx.Err() != nil {
			return v, err
		}
	}
}

// Unreachable reports whether err says the API server could not be reached
// or could not serve the request for now: connection refused or reset, a
// dropped connection, a network timeout, or the server answering that it is
// unavailable, overloaded or timed out.
func Unreachable(err error) bool {
	if err == nil {
		return false
	}
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED), utilnet.IsConnectionRefused(err), utilnet.IsConnectionReset(err),
		utilnet.IsProbableEOF(err), utilnet.IsHTTP2ConnectionLost(err):
		return true
	case apierrors.IsServiceUnavailable(err), apierrors.IsTooManyRequests(err), apierrors.IsServerTimeout(err), apierrors.IsTimeout(err):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	}
	return false
}

// For tells the reflector behind watchtools.UntilWithSync whether client
// (a clientset) supports the watch-list semantics, as client-go's informers
// do: a fake clientset does not, and a wait over it would otherwise sit
// waiting for the bookmark that ends the initial events.
func For(client any, lw *cache.ListWatch) cache.ListerWatcher {
	return cache.ToListWatcherWithWatchListSemantics(lw, client)
}
