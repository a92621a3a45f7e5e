package canary

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

func seenCanary() *appsv1.Deployment {
	two := int32(2)
	t0 := metav1.NewTime(time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC))
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web-canary", Namespace: "shop", ResourceVersion: "10",
			ManagedFields: []metav1.ManagedFieldsEntry{
				{Manager: "kubectl-zdd", Operation: metav1.ManagedFieldsOperationUpdate, Time: &t0,
					FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{}}}}}`)}},
			}},
		Spec: appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "track": "canary"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:v2"}}}}},
	}
}

// byWriter adds a managedFields entry of manager (through subresource, if
// any) owning fields, a minute after kubectl zdd's.
func byWriter(d *appsv1.Deployment, manager, subresource, fields string) {
	t1 := metav1.NewTime(time.Date(2026, 11, 27, 10, 1, 0, 0, time.UTC))
	d.ManagedFields = append(d.ManagedFields, metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate,
		Subresource: subresource, Time: &t1, FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}})
}

func TestDeploymentChange(t *testing.T) {
	tests := []struct {
		name   string
		change func(d *appsv1.Deployment)
		want   *kube.ChangedError
	}{
		{"status only: no change", func(d *appsv1.Deployment) { d.ResourceVersion = "11"; d.Status.ReadyReplicas = 2 }, nil},
		{"an annotation: no change", func(d *appsv1.Deployment) {
			d.Annotations = map[string]string{"example.com/note": "x"}
			byWriter(d, "kubectl-annotate", "", `{"f:metadata":{"f:annotations":{"f:example.com/note":{}}}}`)
		}, nil},
		{"kubectl scale", func(d *appsv1.Deployment) {
			three := int32(3)
			d.Spec.Replicas = &three
			byWriter(d, "kubectl", "scale", `{"f:spec":{"f:replicas":{}}}`)
		}, &kube.ChangedError{Object: `deployment "shop/web-canary"`, Fields: []string{"spec.replicas"}, From: "2", To: "3", Writer: `"kubectl" via the scale subresource`}},
		{"kubectl set image", func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "web:v3"
			byWriter(d, "kubectl-set", "", `{"f:spec":{"f:template":{"f:spec":{"f:containers":{}}}}}`)
		}, &kube.ChangedError{Object: `deployment "shop/web-canary"`, Fields: []string{"spec.template"}, Writer: `"kubectl-set"`}},
		{"a writer that left no managedFields entry", func(d *appsv1.Deployment) {
			one := int32(1)
			d.Spec.Replicas = &one
		}, &kube.ChangedError{Object: `deployment "shop/web-canary"`, Fields: []string{"spec.replicas"}, From: "2", To: "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			seen := seenCanary()
			cur := seen.DeepCopy()
			tc.change(cur)
			if diff := cmp.Diff(tc.want, deploymentChange(seen, cur), cmpopts.IgnoreFields(kube.ChangedError{}, "Seen")); diff != "" {
				t.Errorf("deploymentChange (-want +got):\n%s", diff)
			}
		})
	}
}
