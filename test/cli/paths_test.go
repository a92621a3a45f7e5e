// Package cli holds tests that run the built kubectl-zdd binary as a user
// or a CI step would, with no cluster.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// newRepo copies the lint fixture repository into a temporary git
// checkout (a folder with .git) under apps/, with an empty subfolder tools/.
func newRepo(t *testing.T) string {
	t.Helper()
	repo := t.TempDir()
	src := filepath.Join("..", "..", "pkg", "plugin", "testdata", "lint", "repo")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		dst := filepath.Join(repo, "apps", rel)
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{".git", "tools"} {
		if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return repo
}

// lintIn runs kubectl-zdd lint ARGS in dir and returns stdout (exit 1,
// findings, is expected).
func lintIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"lint"}, args...)...)
	cmd.Dir = dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("kubectl-zdd lint %s (in %s): %v\n%s", strings.Join(args, " "), dir, err, out)
	}
	return string(out)
}

// sarifLocations lists "uri:line (uriBaseId)" of every result.
func sarifLocations(t *testing.T, out string) []string {
	t.Helper()
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct {
							URI       string `json:"uri"`
							URIBaseID string `json:"uriBaseId"`
						} `json:"artifactLocation"`
						Region struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var locs []string
	for _, r := range log.Runs[0].Results {
		p := r.Locations[0].PhysicalLocation
		locs = append(locs, fmt.Sprintf("%s %s:%d (%s)", r.RuleID, p.ArtifactLocation.URI, p.Region.StartLine, p.ArtifactLocation.URIBaseID))
	}
	return locs
}

// jsonLocations lists "rule file:line/fieldLine" of every finding.
func jsonLocations(t *testing.T, out string) []string {
	t.Helper()
	var rep struct {
		Findings []struct {
			Rule, File      string
			Line, FieldLine int
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	var locs []string
	for _, f := range rep.Findings {
		locs = append(locs, fmt.Sprintf("%s %s:%d/%d", f.Rule, filepath.ToSlash(f.File), f.Line, f.FieldLine))
	}
	return locs
}

var tableTitle = regexp.MustCompile(`(?m)^\S+ \S+ \((.*)\)$`)

// tableLocations lists the file:line of every object title of the table.
func tableLocations(out string) []string {
	var locs []string
	for _, m := range tableTitle.FindAllStringSubmatch(out, -1) {
		locs = append(locs, filepath.ToSlash(m[1]))
	}
	return locs
}

// TestLintPathsFromRootAndSubfolder runs lint from the top of a checkout
// and from a subfolder of it, with -f and -k paths given relative and
// absolute: every format names the same files, relative to the checkout,
// with the same lines.
func TestLintPathsFromRootAndSubfolder(t *testing.T) {
	repo := newRepo(t)
	sub := filepath.Join(repo, "tools")
	for _, input := range []struct {
		name           string
		flag           string
		fromRoot       string // the path as given from the root
		fromSub        string // the path as given from tools/
		wantSomeInFile string
	}{
		{"-f", "-f", "apps/deploy", "../apps/deploy", "apps/deploy/web.yaml"},
		{"-k", "-k", "apps/kustomize/overlays/prod", "../apps/kustomize/overlays/prod", "apps/kustomize/overlays/prod/replicas.yaml"},
	} {
		t.Run(input.name, func(t *testing.T) {
			runs := []struct{ dir, path string }{
				{repo, input.fromRoot},
				{repo, filepath.Join(repo, input.fromRoot)},
				{sub, input.fromSub},
				{sub, filepath.Join(repo, input.fromRoot)},
			}
			for _, format := range []string{"sarif", "json", "table"} {
				var first []string
				for i, r := range runs {
					out := lintIn(t, r.dir, input.flag, r.path, "-o", format)
					var locs []string
					switch format {
					case "sarif":
						locs = sarifLocations(t, out)
					case "json":
						locs = jsonLocations(t, out)
					default:
						locs = tableLocations(out)
					}
					if len(locs) == 0 {
						t.Fatalf("%s: no locations in\n%s", format, out)
					}
					if !strings.Contains(strings.Join(locs, "\n"), input.wantSomeInFile) {
						t.Errorf("%s: no location in %s:\n%s", format, input.wantSomeInFile, strings.Join(locs, "\n"))
					}
					if i == 0 {
						first = locs
						continue
					}
					if diff := cmp.Diff(first, locs); diff != "" {
						t.Errorf("%s: lint %s %s in %s names other locations than from the root (-root +here):\n%s", format, input.flag, r.path, r.dir, diff)
					}
				}
			}
		})
	}
}
