//go:build e2e

package e2e

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Pod annotations read by the kwok stages in hack/kwok/stages.
const (
	annReadyDelay = "kwok.zdd.dev/ready-delay"
	annNeverReady = "kwok.zdd.dev/never-ready"
	annCrashLoop  = "kwok.zdd.dev/crashloop"
	annJobResult  = "kwok.zdd.dev/job-result"
	annJobDelay   = "kwok.zdd.dev/job-delay"
)

// AppSpec describes a test application: a Deployment and a Service in front
// of it, with the settings zero downtime depends on (readiness probe, preStop
// hook, termination grace, a rolling update that never goes below the
// desired replicas) unless a field says otherwise. The zero value is a valid
// app named "web" with 4 replicas.
type AppSpec struct {
	// Name of the Deployment and Service; also the "app" label. Default "web".
	Name string
	// Replicas, default 4.
	Replicas int32
	// Image of the single container "app", default "registry.example/web:v1".
	Image string
	// MaxUnavailable and MaxSurge of the rolling update, as in YAML ("0",
	// "25%"). Defaults "0" and "1".
	MaxUnavailable, MaxSurge string
	// Recreate uses the Recreate strategy instead of RollingUpdate.
	Recreate bool
	// MinReadySeconds of the Deployment.
	MinReadySeconds int32
	// ReadyDelay sets kwok.zdd.dev/ready-delay (e.g. "3s"); empty: about 1s.
	ReadyDelay string
	// NeverReady makes the pods Running but never Ready.
	NeverReady bool
	// CrashLoop makes the pods' container crash again and again.
	CrashLoop bool
	// GracePeriod is terminationGracePeriodSeconds, default 12: the preStop
	// sleep of 2 s plus lint's drain budget of 10 s, so that the preflight
	// of kubectl zdd rollout finds no grace-period-too-short error (the kwok
	// stages keep a deleted pod Terminating for min(grace, 3s): no slower).
	GracePeriod *int64
	// NoProbe leaves out the readiness probe; NoPreStop the preStop hook
	// (a sleep of min(2s, GracePeriod), left out when the grace is 0).
	NoProbe, NoPreStop bool
	// PodLabels and PodAnnotations are added to the pod template.
	PodLabels, PodAnnotations map[string]string
	// Labels are added to the Deployment's own labels.
	Labels map[string]string
	// NoService leaves out the Service.
	NoService bool
	// ServiceSelector replaces the Service's selector (default app=Name).
	ServiceSelector map[string]string

	// Real runs the app on the cluster's real node (realnode_test.go): the
	// test server image (Image defaults to zdd.local/testserver:v1, never
	// pulled), a readiness probe on /readyz every second, a preStop sleep of
	// PreStop seconds (default 5) and a grace of 30 s unless set.
	Real bool
	// Shutdown is the test server's SHUTDOWN_MODE on the real node: "drain"
	// (default), "exit" or "ignore".
	Shutdown string
	// PreStop is the preStop sleep in seconds; 0 leaves the hook out on the
	// real node (NoPreStop does the same).
	PreStop *int64
	// Env adds environment variables to the container (the real node's test
	// server reads FAIL_EVERY, READY_DELAY, DRAIN_DELAY).
	Env map[string]string
}

// realImage is the test server image of version v on the real node.
func realImage(v string) string { return "zdd.local/testserver:" + v }

func (s AppSpec) withDefaults() AppSpec {
	if s.Name == "" {
		s.Name = "web"
	}
	if s.Replicas == 0 {
		s.Replicas = 4
	}
	if s.Image == "" {
		s.Image = "registry.example/web:v1"
		if s.Real {
			s.Image = realImage("v1")
		}
	}
	if s.MaxUnavailable == "" {
		s.MaxUnavailable = "0"
	}
	if s.MaxSurge == "" {
		s.MaxSurge = "1"
	}
	if s.GracePeriod == nil {
		s.GracePeriod = ptr.To[int64](12)
		if s.Real {
			s.GracePeriod = ptr.To[int64](30)
		}
	}
	if s.Real && s.Shutdown == "" {
		s.Shutdown = "drain"
	}
	if s.Real && s.PreStop == nil {
		s.PreStop = ptr.To[int64](5)
	}
	return s
}

// appDeployment is the typed Deployment of appManifest.
func appDeployment(s AppSpec) *appsv1.Deployment {
	s = s.withDefaults()
	labels := map[string]string{"app": s.Name}
	podLabels := map[string]string{"app": s.Name}
	maps.Copy(podLabels, s.PodLabels)
	ann := map[string]string{}
	if s.ReadyDelay != "" {
		ann[annReadyDelay] = s.ReadyDelay
	}
	if s.NeverReady {
		ann[annNeverReady] = "true"
	}
	if s.CrashLoop {
		ann[annCrashLoop] = "true"
	}
	maps.Copy(ann, s.PodAnnotations)
	if len(ann) == 0 {
		ann = nil
	}
	depLabels := map[string]string{"app": s.Name}
	maps.Copy(depLabels, s.Labels)

	c := corev1.Container{
		Name:  "app",
		Image: s.Image,
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("10m"), corev1.ResourceMemory: mustQuantity("16Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: mustQuantity("64Mi")},
		},
	}
	if !s.NoProbe {
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
			PeriodSeconds:    2,
			FailureThreshold: 2,
		}
	}
	// the preStop sleep may not exceed the grace period: min(2s, grace)
	sleep := min(int64(2), *s.GracePeriod)
	if s.PreStop != nil {
		sleep = *s.PreStop
	}
	if !s.NoPreStop && sleep > 0 {
		c.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: sleep}}}
	}
	if s.Real {
		realContainer(&c, s)
	}
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: depLabels},
		Spec: appsv1.DeploymentSpec{
			Replicas:        ptr.To(s.Replicas),
			MinReadySeconds: s.MinReadySeconds,
			Selector:        &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: ann},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: s.GracePeriod,
					Containers:                    []corev1.Container{c},
				},
			},
		},
	}
	if s.Real {
		realPod(&d.Spec.Template.Spec)
	}
	if s.Recreate {
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	} else {
		mu, ms := intstr.Parse(s.MaxUnavailable), intstr.Parse(s.MaxSurge)
		d.Spec.Strategy = appsv1.DeploymentStrategy{
			Type:          appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &mu, MaxSurge: &ms},
		}
	}
	return d
}

// appService is the typed Service of appManifest.
func appService(s AppSpec) *corev1.Service {
	s = s.withDefaults()
	sel := map[string]string{"app": s.Name}
	if s.ServiceSelector != nil {
		sel = s.ServiceSelector
	}
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name, Labels: map[string]string{"app": s.Name}},
		Spec: corev1.ServiceSpec{
			Selector: sel,
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	}
}

// appManifest renders the app as YAML documents for kubectl apply.
func appManifest(s AppSpec) string {
	docs := []any{appDeployment(s)}
	if !s.NoService {
		docs = append(docs, appService(s))
	}
	return toYAML(docs...)
}

// JobSpec describes a test Job whose pod ends as Result says.
type JobSpec struct {
	// Name, default "migrate".
	Name string
	// Result is "succeed" (default) or "fail".
	Result string
	// Delay is how long the pod runs once Ready (kwok.zdd.dev/job-delay);
	// empty: about 1s.
	Delay string
	// BackoffLimit, default 0 (one failed pod fails the Job).
	BackoffLimit int32
}

// jobManifest renders the Job as YAML.
func jobManifest(s JobSpec) string {
	if s.Name == "" {
		s.Name = "migrate"
	}
	ann := map[string]string{}
	if s.Result != "" {
		ann[annJobResult] = s.Result
	}
	if s.Delay != "" {
		ann[annJobDelay] = s.Delay
	}
	j := &batchv1.Job{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "Job"},
		ObjectMeta: metav1.ObjectMeta{Name: s.Name},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To(s.BackoffLimit),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Annotations: ann},
				Spec: corev1.PodSpec{
					RestartPolicy:                 corev1.RestartPolicyNever,
					TerminationGracePeriodSeconds: ptr.To[int64](1),
					Containers:                    []corev1.Container{{Name: "job", Image: "registry.example/migrate:v1"}},
				},
			},
		},
	}
	return toYAML(j)
}

// realContainer makes c the test server on the real node.
func realContainer(c *corev1.Container, s AppSpec) {
	c.ImagePullPolicy = corev1.PullNever
	env := []corev1.EnvVar{
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "SHUTDOWN_MODE", Value: s.Shutdown},
	}
	for _, k := range slices.Sorted(maps.Keys(s.Env)) {
		env = append(env, corev1.EnvVar{Name: k, Value: s.Env[k]})
	}
	c.Env = env
	if c.ReadinessProbe != nil {
		c.ReadinessProbe = &corev1.Probe{
			ProbeHandler:     corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromString("http")}},
			PeriodSeconds:    1,
			FailureThreshold: 1,
		}
	}
}

// realPod puts a pod on the cluster's real node, which is tainted so that
// no other test's pods land there.
func realPod(p *corev1.PodSpec) {
	p.NodeSelector = map[string]string{realNodeLabel: "true"}
	p.Tolerations = []corev1.Toleration{{Key: realNodeLabel, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	p.AutomountServiceAccountToken = ptr.To(false)
	p.EnableServiceLinks = ptr.To(false)
}

func toYAML(objs ...any) string {
	var b strings.Builder
	for _, o := range objs {
		data, err := yaml.Marshal(o)
		if err != nil {
			panic(fmt.Sprintf("marshalling fixture: %v", err)) // fixtures are static: a programming error
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	return b.String()
}

func mustQuantity(s string) resource.Quantity { return resource.MustParse(s) }
