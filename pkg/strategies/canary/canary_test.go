package canary

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

func TestParseSteps(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []int
		wantErr string
	}{
		{"progression", "10,30,50,100", []int{10, 30, 50, 100}, ""},
		{"percent signs and spaces", "5%, 25%", []int{5, 25}, ""},
		{"single", "100", []int{100}, ""},
		{"not increasing", "30,10", nil, "steps must increase: 10 comes after 30"},
		{"repeated", "10,10", nil, "steps must increase: 10 comes after 10"},
		{"above 100", "50,101", nil, "weight 101 is outside 0..100"},
		{"negative", "-1", nil, "weight -1 is outside 0..100"},
		{"not a number", "ten", nil, `step "ten" is not a whole number of percent`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSteps(tt.in)
			if diff := cmp.Diff(tt.wantErr, errText(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("steps (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParsePauses(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		steps   int
		want    []time.Duration
		wantErr string
	}{
		{"one for all", "1h", 4, []time.Duration{time.Hour}, ""},
		{"one per step", "1s,0,2m", 3, []time.Duration{time.Second, 0, 2 * time.Minute}, ""},
		{"wrong count", "1s,2s", 3, nil, "2 pauses for 3 steps: give one pause, or one per step"},
		{"not a duration", "soon", 1, nil, `pause "soon" is not a duration (like 30s or 1h)`},
		{"negative", "-1s", 1, nil, `pause "-1s" is negative`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePauses(tt.in, tt.steps)
			if diff := cmp.Diff(tt.wantErr, errText(err)); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pauses (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepOf(t *testing.T) {
	for phase, want := range map[string]int{"step-1": 1, "step-12": 12, "start": 0, "promote": 0, "step-x": 0} {
		if got := StepOf(phase); got != want {
			t.Errorf("StepOf(%q) = %d, want %d", phase, got, want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func stableDeployment() *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: int32Ptr(5),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:v1"}}},
			},
		},
	}
}

func webService(name string, sel map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: sel}}
}

func TestPrepareBuildsTheCanary(t *testing.T) {
	stable := stableDeployment()
	stable.Labels = map[string]string{"app": "web", "argocd.argoproj.io/instance": "shop"}
	cs := fake.NewClientset(stable, webService("web", map[string]string{"app": "web"}))
	c := &Canary{Client: cs, Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kedaListKinds)}
	p, err := c.prepare(context.Background(), Config{Namespace: "shop", Name: "web", Images: map[string]string{"app": "web:v2"}, Steps: []int{10}})
	if err != nil {
		t.Fatal(err)
	}
	got := p.canary
	want := struct {
		Name, Image, Of   string
		Selector, PodLbls map[string]string
		Replicas          int32
		MaxUnavailable    string
	}{"web-canary", "web:v2", "web", map[string]string{"app": "web", "track": "canary"}, map[string]string{"app": "web", "tier": "front", "track": "canary"}, 5, "0"}
	gotSummary := want
	gotSummary.Name, gotSummary.Image, gotSummary.Of = got.Name, got.Spec.Template.Spec.Containers[0].Image, got.Annotations[CanaryOfAnnotation]
	gotSummary.Selector, gotSummary.PodLbls = got.Spec.Selector.MatchLabels, got.Spec.Template.Labels
	gotSummary.Replicas, gotSummary.MaxUnavailable = p.replicas, got.Spec.Strategy.RollingUpdate.MaxUnavailable.String()
	if diff := cmp.Diff(want, gotSummary); diff != "" {
		t.Errorf("canary plan (-want +got):\n%s", diff)
	}
	if p.service.Name != "web" || p.router != nil {
		t.Errorf("service %q router %v, want web and replica ratio", p.service.Name, p.router)
	}
	// Argo CD's tracking label stays on the stable: the canary is not in Git
	if diff := cmp.Diff(map[string]string{"app": "web", "track": "canary"}, got.Labels); diff != "" {
		t.Errorf("canary deployment labels (-want +got):\n%s", diff)
	}
	if _, ok := p.stable.Spec.Selector.MatchLabels["track"]; ok {
		t.Error("prepare changed the stable's selector")
	}
}

func TestPrepareBadInput(t *testing.T) {
	tests := []struct {
		name    string
		objs    []runtime.Object
		cfg     Config
		wantErr string
	}{
		{"missing deployment", nil, Config{Name: "nope", Images: map[string]string{"app": "v2"}}, `deployment "shop/nope" not found`},
		{"unknown container", []runtime.Object{stableDeployment(), webService("web", map[string]string{"app": "web"})},
			Config{Name: "web", Images: map[string]string{"sidecar": "v2"}}, `no container named "sidecar"`},
		{"same template", []runtime.Object{stableDeployment(), webService("web", map[string]string{"app": "web"})},
			Config{Name: "web", Images: map[string]string{"app": "web:v1"}}, "the canary's pod template would be the same as the stable's"},
		{"no service", []runtime.Object{stableDeployment()},
			Config{Name: "web", Images: map[string]string{"app": "v2"}}, `no service in namespace "shop" selects the pods of deployment "web"`},
		{"two services", []runtime.Object{stableDeployment(), webService("web", map[string]string{"app": "web"}), webService("web2", map[string]string{"tier": "front"})},
			Config{Name: "web", Images: map[string]string{"app": "v2"}}, "services web, web2 all select the pods"},
		{"service that would miss the canary", []runtime.Object{stableDeployment(), webService("web", map[string]string{"app": "web", "track": "stable"})},
			Config{Name: "web", Images: map[string]string{"app": "v2"}, Service: "web"}, "would not select the canary's pods"},
		{"track label in the selector", []runtime.Object{func() *appsv1.Deployment {
			d := stableDeployment()
			d.Spec.Selector.MatchLabels["track"] = "stable"
			d.Spec.Template.Labels["track"] = "stable"
			return d
		}(), webService("web", map[string]string{"app": "web"})},
			Config{Name: "web", Images: map[string]string{"app": "v2"}}, `selects on label "track", the canary track label`},
		{"unknown router", []runtime.Object{stableDeployment(), webService("web", map[string]string{"app": "web"})},
			Config{Name: "web", Images: map[string]string{"app": "v2"}, RouterKind: "traefik", RouterObject: "x"}, `unknown --traffic-router "traefik"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset(tt.objs...)
			c := &Canary{Client: cs, Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kedaListKinds)}
			tt.cfg.Namespace, tt.cfg.Steps = "shop", []int{10}
			_, err := c.prepare(context.Background(), tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
			}
			if code := exitcode.Of(err); code != exitcode.Usage {
				t.Errorf("exit code %d, want %d", code, exitcode.Usage)
			}
			for _, a := range cs.Actions() {
				if a.GetVerb() != "get" && a.GetVerb() != "list" {
					t.Errorf("bad input changed the cluster: %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
}

// TestTimeoutBoundsEachWait: the Config's Timeout ends a wait for a
// Deployment that never settles, while the run's own context goes on.
func TestTimeoutBoundsEachWait(t *testing.T) {
	replicas := int32(2)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Generation: 1},
		Spec:       appsv1.DeploymentSpec{Replicas: &replicas},
		Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1},
	}
	c := &Canary{Client: fake.NewSimpleClientset(d), timeout: 200 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	_, err := c.waitSettled(ctx, "shop", "web")
	if err == nil {
		t.Fatal("a Deployment that never settles: want the wait to end with an error")
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the wait took %s, want it bounded by the 200ms Timeout", took)
	}
	if ctx.Err() != nil {
		t.Errorf("the run's context ended (%v): the Timeout must bound only the wait", ctx.Err())
	}
}

// kedaListKinds lets the fake dynamic client list ScaledObjects (the
// autoscalers' lookup).
var kedaListKinds = map[schema.GroupVersionResource]string{kube.ScaledObjectGVR: "ScaledObjectList"}
