package kube

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// TestWaitSynced: true once every func says synced, false when ctx ends
// before.
func TestWaitSynced(t *testing.T) {
	var calls atomic.Int32
	later := func() bool { return calls.Add(1) > 3 }
	if !WaitSynced(context.Background(), func() bool { return true }, later) {
		t.Fatal("WaitSynced: false although both funcs said synced")
	}
	if calls.Load() < 4 {
		t.Errorf("the second func was asked %d times, want until it said synced (4)", calls.Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if WaitSynced(ctx, func() bool { return false }) {
		t.Error("WaitSynced: true for a func that never synced")
	}
}

// TestUntilWithSync: the precondition sees the synced store (done there:
// no watch condition is asked; an error there is returned), else the
// conditions see the events.
func TestUntilWithSync(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: 1}}
	client := fake.NewClientset(d)
	lw := For(client, NameScoped(client.AppsV1().Deployments("shop"), "web"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	exists := func(s cache.Store) (bool, error) { return len(s.List()) == 1, nil }
	never := func(watch.Event) (bool, error) {
		t.Error("a condition was asked after the precondition was done")
		return false, nil
	}
	if _, err := UntilWithSync(ctx, lw, &appsv1.Deployment{}, exists, never); err != nil {
		t.Fatalf("precondition done: %v", err)
	}
	boom := errors.New("boom")
	if _, err := UntilWithSync(ctx, lw, &appsv1.Deployment{}, func(cache.Store) (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("precondition error: got %v", err)
	}
	ev, err := UntilWithSync(ctx, lw, &appsv1.Deployment{}, func(cache.Store) (bool, error) { return false, nil },
		func(ev watch.Event) (bool, error) { return ev.Object.(*appsv1.Deployment).Generation == 1, nil })
	if err != nil || ev == nil {
		t.Fatalf("condition on the events: %v %v", ev, err)
	}
}

// BenchmarkFirstListSeen: how long a wait takes to see that a new informer
// holds its first list (from a fake clientset: the list itself is
// immediate), client-go's cache.WaitForCacheSync against WaitSynced.
func BenchmarkFirstListSeen(b *testing.B) {
	client := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}})
	for _, bc := range []struct {
		name string
		wait func(ctx context.Context, synced cache.InformerSynced) bool
	}{
		{"client-go WaitForCacheSync", func(ctx context.Context, s cache.InformerSynced) bool { return cache.WaitForCacheSync(ctx.Done(), s) }},
		{"WaitSynced", func(ctx context.Context, s cache.InformerSynced) bool { return WaitSynced(ctx, s) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				inf := cache.NewSharedIndexInformer(For(client, NameScoped(client.AppsV1().Deployments("shop"), "web")), &appsv1.Deployment{}, 0, cache.Indexers{})
				go inf.RunWithContext(ctx)
				if !bc.wait(ctx, inf.HasSynced) {
					b.Fatal("not synced")
				}
				cancel()
			}
		})
	}
}
