package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/report"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

var updateReportGolden = flag.Bool("update-report", false, "rewrite testdata/report/*.golden")

// reportSummary is a small recorded release: a canary of 3 replicas.
func reportSummary(t *testing.T) (*report.Data, string) {
	t.Helper()
	t0 := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	d := &report.Data{
		Start: t0, End: at(40),
		Facts: report.Facts{Kind: "Deployment", Namespace: "shop", Name: "web", Service: "shop/web", Strategy: "canary",
			OperationID: "op-1", Who: "ana@laptop", Started: at(-1), Ended: at(40), FromRevision: "3", ToRevision: "4",
			Result: "succeeded", Message: "canary promoted", MinReady: 3},
		Ready: []report.Point{{Time: t0, Value: 3}, {Time: at(5), Value: 4}, {Time: at(20), Value: 3}},
		Versions: []report.Series{
			{Name: "v1", Hash: "aaa", Points: []report.Point{{Time: t0, Value: 3}, {Time: at(20), Value: 0}}},
			{Name: "v2", Hash: "bbb", Points: []report.Point{{Time: at(5), Value: 1}, {Time: at(20), Value: 3}}},
		},
		Phases: []report.Phase{{Name: "apply", Time: at(1)}, {Name: "step 34%", Time: at(4)}, {Name: "promote", Time: at(18)}},
	}
	enc, err := report.Encode(d, 0)
	if err != nil {
		t.Fatal(err)
	}
	return d, enc
}

func TestReportRun(t *testing.T) {
	d, enc := reportSummary(t)
	op := &state.Operation{ID: "op-1", Strategy: "canary", Phase: "done", Result: "succeeded", StartTime: d.Facts.Started}
	newer := &state.Operation{ID: "op-2", Strategy: "canary", Phase: "step", StartTime: d.Facts.Ended}
	withAnn := func(op *state.Operation, extra map[string]string) map[string]string {
		out := map[string]string{}
		if op != nil {
			out = recordOn(op)
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	dep := func(ann map[string]string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: ann}}
	}
	svc := func(ann map[string]string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Annotations: ann}}
	}
	summary := map[string]string{report.SummaryAnnotation: enc}
	tests := []struct {
		name       string
		kind       string
		output     string
		ascii      bool
		obj        runtime.Object
		wantCode   int
		wantErr    string
		wantErrOut string
		golden     string
		check      func(t *testing.T, out string)
	}{
		{name: "text", kind: "deployment", output: "text", obj: dep(withAnn(op, summary)), golden: "text.golden"},
		{name: "text, ascii", kind: "deployment", output: "text", ascii: true, obj: dep(withAnn(op, summary)), golden: "text-ascii.golden"},
		{name: "html", kind: "deployment", output: "html", obj: dep(withAnn(op, summary)), check: func(t *testing.T, out string) {
			for _, want := range []string{"<!DOCTYPE html>", `<svg id="timeline"`, `data-version="v1"`, `data-version="v2"`, ">step 34%</text>", "kubectl zdd "} {
				if !strings.Contains(out, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
		}},
		{name: "json", kind: "service", output: "json", obj: svc(summary), check: func(t *testing.T, out string) {
			var got report.Data
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(d, &got); diff != "" {
				t.Errorf("-o json (-want +got):\n%s", diff)
			}
		}},
		{name: "a newer operation recorded none", kind: "deployment", output: "text", obj: dep(withAnn(newer, summary)),
			wantErrOut: "note: this summary is of operation op-1; the latest operation on deployment \"shop/web\" is op-2 (in flight) and recorded none"},
		{name: "no summary on a deployment", kind: "deployment", obj: dep(withAnn(op, nil)), wantCode: exitcode.Failed,
			wantErr: `no release summary recorded on deployment "shop/web" (no zdd.dev/summary annotation): its operation op-1 (canary, succeeded) recorded none; blue-green records its on the Service`},
		{name: "no summary on a service", kind: "service", obj: svc(nil), wantCode: exitcode.Failed,
			wantErr: `no release summary recorded on service "shop/web" (no zdd.dev/summary annotation); rollout, canary and rollback record theirs on the Deployment`},
		{name: "a summary that does not decode", kind: "deployment", obj: dep(map[string]string{report.SummaryAnnotation: "not a summary"}), wantCode: exitcode.Failed,
			wantErr: `reading the release summary of deployment "shop/web" (annotation zdd.dev/summary): the release summary is not base64: illegal base64 data at input byte 3`},
		{name: "no such object", kind: "service", obj: dep(nil), wantCode: exitcode.Usage, wantErr: `service "shop/web" not found`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			o := NewReportOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
			o.Client = fake.NewClientset(tc.obj)
			o.Namespace, o.Kind, o.Name, o.Width, o.ASCII = "shop", tc.kind, "web", 80, tc.ascii
			if tc.output != "" {
				o.Output = tc.output
			}
			err := o.Run(context.Background())
			if got := exitcode.Of(err); got != tc.wantCode {
				t.Fatalf("exit code %d, want %d (err %v)", got, tc.wantCode, err)
			}
			if tc.wantErr != "" && (err == nil || err.Error() != tc.wantErr) {
				t.Errorf("error:\n%v\nwant:\n%s", err, tc.wantErr)
			}
			if tc.wantErrOut != "" && !strings.Contains(errOut.String(), tc.wantErrOut) {
				t.Errorf("stderr %q, want it to contain %q", errOut.String(), tc.wantErrOut)
			}
			if tc.wantErrOut == "" && errOut.Len() > 0 {
				t.Errorf("unexpected stderr: %s", errOut.String())
			}
			if tc.golden != "" {
				checkReportGolden(t, tc.golden, out.String())
			}
			if tc.check != nil {
				tc.check(t, out.String())
			}
		})
	}
}

func checkReportGolden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", "report", name)
	if *updateReportGolden {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("reading golden file (run go test -update-report to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", p, diff)
	}
}

// TestReportBadInput drives the command through the root: bad arguments
// and flags exit 2 before any cluster call, naming the flag or argument.
func TestReportBadInput(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\nusers: [{name: u, user: {token: not-a-token}}]\ncontexts: [{name: c, context: {cluster: c, user: u}}]\ncurrent-context: c\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no argument", []string{"report"}, "accepts 1 arg(s), received 0"},
		{"not TYPE/NAME", []string{"report", "web"}, `argument "web": want TYPE/NAME`},
		{"a kind without records", []string{"report", "pod/web"}, `not "pod"`},
		{"unknown output", []string{"report", "deployment/web", "-o", "pdf"}, `--output "pdf": want text, html or json`},
		{"negative width", []string{"report", "deployment/web", "--width", "-3"}, "--width -3: must be 0"},
		{"too narrow", []string{"report", "deployment/web", "--width", "20"}, "--width 20: the timeline needs at least 40 columns"},
		{"width not a number", []string{"report", "deployment/web", "--width", "wide"}, "--width"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			root := NewCmdRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			root.SetArgs(append(tc.args, "--kubeconfig", kc))
			err := root.Execute()
			if got := exitcode.Of(err); got != exitcode.Usage {
				t.Fatalf("exit code %d, want 2 (err %v)", got, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestReportASCII: --ascii decides when given; otherwise the locale.
func TestReportASCII(t *testing.T) {
	for _, tc := range []struct {
		env      map[string]string
		set, val bool
		want     bool
	}{
		{map[string]string{"LANG": "en_US.UTF-8"}, false, false, false},
		{map[string]string{"LANG": "C"}, false, false, true},
		{map[string]string{}, false, false, true},
		{map[string]string{"LANG": "C"}, true, false, false},
		{map[string]string{"LC_ALL": "en_US.UTF-8"}, true, true, true},
	} {
		if got := chooseASCII(tc.set, tc.val, func(k string) string { return tc.env[k] }); got != tc.want {
			t.Errorf("env %v, --ascii given %v (%v): ascii %v, want %v", tc.env, tc.set, tc.val, got, tc.want)
		}
	}
}
