package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

func annotated(op *state.Operation) map[string]string {
	out := map[string]string{}
	for k, v := range op.Annotations() {
		if v != nil {
			out[k] = *v
		}
	}
	return out
}

func TestStatusListsRecordsAndLeases(t *testing.T) {
	now := time.Date(2026, 11, 27, 7, 0, 0, 0, time.UTC)
	rollout := &state.Operation{ID: "op-1", Strategy: "rollout", Phase: "watch", StartTime: now.Add(-90 * time.Second), FromRevision: "2", ToRevision: "3"}
	bg := &state.Operation{ID: "op-2", Strategy: "bluegreen", Phase: "done", Result: state.ResultSucceeded, StartTime: now.Add(-time.Hour), Params: map[string]string{"active": "green"}}
	renew := metav1.NewMicroTime(now.Add(-5 * time.Second))
	cs := fake.NewClientset(
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: annotated(rollout)},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](4)}, Status: appsv1.DeploymentStatus{ReadyReplicas: 3}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "shop"}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "front", Namespace: "shop", Annotations: annotated(bg)}},
		&coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "zdd-deployment-web", Namespace: "shop"},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("alice@laptop pid 1"), LeaseDurationSeconds: ptr.To[int32](30), RenewTime: &renew}},
	)
	var out bytes.Buffer
	o := NewStatusOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &out})
	o.Client, o.Namespace, o.Output = cs, "shop", "json"
	o.Now = func() time.Time { return now }
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got StatusList
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out.String())
	}
	type row struct{ Kind, Name, Strategy, Phase, Ready, Holder string }
	var rows []row
	for _, it := range got.Items {
		r := row{it.Kind, it.Name, it.Operation.Strategy, it.Operation.Phase, it.Ready, ""}
		if it.Lease != nil {
			r.Holder = it.Lease.Holder
		}
		rows = append(rows, r)
	}
	want := []row{
		{"Deployment", "web", "rollout", "watch", "3/4", "alice@laptop pid 1"},
		{"Service", "front", "bluegreen", "done", "0/0 endpoints", ""},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("status rows (-want +got):\n%s", diff)
	}

	// The table names the stale lease once it stopped renewing.
	out.Reset()
	o.Output = ""
	o.Now = func() time.Time { return now.Add(time.Minute) }
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "alice@laptop pid 1 (stale)") {
		t.Errorf("table does not mark the stale lease:\n%s", out.String())
	}
}

func TestStatusNamedObjectWithoutRecord(t *testing.T) {
	cs := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: "shop"}})
	var out bytes.Buffer
	o := NewStatusOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &out})
	o.Client, o.Namespace, o.Kind, o.Name = cs, "shop", "deployment", "plain"
	err := o.Run(context.Background())
	if exitcode.Of(err) != exitcode.Failed || !strings.Contains(err.Error(), `"shop/plain"`) {
		t.Errorf("want exit 1 naming shop/plain, got %v", err)
	}
	o.Name = "missing"
	if err := o.Run(context.Background()); exitcode.Of(err) != exitcode.Usage {
		t.Errorf("missing deployment: want exit 2, got %v", err)
	}
}

func TestStatusTableShortensLongParams(t *testing.T) {
	manifest := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}`
	op := &state.Operation{ID: "op-1", Strategy: "rollout", Phase: "watch", Params: map[string]string{
		"images": "app=registry.example/web:v2", "manifest": manifest, "no-rollback": "false",
	}}
	cs := fake.NewClientset(&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: annotated(op)}})
	var out bytes.Buffer
	o := NewStatusOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &out})
	o.Client, o.Namespace = cs, "shop"
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// the plain table shows no params (only what operationDetails reads of
	// them); -o wide lists them all, long ones shortened
	if table := out.String(); strings.Contains(table, "no-rollback") || strings.Contains(table, "manifest") {
		t.Errorf("the table lists the recorded params:\n%s", table)
	}
	out.Reset()
	o.Output = "wide"
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	table := out.String()
	for _, want := range []string{"images=app=registry.example/web:v2", fmt.Sprintf(`manifest={"apiVersion":"apps/v1","kind":"...(%d bytes)`, len(manifest)), "no-rollback=false"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if strings.Contains(table, `"kind":"Deployment"`) {
		t.Errorf("table prints the recorded manifest whole:\n%s", table)
	}

	out.Reset()
	o.Output = "json"
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `\"kind\":\"Deployment\"`) {
		t.Errorf("-o json does not keep the recorded manifest whole:\n%s", out.String())
	}
}
