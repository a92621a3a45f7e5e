package rolling

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

func deployment(gen int64, replicas int32, image string) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: gen, ResourceVersion: fmt.Sprint(100 + gen)},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: template(image),
		},
	}
}

func managed(manager string, at int, fields string) metav1.ManagedFieldsEntry {
	return metav1.ManagedFieldsEntry{Manager: manager, Operation: metav1.ManagedFieldsOperationUpdate,
		Time: ptr.To(metav1.NewTime(time.Date(2026, 11, 27, 9, 0, at, 0, time.UTC))), FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(fields)}}
}

const (
	fieldsImage    = `{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{"f:image":{}}}}}}}`
	fieldsReplicas = `{"f:spec":{"f:replicas":{}}}`
	fieldsLabels   = `{"f:metadata":{"f:labels":{"f:team":{}}}}`
)

func TestManagedChanges(t *testing.T) {
	strategy := func(d *appsv1.Deployment) *appsv1.Deployment {
		zero := intstr.FromInt32(0)
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero}}
		return d
	}
	selector := func(d *appsv1.Deployment) *appsv1.Deployment {
		d.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web", "tier": "x"}}
		return d
	}
	annotated := func(d *appsv1.Deployment) *appsv1.Deployment {
		d.Annotations = map[string]string{state.KeyPhase: "watch", state.ChangeCauseKey: "x", "team": "shop"}
		return d
	}
	tests := []struct {
		name      string
		now       *appsv1.Deployment
		want      []string
		wantOther []string
	}{
		{name: "annotations: the record is not news", now: annotated(deployment(3, 3, "shop:v2")), wantOther: []string{"annotation team"}},
		{name: "nothing", now: deployment(3, 3, "shop:v2")},
		{name: "image", now: deployment(3, 3, "shop:v3"), want: []string{"spec.template"}},
		{name: "replicas", now: deployment(3, 5, "shop:v2"), wantOther: []string{"spec.replicas 3 -> 5"}},
		{name: "strategy", now: strategy(deployment(3, 3, "shop:v2")), want: []string{"spec.strategy"}},
		{name: "selector and image", now: selector(deployment(3, 3, "shop:v3")), want: []string{"spec.template", "spec.selector"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			was := deployment(2, 3, "shop:v2")
			var got []string
			if fc := foreignChange(was, tc.now, ""); fc != nil {
				got = fc.Fields
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("managed changes (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantOther, otherChanges(was, tc.now)); diff != "" {
				t.Errorf("other changes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWriterOf(t *testing.T) {
	entries := []metav1.ManagedFieldsEntry{
		managed("kubectl-client-side-apply", 1, fieldsImage),
		managed(kube.FieldManager, 5, fieldsImage),
		managed("kubectl-set", 3, fieldsImage),
		managed("kubectl-scale", 4, fieldsReplicas),
		managed("kubectl-label", 6, fieldsLabels),
	}
	tests := []struct {
		name   string
		fields []kube.FieldPath
		want   string
	}{
		{name: "template: the latest writer other than kubectl-zdd", fields: []kube.FieldPath{kube.Path("spec.template")}, want: `"kubectl-set"`},
		{name: "replicas", fields: []kube.FieldPath{kube.Path("spec.replicas")}, want: `"kubectl-scale"`},
		{name: "nobody owns the strategy", fields: []kube.FieldPath{kube.Path("spec.strategy")}, want: ""},
		{name: "any of several", fields: []kube.FieldPath{kube.Path("spec.strategy"), kube.Path("spec.replicas")}, want: `"kubectl-scale"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := deployment(3, 3, "shop:v3")
			d.ManagedFields = entries
			if got := kube.WriterOf(d, tc.fields...); got != tc.want {
				t.Errorf("WriterOf(%v) = %q, want %q", tc.fields, got, tc.want)
			}
		})
	}
}

// TestGuardObserve: a status-only update and a scale are accepted (the
// scale said once, and taken as the new base); a template change after it
// is a *kube.ChangedError naming the field and the writer.
func TestGuardObserve(t *testing.T) {
	var log bytes.Buffer
	g := &guard{ref: "shop/web", base: deployment(2, 3, "shop:v2"), while: "while the rollout watched it", logf: func(f string, a ...any) { fmt.Fprintf(&log, f+"\n", a...) }}

	status := deployment(2, 3, "shop:v2")
	status.ResourceVersion = "150"
	if err := g.observe(status); err != nil {
		t.Fatalf("status update: %v", err)
	}
	if g.base.ResourceVersion != "150" {
		t.Errorf("base resourceVersion %s after a status update, want 150", g.base.ResourceVersion)
	}

	scaled := deployment(3, 5, "shop:v2")
	scaled.ManagedFields = []metav1.ManagedFieldsEntry{managed("kubectl-scale", 4, fieldsReplicas)}
	if err := g.observe(scaled); err != nil {
		t.Fatalf("scale: %v", err)
	}
	wantLog := `deployment "shop/web": spec.replicas 3 -> 5 by "kubectl-scale" while the rollout watched it; the template, selector and strategy are as the rollout set them, so it carries on and judges completion against 5 replicas` + "\n"
	if diff := cmp.Diff(wantLog, log.String()); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if g.base.Generation != 3 {
		t.Errorf("base generation %d after the scale, want 3", g.base.Generation)
	}

	edited := deployment(4, 5, "shop:v3")
	edited.ManagedFields = []metav1.ManagedFieldsEntry{managed("kubectl-edit", 5, fieldsImage)}
	err := g.observe(edited)
	var fc *kube.ChangedError
	if !errors.As(err, &fc) {
		t.Fatalf("template change: got %v, want a *kube.ChangedError", err)
	}
	want := `spec.template changed by "kubectl-edit" while the rollout watched it`
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	if g.base.Generation != 3 {
		t.Errorf("the foreign change became the base (generation %d)", g.base.Generation)
	}
}

// TestParamsRoundTrip: what a release asks for comes back from its params
// as resume reads them, the analysis with its header ${VAR} unexpanded, so
// the secret value behind it is in no param.
func TestParamsRoundTrip(t *testing.T) {
	const secret = "s3cr3t-token-value"
	t.Setenv("ZDD_TEST_TOKEN", secret)
	dir := t.TempDir()
	file := filepath.Join(dir, "analysis.yaml")
	spec := "interval: 1s\ncount: 2\nfailureLimit: 0\nmetrics:\n- name: errors\n  max: 1\n  http:\n    url: http://127.0.0.1:9/m\n    headers:\n      Authorization: Bearer ${ZDD_TEST_TOKEN}\n"
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := analysis.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{name: "images", cfg: Config{Images: map[string]string{"app": "shop:v3"}, ChangeCause: "kubectl zdd rollout deployment/web --image=app=shop:v3", Timeout: 90 * time.Second, MaxRestarts: 2, NoRollback: true}},
		{name: "manifest with analysis", cfg: Config{Manifest: manifest(), ManifestSource: "web.yaml", FixStrategy: true, Timeout: 2 * time.Minute, Analysis: a, AnalysisDuring: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := requestParams(tc.cfg, migrationJob())
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range p {
				if strings.Contains(v, secret) {
					t.Errorf("param %s holds the secret header value", k)
				}
			}
			op := &state.Operation{Params: p}
			got, job, err := configFromParams(op, "shop", "web", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			want := tc.cfg
			want.Namespace, want.Name = "shop", "web"
			if job == nil || job.Name != "db-migrate" || job.Spec.Template.Spec.Containers[0].Image != "shop-migrate:v3" {
				t.Errorf("recorded migration job %+v, want db-migrate with image shop-migrate:v3", job)
			}
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b *analysis.Spec) bool {
				if a == nil || b == nil {
					return a == b
				}
				ea, _ := analysis.EncodeParam(a)
				eb, _ := analysis.EncodeParam(b)
				return ea == eb
			})); diff != "" {
				t.Errorf("config read back (-want +got):\n%s", diff)
			}
			if tc.cfg.Analysis != nil && !strings.Contains(p[ParamAnalysis], "${ZDD_TEST_TOKEN}") {
				t.Errorf("the recorded analysis lost its ${ZDD_TEST_TOKEN} reference: %s", p[ParamAnalysis])
			}
		})
	}
}

// TestStaleParams: the first record of a release removes the params an
// earlier operation left and keeps its own.
func TestStaleParams(t *testing.T) {
	ann := map[string]string{state.ParamPrefix + "analysis": "{}", state.ParamPrefix + "images": "{}", "other": "x", state.KeyPhase: "done"}
	op := &state.Operation{Params: map[string]string{"images": `{"app":"v3"}`}}
	if diff := cmp.Diff([]string{"analysis"}, staleParams(ann, op)); diff != "" {
		t.Errorf("stale params (-want +got):\n%s", diff)
	}
}

// TestRollbackRefusesAnotherWritersTemplate: the rollback's JSON-patch test
// of the template it expects fails when another writer changed the
// template; the error names spec.template and that writer, and nothing is
// written.
func TestRollbackRefusesAnotherWritersTemplate(t *testing.T) {
	objs := fixtures()
	d := objs[0].(*appsv1.Deployment)
	d.ManagedFields = []metav1.ManagedFieldsEntry{managed("kubectl-edit", 3, fieldsImage)}
	client := fake.NewClientset(objs...)
	applied := template("shop:v9") // what the release applied; the live one is shop:v2
	_, err := Rollback(context.Background(), client, RollbackConfig{Namespace: "shop", Name: "web", ToRevision: 1, Current: &applied, Timeout: time.Minute})
	if !IsForeignChange(err) || exitcode.Of(err) != exitcode.Failed {
		t.Fatalf("got %v (exit %d), want a *kube.ChangedError with exit 1", err, exitcode.Of(err))
	}
	want := `restoring revision 1 of deployment "shop/web": spec.template changed by "kubectl-edit" since it was read to restore revision 1; nothing was rolled back over that change`
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("error (-want +got):\n%s", diff)
	}
	live, _ := client.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if got := live.Spec.Template.Spec.Containers[0].Image; got != "shop:v2" {
		t.Errorf("image %q after the refused rollback, want shop:v2", got)
	}
}

// TestRecordWriterConflict: a record write that meets a Conflict re-reads
// the Deployment and judges it: a scale by someone else is accepted and the
// write retried with the new resourceVersion; a template change stops it
// with a *kube.ChangedError, and saveAnyway still records (with the
// resourceVersion of the version read).
func TestRecordWriterConflict(t *testing.T) {
	tests := []struct {
		name string
		// meanwhile is what another writer did before the first write
		meanwhile   func(d *appsv1.Deployment)
		anyway      bool
		wantForeign bool
		// wantRVs are the resourceVersions the patches carried
		wantRVs []string
	}{
		{name: "scale: retried", meanwhile: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) }, wantRVs: []string{"100", "200"}},
		{name: "status only: retried", meanwhile: func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 2 }, wantRVs: []string{"100", "200"}},
		{name: "template: stopped", meanwhile: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "shop:v9" }, wantForeign: true, wantRVs: []string{"100"}},
		{name: "template, anyway: recorded", meanwhile: func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "shop:v9" }, anyway: true, wantRVs: []string{"100", "200"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			objs := fixtures()
			base := objs[0].(*appsv1.Deployment).DeepCopy()
			live := objs[0].(*appsv1.Deployment)
			tc.meanwhile(live)
			live.ResourceVersion = "200"
			if live.Spec.Replicas != nil && *live.Spec.Replicas != 3 || live.Spec.Template.Spec.Containers[0].Image != base.Spec.Template.Spec.Containers[0].Image {
				live.Generation = base.Generation + 1
			}
			client := fake.NewClientset(objs...)
			var rvs []string
			client.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
				var body struct {
					Metadata struct {
						ResourceVersion string `json:"resourceVersion"`
					} `json:"metadata"`
				}
				_ = json.Unmarshal(a.(k8stesting.PatchAction).GetPatch(), &body)
				rvs = append(rvs, body.Metadata.ResourceVersion)
				if body.Metadata.ResourceVersion != "200" {
					return true, nil, apierrors.NewConflict(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web", errors.New("the object has been modified"))
				}
				return false, nil, nil
			})
			w := &recordWriter{kube: client, ns: "shop", name: "web", guard: &guard{ref: "shop/web", base: base, while: "while the rollout watched it"}}
			op := &state.Operation{ID: "op1", Strategy: Strategy, Phase: PhaseWatch}
			var err error
			if tc.anyway {
				err = w.saveAnyway(context.Background(), op)
			} else {
				err = w.save(context.Background(), op)
			}
			if got := IsForeignChange(err); got != tc.wantForeign {
				t.Fatalf("foreign change %t (err %v), want %t", got, err, tc.wantForeign)
			}
			if !tc.wantForeign && err != nil {
				t.Fatalf("save: %v", err)
			}
			if diff := cmp.Diff(tc.wantRVs, rvs); diff != "" {
				t.Errorf("resourceVersions of the patches (-want +got):\n%s", diff)
			}
		})
	}
}
