package lint

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const repoDeployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: app
spec:
  replicas: 3
  progressDeadlineSeconds: 300
  selector:
    matchLabels: {app: app}
  template:
    metadata:
      labels: {app: app}
    spec:
      containers:
      - name: app
        image: app:1.0
`

// TestRepositoryKustomizations: overlays found in the walk are built, the
// base they share is built only through them, its files are never read as
// plain files, and a finding two overlays make alike is reported once.
func TestRepositoryKustomizations(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"base/kustomization.yaml":       "resources: [deployment.yaml]\n",
		"base/deployment.yaml":          repoDeployment,
		"overlays/a/kustomization.yaml": "resources: [../../base]\nlabels: [{pairs: {overlay: a}}]\n",
		"overlays/b/kustomization.yaml": "resources: [../../base]\nlabels: [{pairs: {overlay: b}}]\n",
		// A file in a kustomization's folder that the build does not read
		// is a plain file.
		"overlays/b/extra.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: extra\n",
	})
	res, err := LintFiles(LoadOptions{Filenames: []string{dir}, Recursive: true}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != 2 {
		t.Errorf("%d objects audited, want 2 (the base's Deployment through each overlay)", res.Objects)
	}
	var got []string
	for _, f := range res.Findings {
		rel, _ := filepath.Rel(dir, f.File)
		got = append(got, rel+" "+f.Rule)
	}
	want := []string{"base/deployment.yaml max-unavailable-nonzero"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
	var notes []string
	for _, s := range res.Skipped {
		notes = append(notes, strings.ReplaceAll(s.String(), dir, "DIR"))
	}
	if diff := cmp.Diff([]string{`skipped v1 ConfigMap "extra" (DIR/overlays/b/extra.yaml:1): not a kind kubectl zdd lint audits`}, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
}

// TestRepositoryCharts: notes for what a chart cannot render.
func TestRepositoryCharts(t *testing.T) {
	dir := writeTree(t, map[string]string{
		"lib/Chart.yaml":                "apiVersion: v2\nname: lib\nversion: 1.0.0\ntype: library\n",
		"lib/templates/_helpers.tpl":    "{{- define \"lib.name\" -}}lib{{- end -}}\n",
		"app/Chart.yaml":                "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n- name: redis\n  version: 1.x\n  repository: https://charts.example.com\n",
		"app/templates/deployment.yaml": strings.Replace(repoDeployment, "name: app\nspec", "name: {{ .Release.Name }}-app\nspec", 1),
	})
	res, err := LintFiles(LoadOptions{Filenames: []string{dir}, Recursive: true}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, n := range res.Notes {
		notes = append(notes, strings.ReplaceAll(n, dir, "DIR"))
	}
	want := []string{
		`DIR/app: dependency "redis" is not in charts/ (run helm dependency build DIR/app): its objects are not linted`,
		"DIR/lib: a library chart renders no objects of its own",
	}
	if diff := cmp.Diff(want, notes); diff != "" {
		t.Errorf("notes (-want +got):\n%s", diff)
	}
	if len(res.Findings) == 0 || res.Findings[0].Name != "release-name-app" || res.Findings[0].Namespace != "default" {
		t.Errorf("findings %+v, want release-name-app's in the default namespace", res.Findings)
	}
}

// TestServiceInFrontOfPodsNotAudited: a Service in front of a bare Pod or a
// ReplicationController (kinds the linter does not audit: skipped with a
// note) selects something, while one in front of nothing is still reported.
func TestServiceInFrontOfPodsNotAudited(t *testing.T) {
	svc := func(name, app string) string {
		return "apiVersion: v1\nkind: Service\nmetadata:\n  name: " + name + "\nspec:\n  selector: {app: " + app + "}\n  ports: [{port: 80}]\n---\n"
	}
	dir := writeTree(t, map[string]string{
		"all.yaml": svc("pod", "pod") + svc("rc", "rc") + svc("none", "none") + repoDeployment + "---\n" +
			"apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod\n  labels: {app: pod}\nspec:\n  containers: [{name: c, image: c:1}]\n---\n" +
			"apiVersion: v1\nkind: ReplicationController\nmetadata:\n  name: rc\nspec:\n  template:\n    metadata:\n      labels: {app: rc}\n    spec:\n      containers: [{name: c, image: c:1}]\n",
	})
	for _, load := range []string{"LintFiles", "LoadFiles"} {
		t.Run(load, func(t *testing.T) {
			opts := LoadOptions{Filenames: []string{dir}}
			var findings []Finding
			var skipped []Skipped
			objects := 0
			if load == "LintFiles" {
				res, err := LintFiles(opts, Options{})
				if err != nil {
					t.Fatal(err)
				}
				findings, skipped, objects = res.Findings, res.Skipped, res.Objects
			} else {
				l, err := LoadFiles(opts)
				if err != nil {
					t.Fatal(err)
				}
				findings, skipped, objects = Audit(l.Objects, Options{}), l.Skipped, audited(l.Objects)
			}
			var got []string
			for _, f := range ofRule(findings, "service-selects-nothing") {
				got = append(got, f.Name)
			}
			if diff := cmp.Diff([]string{"none"}, got); diff != "" {
				t.Errorf("service-selects-nothing (-want +got):\n%s", diff)
			}
			if len(skipped) != 2 || objects != 4 {
				t.Errorf("%d skipped, %d audited; want the Pod and the ReplicationController skipped, 4 audited", len(skipped), objects)
			}
		})
	}
}

// FuzzStripJSONC: stripping comments never panics, and leaves valid JSON
// meaning what it meant.
func FuzzStripJSONC(f *testing.F) {
	f.Add([]byte(`{"a": "//not a comment", /* c */ "b": [1, 2,], // end
}`))
	f.Add([]byte(`{"s": "a \"quoted\" /* string */"}`))
	f.Add([]byte(`[1, /* unterminated`))
	f.Fuzz(func(t *testing.T, data []byte) {
		out := stripJSONC(data)
		if !json.Valid(data) {
			return
		}
		var a, b any
		if err := json.Unmarshal(data, &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(out, &b); err != nil {
			t.Fatalf("valid JSON %q stripped to invalid %q: %v", data, out, err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("valid JSON %q changed meaning: %q", data, out)
		}
	})
}
