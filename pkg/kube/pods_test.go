package kube

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// WatchNewPodProblems judges each new pod at its own event: the old
// revision's crashing pod is not the release's, a new pod that recovers
// no longer counts, and the first problem of a new pod ends the watch
// with the problems of every new pod.
func TestWatchNewPodProblems(t *testing.T) {
	template := func(image string) corev1.PodTemplateSpec {
		return corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
		}
	}
	rs := func(name, image string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: appsv1.ReplicaSetSpec{Template: template(image)}}
	}
	pod := func(name, owner, waiting string) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "web"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: owner, Controller: ptr.To(true)}}}}
		cs := corev1.ContainerStatus{Name: "app"}
		if waiting != "" {
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: waiting}
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		return p
	}
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: template("web:2")}}
	client := fake.NewClientset(rs("web-old", "web:1"), rs("web-new", "web:2"),
		pod("old-1", "web-old", "CrashLoopBackOff"), pod("new-1", "web-new", ""), pod("new-2", "web-new", "ErrImagePull"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type result struct {
		problems []string
		err      error
	}
	done := make(chan result, 1)
	go func() {
		p, err := WatchNewPodProblems(ctx, client, d, &d.Spec.Template, 3)
		done <- result{p, err}
	}()
	pods := client.CoreV1().Pods("shop")
	// old-1 crashes but runs the old template; new-2's ErrImagePull ends
	// the watch
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if diff := cmp.Diff([]string{`pod "new-2" container "app": ErrImagePull`}, r.problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	// a new pod that recovers is no longer counted; the next bad one ends
	// the watch with only the problems standing then
	if _, err := pods.UpdateStatus(ctx, pod("new-2", "web-new", ""), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	go func() {
		p, err := WatchNewPodProblems(ctx, client, d, &d.Spec.Template, 3)
		done <- result{p, err}
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case r := <-done:
		t.Fatalf("the watch ended with no new pod failing: %v, %v", r.problems, r.err)
	default:
	}
	bad := pod("new-1", "web-new", "")
	bad.Status.ContainerStatuses[0].RestartCount = 4
	if _, err := pods.UpdateStatus(ctx, bad, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	if diff := cmp.Diff([]string{`pod "new-1" container "app" restarted 4 times (--max-restarts 3)`}, r.problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
