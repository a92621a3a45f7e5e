package lint

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestAuditDeploymentWithServices: a container without a readiness probe is an error
// when a Service sends it traffic (the preflight passes the selecting
// Services), a warning when nothing does; nothing is reported on the Service.
func TestAuditDeploymentWithServices(t *testing.T) {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "web:v1", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
				}}},
			},
		},
	}
	svc := corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "web"}, Ports: []corev1.ServicePort{{Port: 80}}},
	}
	type got struct {
		Severity Severity
		Kinds    []string
	}
	tests := []struct {
		name     string
		services []corev1.Service
		want     got
	}{
		{name: "no service", want: got{Severity: Warning, Kinds: []string{"Deployment"}}},
		{name: "selected by a service", services: []corev1.Service{svc}, want: got{Severity: Error, Kinds: []string{"Deployment"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			findings, err := AuditDeployment(d, tc.services)
			if err != nil {
				t.Fatal(err)
			}
			var g got
			kinds := map[string]bool{}
			for _, f := range findings {
				kinds[f.Kind] = true
				if f.Rule == "readiness-probe-missing" {
					g.Severity = f.Severity
				}
			}
			for k := range kinds {
				g.Kinds = append(g.Kinds, k)
			}
			if diff := cmp.Diff(tc.want, g); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}
