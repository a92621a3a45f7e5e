package cli

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLintWholeRepository runs the release binary over a copy of the fixture
// repository (plain manifests, a Helm chart, kustomizations, a CI workflow,
// application settings) put in a git checkout, as `kubectl zdd lint -R -f
// .` from its top: exit 1 on the findings, the chart's on its template's
// lines (through the Helm SDK linked into the release build), the
// kustomization's on its files; every SARIF location inside the checkout.
func TestLintWholeRepository(t *testing.T) {
	repo := t.TempDir()
	src := filepath.Join(root, "pkg", "plugin", "testdata", "lint", "monorepo")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(repo, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(repo, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(repo, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	locs := strings.Join(jsonLocations(t, lintIn(t, repo, "-R", "-f", ".", "-o", "json")), "\n")
	for _, want := range []string{
		"readiness-probe-missing charts/api/templates/deployment.yaml:1/23",
		"too-few-replicas charts/api/templates/deployment.yaml:1/8",
		"prestop-missing deploy/web.yaml:2/19",
		"recreate-strategy kustomize/overlays/prod/strategy.yaml:1/8",
	} {
		if !strings.Contains(locs, want) {
			t.Errorf("no finding %q in:\n%s", want, locs)
		}
	}
	for _, l := range sarifLocations(t, lintIn(t, repo, "-R", "-f", ".", "-o", "sarif")) {
		if !strings.HasSuffix(l, "(%SRCROOT%)") {
			t.Errorf("SARIF location outside the checkout: %s", l)
		}
	}
}
