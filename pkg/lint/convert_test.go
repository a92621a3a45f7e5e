package lint

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	extensionsv1beta1 "k8s.io/api/extensions/v1beta1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

const podTemplate = `
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example.com/web:1}]`

func one(t *testing.T, text string) Object {
	t.Helper()
	objs := fixture(t, text)
	if len(objs) != 1 {
		t.Fatalf("want 1 object, got %d", len(objs))
	}
	return objs[0]
}

func TestFromTypedOldAPIVersions(t *testing.T) {
	webSelector := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	one1 := intstr.FromInt32(1)
	tests := []struct {
		name  string
		text  string
		check func(t *testing.T, o runtime.Object)
	}{
		{"extensions/v1beta1 Deployment: selector from labels, rolling update 1/1", `apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  rollbackTo: {revision: 3}` + podTemplate, func(t *testing.T, o runtime.Object) {
			d := o.(*appsv1.Deployment)
			want := appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &one1, MaxSurge: &one1}}
			if diff := cmp.Diff(want, d.Spec.Strategy); diff != "" {
				t.Errorf("strategy (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(webSelector, d.Spec.Selector); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(ptr.To[int32](2), d.Spec.Replicas); diff != "" {
				t.Errorf("replicas (-want +got):\n%s", diff)
			}
		}},
		{"extensions/v1beta1 Deployment: an explicit maxSurge is kept", `apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: web}
spec:
  strategy: {rollingUpdate: {maxSurge: 30%}}` + podTemplate, func(t *testing.T, o runtime.Object) {
			ru := o.(*appsv1.Deployment).Spec.Strategy.RollingUpdate
			if diff := cmp.Diff([]string{"1", "30%"}, []string{ru.MaxUnavailable.String(), ru.MaxSurge.String()}); diff != "" {
				t.Errorf("maxUnavailable, maxSurge (-want +got):\n%s", diff)
			}
		}},
		{"apps/v1beta1 Deployment: selector from labels, strategy left to apps/v1 defaults", `apiVersion: apps/v1beta1
kind: Deployment
metadata: {name: web}
spec:` + podTemplate, func(t *testing.T, o runtime.Object) {
			d := o.(*appsv1.Deployment)
			if diff := cmp.Diff(webSelector, d.Spec.Selector); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
			if d.Spec.Strategy.RollingUpdate != nil {
				t.Errorf("rollingUpdate = %+v, want unset", d.Spec.Strategy.RollingUpdate)
			}
		}},
		{"apps/v1beta2 DaemonSet", `apiVersion: apps/v1beta2
kind: DaemonSet
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}` + podTemplate, func(t *testing.T, o runtime.Object) {
			d := o.(*appsv1.DaemonSet)
			if d.Spec.UpdateStrategy.Type != "" {
				t.Errorf("updateStrategy = %q, want unset (RollingUpdate)", d.Spec.UpdateStrategy.Type)
			}
		}},
		{"extensions/v1beta1 DaemonSet: OnDelete by default", `apiVersion: extensions/v1beta1
kind: DaemonSet
metadata: {name: web}
spec:` + podTemplate, func(t *testing.T, o runtime.Object) {
			d := o.(*appsv1.DaemonSet)
			if d.Spec.UpdateStrategy.Type != appsv1.OnDeleteDaemonSetStrategyType {
				t.Errorf("updateStrategy = %q, want OnDelete", d.Spec.UpdateStrategy.Type)
			}
			if diff := cmp.Diff(webSelector, d.Spec.Selector); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
		}},
		{"apps/v1beta1 StatefulSet: OnDelete by default", `apiVersion: apps/v1beta1
kind: StatefulSet
metadata: {name: web}
spec:
  serviceName: web` + podTemplate, func(t *testing.T, o runtime.Object) {
			s := o.(*appsv1.StatefulSet)
			if s.Spec.UpdateStrategy.Type != appsv1.OnDeleteStatefulSetStrategyType {
				t.Errorf("updateStrategy = %q, want OnDelete", s.Spec.UpdateStrategy.Type)
			}
		}},
		{"extensions/v1beta1 ReplicaSet", `apiVersion: extensions/v1beta1
kind: ReplicaSet
metadata: {name: web}
spec:` + podTemplate, func(t *testing.T, o runtime.Object) {
			if diff := cmp.Diff(webSelector, o.(*appsv1.ReplicaSet).Spec.Selector); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
		}},
		{"policy/v1beta1 PDB: an empty selector matches nothing", `apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  minAvailable: 1
  selector: {}`, func(t *testing.T, o runtime.Object) {
			if s := o.(*policyv1.PodDisruptionBudget).Spec.Selector; s != nil {
				t.Errorf("selector = %+v, want nil (matches nothing)", s)
			}
		}},
		{"policy/v1beta1 PDB: a real selector is kept", `apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: web}
spec:
  maxUnavailable: 1
  selector: {matchLabels: {app: web}}`, func(t *testing.T, o runtime.Object) {
			if diff := cmp.Diff(webSelector, o.(*policyv1.PodDisruptionBudget).Spec.Selector); diff != "" {
				t.Errorf("selector (-want +got):\n%s", diff)
			}
		}},
		{"autoscaling/v2beta2 HPA", `apiVersion: autoscaling/v2beta2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 9
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 70}}}]`, func(t *testing.T, o runtime.Object) {
			h := o.(*autoscalingv2.HorizontalPodAutoscaler)
			want := autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
				MinReplicas:    ptr.To[int32](2), MaxReplicas: 9,
			}
			if diff := cmp.Diff(want, h.Spec); diff != "" {
				t.Errorf("spec (-want +got):\n%s", diff)
			}
		}},
		{"autoscaling/v2beta1 HPA with old metrics", `apiVersion: autoscaling/v2beta1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {kind: Deployment, name: web}
  maxReplicas: 4
  metrics: [{type: Resource, resource: {name: cpu, targetAverageUtilization: "70"}}]`, func(t *testing.T, o runtime.Object) {
			h := o.(*autoscalingv2.HorizontalPodAutoscaler)
			if h.Spec.ScaleTargetRef.Name != "web" || h.Spec.MaxReplicas != 4 || h.Spec.MinReplicas != nil {
				t.Errorf("spec = %+v", h.Spec)
			}
		}},
		{"autoscaling/v1 HPA", `apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 4
  targetCPUUtilizationPercentage: 80`, func(t *testing.T, o runtime.Object) {
			h := o.(*autoscalingv2.HorizontalPodAutoscaler)
			if h.Spec.ScaleTargetRef.Name != "web" || ptr.Deref(h.Spec.MinReplicas, 0) != 1 {
				t.Errorf("spec = %+v", h.Spec)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := one(t, tt.text)
			if o.Raw == nil || o.Typed == nil {
				t.Fatalf("object lacks Raw or Typed: %+v", o)
			}
			// Raw stays what was read: the conversion works on a copy.
			if !strings.Contains(tt.text, o.Raw.GetAPIVersion()) {
				t.Errorf("Raw apiVersion = %q, changed by the conversion", o.Raw.GetAPIVersion())
			}
			tt.check(t, o.Typed)
		})
	}
}

func TestFromTypedTypedObjects(t *testing.T) {
	old := &extensionsv1beta1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: extensionsv1beta1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "example.com/web:1"}}},
		}},
	}
	o, err := FromTyped(old)
	if err != nil {
		t.Fatal(err)
	}
	d, ok := o.Typed.(*appsv1.Deployment)
	if !ok {
		t.Fatalf("Typed is %T, want *appsv1.Deployment", o.Typed)
	}
	if diff := cmp.Diff([]string{"Deployment", "shop", "web", "1"}, []string{o.Kind, o.Namespace, o.Name, d.Spec.Strategy.RollingUpdate.MaxUnavailable.String()}); diff != "" {
		t.Errorf("identity and maxUnavailable (-want +got):\n%s", diff)
	}

	// A modern typed object as client-go returns it (no TypeMeta) is used
	// as it is.
	modernD := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "shop"}}
	o, err = FromTyped(modernD)
	if err != nil {
		t.Fatal(err)
	}
	if o.Typed != runtime.Object(modernD) || o.Kind != "Deployment" || o.Raw.GetAPIVersion() != "apps/v1" {
		t.Errorf("FromTyped(apps/v1 Deployment) = kind %q raw %q, typed %p want %p", o.Kind, o.Raw.GetAPIVersion(), o.Typed, modernD)
	}
}

func TestFromTypedUnsupported(t *testing.T) {
	tests := []struct {
		name        string
		obj         runtime.Object
		text        string
		unsupported bool
		wantErr     string
	}{
		{name: "nil", unsupported: true, wantErr: "no object"},
		{name: "ConfigMap", text: "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\ndata: {a: b}\n", unsupported: true, wantErr: `ConfigMap "cfg" (v1)`},
		{name: "unknown version of a known kind", text: "apiVersion: apps/v1beta3\nkind: Deployment\nmetadata: {name: web}\n", unsupported: true, wantErr: `Deployment "web" (apps/v1beta3)`},
		{name: "typed Pod", obj: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}, unsupported: true, wantErr: `Pod "p"`},
		{name: "malformed replicas", text: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: shop}\nspec: {replicas: three}\n", wantErr: `decoding Deployment shop/web (apps/v1)`},
		{name: "containers not a list", text: "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: web}\nspec: {template: {spec: {containers: {name: x}}}}\n", wantErr: `decoding Deployment web (extensions/v1beta1)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := tt.obj
			if tt.text != "" {
				m := fixtureMap(t, tt.text)
				obj = m
			}
			_, err := FromTyped(obj)
			if err == nil {
				t.Fatal("no error")
			}
			if got := errors.Is(err, ErrUnsupportedKind); got != tt.unsupported {
				t.Errorf("errors.Is(%v, ErrUnsupportedKind) = %v, want %v", err, got, tt.unsupported)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestOldAPIVersionsAreAudited(t *testing.T) {
	text := `apiVersion: extensions/v1beta1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 3
  progressDeadlineSeconds: 300
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example.com/web:1}]
---
apiVersion: policy/v1beta1
kind: PodDisruptionBudget
metadata: {name: web, namespace: shop}
spec: {maxUnavailable: 1, selector: {}}
`
	var gotMsgs []string
	for _, f := range Audit(fixture(t, text), Options{}) {
		gotMsgs = append(gotMsgs, f.Rule+": "+f.Message)
	}
	want := []string{
		`max-unavailable-nonzero: Deployment "shop/web" updates with maxUnavailable 1, 1 of its 3 pods now and more as it scales: old pods leave service before their replacements are ready`,
		`pdb-missing: no PodDisruptionBudget in the input selects the pod template labels of Deployment "shop/web": a node drain may evict all of them at once`,
	}
	if diff := cmp.Diff(want, gotMsgs); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}
