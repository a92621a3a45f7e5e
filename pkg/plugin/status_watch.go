package plugin

import (
	"context"
	"encoding/json"
	"sync"
	"text/tabwriter"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// watch prints a row whenever a Deployment or Service with a record changes
// (printed holds the rows already shown, which are not shown again), with
// kube.Follow: the watch outlives the API server's routine closing of a
// watch and a restart of the API server, and a row changed meanwhile is
// printed once it is back.
func (o *StatusOptions) watch(ctx context.Context, tw *tabwriter.Writer, printed []OperationStatus) error {
	ns := o.listNamespace()
	withName := func(opts metav1.ListOptions) metav1.ListOptions {
		if o.Name != "" {
			opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", o.Name).String()
		}
		return opts
	}
	var mu sync.Mutex
	last := map[string]string{}
	key := func(it OperationStatus) string { return it.Kind + "/" + it.Namespace + "/" + it.Name }
	for _, it := range printed {
		b, _ := json.Marshal(it)
		last[key(it)] = string(b)
	}
	show := func(it OperationStatus) error {
		mu.Lock()
		defer mu.Unlock()
		b, _ := json.Marshal(it)
		if last[key(it)] == string(b) {
			return nil
		}
		last[key(it)] = string(b)
		printStatusRow(tw, it, o.AllNamespaces, o.Output == "wide", o.Now())
		return tw.Flush()
	}

	var sources []kube.Source
	if o.Kind == "" || o.Kind == "deployment" {
		c := o.Client.AppsV1().Deployments(ns)
		sources = append(sources, kube.Source{What: "deployments", Object: &appsv1.Deployment{}, ListWatch: &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				return c.List(ctx, withName(opts))
			},
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				return c.Watch(ctx, withName(opts))
			},
		}, Changed: func(obj runtime.Object) error {
			if d, ok := obj.(*appsv1.Deployment); ok {
				if it, has := o.deploymentStatus(ctx, d); has {
					return show(it)
				}
			}
			return nil
		}})
	}
	if o.Kind == "" || o.Kind == "service" {
		c := o.Client.CoreV1().Services(ns)
		sources = append(sources, kube.Source{What: "services", Object: &corev1.Service{}, ListWatch: &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
				return c.List(ctx, withName(opts))
			},
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				return c.Watch(ctx, withName(opts))
			},
		}, Changed: func(obj runtime.Object) error {
			if s, ok := obj.(*corev1.Service); ok {
				if it, has := o.serviceStatus(ctx, s); has {
					return show(it)
				}
			}
			return nil
		}})
	}
	return kube.Follow(ctx, sources...)
}
