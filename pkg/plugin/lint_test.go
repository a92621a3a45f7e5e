package plugin

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// runLint runs `kubectl zdd ARGS` through the root command and returns
// stdout, stderr and the exit code main would produce.
func runLint(t *testing.T, stdin string, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(stdin), Out: &out, ErrOut: &errOut}
	cmd := NewCmdRoot(streams)
	cmd.SetArgs(args)
	err := cmd.Execute()
	if err != nil && !exitcode.IsSilent(err) {
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), exitcode.Of(err)
}

func TestLintCommandExitCodes(t *testing.T) {
	examples := "../../examples"
	tests := []struct {
		name       string
		args       []string
		stdin      string
		wantCode   int
		wantOut    string // a substring of stdout
		wantErrOut string // a substring of stderr
	}{
		{name: "good examples lint clean", args: []string{"lint", "-f", examples + "/good", "-R"}, wantCode: 0, wantOut: "8 objects audited: no findings"},
		{name: "bad examples fail", args: []string{"lint", "-f", examples + "/bad", "-R"}, wantCode: 1, wantOut: "(failing on error)", wantErrOut: `note: skipped v1 ConfigMap "shop/legacy-admin-config"`},
		{name: "a multi-service release fails: no preStop behind Services, grace 5 s", args: []string{"lint", "-f", "../lint/testdata/shop/release.yaml"}, wantCode: 1, wantOut: "13 errors"},
		{name: "only warnings: pass with the default --fail-on error", args: []string{"lint", "-f", examples + "/bad/migrate.yaml"}, wantCode: 0, wantOut: "migration-job-retries"},
		{name: "only warnings: fail with --fail-on warning", args: []string{"lint", "-f", examples + "/bad/migrate.yaml", "--fail-on", "warning"}, wantCode: 1},
		{name: "--disable removes the rule", args: []string{"lint", "-f", examples + "/bad/migrate.yaml", "--fail-on", "info", "--disable", "migration-job-retries"}, wantCode: 0, wantOut: "1 object audited: no findings"},
		{name: "stdin", args: []string{"lint", "-f", "-", "-o", "json"}, stdin: "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: db-migrate\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: m:1}]\n", wantCode: 0, wantOut: `"file": "-"`},
		{name: "malformed YAML: exit 2 naming file and line", args: []string{"lint", "-f", "-"}, stdin: "apiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n", wantCode: 2, wantErrOut: "error: -:4: malformed YAML"},
		{name: "unknown --output", args: []string{"lint", "-f", examples + "/good", "-o", "yaml"}, wantCode: 2, wantErrOut: `--output "yaml": want table, wide, json or sarif`},
		{name: "unknown --fail-on", args: []string{"lint", "-f", examples + "/good", "--fail-on", "fatal"}, wantCode: 2, wantErrOut: "--fail-on: unknown severity"},
		{name: "unknown rule in --disable", args: []string{"lint", "-f", examples + "/good", "--disable", "no-such-rule"}, wantCode: 2, wantErrOut: `--disable: unknown lint rule "no-such-rule"`},
		{name: "bad --dry-run", args: []string{"lint", "deployment/web", "--fix", "--dry-run=maybe"}, wantCode: 2, wantErrOut: `--dry-run "maybe": want none, client or server`},
		{name: "--drain-seconds not a number", args: []string{"lint", "-f", examples + "/good", "--drain-seconds", "x"}, wantCode: 2, wantErrOut: "drain-seconds"},
		{name: "negative --drain-seconds", args: []string{"lint", "-f", examples + "/good", "--drain-seconds=-1"}, wantCode: 2, wantErrOut: "--drain-seconds -1"},
		{name: "no input", args: []string{"lint"}, wantCode: 2, wantErrOut: "nothing to lint"},
		{name: "files and live objects", args: []string{"lint", "-f", examples + "/good", "deployment/web"}, wantCode: 2, wantErrOut: "not both"},
		{name: "-l with files", args: []string{"lint", "-f", examples + "/good", "-l", "app=web"}, wantCode: 2, wantErrOut: "-l/--selector applies to live objects only"},
		{name: "--in-place without --fix", args: []string{"lint", "-f", examples + "/good", "--in-place"}, wantCode: 2, wantErrOut: "--in-place applies to --fix only"},
		{name: "--in-place on stdin", args: []string{"lint", "-f", "-", "--fix", "--in-place"}, wantCode: 2, wantErrOut: "cannot write back standard input"},
		{name: "--fix to stdout with -o", args: []string{"lint", "-f", examples + "/good", "--fix", "-o", "json"}, wantCode: 2, wantErrOut: "--output does not apply to --fix"},
		{name: "missing file", args: []string{"lint", "-f", "no/such/file.yaml"}, wantCode: 2, wantErrOut: "no/such/file.yaml: no such file or folder"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runLint(t, tt.stdin, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout does not contain %q:\n%s", tt.wantOut, out)
			}
			if !strings.Contains(errOut, tt.wantErrOut) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantErrOut, errOut)
			}
		})
	}
}

// TestLintCommandJSON checks the rules the bad example set triggers, read
// from -o json, so a broken pipe from loader to printer shows here.
func TestLintCommandJSON(t *testing.T) {
	out, _, code := runLint(t, "", "lint", "-f", "../../examples/bad/web.yaml", "-o", "json")
	if code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	var rep struct {
		Summary  struct{ Objects, Findings int }
		Findings []struct {
			Rule, Kind, Name, File string
			Line                   int
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("stdout is not JSON: %v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, f := range rep.Findings {
		if f.File != "examples/bad/web.yaml" || f.Line == 0 { // relative to the repository's top
			t.Errorf("finding %s on %s has source %s:%d", f.Rule, f.Name, f.File, f.Line)
		}
		got[f.Kind+"/"+f.Name+" "+f.Rule] = true
	}
	for _, want := range []string{
		"Deployment/web max-unavailable-nonzero", "Deployment/web prestop-missing", "Deployment/web revision-history-zero",
		"Deployment/web too-few-replicas", "Deployment/web mutable-image-tag", "Deployment/web readiness-equals-liveness",
		"Service/web session-affinity",
	} {
		if !got[want] {
			t.Errorf("missing finding %q; got %v", want, got)
		}
	}
	if rep.Summary.Objects != 2 || rep.Summary.Findings != len(rep.Findings) {
		t.Errorf("summary = %+v", rep.Summary)
	}
}

// TestLintCommandFixInPlace rewrites a copy of the bad web example and lints
// it again: the fixable findings are gone, the others remain.
func TestLintCommandFixInPlace(t *testing.T) {
	data, err := os.ReadFile("../../examples/bad/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// To stdout: the file is not touched.
	out, errOut, _ := runLint(t, "", "lint", "-f", file, "--fix")
	if !strings.Contains(out, "maxUnavailable: 0") || !strings.Contains(out, "# The storefront as it was first written") {
		t.Errorf("--fix did not print the fixed file with its comments:\n%s", out)
	}
	if !strings.Contains(errOut, "set spec.strategy.rollingUpdate.maxUnavailable to 0") {
		t.Errorf("stderr does not list the change:\n%s", errOut)
	}
	if now, _ := os.ReadFile(file); !bytes.Equal(now, data) {
		t.Fatalf("--fix without --in-place changed the file")
	}
	_, _, code := runLint(t, "", "lint", "-f", file, "--fix", "--in-place")
	if code != 0 {
		t.Errorf("--fix --in-place: exit %d, want 0 (no error left)", code)
	}
	if st, _ := os.Stat(file); st.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v, want 0600 kept", st.Mode().Perm())
	}
	out, _, _ = runLint(t, "", "lint", "-f", file, "-o", "json")
	var rep struct{ Findings []struct{ Rule string } }
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, f := range rep.Findings {
		rules = append(rules, f.Rule)
	}
	want := []string{"mutable-image-tag", "readiness-equals-liveness", "session-affinity", "too-few-replicas"}
	got := map[string]bool{}
	for _, r := range rules {
		got[r] = true
	}
	var gotList []string
	for _, r := range want {
		if got[r] {
			gotList = append(gotList, r)
		}
	}
	if diff := cmp.Diff(want, gotList); diff != "" {
		t.Errorf("unfixable findings should remain (-want +got):\n%s\nall: %v", diff, rules)
	}
	for _, r := range rules {
		switch r {
		case "max-unavailable-nonzero", "prestop-missing", "revision-history-zero", "grace-period-too-short", "progress-deadline":
			t.Errorf("fixable finding %s still there after --fix --in-place", r)
		}
	}
}
