package plugin

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zdd-dev/kubectl-zdd/internal/sariftest"
)

var updateLintGolden = flag.Bool("update", false, "rewrite testdata/lint/*.golden")

// lintRepo is a small repository of manifests: deploy/ for -f, kustomize/
// (a base and an overlay with a strategic-merge patch file, a JSON 6902
// patch file and an inline patch) for -k.
const lintRepo = "testdata/lint/repo"

func checkLintGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "lint", name)
	if *updateLintGolden {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

// TestLintLocationsGolden lints the repository with paths given as CI steps
// give them (absolute) and checks every format: paths relative to
// --sarif-root, SARIF's %SRCROOT% base, regions at the field's line,
// fingerprints; for -k the file and line of the resource or of the patch
// that set the field. Every SARIF log validates against the SARIF 2.1.0
// schema.
func TestLintLocationsGolden(t *testing.T) {
	root, err := filepath.Abs(lintRepo)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		golden string
	}{
		{"-f absolute, sarif", []string{"-f", filepath.Join(root, "deploy"), "-o", "sarif"}, "f.sarif"},
		{"-f absolute, json", []string{"-f", filepath.Join(root, "deploy"), "-o", "json"}, "f.json"},
		{"-k absolute, sarif", []string{"-k", filepath.Join(root, "kustomize/overlays/prod"), "-o", "sarif"}, "k.sarif"},
		{"-k absolute, json", []string{"-k", filepath.Join(root, "kustomize/overlays/prod"), "-o", "json"}, "k.json"},
		{"-k absolute, table", []string{"-k", filepath.Join(root, "kustomize/overlays/prod")}, "k.table"},
		{"-k absolute, wide", []string{"-k", filepath.Join(root, "kustomize/overlays/prod"), "-o", "wide"}, "k.wide"},
	}
	// the table format takes $COLUMNS when stdout is not a terminal: 80 here
	t.Setenv("COLUMNS", "")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"lint", "--sarif-root", root}, tt.args...)
			out, errOut, code := runLint(t, "", args...)
			if code != 1 {
				t.Fatalf("exit code %d, want 1 (findings)\nstderr:\n%s", code, errOut)
			}
			if strings.Contains(out, root) && !strings.HasSuffix(tt.golden, ".sarif") {
				t.Errorf("output names the absolute root %s:\n%s", root, out)
			}
			if strings.HasSuffix(tt.golden, ".sarif") {
				if err := sariftest.Validate([]byte(out)); err != nil {
					t.Errorf("not valid SARIF 2.1.0: %v", err)
				}
			}
			// The root's URI is the one machine-dependent line.
			out = strings.ReplaceAll(out, "file://"+filepath.ToSlash(root)+"/", "file:///ROOT/")
			checkLintGolden(t, tt.golden, out)
		})
	}
}
