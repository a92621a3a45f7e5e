//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// thief is an HTTP endpoint a tampered record points an analysis at: it
// counts the requests it gets and keeps the header a secret would be sent in.
type thief struct {
	url  string
	hits atomic.Int32
	got  atomic.Value
}

func newThief(t *testing.T) *thief {
	th := &thief{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		th.hits.Add(1)
		th.got.Store(r.Header.Get("X-Stolen"))
		fmt.Fprint(w, "0")
	}))
	t.Cleanup(srv.Close)
	th.url = srv.URL
	return th
}

// tamper replaces the recorded analysis (annotation key) on deployment/web
// by value, as anyone who may patch the Deployment's annotations can.
func tamper(t *testing.T, e *Env, key, value string) {
	t.Helper()
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{state.ParamPrefix + key: value}}})
	if _, err := e.Client.AppsV1().Deployments(e.NS).Patch(e.Ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// recordedSpec is an encoded analysis (analysis.EncodeParam's form) with
// one HTTP metric to url whose header X-Stolen reads ${variable}, and,
// when job is set, a Job metric whose file is job and whose text is empty.
func recordedSpec(url, variable, job string) string {
	metrics := []any{map[string]any{"name": "m", "max": 1, "http": map[string]any{"url": url, "headers": map[string]string{"X-Stolen": "${" + variable + "}"}}}}
	form := map[string]any{"file": "analysis.yaml"}
	if job != "" {
		metrics = append(metrics, map[string]any{"name": "smoke", "job": map[string]any{"file": job}})
		form["jobs"] = map[string]string{"smoke": ""}
	}
	form["spec"] = map[string]any{"interval": "100ms", "count": 1, "metrics": metrics}
	b, _ := json.Marshal(form)
	return string(b)
}

// TestTamperedRecordRefused: a rollout killed in its analysis leaves the
// analysis in its record; someone who can patch the Deployment's
// annotations rewrites it to send a variable of the operator's environment
// to their endpoint. resume refuses a header that reads a variable not
// named with --allow-env nor prefixed ZDD_ (exit 2), asks before it reaches
// any recorded URL (without --yes and without a terminal: exit 2, the URL
// printed), never reads a Job file a record names, and changes nothing in
// any of these cases; with --allow-env NAME --yes the operator chose to
// send it. Before, resume sent the variable to the recorded URL at once.
func TestTamperedRecordRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startApp(e, AppSpec{})
	th := newThief(t)
	file := writeTemp(t, "analysis.yaml", "interval: 100ms\ncount: 1\nmetrics:\n- name: m\n  max: 1\n  http:\n    url: "+th.url+"/ok\n")
	killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=rollout:analysis"}},
		"rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--analysis", file, "--timeout", "2m")
	if killed.Code != -1 {
		t.Fatalf("the rollout was not killed at its analysis: %s", killed)
	}
	th.hits.Store(0)
	secretEnv := []string{"E2E_STOLEN=operator-secret", "ZDD_E2E_OK=fine"}
	cases := []struct {
		name      string
		record    string
		args      []string
		wantCode  int
		wantErr   []string // in stderr
		wantOut   string   // in stdout
		wantStole string   // what the endpoint got ("" nothing)
	}{
		{name: "a variable that is not allowed", record: recordedSpec(th.url, "E2E_STOLEN", ""), args: []string{"--yes"},
			wantCode: 2, wantErr: []string{"reads the environment variable E2E_STOLEN", "--allow-env"}},
		{name: "a ZDD_ variable, not confirmed", record: recordedSpec(th.url, "ZDD_E2E_OK", ""),
			wantCode: 2, wantErr: []string{"run again with --yes"}, wantOut: th.url},
		{name: "a Job whose text is not recorded, only a path", record: recordedSpec(th.url, "ZDD_E2E_OK", "/etc/passwd"), args: []string{"--yes"},
			wantCode: 2, wantErr: []string{`metric "smoke" has no recorded job text`}},
		{name: "named with --allow-env and confirmed", record: recordedSpec(th.url, "E2E_STOLEN", ""), args: []string{"--yes", "--allow-env", "E2E_STOLEN"},
			wantCode: 0, wantStole: "operator-secret"},
	}
	for _, tc := range cases {
		tamper(t, e, "analysis", tc.record)
		// (an annotation change moves a Deployment's generation too)
		before := getDeployment(e, "web")
		r := e.ZddWith(ZddOpts{Env: secretEnv}, append([]string{"resume", "deployment/web", "--force-unlock", "--timeout", "2m"}, tc.args...)...)
		if r.Code != tc.wantCode {
			t.Fatalf("%s: want exit %d, got %s", tc.name, tc.wantCode, r)
		}
		for _, w := range tc.wantErr {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("%s: stderr does not say %q:\n%s", tc.name, w, r.Stderr)
			}
		}
		if tc.wantOut != "" && !strings.Contains(r.Stdout, tc.wantOut) {
			t.Errorf("%s: stdout does not list %q:\n%s", tc.name, tc.wantOut, r.Stdout)
		}
		got, _ := th.got.Load().(string)
		if tc.wantStole == "" {
			if n := th.hits.Load(); n > 0 {
				t.Errorf("%s: the recorded URL got %d requests", tc.name, n)
			}
			after := getDeployment(e, "web")
			if after.Generation != before.Generation || after.Annotations[state.KeyPhase] != "analysis" || after.Annotations[state.KeyResult] != "" {
				t.Errorf("%s: the refused resume changed the deployment: generation %d -> %d, phase %q result %q", tc.name,
					before.Generation, after.Generation, after.Annotations[state.KeyPhase], after.Annotations[state.KeyResult])
			}
			jobs, err := e.Client.BatchV1().Jobs(e.NS).List(e.Ctx, metav1.ListOptions{})
			if err != nil || len(jobs.Items) > 0 {
				t.Errorf("%s: jobs after a refused resume: %v %v", tc.name, jobs, err)
			}
			continue
		}
		if got != tc.wantStole {
			t.Errorf("%s: the endpoint got %q, want %q", tc.name, got, tc.wantStole)
		}
	}
}

// TestTamperedCanaryPromote: a held canary's recorded analysis, rewritten
// to read a variable that is not allowed, makes 'canary promote' refuse
// (exit 2) before anything moves; a ZDD_ one is listed and needs --yes.
func TestTamperedCanaryPromote(t *testing.T) {
	t.Parallel()
	e := canaryApp(t, 4)
	th := newThief(t)
	file := writeTemp(t, "analysis.yaml", "interval: 100ms\ncount: 1\nmetrics:\n- name: m\n  max: 1\n  http:\n    url: "+th.url+"/ok\n")
	e.mustZdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "25,50,100", "--manual", "--analysis", file, "--timeout", "2m")
	th.hits.Store(0)
	for _, tc := range []struct {
		name, variable string
		args           []string
		want           string
	}{
		{name: "a variable that is not allowed", variable: "E2E_STOLEN", args: []string{"--yes"}, want: "reads the environment variable E2E_STOLEN"},
		{name: "a ZDD_ variable, not confirmed", variable: "ZDD_E2E_OK", want: "run again with --yes"},
	} {
		tamper(t, e, "analysis-spec", recordedSpec(th.url, tc.variable, ""))
		before := getDeployment(e, "web")
		canaryBefore := getDeployment(e, "web-canary")
		r := e.ZddWith(ZddOpts{Env: []string{"E2E_STOLEN=operator-secret", "ZDD_E2E_OK=fine"}}, append([]string{"canary", "promote", "deployment/web"}, tc.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%s: want exit 2 saying %q, got %s", tc.name, tc.want, r)
		}
		if n := th.hits.Load(); n > 0 {
			t.Errorf("%s: the recorded URL got %d requests", tc.name, n)
		}
		after, canaryAfter := getDeployment(e, "web"), getDeployment(e, "web-canary")
		if after.Generation != before.Generation || canaryAfter.Generation != canaryBefore.Generation || after.Annotations[state.KeyPhase] != "step-1" {
			t.Errorf("%s: the refused promote moved something: stable generation %d -> %d, canary %d -> %d, phase %q", tc.name,
				before.Generation, after.Generation, canaryBefore.Generation, canaryAfter.Generation, after.Annotations[state.KeyPhase])
		}
	}
}
