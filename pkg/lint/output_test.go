package lint

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zdd-dev/kubectl-zdd/internal/sariftest"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

var ioUpdate = flag.Bool("update", false, "rewrite the golden files in testdata/")

// ioGolden compares got with testdata/NAME, or rewrites it with -update.
func ioGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *ioUpdate {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

// sampleReport is a fixed report: two objects from files, one live object,
// one skipped object, all three severities.
func sampleReport() *Report {
	return &Report{
		Objects: 3,
		Skipped: []Skipped{{APIVersion: "v1", Kind: "ConfigMap", Namespace: "shop", Name: "settings",
			Source: Source{File: "deploy/app.yaml", Line: 40}, Reason: "not a kind kubectl zdd lint audits"}},
		Findings: []Finding{
			{Rule: "max-unavailable-nonzero", Severity: Error, Kind: "Deployment", Namespace: "shop", Name: "web",
				Field: "spec.strategy.rollingUpdate.maxUnavailable", Message: `Deployment "shop/web" updates with maxUnavailable 1, which is all 1 of its pods`,
				Hint: "set rollingUpdate maxUnavailable: 0 and maxSurge: 1", File: "deploy/app.yaml", Line: 2, FieldLine: 14},
			{Rule: "prestop-missing", Severity: Warning, Kind: "Deployment", Namespace: "shop", Name: "web", Container: "web",
				Field: "spec.template.spec.containers[0].lifecycle.preStop", Message: `container "web" of Deployment "shop/web" has no preStop hook`,
				Hint: "add a preStop sleep", File: "deploy/app.yaml", Line: 2},
			{Rule: "session-affinity", Severity: Info, Kind: "Service", Namespace: "shop", Name: "web",
				Field: "spec.sessionAffinity", Message: `Service "shop/web" sets sessionAffinity ClientIP`,
				Hint: "remove sessionAffinity", File: "/src/repo/deploy/svc.yaml", Line: 12, FieldLine: 20},
			{Rule: "pdb-missing", Severity: Warning, Kind: "Deployment", Namespace: "other", Name: "tool",
				Field: "spec.template.metadata.labels", Message: `no PodDisruptionBudget in the input selects the pod template labels of Deployment "other/tool"`,
				Hint: "add a PodDisruptionBudget", File: "/elsewhere/tool.yaml", Line: 1, FieldLine: 9},
			{Rule: "too-few-replicas", Severity: Warning, Kind: "Deployment", Namespace: "live", Name: "api",
				Field: "spec.replicas", Message: `Deployment "live/api" has replicas 1`, Hint: "set spec.replicas to at least 2"},
		},
		FailOn:      Error,
		ToolVersion: "v1.2.3",
		Root:        "/src/repo",
		WorkDir:     "/src/repo",
	}
}

func TestReportGolden(t *testing.T) {
	for _, format := range Formats {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := sampleReport().Write(&buf, format); err != nil {
				t.Fatal(err)
			}
			if format == FormatSARIF {
				if err := sariftest.Validate(buf.Bytes()); err != nil {
					t.Errorf("not valid SARIF 2.1.0: %v", err)
				}
			}
			ioGolden(t, "output/report."+format, buf.Bytes())
		})
	}
	t.Run("table without findings", func(t *testing.T) {
		var buf bytes.Buffer
		r := &Report{Objects: 2, FailOn: Error}
		if err := r.Write(&buf, FormatTable); err != nil {
			t.Fatal(err)
		}
		ioGolden(t, "output/empty.table", buf.Bytes())
	})
	t.Run("json without findings has empty arrays", func(t *testing.T) {
		var buf bytes.Buffer
		r := &Report{Objects: 2, FailOn: Warning}
		if err := r.Write(&buf, FormatJSON); err != nil {
			t.Fatal(err)
		}
		ioGolden(t, "output/empty.json", buf.Bytes())
	})
}

func TestReportFailed(t *testing.T) {
	tests := []struct {
		name   string
		sev    []Severity
		failOn Severity
		want   bool
	}{
		{"no findings", nil, Info, false},
		{"warning below error", []Severity{Warning, Info}, Error, false},
		{"error at error", []Severity{Info, Error}, Error, true},
		{"warning at warning", []Severity{Warning}, Warning, true},
		{"info at info", []Severity{Info}, Info, true},
		{"info below warning", []Severity{Info}, Warning, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &Report{FailOn: tt.failOn}
			for _, s := range tt.sev {
				r.Findings = append(r.Findings, Finding{Severity: s})
			}
			if got := r.Failed(); got != tt.want {
				t.Errorf("Failed() = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestJSONSchema checks the field names of docs/lint-json.md on a report.
func TestJSONSchema(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc["apiVersion"] != "zdd.dev/v1" || doc["kind"] != "LintReport" {
		t.Errorf("apiVersion/kind = %v/%v, want zdd.dev/v1/LintReport", doc["apiVersion"], doc["kind"])
	}
	summary := doc["summary"].(map[string]any)
	wantSummary := map[string]any{"objects": 3.0, "skipped": 1.0, "findings": 5.0, "errors": 1.0, "warnings": 3.0, "infos": 1.0, "failOn": "error", "failed": true}
	if diff := cmp.Diff(wantSummary, summary); diff != "" {
		t.Errorf("summary (-want +got):\n%s", diff)
	}
	first := doc["findings"].([]any)[1].(map[string]any)
	wantFinding := map[string]any{
		"rule": "prestop-missing", "severity": "warning", "kind": "Deployment", "namespace": "shop", "name": "web",
		"container": "web", "field": "spec.template.spec.containers[0].lifecycle.preStop",
		"message": `container "web" of Deployment "shop/web" has no preStop hook`, "hint": "add a preStop sleep",
		"file": "deploy/app.yaml", "line": 2.0,
	}
	if diff := cmp.Diff(wantFinding, first); diff != "" {
		t.Errorf("finding (-want +got):\n%s", diff)
	}
}

// TestSARIFFields checks the SARIF 2.1.0 fields code-scanning tools need.
func TestSARIFFields(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteSARIF(&buf); err != nil {
		t.Fatal(err)
	}
	var log struct {
		Schema  string `json:"$schema"`
		Version string `json:"version"`
		Runs    []struct {
			Tool struct {
				Driver struct {
					Name           string `json:"name"`
					Version        string `json:"version"`
					InformationURI string `json:"informationUri"`
					Rules          []struct {
						ID               string `json:"id"`
						ShortDescription struct {
							Text string `json:"text"`
						} `json:"shortDescription"`
					} `json:"rules"`
				} `json:"driver"`
			} `json:"tool"`
			Results []struct {
				RuleID    string `json:"ruleId"`
				RuleIndex *int   `json:"ruleIndex"`
				Level     string `json:"level"`
				Message   struct {
					Text string `json:"text"`
				} `json:"message"`
				Locations []struct {
					PhysicalLocation *struct {
						ArtifactLocation struct {
							URI string `json:"uri"`
						} `json:"artifactLocation"`
						Region *struct {
							StartLine int `json:"startLine"`
						} `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal(buf.Bytes(), &log); err != nil {
		t.Fatal(err)
	}
	if log.Schema != "https://json.schemastore.org/sarif-2.1.0.json" || log.Version != "2.1.0" {
		t.Errorf("$schema/version = %q/%q", log.Schema, log.Version)
	}
	if len(log.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(log.Runs))
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "kubectl-zdd" || d.Version != "v1.2.3" || d.InformationURI != InformationURI {
		t.Errorf("driver = %q %q %q", d.Name, d.Version, d.InformationURI)
	}
	rules := Rules()
	if len(d.Rules) != len(rules) || len(rules) == 0 {
		t.Fatalf("driver has %d rules, want every rule (%d)", len(d.Rules), len(rules))
	}
	for i, r := range d.Rules {
		if r.ID != rules[i].ID || r.ShortDescription.Text == "" {
			t.Errorf("rule %d = %q %q, want %q with a description", i, r.ID, r.ShortDescription.Text, rules[i].ID)
		}
	}
	type loc struct {
		RuleID, Level, URI string
		Line               int
	}
	var got []loc
	for _, res := range run.Results {
		if res.Message.Text == "" {
			t.Errorf("result %s has no message", res.RuleID)
		}
		if res.RuleIndex == nil || d.Rules[*res.RuleIndex].ID != res.RuleID {
			t.Errorf("result %s: ruleIndex does not point at its rule", res.RuleID)
		}
		l := loc{RuleID: res.RuleID, Level: res.Level}
		if len(res.Locations) != 1 {
			t.Fatalf("result %s has %d locations, want 1", res.RuleID, len(res.Locations))
		}
		if p := res.Locations[0].PhysicalLocation; p != nil {
			l.URI = p.ArtifactLocation.URI
			if p.Region != nil {
				l.Line = p.Region.StartLine
			}
		}
		got = append(got, l)
	}
	want := []loc{
		{"max-unavailable-nonzero", "error", "deploy/app.yaml", 14},  // the field's line
		{"prestop-missing", "warning", "deploy/app.yaml", 2},         // no field line: the object's
		{"session-affinity", "note", "deploy/svc.yaml", 20},          // absolute under the root: relative
		{"pdb-missing", "warning", "file:///elsewhere/tool.yaml", 9}, // outside the root: absolute
		{"too-few-replicas", "warning", "", 0},                       // live: a logical location only
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
}

// TestAppendFindingJSON compares the hand-written finding encoder with
// encoding/json's, on findings with every field set or empty and strings
// that need escaping.
func TestAppendFindingJSON(t *testing.T) {
	findings := sampleReport().Findings
	findings = append(findings,
		Finding{Rule: "r", Severity: Info, Kind: "K", Name: "n", Field: "f", Message: `quote " backslash \ html <a href="x">&amp;</a>`, Hint: "tab\tnewline\n", File: "ünïcode/ß.yaml", Line: 1},
		Finding{},
		Finding{Rule: "x", Message: "ctrl \x01 and \u2028 separator and invalid \xff byte"},
	)
	for i, f := range findings {
		want, err := json.MarshalIndent(f, "    ", "  ")
		if err != nil {
			t.Fatal(err)
		}
		got := appendFindingJSON(nil, &f)
		if diff := cmp.Diff("\n    "+string(want), string(got)); diff != "" {
			t.Errorf("finding %d (-want +got):\n%s", i, diff)
		}
	}
}

// TestTableFitsWidth: the table format wraps to any width, and its colours
// are escapes around the same text.
func TestTableFitsWidth(t *testing.T) {
	long := sampleReport()
	long.Findings = append(long.Findings, Finding{Rule: "prestop-missing", Severity: Warning, Kind: "Deployment", Namespace: "a-very-long-namespace-name", Name: "a-deployment-with-a-long-name",
		Container: "a-container-with-a-name-that-takes-a-whole-line-by-itself-almost",
		Field:     "spec.template.spec.containers[12].lifecycle.preStop.exec.command", Message: strings.Repeat("a long message ", 20),
		Hint: "add a preStop hook that sleeps a few seconds (lifecycle.preStop.sleep.seconds: 5) so endpoints update before shutdown",
		File: "deploy/a/deeply/nested/folder/of/manifests/with/a/long/path/deployment.yaml", Line: 120, FieldLine: 140})
	ansi := regexp.MustCompile("\x1b\\[[0-9;]*m")
	for _, width := range []int{40, 60, 80, 100, 120, 200} {
		for _, color := range []bool{false, true} {
			r := long
			r.Width, r.Color = width, color
			var buf bytes.Buffer
			if err := r.Write(&buf, FormatTable); err != nil {
				t.Fatal(err)
			}
			out := buf.String()
			if color {
				if !strings.Contains(out, ansiRed+"error"+ansiReset) || !strings.Contains(out, ansiBold+"Deployment shop/web") {
					t.Errorf("width %d: no colours:\n%s", width, out)
				}
				plain := *long
				plain.Width, plain.Color = width, false
				var pbuf bytes.Buffer
				if err := plain.Write(&pbuf, FormatTable); err != nil {
					t.Fatal(err)
				}
				if got := ansi.ReplaceAllString(out, ""); got != pbuf.String() {
					t.Errorf("width %d: without its escapes the coloured table differs (-plain +coloured):\n%s", width, cmp.Diff(pbuf.String(), got))
				}
			} else if strings.Contains(out, "\x1b") {
				t.Errorf("width %d: escapes without colour", width)
			}
			for i, l := range strings.Split(strings.TrimSuffix(ansi.ReplaceAllString(out, ""), "\n"), "\n") {
				if n := terminal.StringWidth(l); n > width {
					t.Errorf("width %d, colour %v: line %d is %d columns:\n%s", width, color, i+1, n, l)
				}
			}
		}
	}
}
