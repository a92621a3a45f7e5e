package kube

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Source is one kind of object Follow watches.
type Source struct {
	// What names the objects in errors ("deployments").
	What string
	// ListWatch lists and watches them (a label or field selector set in
	// it); Follow makes it Reconnecting.
	ListWatch *cache.ListWatch
	// Object is an empty object of the type (&appsv1.Deployment{}).
	Object runtime.Object
	// Changed is called with each object listed, added or updated (not
	// deleted); an error ends Follow with it.
	Changed func(runtime.Object) error
}

// Follow watches every source at once, each through an informer
// (watchtools.UntilWithSync) over a Reconnecting ListWatch, so it outlives
// the API server's routine closing of a watch and a restart of the API
// server: it lists again and watches on. It returns nil when ctx ends
// (Ctrl-C), else the first error that ends a source for good (a Changed
// error; a list or watch the API server refuses, Forbidden or
// Unauthorized, which the informer would retry forever), having stopped
// the others.
func Follow(ctx context.Context, sources ...Source) error {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	refused := make(chan error, 2*len(sources))
	guard := func(what string, lw *cache.ListWatch) *cache.ListWatch {
		check := func(err error) {
			if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
				refused <- fmt.Errorf("watching %s: %w", what, err)
				cancel()
			}
		}
		return &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				obj, err := lw.ListWithContextFunc(ctx, opts)
				check(err)
				return obj, err
			},
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				w, err := lw.WatchFuncWithContext(ctx, opts)
				check(err)
				return w, err
			},
		}
	}
	errs := make(chan error, len(sources))
	for _, s := range sources {
		go func() {
			_, err := watchtools.UntilWithSync(wctx, guard(s.What, Reconnecting(s.ListWatch)), s.Object, nil, func(ev watch.Event) (bool, error) {
				if ev.Type == watch.Deleted {
					return false, nil
				}
				return false, s.Changed(ev.Object)
			})
			if err != nil && wctx.Err() == nil {
				err = fmt.Errorf("watching %s: %w", s.What, err)
			}
			errs <- err
		}()
	}
	var first error
	for range sources {
		err := <-errs
		if first == nil && ctx.Err() == nil && err != nil {
			// one watch failed for good: stop the others and say why
			first = err
			cancel()
		}
	}
	select {
	case err := <-refused:
		return err
	default:
	}
	if ctx.Err() != nil {
		return nil
	}
	return first
}
