package lint

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFieldLine(t *testing.T) {
	deploy := `# comment
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - name: sidecar
        image: proxy:1
      - name: web
        image: web:latest
        ports: [{containerPort: 80}]
`
	list := `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: a}
- apiVersion: v1
  kind: Service
  metadata:
    name: b
  spec:
    sessionAffinity: ClientIP
`
	json := `{
  "apiVersion": "v1",
  "kind": "Service",
  "metadata": {"name": "j"},
  "spec": {
    "sessionAffinity": "ClientIP"
  }
}`
	tests := []struct {
		name      string
		doc       string
		line      int // the object's line in the document
		field     string
		container string
		want      int
	}{
		{"a key", deploy, 2, "spec.replicas", "", 7},
		{"a container by index", deploy, 2, "spec.template.spec.containers[1].image", "", 14},
		{"a container by name wins over the index", deploy, 2, "spec.template.spec.containers[0].image", "web", 14},
		{"a missing field: its closest parent", deploy, 2, "spec.template.spec.containers[1].readinessProbe", "web", 13},
		{"a default of the object: the deepest parent written", deploy, 2, "spec.strategy.rollingUpdate.maxUnavailable", "", 6},
		{"an item of a List", list, 7, "spec.sessionAffinity", "", 12},
		{"JSON", json, 1, "spec.sessionAffinity", "", 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &docRef{file: "f.yaml", data: []byte(tt.doc), startLine: 1, line: tt.line}
			got := d.locate(tt.field, tt.container)
			want := Location{File: "f.yaml", Line: tt.line, FieldLine: tt.want}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("locate(%s) (-want +got):\n%s", tt.field, diff)
			}
		})
	}
}

func TestParseFieldPath(t *testing.T) {
	got := parseFieldPath("spec.template.spec.containers[2].lifecycle.preStop")
	want := []pathSeg{{"spec", -1}, {"template", -1}, {"spec", -1}, {"containers", -1}, {"", 2}, {"lifecycle", -1}, {"preStop", -1}}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(pathSeg{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestRelPath(t *testing.T) {
	root := filepath.FromSlash("/repo")
	sub := filepath.FromSlash("/repo/services")
	tests := []struct {
		name, file, root, workDir, want string
	}{
		{"relative, run from the root", "deploy/app.yaml", root, root, "deploy/app.yaml"},
		{"absolute under the root", "/repo/deploy/app.yaml", root, root, "deploy/app.yaml"},
		{"relative, run from a subfolder", "../deploy/app.yaml", root, sub, "deploy/app.yaml"},
		{"absolute, run from a subfolder", "/repo/deploy/app.yaml", root, sub, "deploy/app.yaml"},
		{"relative outside the root, run from the root: as given", "../other/app.yaml", root, root, "../other/app.yaml"},
		{"outside the root, run from a subfolder: absolute", "../../other/app.yaml", root, sub, "/other/app.yaml"},
		{"absolute outside the root", "/other/app.yaml", root, root, "/other/app.yaml"},
		{"standard input", "-", root, root, "-"},
		{"a URL", "https://example.com/app.yaml", root, root, "https://example.com/app.yaml"},
		{"no root: unchanged", "/repo/deploy/app.yaml", "", "", "/repo/deploy/app.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RelPath(filepath.FromSlash(tt.file), tt.root, tt.workDir); got != filepath.FromSlash(tt.want) {
				t.Errorf("RelPath(%q, %q, %q) = %q, want %q", tt.file, tt.root, tt.workDir, got, tt.want)
			}
		})
	}
}
