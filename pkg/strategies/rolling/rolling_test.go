package rolling

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func template(image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func fixtures() []runtime.Object {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", UID: "d1", ResourceVersion: "100", Generation: 2,
			Annotations: map[string]string{kube.RevisionAnnotation: "2"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: template("shop:v2")},
	}
	rs := func(name, rev, image string) *appsv1.ReplicaSet {
		t := template(image)
		t.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = name
		return &appsv1.ReplicaSet{
			ObjectMeta: metav1.ObjectMeta{Name: "web-" + name, Namespace: "shop", Labels: t.Labels, Annotations: map[string]string{kube.RevisionAnnotation: rev},
				OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "web", UID: types.UID("d1"), Controller: ptr.To(true)}}},
			Spec: appsv1.ReplicaSetSpec{Template: t},
		}
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"}}}
	other := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "db"}}}
	return []runtime.Object{d, rs("aaa", "1", "shop:v1"), rs("bbb", "2", "shop:v2"), svc, other}
}

func fixedRollout(client *fake.Clientset, findings []lint.Finding) *Rollout {
	at := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	return &Rollout{
		Kube:            client,
		Now:             func() time.Time { return at },
		NewID:           func(time.Time) string { return "20261127-070000-abcdef" },
		Lint:            func(*appsv1.Deployment) ([]lint.Finding, error) { return findings, nil },
		NoDowntimeWatch: true,
	}
}

func writes(client *fake.Clientset) []string {
	var out []string
	for _, a := range client.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func migrationJob() *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "db-migrate"},
		Spec: batchv1.JobSpec{BackoffLimit: ptr.To[int32](0), Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "m", Image: "shop-migrate:v3"}}}}},
	}
}

func manifest() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "web", "namespace": "shop"},
		"spec": map[string]any{
			"replicas": int64(3),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
				"spec":     map[string]any{"containers": []any{map[string]any{"name": "app", "image": "shop:v3"}}},
			},
		},
	}}
}

func TestDryRunPlanGolden(t *testing.T) {
	warn := []lint.Finding{{Rule: "mutable-image-tag", Severity: lint.Warning, Container: "app", Field: "image", Message: "tag"}}
	errf := []lint.Finding{{Rule: "no-readiness-probe", Severity: lint.Error, Container: "app", Field: "readinessProbe", Message: "none"}}
	tests := []struct {
		name     string
		cfg      Config
		findings []lint.Finding
	}{
		{name: "images_with_migration", cfg: Config{Images: map[string]string{"app": "shop:v3"}, MigrationJob: migrationJob(), MigrationSource: "migrate.yaml", ChangeCause: "kubectl zdd rollout deployment/web --image=app=shop:v3"}, findings: warn},
		{name: "manifest_fix_strategy_forced", cfg: Config{Manifest: manifest(), ManifestSource: "web.yaml", FixStrategy: true, Force: true, MaxRestarts: 2}, findings: errf},
		{name: "no_rollback", cfg: Config{Images: map[string]string{"app": "shop:v3"}, NoRollback: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			client := fake.NewClientset(fixtures()...)
			tc.cfg.Namespace, tc.cfg.Name, tc.cfg.Timeout, tc.cfg.DryRun = "shop", "web", 2*time.Minute, DryRunClient
			res, err := fixedRollout(client, tc.findings).Run(context.Background(), tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			PrintPlan(&got, res)
			golden := filepath.Join("testdata", "plan_"+tc.name+".golden")
			if *update {
				if err := os.WriteFile(golden, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			if w := writes(client); len(w) > 0 {
				t.Errorf("a client dry run wrote to the cluster: %v", w)
			}
		})
	}
}

func TestPreflightErrorsStopTheRelease(t *testing.T) {
	errf := []lint.Finding{{Rule: "no-readiness-probe", Severity: lint.Error, Field: "readinessProbe", Message: "none"}}
	client := fake.NewClientset(fixtures()...)
	res, err := fixedRollout(client, errf).Run(context.Background(), Config{Namespace: "shop", Name: "web", Images: map[string]string{"app": "shop:v3"}, Timeout: time.Minute})
	if exitcode.Of(err) != exitcode.Usage {
		t.Fatalf("exit code %d (%v), want 2", exitcode.Of(err), err)
	}
	for _, want := range []string{"--fix", "--force", "nothing was changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if res == nil || res.Result != "failed" {
		t.Errorf("result = %+v, want failed", res)
	}
	if w := writes(client); len(w) > 0 {
		t.Errorf("preflight failure wrote to the cluster: %v", w)
	}
}

func TestUnknownContainerIsUsage(t *testing.T) {
	client := fake.NewClientset(fixtures()...)
	_, err := fixedRollout(client, nil).Run(context.Background(), Config{Namespace: "shop", Name: "web", Images: map[string]string{"web": "shop:v3"}, Timeout: time.Minute})
	if exitcode.Of(err) != exitcode.Usage {
		t.Fatalf("exit code %d (%v), want 2", exitcode.Of(err), err)
	}
	want := `deployment "shop/web": --image: no container named "web" in the pod template (containers: app)`
	if err.Error() != want {
		t.Errorf("error %q, want %q", err.Error(), want)
	}
}

func TestMissingDeploymentIsUsage(t *testing.T) {
	client := fake.NewClientset()
	_, err := fixedRollout(client, nil).Run(context.Background(), Config{Namespace: "shop", Name: "nope", Images: map[string]string{"app": "x"}, Timeout: time.Minute})
	if exitcode.Of(err) != exitcode.Usage || err.Error() != `deployment "shop/nope" not found` {
		t.Fatalf("got %v (exit %d), want deployment not found, exit 2", err, exitcode.Of(err))
	}
}

func TestRollbackPatch(t *testing.T) {
	got, err := RollbackPatch(map[string]string{"k": "old"}, map[string]string{"k": "v"}, true, "undo")
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"op":"test","path":"/spec/template","value":{"k":"old"}},{"op":"replace","path":"/spec/template","value":{"k":"v"}},{"op":"add","path":"/metadata/annotations/kubernetes.io~1change-cause","value":"undo"}]`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	got, _ = RollbackPatch(map[string]string{"k": "old"}, nil, false, "undo")
	want = `[{"op":"test","path":"/spec/template","value":{"k":"old"}},{"op":"replace","path":"/spec/template","value":null},{"op":"add","path":"/metadata/annotations","value":{"kubernetes.io/change-cause":"undo"}}]`
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("patch without annotations (-want +got):\n%s", diff)
	}
}

func TestRollbackClientDryRunPicksPreviousRevision(t *testing.T) {
	client := fake.NewClientset(fixtures()...)
	res, err := Rollback(context.Background(), client, RollbackConfig{Namespace: "shop", Name: "web", Timeout: time.Minute, DryRun: DryRunClient})
	if err != nil {
		t.Fatal(err)
	}
	if res.Restored != 1 || res.ReplicaSet != "web-aaa" {
		t.Errorf("restores revision %d (%s), want 1 (web-aaa)", res.Restored, res.ReplicaSet)
	}
	wantPatch := `[{"op":"test","path":"/spec/template","value":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"shop:v2","resources":{}}]}}},{"op":"replace","path":"/spec/template","value":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"shop:v1","resources":{}}]}}}]`
	if diff := cmp.Diff(wantPatch, res.Patch); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	if w := writes(client); len(w) > 0 {
		t.Errorf("dry run wrote: %v", w)
	}
	_, err = Rollback(context.Background(), client, RollbackConfig{Namespace: "shop", Name: "web", ToRevision: 7, Timeout: time.Minute, DryRun: DryRunClient})
	if exitcode.Of(err) != exitcode.Usage {
		t.Errorf("missing revision: exit %d (%v), want 2", exitcode.Of(err), err)
	}
}

func TestRefusesOverAnotherStrategysUnfinishedOperation(t *testing.T) {
	for _, tc := range []struct {
		name, strategy, result string
		refused                bool
	}{
		{"canary in flight", "canary", "", true},
		{"canary interrupted by Ctrl-C", "canary", state.ResultInterrupted, true},
		{"canary paused for a person", "canary", state.ResultPaused, true},
		{"canary failed part-way", "canary", state.ResultFailed, true},
		{"canary aborted", "canary", state.ResultAborted, false},
		{"canary succeeded", "canary", state.ResultSucceeded, false},
		{"earlier rollout failed", Strategy, state.ResultFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := fixtures()
			d := objs[0].(*appsv1.Deployment)
			op := &state.Operation{ID: "20261127-060000-000001", Strategy: tc.strategy, Phase: "step-1", Result: tc.result}
			for k, v := range op.Annotations() {
				if v != nil {
					d.Annotations[k] = *v
				}
			}
			client := fake.NewClientset(objs...)
			_, err := fixedRollout(client, nil).Run(context.Background(), Config{Namespace: "shop", Name: "web", Images: map[string]string{"app": "shop:v3"}, Timeout: time.Minute, DryRun: DryRunClient})
			if !tc.refused {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			want := `deployment "shop/web" has an unfinished canary operation (20261127-060000-000001, phase step-1, `
			if exitcode.Of(err) != exitcode.Usage || !strings.HasPrefix(fmt.Sprint(err), want) || !strings.Contains(err.Error(), "'kubectl zdd abort deployment/web'") {
				t.Fatalf("got %v (exit %d), want exit 2 starting %q and naming abort", err, exitcode.Of(err), want)
			}
			if w := writes(client); len(w) > 0 {
				t.Errorf("a refused rollout wrote to the cluster: %v", w)
			}
		})
	}
}
