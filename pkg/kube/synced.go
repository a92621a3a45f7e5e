package kube

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/klog/v2"
)

// syncedPoll is how often a wait looks whether its watches hold their
// first list. client-go's own wait (cache.WaitForCacheSync) looks every
// 100 ms, and a release paid that at each watch it started before a step
// (the list itself takes a few milliseconds): at 100 replicas a blue-green
// deploy lost 0.2 s to it.
const syncedPoll = 5 * time.Millisecond

// WaitSynced returns true once every synced func says its informer holds
// its first list, false when ctx ends first.
func WaitSynced(ctx context.Context, synced ...cache.InformerSynced) bool {
	err := wait.PollUntilContextCancel(ctx, syncedPoll, true, func(context.Context) (bool, error) {
		for _, s := range synced {
			if !s() {
				return false, nil
			}
		}
		return true, nil
	})
	return err == nil
}

// UntilWithSync is watchtools.UntilWithSync, with WaitSynced's quicker look
// at the first list before precondition.
func UntilWithSync(ctx context.Context, lw cache.ListerWatcher, objType runtime.Object, precondition watchtools.PreconditionFunc, conditions ...watchtools.ConditionFunc) (*watch.Event, error) {
	indexer, informer, w, done := watchtools.NewIndexerInformerWatcherWithLogger(klog.FromContext(ctx), lw, objType)
	// the informer has stopped when this returns
	defer func() { <-done }()
	defer w.Stop()
	if precondition != nil {
		if !WaitSynced(ctx, informer.HasSynced) {
			return nil, fmt.Errorf("the watch did not sync: %w", ctx.Err())
		}
		if ok, err := precondition(indexer); err != nil || ok {
			return nil, err
		}
	}
	return watchtools.UntilWithoutRetry(ctx, w, conditions...)
}
