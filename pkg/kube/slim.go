package kube

// What the release's watches keep of each pod and EndpointSlice. At 1,000
// replicas a whole Pod (spec, managedFields, annotations) is several KB,
// and a release holds the pods in more than one cache; the watches read
// only identity, labels, owner, deletion, phase and container states, so
// that is all their caches hold.

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// SlimPod is the part of pod that the release's watches read: name,
// namespace, uid, resourceVersion, labels, owners, creation and deletion
// times, phase, and each container's name, readiness, restart count and
// waiting state. The rest (spec, annotations, managedFields) is dropped.
func SlimPod(pod *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			Labels:            pod.Labels,
			OwnerReferences:   pod.OwnerReferences,
			CreationTimestamp: pod.CreationTimestamp,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Status: corev1.PodStatus{Phase: pod.Status.Phase},
	}
	slim := func(in []corev1.ContainerStatus) []corev1.ContainerStatus {
		if len(in) == 0 {
			return nil
		}
		cs := make([]corev1.ContainerStatus, len(in))
		for i, c := range in {
			cs[i] = corev1.ContainerStatus{Name: c.Name, Ready: c.Ready, RestartCount: c.RestartCount}
			if c.State.Waiting != nil {
				cs[i].State.Waiting = c.State.Waiting
			}
		}
		return cs
	}
	out.Status.InitContainerStatuses = slim(pod.Status.InitContainerStatuses)
	out.Status.ContainerStatuses = slim(pod.Status.ContainerStatuses)
	return out
}

// slimSlice is a cache.TransformFunc keeping an EndpointSlice without its
// managedFields and annotations; anything else (a deleted-object tombstone)
// passes unchanged.
func slimSlice(obj any) (any, error) {
	o, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || (o.ManagedFields == nil && o.Annotations == nil) {
		return obj, nil
	}
	c := *o
	c.ManagedFields = nil
	c.Annotations = nil
	return &c, nil
}

// slimPodsLW lists and watches the pods that selector picks in ns, each
// reduced to SlimPod before any cache keeps it, and reconnects like
// Reconnecting.
func slimPodsLW(client kubernetes.Interface, ns, selector string) *cache.ListWatch {
	return Reconnecting(&cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			list, err := client.CoreV1().Pods(ns).List(ctx, o)
			if err != nil {
				return nil, err
			}
			for i := range list.Items {
				list.Items[i] = *SlimPod(&list.Items[i])
			}
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			w, err := client.CoreV1().Pods(ns).Watch(ctx, o)
			if err != nil {
				return nil, err
			}
			return watch.Filter(w, func(ev watch.Event) (watch.Event, bool) {
				// a bookmark passes whole: its annotations mark the end
				// of the initial events of a streaming list
				if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Bookmark {
					ev.Object = SlimPod(p)
				}
				return ev, true
			}), nil
		},
	})
}
