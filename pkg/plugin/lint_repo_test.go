package plugin

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// lintMonorepo is a repository as teams keep them: plain manifests
// (deploy/), a Helm chart with a values file for production (charts/api), a
// kustomize base with two overlays (kustomize/), a GitHub Actions workflow,
// application settings in YAML and JSON, a docker-compose file.
const lintMonorepo = "testdata/lint/monorepo"

// TestLintRepository lints the whole repository with -R: exit 1 on its
// findings, the chart rendered (its findings on the template's lines, with
// the values given), the kustomizations built (the base through its
// overlays, never as plain files), and a note for every document that is
// not a Kubernetes object. stdout (JSON) and stderr (the notes) are golden.
func TestLintRepository(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"default values", nil, "monorepo"},
		{"values file and --set", []string{"--values", lintMonorepo + "/charts/api/values-prod.yaml", "--set", "image.tag=latest,replicaCount=2"}, "monorepo-values"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"lint", "-R", "-f", lintMonorepo, "--sarif-root", lintMonorepo, "-o", "json"}, tt.args...)
			out, errOut, code := runLint(t, "", args...)
			if code != 1 {
				t.Fatalf("exit code %d, want 1 (findings)\nstderr:\n%s", code, errOut)
			}
			checkLintGolden(t, tt.golden+".json", out)
			checkLintGolden(t, tt.golden+".notes", errOut)
			for _, never := range []string{"kustomization.yaml", "strategy.yaml:", "values.yaml", "Chart.yaml", "_helpers.tpl", "NOTES.txt"} {
				if strings.Contains(errOut, never) {
					t.Errorf("a note names %s, which a build or a chart reads:\n%s", never, errOut)
				}
			}
		})
	}
}

// TestLintRepositoryTable checks the table: the chart's objects are titled
// with their template, the kustomization's with the file kustomize read.
func TestLintRepositoryTable(t *testing.T) {
	out, errOut, code := runLint(t, "", "lint", "-R", "-f", lintMonorepo, "--sarif-root", lintMonorepo)
	if code != 1 {
		t.Fatalf("exit code %d, want 1\nstderr:\n%s", code, errOut)
	}
	for _, want := range []string{
		"Deployment default/release-name-api (charts/api/templates/deployment.yaml:1)",
		"Deployment shop/web (deploy/web.yaml:2)",
		"Deployment staging/worker (kustomize/base/deployment.yaml:1)",
		"Deployment prod/worker (kustomize/overlays/prod/strategy.yaml:1)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// copyTree copies the folder src to a new temporary folder.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestLintRepositoryBadInput: what stays exit 2 in a repository.
func TestLintRepositoryBadInput(t *testing.T) {
	tests := []struct {
		name       string
		file       string // written into a copy of the repository
		content    string
		args       []string
		wantErrOut string
	}{
		{
			name: "malformed YAML in app settings", file: "config/broken.yaml",
			content:    "server:\n  port: [8080\n",
			wantErrOut: "config/broken.yaml:2: malformed YAML",
		},
		{
			name: "a Deployment without apiVersion", file: "deploy/noversion.yaml",
			content:    "kind: Deployment\nmetadata:\n  name: x\n",
			wantErrOut: "deploy/noversion.yaml:1: Deployment has no apiVersion",
		},
		{
			name: "a chart template that fails", file: "charts/api/templates/required.yaml",
			content:    "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ required \"host is required\" .Values.host }}\n",
			wantErrOut: "rendering the Helm chart",
		},
		{
			name: "a kustomization that does not build", file: "kustomize/overlays/prod/kustomization.yaml",
			content:    "resources:\n  - ../../nowhere\n",
			wantErrOut: "building the kustomization",
		},
		{
			name: "a values file that does not exist", args: []string{"--values", "nope.yaml"},
			wantErrOut: "--values nope.yaml",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			repo := copyTree(t, lintMonorepo)
			if tt.file != "" {
				if err := os.WriteFile(filepath.Join(repo, tt.file), []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			out, errOut, code := runLint(t, "", append([]string{"lint", "-R", "-f", repo}, tt.args...)...)
			if code != 2 {
				t.Fatalf("exit code %d, want 2\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
			}
			if out != "" {
				t.Errorf("stdout is not empty:\n%s", out)
			}
			if !strings.Contains(errOut, tt.wantErrOut) {
				t.Errorf("stderr does not say %q:\n%s", tt.wantErrOut, errOut)
			}
		})
	}
}

// TestLintRepositoryNotRecursive: without -R only the top folder's files
// are read, as kubectl reads them (the repository's top holds only a
// docker-compose file).
func TestLintRepositoryNotRecursive(t *testing.T) {
	out, errOut, code := runLint(t, "", "lint", "-f", lintMonorepo)
	if code != 0 || !strings.Contains(out, "0 objects audited, 1 skipped: no findings") {
		t.Errorf("exit %d, want 0 with nothing audited\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "docker-compose.yml:1): not a Kubernetes object") {
		t.Errorf("no note on docker-compose.yml:\n%s", errOut)
	}
}
