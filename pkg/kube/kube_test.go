package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

func deployment(gen, observed int64, replicas *int32, st appsv1.DeploymentStatus) *appsv1.Deployment {
	st.ObservedGeneration = observed
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: gen},
		Spec:       appsv1.DeploymentSpec{Replicas: replicas},
		Status:     st,
	}
}

func TestDeploymentProgress(t *testing.T) {
	deadline := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-1" has timed out progressing.`}
	progressing := appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}
	tests := []struct {
		name string
		d    *appsv1.Deployment
		want Progress
	}{
		{
			name: "generation not observed yet",
			d:    deployment(3, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3}),
			want: Progress{Desired: 3, Replicas: 3, Updated: 3, Ready: 3, Available: 3, Reason: "waiting for the deployment controller to observe generation 3"},
		},
		{
			name: "progress deadline exceeded fails",
			d:    deployment(2, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3, Conditions: []appsv1.DeploymentCondition{deadline}}),
			want: Progress{Desired: 3, Replicas: 4, Updated: 1, Ready: 3, Available: 3, Observed: true, Failed: true, Reason: `progress deadline exceeded (Progressing=False, ProgressDeadlineExceeded): ReplicaSet "web-1" has timed out progressing.`},
		},
		{
			name: "new replicas still being created",
			d:    deployment(2, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3, Conditions: []appsv1.DeploymentCondition{progressing}}),
			want: Progress{Desired: 3, Replicas: 4, Updated: 1, Ready: 3, Available: 3, Observed: true, Reason: "waiting for updated replicas: 1 of 3"},
		},
		{
			name: "old replicas terminating",
			d:    deployment(2, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 3, ReadyReplicas: 4, AvailableReplicas: 4}),
			want: Progress{Desired: 3, Replicas: 4, Updated: 3, Ready: 4, Available: 4, Observed: true, Reason: "waiting for old replicas to terminate: 1 left"},
		},
		{
			name: "updated but not yet available",
			d:    deployment(2, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2}),
			want: Progress{Desired: 3, Replicas: 3, Updated: 3, Ready: 2, Available: 2, Observed: true, Reason: "waiting for available replicas: 2 of 3"},
		},
		{
			name: "complete",
			d:    deployment(2, 2, ptr.To[int32](3), appsv1.DeploymentStatus{Replicas: 3, UpdatedReplicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, Conditions: []appsv1.DeploymentCondition{progressing}}),
			want: Progress{Desired: 3, Replicas: 3, Updated: 3, Ready: 3, Available: 3, Observed: true, Done: true, Reason: "rolled out: 3 of 3 updated replicas available"},
		},
		{
			name: "replicas unset means one",
			d:    deployment(1, 1, nil, appsv1.DeploymentStatus{Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1}),
			want: Progress{Desired: 1, Replicas: 1, Updated: 1, Ready: 1, Available: 1, Observed: true, Done: true, Reason: "rolled out: 1 of 1 updated replicas available"},
		},
		{
			name: "scaled to zero is done",
			d:    deployment(4, 4, ptr.To[int32](0), appsv1.DeploymentStatus{}),
			want: Progress{Desired: 0, Observed: true, Done: true, Reason: "rolled out: 0 of 0 updated replicas available"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, DeploymentProgress(tc.d)); diff != "" {
				t.Errorf("DeploymentProgress (-want +got):\n%s", diff)
			}
		})
	}
}

func pod(name string, statuses ...corev1.ContainerStatus) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{ContainerStatuses: statuses}}
}

func waiting(name, reason, msg string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
}

func running(name string, restarts int32) corev1.ContainerStatus {
	return corev1.ContainerStatus{Name: name, RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
}

func TestPodProblems(t *testing.T) {
	deleting := pod("web-old", waiting("app", "CrashLoopBackOff", "", 9))
	deleting.DeletionTimestamp = &metav1.Time{}
	initPod := pod("web-init")
	initPod.Status.InitContainerStatuses = []corev1.ContainerStatus{waiting("migrate", "CreateContainerConfigError", `secret "db" not found`, 0)}
	tests := []struct {
		name        string
		pods        []corev1.Pod
		maxRestarts int32
		want        []string
	}{
		{name: "healthy pods", pods: []corev1.Pod{pod("a", running("app", 0)), pod("b", waiting("app", "ContainerCreating", "", 0))}},
		{name: "crash loop", pods: []corev1.Pod{pod("a", waiting("app", "CrashLoopBackOff", "back-off 10s restarting failed container", 2))},
			want: []string{`pod "a" container "app": CrashLoopBackOff: back-off 10s restarting failed container`}},
		{name: "image pull errors", pods: []corev1.Pod{pod("b", waiting("app", "ImagePullBackOff", "", 0)), pod("a", waiting("app", "ErrImagePull", "not found", 0))},
			want: []string{`pod "a" container "app": ErrImagePull: not found`, `pod "b" container "app": ImagePullBackOff`}},
		// what a real kubelet reports (seen on the test cluster's real node)
		{name: "image never pulled and invalid name", pods: []corev1.Pod{pod("a", waiting("app", "ErrImageNeverPull", `Container image "zdd.local/testserver:nope" is not present with pull policy of Never`, 0)), pod("b", waiting("app", "InvalidImageName", "", 0))},
			want: []string{`pod "a" container "app": ErrImageNeverPull: Container image "zdd.local/testserver:nope" is not present with pull policy of Never`, `pod "b" container "app": InvalidImageName`}},
		{name: "init container config error", pods: []corev1.Pod{initPod},
			want: []string{`pod "web-init" container "migrate": CreateContainerConfigError: secret "db" not found`}},
		{name: "restarts above the limit", pods: []corev1.Pod{pod("a", running("app", 2), running("sidecar", 1))}, maxRestarts: 1,
			want: []string{`pod "a" container "app" restarted 2 times (--max-restarts 1)`}},
		{name: "restarts at the limit are fine", pods: []corev1.Pod{pod("a", running("app", 1))}, maxRestarts: 1},
		{name: "default limit zero catches one restart", pods: []corev1.Pod{pod("a", running("app", 1))},
			want: []string{`pod "a" container "app" restarted 1 times (--max-restarts 0)`}},
		{name: "terminating pods are ignored", pods: []corev1.Pod{deleting}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, PodProblems(tc.pods, tc.maxRestarts)); diff != "" {
				t.Errorf("PodProblems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseImageFlags(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		want    map[string]string
		wantErr string
	}{
		{name: "none", flags: nil, want: map[string]string{}},
		{name: "two containers", flags: []string{"app=shop:v2", "proxy=registry.local:5000/envoy:1.30@sha256:abc"},
			want: map[string]string{"app": "shop:v2", "proxy": "registry.local:5000/envoy:1.30@sha256:abc"}},
		{name: "missing equals", flags: []string{"shop:v2"}, wantErr: `--image "shop:v2": want CONTAINER=IMAGE`},
		{name: "empty image", flags: []string{"app="}, wantErr: `--image "app=": want CONTAINER=IMAGE`},
		{name: "empty container", flags: []string{"=shop:v2"}, wantErr: `--image "=shop:v2": want CONTAINER=IMAGE`},
		{name: "space in image", flags: []string{"app=shop v2"}, wantErr: `--image "app=shop v2": an image reference cannot contain spaces`},
		{name: "container twice", flags: []string{"app=a:1", "app=a:2"}, wantErr: `--image "app=a:2": container "app" is named more than once`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseImageFlags(tc.flags)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				if exitcode.Of(err) != exitcode.Usage {
					t.Errorf("exit code = %d, want %d", exitcode.Of(err), exitcode.Usage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("ParseImageFlags (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSetImages(t *testing.T) {
	base := corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "migrate", Image: "shop-migrate:v1"}},
		Containers:     []corev1.Container{{Name: "app", Image: "shop:v1"}, {Name: "proxy", Image: "envoy:1"}},
	}
	tests := []struct {
		name    string
		images  map[string]string
		want    []string // images of migrate, app, proxy
		wantErr string
	}{
		{name: "one container", images: map[string]string{"app": "shop:v2"}, want: []string{"shop-migrate:v1", "shop:v2", "envoy:1"}},
		{name: "init and regular", images: map[string]string{"migrate": "shop-migrate:v2", "app": "shop:v2"}, want: []string{"shop-migrate:v2", "shop:v2", "envoy:1"}},
		{name: "unknown container changes nothing", images: map[string]string{"app": "shop:v2", "web": "x"}, want: []string{"shop-migrate:v1", "shop:v1", "envoy:1"},
			wantErr: `--image: no container named "web" in the pod template (containers: app, migrate, proxy)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := base.DeepCopy()
			err := SetImages(spec, tc.images)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatal(err)
			case tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr || exitcode.Of(err) != exitcode.Usage):
				t.Fatalf("error = %v (exit %d), want %q (exit 2)", err, exitcode.Of(err), tc.wantErr)
			}
			got := []string{spec.InitContainers[0].Image, spec.Containers[0].Image, spec.Containers[1].Image}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("images (-want +got):\n%s", diff)
			}
		})
	}
}

func rs(name string, rev string, image string, annotations map[string]string) appsv1.ReplicaSet {
	a := map[string]string{RevisionAnnotation: rev}
	for k, v := range annotations {
		a[k] = v
	}
	return appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: a, OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: types.UID("d1"), Controller: ptr.To(true)}}},
		Spec: appsv1.ReplicaSetSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", appsv1.DefaultDeploymentUniqueLabelKey: name}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
		}},
	}
}

func TestRollbackTarget(t *testing.T) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "d1", Annotations: map[string]string{RevisionAnnotation: "4"}},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "shop:v4"}}},
		}},
	}
	all := []appsv1.ReplicaSet{rs("web-a", "1", "shop:v1", nil), rs("web-c", "3", "shop:v3", nil), rs("web-b", "2", "shop:v2", nil), rs("web-d", "4", "shop:v4", nil)}
	tests := []struct {
		name       string
		rss        []appsv1.ReplicaSet
		toRevision int64
		want       string
		wantErr    string
	}{
		{name: "previous revision", rss: all, want: "web-c"},
		{name: "explicit revision", rss: all, toRevision: 1, want: "web-a"},
		{name: "missing revision", rss: all, toRevision: 9, wantErr: `deployment "shop/web" has no revision 9 (revisions: [1 3 2 4])`},
		{name: "only the current revision", rss: all[3:], wantErr: `deployment "shop/web" has no previous revision to roll back to (revisions: [4])`},
		{name: "previous revision with the same template is skipped", rss: []appsv1.ReplicaSet{rs("web-a", "1", "shop:v1", nil), rs("web-x", "3", "shop:v4", nil), rs("web-d", "4", "shop:v4", nil)}, want: "web-a"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := RollbackTarget(d, tc.rss, tc.toRevision)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.want {
				t.Errorf("RollbackTarget = %s, want %s", got.Name, tc.want)
			}
		})
	}
}

func TestWithoutHashAndCurrent(t *testing.T) {
	r := rs("web-c", "3", "shop:v3", nil)
	got := WithoutHash(&r.Spec.Template)
	if diff := cmp.Diff(map[string]string{"app": "web"}, got.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if _, still := r.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; !still {
		t.Error("WithoutHash changed its input")
	}
	d := &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: *got}}
	others := []appsv1.ReplicaSet{rs("web-a", "1", "shop:v1", nil), r}
	if cur := CurrentReplicaSet(d, others); cur == nil || cur.Name != "web-c" {
		t.Errorf("CurrentReplicaSet = %v, want web-c", cur)
	}
	if cur := CurrentReplicaSet(d, others[:1]); cur != nil {
		t.Errorf("CurrentReplicaSet = %s, want none", cur.Name)
	}
}
