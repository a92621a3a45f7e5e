package analysis

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestVarsFor(t *testing.T) {
	dep := func(labels map[string]string, image string) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Annotations: map[string]string{RevisionAnnotation: "7"}},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			}},
		}
	}
	cases := []struct {
		name string
		d    *appsv1.Deployment
		want Vars
	}{
		{"labels", dep(map[string]string{"version": "v2", "color": "green", "track": "canary"}, "web:v9"),
			Vars{Namespace: "shop", Name: "web", Version: "v2", Color: "green", Track: "canary", Revision: "7"}},
		{"recommended version label", dep(map[string]string{"app.kubernetes.io/version": "1.4"}, "web:v9"),
			Vars{Namespace: "shop", Name: "web", Version: "1.4", Revision: "7"}},
		{"version from the image tag", dep(nil, "registry.example:5000/team/web:2.0.1"),
			Vars{Namespace: "shop", Name: "web", Version: "2.0.1", Revision: "7"}},
		{"image without a tag", dep(nil, "registry.example:5000/web"), Vars{Namespace: "shop", Name: "web", Revision: "7"}},
		{"image by digest", dep(nil, "web@sha256:abc"), Vars{Namespace: "shop", Name: "web", Version: "abc", Revision: "7"}},
		{"nil", nil, Vars{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, VarsFor(tc.d)); diff != "" {
				t.Errorf("VarsFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNewJobMeasurer(t *testing.T) {
	spec, err := Parse([]byte("metrics:\n- name: smoke\n  job: {file: smoke.yaml}\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec.Metrics[0].Job.text = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: 'smoke-{{.Name}}', namespace: elsewhere}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: c, image: 'smoke:{{.Version}}'}]}}}\n"
	m, err := newJobMeasurer(fake.NewClientset(), spec, &spec.Metrics[0], Vars{Namespace: "shop", Name: "web", Version: "v2"}, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{
		"name": m.job.Name, "generateName": m.job.GenerateName, "namespace": m.job.Namespace,
		"label": m.job.Labels[MetricLabel], "image": m.job.Spec.Template.Spec.Containers[0].Image, "timeout": m.timeout.String(),
	}
	want := map[string]string{
		"name": "", "generateName": "smoke-web-", "namespace": "shop", "label": "smoke", "image": "smoke:v2", "timeout": "5m0s",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("job (-want +got):\n%s", diff)
	}
	if _, err := newJobMeasurer(fake.NewClientset(), spec, &spec.Metrics[0], Vars{}, false); err == nil {
		t.Error("a job metric without a namespace was accepted")
	}
}
