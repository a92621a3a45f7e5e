//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// Images that cannot be pulled on the test cluster: the kwok stages in
// hack/kwok/stages/pod-image-pull.yaml fail the pull of an image whose name
// contains "invalid.example" or whose tag is "does-not-exist" (and of every
// container of a pod annotated kwok.zdd.dev/image-pull: "fail"). On a
// cluster with real kubelets (kind) such an image fails to pull for real.
const (
	badImageTag  = "registry.example/web:does-not-exist"
	badImageHost = "invalid.example/shop/web:v2"
	annImagePull = "kwok.zdd.dev/image-pull"
)

// imagePullReason returns the first container of pod waiting with reason
// ErrImagePull or ImagePullBackOff, and that reason.
func imagePullReason(p *corev1.Pod) (container, reason string) {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "ImagePullBackOff") {
			return cs.Name, w.Reason
		}
	}
	return "", ""
}

// requireImagePullStage fails the test at once, saying why, when the cluster
// under test does not fail the pull of a bad image: a kwok cluster created
// before hack/kwok/stages/pod-image-pull.yaml existed makes such a pod Ready
// after about a second, and a test that waits for ErrImagePull there would
// only time out. It starts one bare pod with image badImageTag and watches
// it until it is either waiting on the pull (the stage is there) or Ready
// (it is not), for at most 30 s.
func requireImagePullStage(t *testing.T, e *Env) {
	t.Helper()
	const name = "zdd-image-pull-probe"
	grace := int64(0)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"zdd.dev/probe": name}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers:                    []corev1.Container{{Name: "probe", Image: badImageTag}},
		},
	}
	if _, err := e.Client.CoreV1().Pods(e.NS).Create(e.Ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating the image-pull probe pod: %v", err)
	}
	var verdict string
	watchPods(t, e, "zdd.dev/probe="+name, 30*time.Second, func(pods []*corev1.Pod, _ watch.Event) (bool, error) {
		for _, p := range pods {
			if _, reason := imagePullReason(p); reason != "" {
				verdict = reason
				return true, nil
			}
			if podReady(p) {
				return false, fmt.Errorf("pod %q with image %q became Ready instead of failing to pull: "+
					"this cluster lacks the kwok stages of hack/kwok/stages/pod-image-pull.yaml (it was created before "+
					"they existed; kwok reads its stages only when a cluster is created). Run the test on a fresh cluster: "+
					"ZDD_CLUSTER_NAME=NAME hack/cluster.sh up, then KUBECONFIG=.cluster/kubeconfig-NAME (CI always creates one)",
					p.Name, badImageTag)
			}
		}
		return false, nil
	})
	t.Logf("image-pull stage present: the probe pod is waiting with reason %s", verdict)
	if err := e.Client.CoreV1().Pods(e.NS).Delete(e.Ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatalf("deleting the image-pull probe pod: %v", err)
	}
}

// TestStageImagePull: the three ways to fail a pull (a tag
// "does-not-exist", a host "invalid.example", the pod annotation) each put
// the container in ErrImagePull and then ImagePullBackOff, with the image in
// the message; the pod stays Pending and never Ready. A good container next
// to a bad one runs but the pod is not Ready, and a pod with a good image
// is Ready as usual.
func TestStageImagePull(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	requireImagePullStage(t, e)
	tests := []struct {
		name        string
		images      []string
		annotations map[string]string
		// bad lists, per container, whether its pull must fail; all false
		// means the pod must become Ready.
		bad []bool
	}{
		{name: "tag-does-not-exist", images: []string{badImageTag}, bad: []bool{true}},
		{name: "host-invalid-example", images: []string{badImageHost}, bad: []bool{true}},
		{name: "annotation", images: []string{"registry.example/web:v1"}, annotations: map[string]string{annImagePull: "fail"}, bad: []bool{true}},
		{name: "one-bad-of-two", images: []string{badImageTag, "registry.example/sidecar:v1"}, bad: []bool{true, false}},
		{name: "good", images: []string{"registry.example/web:v1"}, bad: []bool{false}},
	}
	for _, tc := range tests {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: tc.name, Labels: map[string]string{"case": tc.name}, Annotations: tc.annotations,
		}}
		for i, img := range tc.images {
			pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: img})
		}
		if _, err := e.Client.CoreV1().Pods(e.NS).Create(e.Ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating pod %q: %v", tc.name, err)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			anyBad := false
			for _, b := range tc.bad {
				anyBad = anyBad || b
			}
			// the reasons seen, in order, per container
			seen := map[string][]string{}
			var last *corev1.Pod
			watchPods(t, e, "case="+tc.name, time.Minute, func(pods []*corev1.Pod, _ watch.Event) (bool, error) {
				if len(pods) != 1 {
					return false, nil
				}
				p := pods[0]
				last = p
				if podReady(p) {
					if anyBad {
						return false, fmt.Errorf("pod %q with a bad image became Ready", p.Name)
					}
					return true, nil
				}
				for _, cs := range p.Status.ContainerStatuses {
					if w := cs.State.Waiting; w != nil {
						if r := seen[cs.Name]; len(r) == 0 || r[len(r)-1] != w.Reason {
							seen[cs.Name] = append(r, w.Reason)
						}
						if !strings.Contains(w.Message, cs.Image) && w.Reason != "ContainerCreating" {
							return false, fmt.Errorf("container %q waiting %s: message %q does not name image %q", cs.Name, w.Reason, w.Message, cs.Image)
						}
					}
				}
				// done once every bad container went from ErrImagePull to ImagePullBackOff
				for i, b := range tc.bad {
					if !b {
						continue
					}
					r := strings.Join(seen[fmt.Sprintf("c%d", i)], ",")
					if !strings.Contains(r, "ErrImagePull,ImagePullBackOff") {
						return false, nil
					}
				}
				return anyBad, nil
			})
			if !anyBad {
				return
			}
			if last.Status.Phase != corev1.PodPending {
				t.Errorf("phase %s, want Pending", last.Status.Phase)
			}
			for i, b := range tc.bad {
				cs := last.Status.ContainerStatuses[i]
				switch {
				case b && (cs.State.Waiting == nil || cs.State.Waiting.Reason != "ImagePullBackOff"):
					t.Errorf("container %q: state %+v, want waiting ImagePullBackOff", cs.Name, cs.State)
				case !b && cs.State.Running == nil:
					t.Errorf("container %q with a good image: state %+v, want running", cs.Name, cs.State)
				}
			}
		})
	}
}

// TestRolloutImagePullBackOff: `kubectl zdd rollout --image` with an image
// that cannot be pulled. The new pods wait in ErrImagePull/ImagePullBackOff;
// the rollout sees that as soon as the first one does, names the reason and
// the image, rolls back to revision 1 and exits 1. The old pods serve
// throughout: the Service never has fewer ready endpoints than replicas.
func TestRolloutImagePullBackOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	requireImagePullStage(t, e)
	startApp(e, AppSpec{})
	w := e.WatchDowntime("web")
	r := e.Zdd("rollout", "deployment/web", "--image", "app="+badImageTag, "--timeout", "90s")
	rep := w.Stop()
	t.Logf("rollout stderr:\n%s", r.Stderr)
	if r.Code != 1 {
		t.Fatalf("want exit 1, got %s", r)
	}
	for _, want := range []string{"new pods are failing", `container "app": `, badImageTag, "rolled back to revision 1"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r)
		}
	}
	if !strings.Contains(r.Stderr, `container "app": ErrImagePull`) && !strings.Contains(r.Stderr, `container "app": ImagePullBackOff`) {
		t.Errorf("stderr names neither ErrImagePull nor ImagePullBackOff for container \"app\":\n%s", r)
	}
	d := getDeployment(e, "web")
	if got := imageOf(d); got != "registry.example/web:v1" {
		t.Errorf("image %q after the rollback, want registry.example/web:v1", got)
	}
	if d.Annotations[state.KeyResult] != state.ResultRolledBack {
		t.Errorf("recorded result %q, want rolled-back", d.Annotations[state.KeyResult])
	}
	if d.Status.AvailableReplicas != rolloutReplicas {
		t.Errorf("available replicas %d after the rollback, want %d", d.Status.AvailableReplicas, rolloutReplicas)
	}
	if rep.MinReady < rolloutReplicas {
		t.Errorf("ready endpoints dropped to %d, want never below %d", rep.MinReady, rolloutReplicas)
	}
	assertNoLease(e, "web")
}
