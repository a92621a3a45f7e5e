package kube

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// BadWaitingReasons are the container waiting reasons that mean a pod will
// not become Ready without a person fixing something. ErrImageNeverPull and
// InvalidImageName are what a real kubelet reports for an image that is not
// on the node under imagePullPolicy Never, and for a malformed image name.
var BadWaitingReasons = map[string]bool{
	"CrashLoopBackOff":           true,
	"ImagePullBackOff":           true,
	"ErrImagePull":               true,
	"ErrImageNeverPull":          true,
	"InvalidImageName":           true,
	"CreateContainerConfigError": true,
}

// BadWaitingReasonList is BadWaitingReasons, sorted.
func BadWaitingReasonList() []string {
	out := make([]string, 0, len(BadWaitingReasons))
	for r := range BadWaitingReasons {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}

// PodProblems lists, one line each, the containers of pods that are stuck in
// a bad waiting reason or restarted more than maxRestarts times. Lines are
// sorted by pod and container, so the output is stable.
func PodProblems(pods []corev1.Pod, maxRestarts int32) []string {
	var out []string
	for i := range pods {
		out = append(out, podProblems(&pods[i], maxRestarts)...)
	}
	sort.Strings(out)
	return out
}

// podProblems is PodProblems of one pod, unsorted.
func podProblems(pod *corev1.Pod, maxRestarts int32) []string {
	if pod.DeletionTimestamp != nil {
		return nil
	}
	var out []string
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	sort.SliceStable(statuses, func(a, b int) bool { return statuses[a].Name < statuses[b].Name })
	for _, cs := range statuses {
		if w := cs.State.Waiting; w != nil && BadWaitingReasons[w.Reason] {
			line := fmt.Sprintf("pod %q container %q: %s", pod.Name, cs.Name, w.Reason)
			if w.Message != "" {
				line += ": " + w.Message
			}
			out = append(out, line)
			continue
		}
		if cs.RestartCount > maxRestarts {
			out = append(out, fmt.Sprintf("pod %q container %q restarted %d times (--max-restarts %d)", pod.Name, cs.Name, cs.RestartCount, maxRestarts))
		}
	}
	return out
}

// WatchNewPodProblems watches the pods of Deployment d whose ReplicaSet runs
// template (the new revision) and returns the problems PodProblems finds as
// soon as there are any. It returns (nil, ctx.Err()) when ctx ends first.
func WatchNewPodProblems(ctx context.Context, client kubernetes.Interface, d *appsv1.Deployment, template *corev1.PodTemplateSpec, maxRestarts int32) ([]string, error) {
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("deployment %q has an invalid selector: %w", d.Namespace+"/"+d.Name, err)
	}
	ns := d.Namespace
	isNew := map[string]bool{} // ReplicaSet name -> runs template
	// the problems of each new pod, judged at its own event: one pod's
	// event costs one pod's judgement, not all of them (at 1,000 replicas
	// a release sees many thousand)
	problemsOf := map[string][]string{}
	var problems []string
	err = untilPods(ctx, client, ns, sel, nil, func(ev watch.EventType, pod *corev1.Pod) (bool, error) {
		if ev == watch.Deleted {
			delete(problemsOf, pod.Name)
			return false, nil
		}
		ref := metav1.GetControllerOf(pod)
		if ref == nil || ref.Kind != "ReplicaSet" {
			return false, nil
		}
		fresh, known := isNew[ref.Name]
		if !known {
			rs, err := client.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
			if err != nil {
				return false, nil // gone or not readable: not the new revision's
			}
			fresh = EqualIgnoreHash(&rs.Spec.Template, template)
			isNew[ref.Name] = fresh
		}
		if !fresh {
			return false, nil
		}
		if p := podProblems(pod, maxRestarts); len(p) > 0 {
			problemsOf[pod.Name] = p
		} else {
			delete(problemsOf, pod.Name)
		}
		if len(problemsOf) == 0 {
			return false, nil
		}
		problems = nil
		for _, p := range problemsOf {
			problems = append(problems, p...)
		}
		sort.Strings(problems)
		return true, nil
	})
	if err != nil {
		return nil, err
	}
	return problems, nil
}

// WaitNoTerminating waits until no pod that sel picks in ns is terminating
// (deleted, its containers still stopping), or ctx ends: the end of a
// release for the requests it may still lose.
func WaitNoTerminating(ctx context.Context, client kubernetes.Interface, ns string, sel labels.Selector) error {
	terminating := map[string]bool{}
	synced := func(store cache.Store) (bool, error) {
		for _, o := range store.List() {
			if p, ok := o.(*corev1.Pod); ok && p.DeletionTimestamp != nil {
				terminating[p.Name] = true
			}
		}
		return len(terminating) == 0, nil
	}
	return untilPods(ctx, client, ns, sel, synced, func(ev watch.EventType, pod *corev1.Pod) (bool, error) {
		switch {
		case ev == watch.Deleted:
			delete(terminating, pod.Name)
		case pod.DeletionTimestamp != nil:
			terminating[pod.Name] = true
		}
		return len(terminating) == 0, nil
	})
}

// untilPods watches the pods sel picks in ns until cond, shown each pod
// event, says done (or synced, shown the first list, does), or ctx ends:
// the one pod wait of this package. The watch keeps only what the waits
// read (slimPodsLW) and reconnects at once after an API server outage, not
// after client-go's backoff.
func untilPods(ctx context.Context, client kubernetes.Interface, ns string, sel labels.Selector,
	synced func(cache.Store) (bool, error), cond func(watch.EventType, *corev1.Pod) (bool, error)) error {
	lw := slimPodsLW(client, ns, sel.String())
	_, err := UntilWithSync(ctx, For(client, lw), &corev1.Pod{}, synced, func(ev watch.Event) (bool, error) {
		pod, ok := ev.Object.(*corev1.Pod)
		if !ok {
			return false, nil
		}
		return cond(ev.Type, pod)
	})
	return err
}
