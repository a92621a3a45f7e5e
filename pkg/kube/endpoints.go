package kube

// The one endpoint watcher: the EndpointSlices of one Service and the pods
// behind them, in two informer caches fed by Reconnecting list-watches. The
// downtime figure (pkg/downtime), blue-green's convergence (pkg/traffic)
// and a canary step's weights (pkg/strategies/canary) all read these
// caches on each change: nothing is listed per event.

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

// EndpointOptions tune an EndpointWatch.
type EndpointOptions struct {
	// PodSelector picks the pods watched beside the slices; nil watches
	// every pod of the namespace.
	PodSelector map[string]string
	// Track, when set, wraps each list-watch ("endpointslices", "pods"):
	// pkg/downtime records from it when the watch lost the API server. By
	// default a list-watch is For(client, lw).
	Track func(resource string, lw *cache.ListWatch) cache.ListerWatcher
	// OnChange, when set, is called after each event (also those of the
	// initial list) with the pod of a pod event, nil for an EndpointSlice's,
	// and whether that pod was deleted: a reader that keeps its own account
	// of the pods updates it from the one pod instead of listing them all
	// (at 1,000 replicas a release sees many thousand pod events).
	OnChange func(pod *corev1.Pod, deleted bool)
}

// EndpointWatch follows the EndpointSlices of one Service and the pods
// behind it. Start it with WatchEndpoints, read it with Slices and Pods
// (or Wait for a condition on them), end it with Stop.
type EndpointWatch struct {
	service string
	cancel  context.CancelFunc
	slices  discoverylisters.EndpointSliceNamespaceLister
	pods    corelisters.PodNamespaceLister

	mu      sync.Mutex
	changed chan struct{} // closed and replaced at each event
}

// WatchEndpoints starts watching the EndpointSlices of Service
// namespace/service and the pods o.PodSelector picks, and returns once
// both caches hold the initial list, so that anything that happens after
// it returns is seen. While the API server cannot be reached the watches
// try again every ReconnectEvery, quietly. The watch ends at Stop or when
// ctx ends.
func WatchEndpoints(ctx context.Context, client kubernetes.Interface, namespace, service string, o EndpointOptions) (*EndpointWatch, error) {
	if namespace == "" || service == "" {
		return nil, fmt.Errorf("watching endpoints: namespace and service name are required (got %q/%q)", namespace, service)
	}
	w := &EndpointWatch{service: namespace + "/" + service, changed: make(chan struct{})}
	ctx, w.cancel = context.WithCancel(ctx)
	track := o.Track
	if track == nil {
		track = func(_ string, lw *cache.ListWatch) cache.ListerWatcher { return For(client, lw) }
	}
	sliceSel := labels.Set{discoveryv1.LabelServiceName: service}.String()
	podSel := ""
	if o.PodSelector != nil {
		podSel = labels.SelectorFromSet(o.PodSelector).String()
	}
	slicesLW := track("endpointslices", Reconnecting(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, lo metav1.ListOptions) (runtime.Object, error) {
			lo.LabelSelector = sliceSel
			return client.DiscoveryV1().EndpointSlices(namespace).List(ctx, lo)
		},
		WatchFuncWithContext: func(ctx context.Context, lo metav1.ListOptions) (watch.Interface, error) {
			lo.LabelSelector = sliceSel
			return client.DiscoveryV1().EndpointSlices(namespace).Watch(ctx, lo)
		},
	}))
	podsLW := track("pods", slimPodsLW(client, namespace, podSel))
	// one informer per type, as a shared informer factory builds them
	// (namespace index, no resync) but without the factory, whose package
	// links the informers of every API group
	indexers := cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc}
	si := cache.NewSharedIndexInformer(slicesLW, &discoveryv1.EndpointSlice{}, 0, indexers)
	pi := cache.NewSharedIndexInformer(podsLW, &corev1.Pod{}, 0, indexers)
	// the slices' cache holds them without managedFields (the pods come
	// slim from slimPodsLW): at 1,000 replicas the whole objects are most
	// of the client's memory
	if err := si.SetTransform(slimSlice); err != nil {
		return nil, fmt.Errorf("watching the endpoints of service %q: %w", service, err)
	}
	w.slices = discoverylisters.NewEndpointSliceLister(si.GetIndexer()).EndpointSlices(namespace)
	w.pods = corelisters.NewPodLister(pi.GetIndexer()).Pods(namespace)
	event := func(obj any, deleted bool) {
		w.mu.Lock()
		close(w.changed)
		w.changed = make(chan struct{})
		w.mu.Unlock()
		if o.OnChange != nil {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			pod, _ := obj.(*corev1.Pod)
			o.OnChange(pod, deleted)
		}
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { event(obj, false) },
		UpdateFunc: func(_, obj any) { event(obj, false) },
		DeleteFunc: func(obj any) { event(obj, true) },
	}
	for _, i := range []cache.SharedIndexInformer{si, pi} {
		if _, err := i.AddEventHandler(h); err != nil {
			w.cancel()
			return nil, fmt.Errorf("watching the endpoints of service %q: %w", w.service, err)
		}
		// the watch errors (connection refused while the API server is
		// away) are not log lines on the user's terminal: Reconnecting
		// tries again, and Track may record them
		_ = i.SetWatchErrorHandlerWithContext(func(context.Context, *cache.Reflector, error) {})
		go i.RunWithContext(ctx)
	}
	for _, i := range []struct {
		what     string
		informer cache.SharedIndexInformer
	}{{"the endpoint slices", si}, {"the pods", pi}} {
		if !WaitSynced(ctx, i.informer.HasSynced) {
			w.cancel()
			return nil, fmt.Errorf("watching the endpoints of service %q: %s did not sync: %w", w.service, i.what, context.Cause(ctx))
		}
	}
	return w, nil
}

// Service is "namespace/name".
func (w *EndpointWatch) Service() string { return w.service }

// Slices are the Service's EndpointSlices as last seen.
func (w *EndpointWatch) Slices() []*discoveryv1.EndpointSlice {
	s, _ := w.slices.List(labels.Everything())
	return s
}

// Pods are the watched pods as last seen.
func (w *EndpointWatch) Pods() []*corev1.Pod {
	p, _ := w.pods.List(labels.Everything())
	return p
}

// Wait returns when cond (reading Slices and Pods) holds, checking now and
// after each event; the cause of ctx's end when it ends first.
func (w *EndpointWatch) Wait(ctx context.Context, cond func() bool) error {
	for {
		w.mu.Lock()
		changed := w.changed
		w.mu.Unlock()
		if cond() {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
}

// Stop ends the watch.
func (w *EndpointWatch) Stop() { w.cancel() }
