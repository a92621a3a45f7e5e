package kube

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func entry(manager, sub string, at int, fields string) metav1.ManagedFieldsEntry {
	t := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, at, 0, time.UTC))
	return metav1.ManagedFieldsEntry{Manager: manager, Subresource: sub, Time: &t, FieldsType: "FieldsV1",
		FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
}

// TestWriterOf: the writer named is the newest other writer that owns the
// field (or something under it), never kubectl zdd itself, never a guess.
func TestWriterOf(t *testing.T) {
	obj := &metav1.ObjectMeta{ManagedFields: []metav1.ManagedFieldsEntry{
		entry("kubectl-client-side-apply", "", 1, `{"f:spec":{"f:template":{},"f:replicas":{}}}`),
		entry(FieldManager, "", 9, `{"f:spec":{"f:template":{}}}`),
		entry("kubectl-set", "", 5, `{"f:spec":{"f:template":{"f:spec":{"f:containers":{}}}}}`),
		entry("kubectl", "scale", 3, `{"f:spec":{"f:replicas":{}}}`),
		entry("ingress-editor", "", 4, `{"f:metadata":{"f:annotations":{"f:example.com/weight":{}}}}`),
	}}
	tests := []struct {
		paths []FieldPath
		want  string
	}{
		{[]FieldPath{Path(SpecTemplate)}, `"kubectl-set"`},
		{[]FieldPath{Path(SpecReplicas)}, `"kubectl" via the scale subresource`},
		{[]FieldPath{Path(SpecStrategy)}, ""},
		{[]FieldPath{Path(SpecStrategy), Path(SpecReplicas)}, `"kubectl" via the scale subresource`},
		{[]FieldPath{{"metadata", "annotations", "example.com/weight"}}, `"ingress-editor"`},
	}
	for _, tc := range tests {
		if got := WriterOf(obj, tc.paths...); got != tc.want {
			t.Errorf("WriterOf(%v) = %s, want %s", tc.paths, got, tc.want)
		}
	}
}

// TestDeploymentChange: only the fields asked about count; one short field
// carries its values; the error reads as each caller needs.
func TestDeploymentChange(t *testing.T) {
	two, three := int32(2), int32(3)
	was := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &two, Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:v1"}}}}}}

	now := was.DeepCopy()
	now.Spec.Replicas = &three
	if got := DeploymentChange(was, now, SpecTemplate, SpecSelector); got != nil {
		t.Errorf("replicas not asked about: want nil, got %v", got)
	}
	now.ManagedFields = []metav1.ManagedFieldsEntry{entry("kubectl", "scale", 1, `{"f:spec":{"f:replicas":{}}}`)}
	got := DeploymentChange(was, now, SpecReplicas, SpecTemplate)
	if got == nil {
		t.Fatal("replicas changed: want a *ChangedError, got nil")
	}
	if diff := cmp.Diff([]string{SpecReplicas}, got.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	got.Object = `deployment "shop/web"`
	if want := `deployment "shop/web": spec.replicas was changed by another writer ("kubectl" via the scale subresource) from 2 to 3; not overwriting it`; got.Error() != want {
		t.Errorf("error\n got %s\nwant %s", got.Error(), want)
	}

	now = was.DeepCopy()
	now.Spec.Template.Spec.Containers[0].Image = "web:v2"
	now.Spec.Paused = true
	got = DeploymentChange(was, now, SpecTemplate, SpecSelector, SpecPaused)
	if diff := cmp.Diff([]string{SpecTemplate, SpecPaused}, got.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
	got.While = "while the rollout watched it"
	if want := `spec.template, spec.paused changed by another writer (no field manager recorded) while the rollout watched it`; got.Error() != want {
		t.Errorf("error\n got %s\nwant %s", got.Error(), want)
	}

	got = &ChangedError{Object: `service "shop/web"`, Writer: `"kubectl-edit"`, Change: "its selector app=web (was app=web,version=blue)"}
	if want := `service "shop/web" was changed by someone else ("kubectl-edit"): its selector app=web (was app=web,version=blue); not overwriting it`; got.Error() != want {
		t.Errorf("error\n got %s\nwant %s", got.Error(), want)
	}
}
