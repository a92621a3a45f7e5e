package lint

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	sigsyaml "sigs.k8s.io/yaml"
)

func fixableOf(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		if Fixable(f.Rule) {
			out = append(out, f.Kind+" "+f.Name+" "+f.Rule)
		}
	}
	return out
}

// TestFixFilesGolden fixes testdata/fix/in.yaml and compares the result with
// out.yaml; then checks what the golden file shows: every comment is kept,
// the keys keep their order, untouched documents keep every byte, and a
// second lint of the result finds nothing --fix can fix.
func TestFixFilesGolden(t *testing.T) {
	in := "testdata/fix/in.yaml"
	loaded, err := LoadFiles(LoadOptions{Filenames: []string{in}})
	if err != nil {
		t.Fatal(err)
	}
	findings := Audit(loaded.Objects, Options{})
	wantFixable := []string{
		"Deployment web grace-period-too-short",
		"Deployment web revision-history-zero",
		"Deployment web rollout-cannot-progress",
		"Deployment worker max-unavailable-nonzero",
		"Deployment api prestop-missing",
	}
	if diff := cmp.Diff(wantFixable, fixableOf(findings)); diff != "" {
		t.Fatalf("fixable findings of the input (-want +got):\n%s", diff)
	}
	fixes, err := FixFiles(loaded, findings, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(fixes) != 1 || !fixes[0].Changed {
		t.Fatalf("fixes = %+v, want one changed file", fixes)
	}
	out := fixes[0].Content
	ioGolden(t, "fix/out.yaml", out)

	var changes []string
	for _, c := range fixes[0].Changes {
		changes = append(changes, c.String())
	}
	wantChanges := []string{
		`testdata/fix/in.yaml:2: Deployment shop/web: set spec.revisionHistoryLimit to 10`,
		`testdata/fix/in.yaml:2: Deployment shop/web: set spec.strategy.rollingUpdate.maxSurge to 1`,
		`testdata/fix/in.yaml:2: Deployment shop/web: set spec.template.spec.terminationGracePeriodSeconds to 25`,
		`testdata/fix/in.yaml:57: Deployment shop/worker: set spec.strategy.rollingUpdate.maxUnavailable to 0`,
		`testdata/fix/in.yaml:103: Deployment shop/api: added a preStop sleep of 5s to container "api"`,
	}
	if diff := cmp.Diff(wantChanges, changes); diff != "" {
		t.Errorf("changes (-want +got):\n%s", diff)
	}

	orig, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	comment := regexp.MustCompile(`#.*`)
	if diff := cmp.Diff(comment.FindAllString(string(orig), -1), comment.FindAllString(string(out), -1)); diff != "" {
		t.Errorf("comments not kept (-want +got):\n%s", diff)
	}
	keys := regexp.MustCompile(`(?m)^\s*-?\s*([A-Za-z]+):`)
	keyOrder := func(b []byte, drop map[string]bool) []string {
		var ks []string
		for _, m := range keys.FindAllSubmatch(b, -1) {
			if k := string(m[1]); !drop[k] {
				ks = append(ks, k)
			}
		}
		return ks
	}
	added := map[string]bool{"lifecycle": true, "preStop": true, "sleep": true, "seconds": true}
	if diff := cmp.Diff(keyOrder(orig, added), keyOrder(out, added)); diff != "" {
		t.Errorf("field order changed (-want +got):\n%s", diff)
	}
	svc := "# This Service is not touched: its bytes stay exactly as they are.\napiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  selector: {app: web}     # odd spacing kept\n"
	if !bytes.Contains(out, []byte(svc)) {
		t.Errorf("the untouched Service document was re-encoded")
	}

	// Lint the fixed file again: nothing fixable is left.
	dir := t.TempDir()
	fixed := filepath.Join(dir, "fixed.yaml")
	if err := os.WriteFile(fixed, out, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := LoadFiles(LoadOptions{Filenames: []string{fixed}})
	if err != nil {
		t.Fatalf("the fixed file does not load: %v", err)
	}
	if left := fixableOf(Audit(again.Objects, Options{})); len(left) > 0 {
		t.Errorf("fixable findings left after --fix: %v", left)
	}
}

func TestFixNode(t *testing.T) {
	tests := []struct {
		name     string
		kind     string
		in       string
		findings []Finding
		drain    int
		want     string // the fields that differ, as YAML of the fixed object
		changes  []string
	}{
		{
			name:     "maxUnavailable on a Deployment keeps an explicit surge",
			kind:     "Deployment",
			in:       "spec:\n  strategy:\n    rollingUpdate:\n      maxSurge: 2\n      maxUnavailable: 25%\n",
			findings: []Finding{{Rule: "max-unavailable-nonzero", Field: "spec.strategy.rollingUpdate.maxUnavailable"}},
			want:     "spec:\n  strategy:\n    rollingUpdate:\n      maxSurge: 2\n      maxUnavailable: 0\n",
			changes:  []string{"set spec.strategy.rollingUpdate.maxUnavailable to 0"},
		},
		{
			name:     "maxUnavailable on a Deployment with the implicit default: the path is created",
			kind:     "Deployment",
			in:       "spec:\n  replicas: 3\n",
			findings: []Finding{{Rule: "max-unavailable-nonzero", Field: "spec.strategy.rollingUpdate.maxUnavailable"}},
			want:     "spec:\n  replicas: 3\n  strategy:\n    rollingUpdate:\n      maxUnavailable: 0\n",
			changes:  []string{"set spec.strategy.rollingUpdate.maxUnavailable to 0"},
		},
		{
			name:     "maxUnavailable on a DaemonSet needs a surge",
			kind:     "DaemonSet",
			in:       "spec:\n  updateStrategy:\n    type: RollingUpdate\n",
			findings: []Finding{{Rule: "max-unavailable-nonzero", Field: "spec.updateStrategy.rollingUpdate.maxUnavailable"}},
			want:     "spec:\n  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate:\n      maxSurge: 1\n      maxUnavailable: 0\n",
			changes:  []string{"set spec.updateStrategy.rollingUpdate.maxSurge to 1", "set spec.updateStrategy.rollingUpdate.maxUnavailable to 0"},
		},
		{
			name:     "readiness copied from an existing liveness probe",
			kind:     "Deployment",
			in:       "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        livenessProbe:\n          httpGet:\n            path: /healthz\n            port: 8080\n",
			findings: []Finding{{Rule: "readiness-probe-missing", Container: "app"}},
			want:     "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        livenessProbe:\n          httpGet:\n            path: /healthz\n            port: 8080\n        readinessProbe:\n          httpGet:\n            path: /healthz\n            port: 8080\n",
			changes:  []string{`added a readinessProbe to container "app", a copy of its livenessProbe`},
		},
		{
			name:     "no readiness without a liveness probe: a person must write it",
			kind:     "Deployment",
			in:       "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: shop:v1\n",
			findings: []Finding{{Rule: "readiness-probe-missing", Container: "app"}},
			want:     "spec:\n  template:\n    spec:\n      containers:\n      - name: app\n        image: shop:v1\n",
		},
		{
			name:     "Recreate is a choice --fix leaves alone",
			kind:     "Deployment",
			in:       "spec:\n  strategy:\n    type: Recreate\n",
			findings: []Finding{{Rule: "max-unavailable-nonzero"}, {Rule: "recreate-strategy"}},
			want:     "spec:\n  strategy:\n    type: Recreate\n",
		},
		{
			name:     "a StatefulSet cannot have maxUnavailable 0: left alone",
			kind:     "StatefulSet",
			in:       "spec:\n  replicas: 3\n",
			findings: []Finding{{Rule: "max-unavailable-nonzero"}},
			want:     "spec:\n  replicas: 3\n",
		},
		{
			name:     "preStop added, grace raised to sleep plus drain",
			kind:     "Deployment",
			in:       "spec:\n  template:\n    spec:\n      terminationGracePeriodSeconds: 8\n      containers:\n      - name: a\n        image: a:1\n      - name: b\n        image: b:1\n",
			findings: []Finding{{Rule: "prestop-missing", Container: "b"}},
			drain:    20,
			want:     "spec:\n  template:\n    spec:\n      terminationGracePeriodSeconds: 25\n      containers:\n      - name: a\n        image: a:1\n      - name: b\n        image: b:1\n        lifecycle:\n          preStop:\n            sleep:\n              seconds: 5\n",
			changes:  []string{`added a preStop sleep of 5s to container "b"`, "set spec.template.spec.terminationGracePeriodSeconds to 25"},
		},
		{
			name:     "grace with the default of 30 already long enough: unchanged",
			kind:     "Deployment",
			in:       "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: a:1\n",
			findings: []Finding{{Rule: "prestop-missing", Container: "a"}},
			want:     "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        image: a:1\n        lifecycle:\n          preStop:\n            sleep:\n              seconds: 5\n",
			changes:  []string{`added a preStop sleep of 5s to container "a"`},
		},
		{
			name:     "grace below an exec preStop sleep",
			kind:     "StatefulSet",
			in:       "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        lifecycle:\n          preStop:\n            exec:\n              command: [sh, -c, sleep 40]\n",
			findings: []Finding{{Rule: "grace-period-too-short"}},
			want:     "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        lifecycle:\n          preStop:\n            exec:\n              command: [sh, -c, sleep 40]\n      terminationGracePeriodSeconds: 50\n",
			changes:  []string{"set spec.template.spec.terminationGracePeriodSeconds to 50"},
		},
		{
			name:     "long-lived connections: grace raised to 120",
			kind:     "Deployment",
			in:       "spec:\n  template:\n    spec:\n      terminationGracePeriodSeconds: 30\n      containers:\n      - name: a\n        lifecycle:\n          preStop:\n            sleep:\n              seconds: 5\n",
			findings: []Finding{{Rule: "long-lived-grace-too-short"}},
			want:     "spec:\n  template:\n    spec:\n      terminationGracePeriodSeconds: 120\n      containers:\n      - name: a\n        lifecycle:\n          preStop:\n            sleep:\n              seconds: 5\n",
			changes:  []string{"set spec.template.spec.terminationGracePeriodSeconds to 120"},
		},
		{
			name:     "long-lived connections and a longer preStop: the longer need wins",
			kind:     "Deployment",
			in:       "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        lifecycle:\n          preStop:\n            sleep:\n              seconds: 115\n",
			findings: []Finding{{Rule: "long-lived-grace-too-short"}, {Rule: "grace-period-too-short"}},
			want:     "spec:\n  template:\n    spec:\n      containers:\n      - name: a\n        lifecycle:\n          preStop:\n            sleep:\n              seconds: 115\n      terminationGracePeriodSeconds: 125\n",
			changes:  []string{"set spec.template.spec.terminationGracePeriodSeconds to 125"},
		},
		{
			name:     "revision history and progress deadline",
			kind:     "Deployment",
			in:       "spec:\n  revisionHistoryLimit: 0\n  progressDeadlineSeconds: 7200\n",
			findings: []Finding{{Rule: "revision-history-zero"}, {Rule: "progress-deadline"}},
			want:     "spec:\n  revisionHistoryLimit: 10\n  progressDeadlineSeconds: 600\n",
			changes:  []string{"set spec.progressDeadlineSeconds to 600", "set spec.revisionHistoryLimit to 10"},
		},
		{
			name:     "rules without a mechanical fix change nothing",
			kind:     "Deployment",
			in:       "spec:\n  replicas: 1\n",
			findings: []Finding{{Rule: "too-few-replicas"}, {Rule: "mutable-image-tag"}},
			want:     "spec:\n  replicas: 1\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, err := parseNode(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			changes, err := FixNode(node, tt.kind, tt.findings, tt.drain)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.changes, changes); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
			got, err := node.String()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("fixed object (-want +got):\n%s", diff)
			}
		})
	}
}

func TestFixLive(t *testing.T) {
	var u unstructured.Unstructured
	manifest := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  resourceVersion: "42"
spec:
  replicas: 2
  revisionHistoryLimit: 0
  selector:
    matchLabels: {app: web}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 25%, maxUnavailable: 25%}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: web:1.0.0
        ports: [{name: http, containerPort: 8080}]
`
	if err := sigsyaml.Unmarshal([]byte(manifest), &u.Object); err != nil {
		t.Fatal(err)
	}
	obj, err := FromTyped(&u)
	if err != nil {
		t.Fatal(err)
	}
	findings := []Finding{
		{Rule: "max-unavailable-nonzero", Kind: "Deployment", Namespace: "shop", Name: "web", Field: "spec.strategy.rollingUpdate.maxUnavailable"},
		{Rule: "revision-history-zero", Kind: "Deployment", Namespace: "shop", Name: "web"},
		{Rule: "prestop-missing", Kind: "Deployment", Namespace: "shop", Name: "web", Container: "web"},
		{Rule: "too-few-replicas", Kind: "Deployment", Namespace: "other", Name: "web"},
	}
	context := obj
	context.Context = true
	patches, err := FixLive([]Object{obj, context}, findings, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(patches) != 1 {
		t.Fatalf("%d patches, want 1 (none for the context object)", len(patches))
	}
	want := `{"metadata":{"resourceVersion":"42"},"spec":{"revisionHistoryLimit":10,"strategy":{"$retainKeys":["rollingUpdate","type"],"rollingUpdate":{"maxUnavailable":0}},"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"lifecycle":{"preStop":{"sleep":{"seconds":5}}},"name":"web"}]}}}}`
	if diff := cmp.Diff(want, string(patches[0].Patch)); diff != "" {
		t.Errorf("patch (-want +got):\n%s", diff)
	}
	if got := strings.Join(patches[0].Changes, "; "); !strings.Contains(got, "maxUnavailable to 0") {
		t.Errorf("changes = %q", got)
	}
	if fmt.Sprint(u.Object["spec"].(map[string]any)["revisionHistoryLimit"]) != "0" {
		t.Errorf("FixLive changed the loaded object: %v", u.Object["spec"])
	}
}

// TestFixLongLivedGrace fixes the long-lived-grace-too-short fixture: the
// fixed file has no finding of the rule left.
func TestFixLongLivedGrace(t *testing.T) {
	loaded, err := LoadFiles(LoadOptions{Filenames: []string{"testdata/rules/long-lived-grace-too-short/bad.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	findings := Audit(loaded.Objects, Options{})
	if len(ofRule(findings, "long-lived-grace-too-short")) != 3 {
		t.Fatalf("want 3 findings to fix, got %v", ofRule(findings, "long-lived-grace-too-short"))
	}
	fixes, err := FixFiles(loaded, findings, 10)
	if err != nil {
		t.Fatal(err)
	}
	fixed := filepath.Join(t.TempDir(), "fixed.yaml")
	if err := os.WriteFile(fixed, fixes[0].Content, 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := LoadFiles(LoadOptions{Filenames: []string{fixed}})
	if err != nil {
		t.Fatal(err)
	}
	if left := ofRule(Audit(again.Objects, Options{}), "long-lived-grace-too-short"); len(left) > 0 {
		t.Errorf("findings left after --fix: %v", left)
	}
	if n := strings.Count(string(fixes[0].Content), "terminationGracePeriodSeconds: 120"); n != 3 {
		t.Errorf("%d graces set to 120, want 3:\n%s", n, fixes[0].Content)
	}
}
