package kube

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func TestUnreachable(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil", err: nil, want: false},
		{name: "connection refused", err: fmt.Errorf("Get \"https://127.0.0.1:6443\": dial tcp 127.0.0.1:6443: %w", syscall.ECONNREFUSED), want: true},
		{name: "connection reset", err: fmt.Errorf("read: %w", syscall.ECONNRESET), want: true},
		{name: "server shutting down (503)", err: apierrors.NewServiceUnavailable("apiserver is shutting down"), want: true},
		{name: "too many requests", err: apierrors.NewTooManyRequests("slow down", 1), want: true},
		{name: "not found", err: apierrors.NewNotFound(gr, "web"), want: false},
		{name: "forbidden", err: apierrors.NewForbidden(gr, "web", errors.New("no")), want: false},
		{name: "gone (410)", err: apierrors.NewResourceExpired("too old resource version"), want: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Unreachable(tc.err); got != tc.want {
				t.Errorf("Unreachable(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

// TestNameScopedReconnects makes the API server unreachable for the first
// calls of a name-scoped list and watch and checks that they are tried
// again until it answers, while other errors and a cancelled context end
// them at once.
func TestNameScopedReconnects(t *testing.T) {
	refused := fmt.Errorf("dial tcp 127.0.0.1:6443: %w", syscall.ECONNREFUSED)
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", errors.New("no"))
	cases := []struct {
		name string
		// fail answers call n (from 1) of each verb with an error, or nil
		fail      func(n int) error
		ctxEnds   bool
		wantCalls int
		wantErr   bool
	}{
		{name: "answers at once", fail: func(int) error { return nil }, wantCalls: 1},
		{name: "refused twice, then answers", fail: func(n int) error {
			if n <= 2 {
				return refused
			}
			return nil
		}, wantCalls: 3},
		{name: "forbidden is returned at once", fail: func(int) error { return forbidden }, wantCalls: 1, wantErr: true},
		{name: "refused until the context ends", fail: func(int) error { return refused }, ctxEnds: true, wantCalls: 2, wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns"}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)}})
			calls := map[string]int{}
			for _, verb := range []string{"list", "watch"} {
				verb := verb
				react := func(k8stesting.Action) error { calls[verb]++; return tc.fail(calls[verb]) }
				if verb == "list" {
					cs.PrependReactor(verb, "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
						if err := react(a); err != nil {
							return true, nil, err
						}
						return false, nil, nil
					})
				} else {
					cs.PrependWatchReactor("deployments", func(a k8stesting.Action) (bool, watch.Interface, error) {
						if err := react(a); err != nil {
							return true, nil, err
						}
						return false, nil, nil
					})
				}
			}
			lw := NameScoped(cs.AppsV1().Deployments("ns"), "web")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.ctxEnds {
				// ends during the second wait between tries
				time.AfterFunc(ReconnectEvery*3/2, cancel)
			}
			_, listErr := lw.ListWithContext(ctx, metav1.ListOptions{})
			if tc.ctxEnds {
				ctx, cancel = context.WithCancel(context.Background())
				defer cancel()
				time.AfterFunc(ReconnectEvery*3/2, cancel)
			}
			w, watchErr := lw.WatchWithContext(ctx, metav1.ListOptions{})
			if tc.ctxEnds {
				// the caller stopped: a quiet watch that stays open until
				// Stop, not the error of the cut request
				if watchErr != nil || w == nil {
					t.Errorf("watch after the context ended: %v, %v; want an open watch", w, watchErr)
				} else {
					w.Stop()
					if _, open := <-w.ResultChan(); open {
						t.Errorf("the watch given after the context ended is still open after Stop")
					}
				}
				watchErr = errors.New("stopped")
			} else if w != nil {
				w.Stop()
			}
			got := struct {
				ListCalls, WatchCalls int
				ListErr, WatchErr     bool
			}{calls["list"], calls["watch"], listErr != nil, watchErr != nil}
			want := struct {
				ListCalls, WatchCalls int
				ListErr, WatchErr     bool
			}{tc.wantCalls, tc.wantCalls, tc.wantErr, tc.wantErr}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s\nlist error: %v\nwatch error: %v", diff, listErr, watchErr)
			}
		})
	}
}

// TestReconnectBacksOffWhenThrottled: a list the API server answers with
// 429 or 503 is tried again after a doubling backoff (from ReconnectEvery up
// to maxThrottledBackoff), never sooner than its Retry-After; one that
// cannot reach the server at all is tried every ReconnectEvery. Before,
// every failure was tried again after 500ms.
func TestReconnectBacksOffWhenThrottled(t *testing.T) {
	tooMany := apierrors.NewTooManyRequests("slow down", 0)
	retryAfter3 := apierrors.NewTooManyRequests("slow down", 3)
	unavailable := apierrors.NewServiceUnavailable("starting")
	refusedErr := &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}
	tests := []struct {
		name string
		errs []error
		want []time.Duration
	}{
		{name: "429s double the wait", errs: []error{tooMany, tooMany, tooMany, tooMany, tooMany, tooMany},
			want: []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}},
		{name: "Retry-After is honoured", errs: []error{retryAfter3, tooMany}, want: []time.Duration{3 * time.Second, time.Second}},
		{name: "503 backs off too", errs: []error{unavailable, unavailable}, want: []time.Duration{500 * time.Millisecond, time.Second}},
		{name: "connection refused: every 500ms", errs: []error{refusedErr, refusedErr, refusedErr}, want: []time.Duration{500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var waits []time.Duration
			old := reconnectWait
			reconnectWait = func(_ context.Context, d time.Duration) { waits = append(waits, d) }
			defer func() { reconnectWait = old }()
			n := 0
			_, err := RetryUnreachable(context.Background(), func() (int, error) {
				if n < len(tc.errs) {
					n++
					return 0, tc.errs[n-1]
				}
				return 1, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, waits); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
}
