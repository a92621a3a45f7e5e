package analysis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestEncodeParamRoundTrip(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "analysis.yaml")
	if err := os.WriteFile(file, []byte(issueExample), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "smoke-job.yaml"), []byte(smokeJob), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("METRICS_TOKEN", "s3cr3t-token")
	value, err := EncodeParam(spec)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(value, "s3cr3t-token") {
		t.Errorf("the recorded analysis holds the secret value: %s", value)
	}
	if !strings.Contains(value, "${METRICS_TOKEN}") {
		t.Errorf("the recorded analysis lost the ${METRICS_TOKEN} reference: %s", value)
	}
	// The files are gone by the time resume runs.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeParam(value)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(spec, got, cmpopts.EquateEmpty(), cmp.AllowUnexported(JobMetric{}), cmpopts.IgnoreUnexported(Spec{})); diff != "" {
		t.Errorf("DecodeParam(EncodeParam(spec)) (-want +got):\n%s", diff)
	}
	if spec.Recorded() || !got.Recorded() {
		t.Errorf("Recorded: loaded %v, decoded %v; want false, true", spec.Recorded(), got.Recorded())
	}
	if _, err := got.Metrics[2].Job.build(Vars{Name: "web", Version: "v2"}); err != nil {
		t.Errorf("the recorded Job template does not build: %v", err)
	}
}

func TestDecodeParamErrors(t *testing.T) {
	for _, tc := range []struct{ name, value, want string }{
		{"not json", "{", "reading the recorded analysis"},
		{"no spec", `{"file":"a.yaml"}`, "no spec"},
		{"invalid spec", `{"file":"a.yaml","spec":{"interval":"-1s","metrics":[]}}`, `recorded analysis "a.yaml"`},
		{"job text missing", `{"file":"a.yaml","spec":{"interval":"1s","count":1,"metrics":[{"name":"smoke","job":{"file":"j.yaml"}}]}}`, `metric "smoke" has no recorded job text`},
		// a path in a record is never read, even one that exists
		{"job text empty, a path named", `{"file":"/etc/a.yaml","spec":{"interval":"1s","count":1,"metrics":[{"name":"smoke","job":{"file":"/etc/hostname"}}]},"jobs":{"smoke":""}}`, `metric "smoke" has no recorded job text`},
		{"job text too large", `{"file":"a.yaml","spec":{"interval":"1s","count":1,"metrics":[{"name":"smoke","job":{"file":"j.yaml"}}]},"jobs":{"smoke":"` + strings.Repeat("x", jobFileSizeLimitBytes+1) + `"}}`, "reading the recorded analysis"},
		{"job text not a Job", `{"file":"a.yaml","spec":{"interval":"1s","count":1,"metrics":[{"name":"smoke","job":{"file":"j.yaml"}}]},"jobs":{"smoke":"kind: Pod"}}`, `metric "smoke"`},
		{"a password in a URL", `{"file":"a.yaml","spec":{"interval":"1s","count":1,"metrics":[{"name":"m","max":1,"prometheus":{"address":"http://u:pw@prom:9090","query":"up"}}]}}`, "holds a password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeParam(tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("DecodeParam(%s) error = %v, want it to contain %q", tc.value, err, tc.want)
			}
		})
	}
}

func TestEncodeParamTooLarge(t *testing.T) {
	spec := &Spec{File: "big.yaml", Metrics: []Metric{{Name: "m", HTTP: &HTTPMetric{URL: strings.Repeat("x", MaxParamBytes)}}}}
	if _, err := EncodeParam(spec); err == nil || !strings.Contains(err.Error(), `"big.yaml"`) {
		t.Errorf("EncodeParam of a %d-byte spec: error = %v, want one naming big.yaml", MaxParamBytes, err)
	}
}
