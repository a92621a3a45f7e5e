package lint

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// corpus makes n objects, a third each of Deployments, Services and PDBs,
// spread over namespaces namespaces, with the mix of good and bad settings
// a real repository has (every fourth app lacks probes, every fifth uses the
// default strategy, ...).
func corpus(n, namespaces int) []runtime.Object {
	objs := make([]runtime.Object, 0, n)
	for i := 0; len(objs) < n; i++ {
		ns := fmt.Sprintf("team-%d", i%namespaces)
		name := fmt.Sprintf("app-%d", i)
		lbls := map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shop", "tier": "web"}
		c := corev1.Container{
			Name:      "app",
			Image:     fmt.Sprintf("registry.example.com/%s:1.%d", name, i%7),
			Ports:     []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			Resources: corev1.ResourceRequirements{},
		}
		if i%4 != 0 {
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}}
			c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}, FailureThreshold: int32(3 + i%2*3)}
		}
		if i%3 != 0 {
			c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "sleep 10"}}}}
		}
		d := &appsv1.Deployment{
			TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: lbls},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(1 + i%4)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": name}},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: lbls},
					Spec:       corev1.PodSpec{Containers: []corev1.Container{c}},
				},
			},
		}
		if i%5 != 0 {
			d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{
				MaxSurge: ptr.To(intstr.FromInt32(1)), MaxUnavailable: ptr.To(intstr.FromInt32(0))}}
		}
		s := &corev1.Service{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: corev1.ServiceSpec{Selector: map[string]string{"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "shop"},
				Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromString("http")}}},
		}
		p := &policyv1.PodDisruptionBudget{
			TypeMeta:   metav1.TypeMeta{APIVersion: "policy/v1", Kind: "PodDisruptionBudget"},
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: policyv1.PodDisruptionBudgetSpec{MaxUnavailable: ptr.To(intstr.FromInt32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": name}}},
		}
		objs = append(objs, d, s, p)
	}
	return objs[:n]
}

func toObjects(tb testing.TB, typed []runtime.Object) []Object {
	out := make([]Object, len(typed))
	for i, t := range typed {
		o, err := FromTyped(t)
		if err != nil {
			tb.Fatal(err)
		}
		out[i] = o
	}
	return out
}

// The 10,000-object benchmarks, with the same corpus cut to 1,000 as the
// peer: ns/op of the 10k run over the 1k run is about 10 when the audit is
// linear in the number of objects (cross-object matching is indexed).
func benchmarkAudit(b *testing.B, n, namespaces int) {
	objs := toObjects(b, corpus(n, namespaces))
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		if fs := Audit(objs, Options{}); len(fs) == 0 {
			b.Fatal("no findings")
		}
	}
	reportCPU(b, start)
}

// cpuTime is the CPU time (user and system) the process has used. On a
// shared, loaded machine it measures the work better than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkAudit1kOneNamespace(b *testing.B)  { benchmarkAudit(b, 1000, 1) }
func BenchmarkAudit10kOneNamespace(b *testing.B) { benchmarkAudit(b, 10000, 1) }
func BenchmarkAudit1k50Namespaces(b *testing.B)  { benchmarkAudit(b, 1000, 50) }
func BenchmarkAudit10k50Namespaces(b *testing.B) { benchmarkAudit(b, 10000, 50) }

// BenchmarkFromTyped10k converts 10,000 unstructured objects (half of them
// of an old API version) to typed ones, as the loader does.
func BenchmarkFromTyped10k(b *testing.B) {
	typed := corpus(10000, 50)
	us := make([]runtime.Object, len(typed))
	for i, t := range typed {
		o, err := FromTyped(t)
		if err != nil {
			b.Fatal(err)
		}
		u := o.Raw.DeepCopy()
		if i%2 == 0 && u.GetKind() == "Deployment" {
			u.SetAPIVersion("extensions/v1beta1")
		}
		us[i] = u
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := cpuTime()
	defer reportCPU(b, start)
	for i := 0; i < b.N; i++ {
		for _, u := range us {
			if _, err := FromTyped(u); err != nil {
				b.Fatal(err)
			}
		}
	}
}
