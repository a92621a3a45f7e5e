package bluegreen

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	corev1 "k8s.io/api/core/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestParamsRoundTrip: what a command records at its first phase gives
// resume the same options (colours, services, analyses, delays, counts) and
// the same pod template and replicas.
func TestParamsRoundTrip(t *testing.T) {
	file := filepath.Join(t.TempDir(), "slo.yaml")
	if err := os.WriteFile(file, []byte("interval: 1s\ncount: 2\nmetrics:\n- name: errors\n  max: 0.05\n  http:\n    url: http://127.0.0.1:9/errors?color={{.Color}}\n    headers:\n      Authorization: Bearer ${TOKEN}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec, err := analysis.LoadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	five := int32(5)
	tmpl := &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:v2"}}}}
	tests := []struct {
		name      string
		operation string
		opts      Config
		// want is opts as resume reads them back (what the operation does
		// not record stays zero)
		want Config
	}{
		{name: "deploy with everything", operation: OperationDeploy,
			opts: Config{Colours: Colours{Label: "track", Names: [2]string{"a", "b"}}, Services: []string{"web-admin", "web-internal"},
				MinReady: 2, MaxRestarts: 4, ScaleDownDelay: 90 * time.Second, DeleteOld: true, Timeout: 3 * time.Minute,
				AnalysisSpec: spec, PreAnalysisSpec: spec, Replicas: &five},
			want: Config{Colours: Colours{Label: "track", Names: [2]string{"a", "b"}}, Services: []string{"web-admin", "web-internal"},
				MinReady: 2, MaxRestarts: 4, ScaleDownDelay: 90 * time.Second, DeleteOld: true, Timeout: 3 * time.Minute,
				AnalysisSpec: spec, PreAnalysisSpec: spec}},
		{name: "deploy --manual-promote, defaults", operation: OperationDeploy,
			opts: Config{Colours: DefaultColours(), ManualPromote: true},
			want: Config{Colours: DefaultColours(), ManualPromote: true, Timeout: 10 * time.Minute}},
		{name: "rollback records no analysis or delay", operation: OperationRollback,
			opts: Config{Colours: DefaultColours(), MinReady: 1, ScaleDownDelay: time.Minute, AnalysisSpec: spec, Timeout: time.Minute},
			want: Config{Colours: DefaultColours(), MinReady: 1, Timeout: time.Minute}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TOKEN", "s3cr3t")
			r := &Runner{config: tc.opts}
			r.Namespace, r.Service = "shop", "web"
			params, err := r.requestParams(tc.operation)
			if err != nil {
				t.Fatal(err)
			}
			if err := templateParam(params, tmpl, 5); err != nil {
				t.Fatal(err)
			}
			for k, v := range params {
				if v == "" {
					t.Errorf("param %s recorded empty", k)
				}
				if k != ParamTemplate && len(v) > 0 && strings.Contains(v, "s3cr3t") {
					t.Errorf("param %s holds the secret value: %s", k, v)
				}
			}
			op := &state.Operation{ID: "op", Strategy: Strategy, Params: params}
			back := &Runner{config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours()}}
			if err := back.applyParams(op); err != nil {
				t.Fatal(err)
			}
			got := back.config
			got.Namespace, got.Service = "", ""
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreUnexported(analysis.Spec{}, analysis.Metric{}, analysis.JobMetric{})); diff != "" {
				t.Errorf("options read back (-want +got):\n%s", diff)
			}
			gotT, gotN, err := recordedTemplate(op)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tmpl, gotT); diff != "" || gotN != 5 {
				t.Errorf("template read back (-want +got):\n%s, replicas %d", diff, gotN)
			}
		})
	}
}

func TestApplyParamsBadValues(t *testing.T) {
	tests := []struct {
		name   string
		params map[string]string
		want   string
	}{
		{name: "timeout", params: map[string]string{ParamTimeout: "soon"}, want: `recorded param timeout="soon": not a positive duration`},
		{name: "colours", params: map[string]string{ParamColourLabel: "track", ParamColours: "a,a"}, want: `recorded param colors="a,a"`},
		{name: "min-ready", params: map[string]string{ParamMinReady: "-1"}, want: `recorded param min-ready="-1": not a count`},
		{name: "analysis", params: map[string]string{ParamAnalysis: "{not json"}, want: `recorded param analysis="{not json": reading the recorded analysis`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := &Runner{config: Config{Namespace: "shop", Service: "web"}}
			err := r.applyParams(&state.Operation{ID: "op", Params: tc.params})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("applyParams: want an error saying %q, got %v", tc.want, err)
			}
		})
	}
}

func TestParamText(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{name: "short", key: ParamActive, value: "blue", want: "blue"},
		{name: "template", key: ParamTemplate, value: `{"metadata":{},"spec":{"containers":[{"name":"app","image":"web:v2"},{"name":"log","image":"fluent:1"}]}}`, want: "app=web:v2,log=fluent:1"},
		{name: "analysis", key: ParamAnalysis, value: `{"file":"/tmp/slo.yaml","spec":{}}`, want: "/tmp/slo.yaml"},
		{name: "other structured", key: "x", value: `{"a":1}`, want: "<7 bytes>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := paramText(tc.key, tc.value); got != tc.want {
				t.Errorf("paramText: want %q, got %q", tc.want, got)
			}
		})
	}
}
