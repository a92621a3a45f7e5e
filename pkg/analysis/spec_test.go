package analysis

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

const issueExample = `interval: 10s        # time between measurements
count: 6             # measurements in the window
failureLimit: 1      # failed measurements tolerated
errorLimit: 2        # provider errors (unreachable, bad answer) tolerated
metrics:
- name: error-rate
  prometheus:
    address: http://127.0.0.1:9090
    query: sum(rate(http_requests_total{code=~"5..",version="{{.Version}}"}[1m])) / sum(rate(http_requests_total{version="{{.Version}}"}[1m]))
  max: 0.01
- name: p99-latency
  http:
    url: http://metrics.example/api/latency?service={{.Name}}
    jsonPath: '{.p99}'
    headers: {Authorization: "Bearer ${METRICS_TOKEN}"}
  max: 0.5
- name: smoke
  job:
    file: smoke-job.yaml   # passes when the Job completes, fails when it fails
`

const smokeJob = `apiVersion: batch/v1
kind: Job
metadata:
  name: smoke-{{.Name}}
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: smoke
        image: registry.example/smoke:{{.Version}}
`

func TestLoadFileIssueExample(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "analysis.yaml")
	if err := os.WriteFile(file, []byte(issueExample), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "smoke-job.yaml"), []byte(smokeJob), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadFile(file)
	if err != nil {
		t.Fatalf("LoadFile: %v", err)
	}
	want := &Spec{
		Interval: metav1.Duration{Duration: 10 * time.Second}, Count: 6, FailureLimit: 1, ErrorLimit: 2,
		File: file,
		Metrics: []Metric{
			{Name: "error-rate", Max: f(0.01), Prometheus: &PrometheusMetric{Address: "http://127.0.0.1:9090",
				Query: `sum(rate(http_requests_total{code=~"5..",version="{{.Version}}"}[1m])) / sum(rate(http_requests_total{version="{{.Version}}"}[1m]))`}},
			{Name: "p99-latency", Max: f(0.5), HTTP: &HTTPMetric{URL: "http://metrics.example/api/latency?service={{.Name}}", JSONPath: "{.p99}",
				Headers: map[string]string{"Authorization": "Bearer ${METRICS_TOKEN}"}}},
			{Name: "smoke", Job: &JobMetric{File: "smoke-job.yaml"}},
		},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(JobMetric{}, Spec{})); diff != "" {
		t.Errorf("spec (-want +got):\n%s", diff)
	}
	job, err := got.Metrics[2].Job.build(Vars{Name: "web", Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	if job.Name != "smoke-web" || job.Spec.Template.Spec.Containers[0].Image != "registry.example/smoke:v2" {
		t.Errorf("job template rendered to name %q image %q", job.Name, job.Spec.Template.Spec.Containers[0].Image)
	}
}

func TestParseErrors(t *testing.T) {
	prom := "  prometheus: {address: http://127.0.0.1:9090, query: up}\n"
	cases := []struct {
		name, doc, wantErr string
	}{
		{"not yaml", "interval: [", "parsing: "},
		{"unknown top-level field", "intervall: 1s\nmetrics: []\n", `unknown field "intervall"`},
		{"bad duration", "interval: soon\nmetrics: []\n", "parsing: "},
		{"negative interval", "interval: -1s\nmetrics:\n- name: m\n" + prom + "  max: 1\n", "interval -1s must be between 0s and 24h0m0s"},
		{"negative count", "count: -1\nmetrics:\n- name: m\n" + prom + "  max: 1\n", "count -1 must be between 1 and 10000"},
		{"negative failureLimit", "failureLimit: -1\nmetrics:\n- name: m\n" + prom + "  max: 1\n", "failureLimit -1 must not be negative"},
		{"negative errorLimit", "errorLimit: -2\nmetrics:\n- name: m\n" + prom + "  max: 1\n", "errorLimit -2 must not be negative"},
		{"no metrics", "count: 2\n", "no metrics"},
		{"no name", "metrics:\n-" + prom[1:] + "  max: 1\n", "metrics[0]: name is required"},
		{"bad name", "metrics:\n- name: Error Rate\n" + prom + "  max: 1\n", `metric "Error Rate": name must be`},
		{"same name twice", "metrics:\n- name: m\n" + prom + "  max: 1\n- name: m\n" + prom + "  max: 1\n", `metric "m": name used twice`},
		{"no provider", "metrics:\n- name: m\n  max: 1\n", "set exactly one of prometheus, http or job (found 0)"},
		{"two providers", "metrics:\n- name: m\n" + prom + "  http: {url: http://x}\n  max: 1\n", "(found 2)"},
		{"no bound", "metrics:\n- name: m\n" + prom, `metric "m": set min, max or both`},
		{"min above max", "metrics:\n- name: m\n" + prom + "  min: 2\n  max: 1\n", "min 2 is above max 1"},
		{"bound on a job", "metrics:\n- name: m\n  job: {file: j.yaml}\n  max: 1\n", "min and max do not apply"},
		{"prometheus without address", "metrics:\n- name: m\n  prometheus: {query: up}\n  max: 1\n", "prometheus.address is required"},
		{"prometheus address not a URL", "metrics:\n- name: m\n  prometheus: {address: '127.0.0.1:9090', query: up}\n  max: 1\n", "must be an http:// or https:// URL"},
		{"prometheus without query", "metrics:\n- name: m\n  prometheus: {address: http://p:9090}\n  max: 1\n", "prometheus.query is required"},
		{"template syntax", "metrics:\n- name: m\n  prometheus: {address: http://p:9090, query: 'up{v=\"{{.Version\"}'}\n  max: 1\n", "prometheus.query: template: "},
		{"unknown template field", "metrics:\n- name: m\n  prometheus: {address: http://p:9090, query: 'up{v=\"{{.Colour}}\"}'}\n  max: 1\n", `can't evaluate field Colour`},
		{"http bad jsonPath", "metrics:\n- name: m\n  http: {url: 'http://x/', jsonPath: '{.a['}\n  max: 1\n", `http.jsonPath "{.a["`},
		{"http malformed env reference", "metrics:\n- name: m\n  http: {url: 'http://x/', headers: {Authorization: 'Bearer ${TOKEN'}}\n  max: 1\n", "malformed ${VAR} reference"},
		{"http bad header name", "metrics:\n- name: m\n  http: {url: 'http://x/', headers: {'Bad Header': v}}\n  max: 1\n", `bad header name "Bad Header"`},
		{"job without file", "metrics:\n- name: m\n  job: {}\n", "job.file is required"},
		{"metric count zero", "metrics:\n- name: m\n  count: 0\n" + prom + "  max: 1\n", "count 0 must be between 1 and 10000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc))
			if err == nil {
				t.Fatalf("Parse accepted:\n%s", tc.doc)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseDefaults(t *testing.T) {
	spec, err := Parse([]byte("metrics:\n- name: m\n  prometheus: {address: http://p:9090, query: up}\n  min: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if spec.Interval.Duration != DefaultInterval || spec.Count != DefaultCount || spec.FailureLimit != 0 || spec.ErrorLimit != 0 || spec.InconclusiveLimit != 0 {
		t.Errorf("defaults: interval %s count %d limits %d/%d/%d", spec.Interval.Duration, spec.Count, spec.FailureLimit, spec.ErrorLimit, spec.InconclusiveLimit)
	}
}

func TestLoadFileErrorsNameTheFileAndAreUsage(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	noJob := write("nojob.yaml", "metrics:\n- name: smoke\n  job: {file: missing.yaml}\n")
	write("notajob.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n")
	wrongKind := write("wrongkind.yaml", "metrics:\n- name: smoke\n  job: {file: notajob.yaml}\n")
	write("nocontainers.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: x}\nspec: {template: {spec: {restartPolicy: Never}}}\n")
	noContainers := write("empty.yaml", "metrics:\n- name: smoke\n  job: {file: nocontainers.yaml}\n")
	bad := write("bad.yaml", "metrics: 3\n")
	cases := []struct {
		name, file, wantErr string
	}{
		{"missing analysis file", filepath.Join(dir, "none.yaml"), `reading analysis file "` + filepath.Join(dir, "none.yaml") + `"`},
		{"bad analysis file", bad, `analysis file "` + bad + `": parsing:`},
		{"missing job file", noJob, `analysis file "` + noJob + `": metric "smoke": reading job file:`},
		{"job file that is not a Job", wrongKind, `metric "smoke": job file "` + filepath.Join(dir, "notajob.yaml") + `": kind is "Deployment", want Job`},
		{"job without containers", noContainers, "the Job has no containers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadFile(tc.file)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want it to contain %q", err, tc.wantErr)
			}
			var ee *exitcode.Error
			if !errors.As(err, &ee) || ee.Code != exitcode.Usage {
				t.Errorf("exit code %d, want %d", exitcode.Of(err), exitcode.Usage)
			}
		})
	}
}
