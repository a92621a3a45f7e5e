package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

var updateStatusGolden = flag.Bool("update-status", false, "rewrite testdata/status/*.golden")

func templateJSON(images ...string) string {
	t := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}}}
	for i := 0; i+1 < len(images); i += 2 {
		t.Spec.Containers = append(t.Spec.Containers, corev1.Container{Name: images[i], Image: images[i+1], Env: []corev1.EnvVar{{Name: "MODE", Value: "prod"}}})
	}
	b, _ := json.Marshal(t)
	return string(b)
}

const longCause = "kubectl zdd rollout deployment/web --image app=registry.example/web:v2 --image sidecar=registry.example/proxy:1.4 (ticket OPS-1234)"

// statusRecords are records as each strategy writes them, at the points a
// person runs status: a rollout by --image and by -f, a canary before its
// first step and at a step, blue-green deploys before and after the
// switch, switched back, and a rollback.
func statusRecords() []struct {
	name string
	op   *state.Operation
} {
	manifest := `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"replicas":3,"template":` + templateJSON("app", "registry.example/web:v3") + `}}`
	return []struct {
		name string
		op   *state.Operation
	}{
		{"rollout of --image", &state.Operation{Strategy: "rollout", Phase: "watch", FromRevision: "3", ToRevision: "4", Params: map[string]string{
			"images": `{"sidecar":"registry.example/proxy:1.4","app":"registry.example/web:v2"}`, "change-cause": longCause, "template": "6f1c2a9b4e7d", "from-template": "0a1b2c3d4e5f", "max-restarts": "3", "timeout": "5m0s"}}},
		{"rollout of a manifest", &state.Operation{Strategy: "rollout", Phase: "apply", FromRevision: "4", Params: map[string]string{
			"manifest": manifest, "manifest-source": "deploy/web.yaml", "max-restarts": "3"}}},
		{"canary before its first step", &state.Operation{Strategy: "canary", Phase: "start", FromRevision: "2", Params: map[string]string{
			"steps": "10,50,100", "template": templateJSON("app", "registry.example/web:v2"), "router": "replica-ratio/", "replicas": "4", "manual": "false", "pauses": "30s,30s"}}},
		{"canary at its second step", &state.Operation{Strategy: "canary", Phase: "step-2", FromRevision: "2", Params: map[string]string{
			"steps": "10,50,100", "weight": "50", "template": templateJSON("app", "registry.example/web:v2", "sidecar", "registry.example/proxy:1.4"), "stable-strategy": `{"type":"RollingUpdate"}`, "track": "track=canary"}}},
		{"bluegreen deploy before the switch", &state.Operation{Strategy: "bluegreen", Phase: "deploying", Params: map[string]string{
			"operation": "deploy", "active": "blue", "target": "green", "template": templateJSON("app", "registry.example/web:v2"), "replicas": "3", "colors": "blue,green", "color-label": "version"}}},
		{"bluegreen deploy switched", &state.Operation{Strategy: "bluegreen", Phase: "done", Result: state.ResultSucceeded, Params: map[string]string{
			"operation": "deploy", "active": "green", "previous": "blue", "target": "green", "template": templateJSON("app", "registry.example/web:v2")}}},
		{"bluegreen deploy switched back", &state.Operation{Strategy: "bluegreen", Phase: "switched-back", Result: state.ResultRolledBack, Params: map[string]string{
			"operation": "deploy", "active": "blue", "previous": "green", "target": "green", "template": templateJSON("app", "registry.example/web:v2")}}},
		{"bluegreen rollback", &state.Operation{Strategy: "bluegreen", Phase: "scaling-up", Params: map[string]string{
			"operation": "rollback", "active": "green", "target": "blue", "idle-replicas": "0"}}},
	}
}

// TestOperationDetails: DETAILS shows what a person needs of each
// strategy's record (images as container=image, revisions, step, weight,
// colours), never the raw params kept for resume.
func TestOperationDetails(t *testing.T) {
	want := map[string]string{
		"rollout of --image":                 "revision 3->4, images app=registry.example/web:v2,sidecar=registry.example/proxy:1.4",
		"rollout of a manifest":              "revision 4->-, images app=registry.example/web:v3",
		"canary before its first step":       "step 0/3, revision 2->-, images app=registry.example/web:v2",
		"canary at its second step":          "step 2/3, weight 50%, revision 2->-, images app=registry.example/web:v2,sidecar=registry.example/proxy:1.4",
		"bluegreen deploy before the switch": "deploy, colour blue->green, live blue, images app=registry.example/web:v2",
		"bluegreen deploy switched":          "deploy, colour blue->green, live green, images app=registry.example/web:v2",
		"bluegreen deploy switched back":     "deploy, colour blue->green, live blue, images app=registry.example/web:v2",
		"bluegreen rollback":                 "rollback, colour green->blue, live green",
	}
	for _, rec := range statusRecords() {
		t.Run(rec.name, func(t *testing.T) {
			got := strings.Join(operationDetails(rec.op), ", ")
			if diff := cmp.Diff(want[rec.name], got); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			for _, raw := range []string{"bytes>", "change-cause", "template=", "{"} {
				if strings.Contains(got, raw) {
					t.Errorf("details show the raw record (%q): %s", raw, got)
				}
			}
		})
	}
}

func TestShortParam(t *testing.T) {
	cases := []struct{ in, want string }{
		{"5m0s", "5m0s"},
		{"deploy/web.yaml", "deploy/web.yaml"},
		{longCause, "kubectl zdd rollout deployment/w...(131 bytes)"},
		{"line one\nline two", "line one line two...(17 bytes)"},
		{`{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}`, `{"type":"RollingUpdate","rolling...(55 bytes)`},
	}
	for _, tc := range cases {
		if got := shortParam(tc.in); got != tc.want {
			t.Errorf("shortParam(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStatusOutputGolden renders the records of statusRecords as the
// table, -o wide and -o yaml, checked against testdata/status/*.golden
// (-update-status rewrites them): the table shows the details, -o wide
// adds the operation id and every param shortened, -o yaml every param
// whole.
func TestStatusOutputGolden(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	var objs []runtime.Object
	for i, rec := range statusRecords() {
		op := *rec.op
		op.ID = "20261203-1100" + string(rune('0'+i)) + "0-abcdef"
		op.StartTime = now.Add(-time.Duration(i+1) * time.Minute)
		name := "web-" + strings.NewReplacer(" ", "-").Replace(rec.name)
		if op.Strategy == "bluegreen" {
			objs = append(objs, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: annotated(&op)}})
			continue
		}
		objs = append(objs, &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Annotations: annotated(&op)},
			Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)}, Status: appsv1.DeploymentStatus{ReadyReplicas: 3}})
	}
	for _, output := range []string{"", "wide", "yaml"} {
		t.Run("output "+output, func(t *testing.T) {
			var out bytes.Buffer
			o := NewStatusOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &out})
			o.Client, o.Namespace, o.Output, o.Now = fake.NewClientset(objs...), "shop", output, func() time.Time { return now }
			if err := o.Run(context.Background()); err != nil {
				t.Fatal(err)
			}
			name := map[string]string{"": "table", "wide": "wide", "yaml": "yaml"}[output]
			path := filepath.Join("testdata", "status", name+".golden")
			if *updateStatusGolden {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update-status to write it)", err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", path, diff)
			}
			if output == "yaml" {
				// the whole record: every param, unshortened
				var list StatusList
				if err := yaml.Unmarshal(out.Bytes(), &list); err != nil {
					t.Fatal(err)
				}
				whole := 0
				for _, it := range list.Items {
					if it.Operation.Params["change-cause"] == longCause && strings.HasPrefix(it.Operation.Params["manifest"]+it.Operation.Params["images"], "{") {
						whole++
					}
				}
				if whole != 1 {
					t.Errorf("-o yaml does not give the rollout's change-cause and images whole:\n%s", out.String())
				}
			}
		})
	}
}

// TestStatusValidateOutput: -o takes wide besides json and yaml, and -w
// prints its table plain or wide only.
func TestStatusValidateOutput(t *testing.T) {
	cases := []struct {
		output string
		watch  bool
		ok     bool
	}{
		{"", false, true}, {"wide", false, true}, {"json", false, true}, {"yaml", false, true},
		{"xml", false, false}, {"", true, true}, {"wide", true, true}, {"json", true, false}, {"yaml", true, false},
	}
	for _, tc := range cases {
		o := NewStatusOptions(genericiooptions.IOStreams{})
		o.Output, o.Watch = tc.output, tc.watch
		err := o.Validate(NewCmdStatus(nil, genericiooptions.IOStreams{}))
		if (err == nil) != tc.ok {
			t.Errorf("-o %q -w=%v: err = %v, want ok=%v", tc.output, tc.watch, err, tc.ok)
		}
		if err != nil && exitcode.Of(err) != exitcode.Usage {
			t.Errorf("-o %q -w=%v: exit %d, want 2", tc.output, tc.watch, exitcode.Of(err))
		}
	}
}
