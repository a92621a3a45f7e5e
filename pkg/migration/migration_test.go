package migration

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

func job(backoff *int32, restart corev1.RestartPolicy) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "db-migrate"},
		Spec:       batchv1.JobSpec{BackoffLimit: backoff, Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: restart}}},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		job     *batchv1.Job
		wantErr string
	}{
		{name: "no retries", job: job(ptr.To[int32](0), corev1.RestartPolicyNever)},
		{name: "backoff unset", job: job(nil, corev1.RestartPolicyNever), wantErr: `job "db-migrate" in m.yaml can retry: spec.backoffLimit is not set (the default 6 retries the migration; set it to 0)`},
		{name: "backoff 3", job: job(ptr.To[int32](3), corev1.RestartPolicyNever), wantErr: `spec.backoffLimit is 3`},
		{name: "restart on failure", job: job(ptr.To[int32](0), corev1.RestartPolicyOnFailure), wantErr: `spec.template.spec.restartPolicy is OnFailure`},
		{name: "restart unset", job: job(ptr.To[int32](0), ""), wantErr: `spec.template.spec.restartPolicy is unset`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.job, "m.yaml")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
			}
			if exitcode.Of(err) != exitcode.Usage {
				t.Errorf("exit code %d, want 2", exitcode.Of(err))
			}
		})
	}
}

func TestUniqueName(t *testing.T) {
	id := "20261127-070425-a1b2c3"
	tests := []struct{ name, base, want string }{
		{name: "short", base: "db-migrate", want: "db-migrate-" + id},
		{name: "generateName", base: "db-migrate-", want: "db-migrate-" + id},
		{name: "long is cut to 63", base: strings.Repeat("m", 70), want: strings.Repeat("m", 40) + "-" + id},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := UniqueName(tc.base, id)
			if got != tc.want || len(got) > 63 {
				t.Errorf("UniqueName = %q (%d chars), want %q", got, len(got), tc.want)
			}
		})
	}
	j := Prepare(job(ptr.To[int32](0), corev1.RestartPolicyNever), "shop", "web", PhaseExpand, id)
	if diff := cmp.Diff(map[string]string{LabelFor: "web", LabelPhase: "expand"}, j.Labels); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	if j.Name != "db-migrate-"+id || j.Namespace != "shop" {
		t.Errorf("Prepare gave %s/%s", j.Namespace, j.Name)
	}
}

func tmpl(version, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "shop", "version": version}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func dep(name, uid, version string, replicas int32) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(uid)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "shop", "version": version}},
			Template: tmpl(version, "shop:"+version),
		},
	}
}

func replicaSet(name, owner, rev, version, image string, replicas int32) *appsv1.ReplicaSet {
	t := tmpl(version, image)
	t.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = name
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID(name), Labels: t.Labels,
			Annotations:     map[string]string{kube.RevisionAnnotation: rev},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: types.UID(owner), Controller: ptr.To(true)}}},
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr.To(replicas), Template: t},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas},
	}
}

func TestOlderRevisionsRunning(t *testing.T) {
	web := dep("web", "d1", "v2", 3)
	tests := []struct {
		name string
		objs []runtime.Object
		want []string
	}{
		{name: "only the current revision", objs: []runtime.Object{web, replicaSet("web-new", "d1", "2", "v2", "shop:v2", 3), replicaSet("web-old", "d1", "1", "v2", "shop:v1", 0)}},
		{name: "old replica set still has pods", objs: []runtime.Object{web, replicaSet("web-new", "d1", "2", "v2", "shop:v2", 3), replicaSet("web-old", "d1", "1", "v2", "shop:v1", 1)},
			want: []string{`replicaset "ns/web-old" (revision 1 of deployment "ns/web") has 1 pods`}},
		{name: "another colour of the app runs", objs: []runtime.Object{web, replicaSet("web-new", "d1", "2", "v2", "shop:v2", 3), dep("web-blue", "d2", "v1", 2)},
			want: []string{`deployment "ns/web-blue" (app=shop, version=v1) has 2 pods`}},
		{name: "another colour scaled to zero", objs: []runtime.Object{web, replicaSet("web-new", "d1", "2", "v2", "shop:v2", 3), dep("web-blue", "d2", "v1", 0)}},
		{name: "same version in another deployment is not older", objs: []runtime.Object{web, replicaSet("web-new", "d1", "2", "v2", "shop:v2", 3), dep("web-extra", "d3", "v2", 2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(tc.objs...)
			got, err := OlderRevisionsRunning(context.Background(), client, web)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("OlderRevisionsRunning (-want +got):\n%s", diff)
			}
		})
	}
}
