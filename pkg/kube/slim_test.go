package kube

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// fullPod is a pod as a release's watches receive it from the API server:
// a spec with probes and a preStop hook, annotations, three managedFields
// entries, and a status with conditions and a container state.
func fullPod(i int) *corev1.Pod {
	fields := `{"f:metadata":{"f:labels":{".":{},"f:app":{},"f:pod-template-hash":{}},"f:ownerReferences":{}},` + strings.Repeat(`"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:readinessProbe":{}}}},`, 6) + `"f:status":{}}`
	now := metav1.Now()
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("web-7d9c5b8f6-%05d", i), Namespace: "shop", UID: "0b6c2f4e-9d1a-4e8b-a1f2-000000000000", ResourceVersion: "123456",
			Labels:          map[string]string{"app": "web", "pod-template-hash": "7d9c5b8f6"},
			Annotations:     map[string]string{"kubectl.kubernetes.io/restartedAt": now.String(), "prometheus.io/scrape": "true", "prometheus.io/port": "9090"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-7d9c5b8f6", UID: "1", Controller: ptr.To(true)}},
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kube-controller-manager", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}},
				{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}, Subresource: "status"},
				{Manager: "kube-scheduler", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "v1", Time: &now, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}},
			},
			CreationTimestamp: now,
		},
		Spec: corev1.PodSpec{
			NodeName: "node-1",
			Containers: []corev1.Container{{
				Name: "web", Image: "registry.example/shop/web:v1.2.3",
				Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				Env:            []corev1.EnvVar{{Name: "MODE", Value: "production"}, {Name: "LOG_LEVEL", Value: "info"}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}}},
				LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}},
				Lifecycle:      &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}},
				VolumeMounts:   []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{Name: "kube-api-access"}},
		},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.0.0.1", HostIP: "172.30.0.2",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}, {Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, {Type: corev1.PodScheduled, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "web", Ready: true, RestartCount: 2, Image: "registry.example/shop/web:v1.2.3", ImageID: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			}},
		},
	}
}

func TestSlimPodKeepsWhatTheWatchesRead(t *testing.T) {
	p := fullPod(1)
	p.Status.ContainerStatuses[0].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off"}}
	del := metav1.Now()
	p.DeletionTimestamp = &del
	s := SlimPod(p)
	if s.Name != p.Name || s.Namespace != p.Namespace || s.UID != p.UID || s.ResourceVersion != p.ResourceVersion {
		t.Errorf("identity changed: %+v", s.ObjectMeta)
	}
	if s.Labels["pod-template-hash"] != "7d9c5b8f6" || metav1.GetControllerOf(s) == nil || s.DeletionTimestamp == nil || s.Status.Phase != corev1.PodRunning {
		t.Errorf("labels, owner, deletion or phase lost: %+v", s)
	}
	cs := s.Status.ContainerStatuses
	if len(cs) != 1 || cs[0].RestartCount != 2 || !cs[0].Ready || cs[0].State.Waiting == nil || cs[0].State.Waiting.Reason != "CrashLoopBackOff" {
		t.Errorf("container state lost: %+v", cs)
	}
	if s.ManagedFields != nil || s.Annotations != nil || len(s.Spec.Containers) != 0 || s.Status.Conditions != nil {
		t.Errorf("SlimPod kept what no watch reads: %+v", s)
	}
	// PodProblems reads the slim pod as it read the whole one
	s.DeletionTimestamp, p.DeletionTimestamp = nil, nil
	if a, b := PodProblems([]corev1.Pod{*p}, 0), PodProblems([]corev1.Pod{*s}, 0); strings.Join(a, "|") != strings.Join(b, "|") || len(a) == 0 {
		t.Errorf("PodProblems differs: whole %q, slim %q", a, b)
	}
	if p.ManagedFields == nil || len(p.Spec.Containers) == 0 {
		t.Error("SlimPod changed its argument")
	}
}

// TestEndpointWatchCachesSlimObjects: what the endpoint watch keeps is the
// slim pod and the slice without managedFields, for pods listed before the
// watch started and for pods added after.
func TestEndpointWatchCachesSlimObjects(t *testing.T) {
	cs := fake.NewClientset(fullPod(1), &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "web"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "endpointslice-controller"}}, Annotations: map[string]string{"a": "b"}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.1"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: "web-7d9c5b8f6-00001"}}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w, err := WatchEndpoints(ctx, cs, "shop", "web", EndpointOptions{PodSelector: map[string]string{"app": "web"}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if _, err := cs.CoreV1().Pods("shop").Create(ctx, fullPod(2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(ctx, func() bool { return len(w.Pods()) == 2 }); err != nil {
		t.Fatal(err)
	}
	for _, p := range w.Pods() {
		if p.ManagedFields != nil || len(p.Spec.Containers) != 0 || p.Labels["app"] != "web" {
			t.Errorf("pod %s cached whole: %d managedFields, %d containers", p.Name, len(p.ManagedFields), len(p.Spec.Containers))
		}
	}
	sl := w.Slices()
	if len(sl) != 1 || sl[0].ManagedFields != nil || sl[0].Annotations != nil || len(sl[0].Endpoints) != 1 {
		t.Errorf("slice cached whole or lost its endpoints: %+v", sl)
	}
}

// BenchmarkPodCache reports the heap that 1,000 pods take in a cache,
// whole (as before) and slim, side by side: B/pod-whole and B/pod-slim.
func BenchmarkPodCache(b *testing.B) {
	const n = 1000
	heap := func(keep func() any) float64 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		kept := keep()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(kept)
		return float64(after.HeapAlloc-before.HeapAlloc) / n
	}
	var whole, slim float64
	for i := 0; i < b.N; i++ {
		whole = heap(func() any {
			m := make([]*corev1.Pod, n)
			for j := range m {
				m[j] = fullPod(j).DeepCopy()
			}
			return m
		})
		slim = heap(func() any {
			m := make([]*corev1.Pod, n)
			for j := range m {
				m[j] = SlimPod(fullPod(j).DeepCopy())
			}
			return m
		})
	}
	b.ReportMetric(whole, "B/pod-whole")
	b.ReportMetric(slim, "B/pod-slim")
	b.ReportMetric(whole/slim, "whole/slim")
}
