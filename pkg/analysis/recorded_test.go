package analysis

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// recorded returns spec as resume reads it back from a record.
func recorded(t *testing.T, yaml string) *Spec {
	t.Helper()
	spec, err := Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	v, err := EncodeParam(spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeParam(v)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// TestRecordedAnalysisEnv: an analysis read from a record (which anyone who
// can patch annotations writes) may expand in its headers only variables
// named with --allow-env (EnvAllowed) or prefixed ZDD_; any other refuses
// the whole analysis before a request is sent. A spec from a file of the
// command line reads any. Before, a recorded header sent any variable of
// the operator's environment to the recorded URL.
func TestRecordedAnalysisEnv(t *testing.T) {
	var got atomic.Value
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		got.Store(r.Header.Get("X-Token"))
		fmt.Fprint(w, "0")
	}))
	defer srv.Close()
	env := map[string]string{"AWS_SECRET_ACCESS_KEY": "aws-secret", "ZDD_METRICS_TOKEN": "zdd-token", "METRICS_TOKEN": "metrics-token"}
	spec := func(v string) string {
		return "metrics:\n- name: m\n  max: 1\n  http:\n    url: " + srv.URL + "\n    headers: {X-Token: \"${" + v + "}\"}\n"
	}
	tests := []struct {
		name     string
		variable string
		recorded bool
		allow    []string
		want     string // the header the server got; "" when refused
	}{
		{name: "recorded, any variable", variable: "AWS_SECRET_ACCESS_KEY", recorded: true},
		{name: "recorded, a ZDD_ variable", variable: "ZDD_METRICS_TOKEN", recorded: true, want: "zdd-token"},
		{name: "recorded, named with --allow-env", variable: "METRICS_TOKEN", recorded: true, allow: []string{"METRICS_TOKEN"}, want: "metrics-token"},
		{name: "recorded, another one named with --allow-env", variable: "AWS_SECRET_ACCESS_KEY", recorded: true, allow: []string{"METRICS_TOKEN"}},
		{name: "from a file of this command line", variable: "AWS_SECRET_ACCESS_KEY", want: "aws-secret"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requests.Store(0)
			var s *Spec
			if tc.recorded {
				s = recorded(t, spec(tc.variable))
			} else {
				var err error
				if s, err = Parse([]byte(spec(tc.variable))); err != nil {
					t.Fatal(err)
				}
			}
			r := &Runner{Env: func(n string) string { return env[n] }, Clock: &fakeClock{}}
			if tc.allow != nil {
				r.EnvAllowed = RecordedEnv(tc.allow)
			}
			res, err := r.Run(context.Background(), s, Vars{})
			if tc.want == "" {
				if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "reads the environment variable "+tc.variable) || !strings.Contains(err.Error(), "--allow-env") {
					t.Errorf("want a usage error naming %s and --allow-env, got %v", tc.variable, err)
				}
				if n := requests.Load(); n > 0 {
					t.Errorf("%d requests were sent", n)
				}
				return
			}
			if err != nil || res.Verdict != Passed {
				t.Fatalf("run: %v %+v", err, res)
			}
			if h, _ := got.Load().(string); h != tc.want {
				t.Errorf("the server got X-Token %q, want %q", h, tc.want)
			}
		})
	}
}

// TestRedirectsWithSecretHeaders: a measurement whose headers carry values
// from the environment follows no redirect to another host (or port), and
// none from https to http; without such headers redirects are followed.
// Before, Go's client forwarded the custom header to wherever the first
// server redirected.
func TestRedirectsWithSecretHeaders(t *testing.T) {
	var leaked atomic.Value
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.Store(r.Header.Get("X-Token"))
		fmt.Fprint(w, "0")
	}))
	defer elsewhere.Close()
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/metric", http.StatusFound)
	}))
	defer redirector.Close()
	for _, tc := range []struct {
		name, header string
		wantPass     bool
	}{
		{name: "a header from the environment", header: "${ZDD_TOKEN}"},
		{name: "a plain header", header: "public", wantPass: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			leaked.Store("")
			s, err := Parse([]byte("metrics:\n- name: m\n  max: 1\n  http:\n    url: " + redirector.URL + "\n    headers: {X-Token: \"" + tc.header + "\"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			r := &Runner{Env: func(string) string { return "the-secret" }, Clock: &fakeClock{}}
			res, err := r.Run(context.Background(), s, Vars{})
			if err != nil {
				t.Fatal(err)
			}
			if (res.Verdict == Passed) != tc.wantPass {
				t.Errorf("verdict %s (%s)", res.Verdict, res.Message)
			}
			if !tc.wantPass {
				if h, _ := leaked.Load().(string); h != "" {
					t.Errorf("the other host got X-Token %q", h)
				}
				if !strings.Contains(res.Message, "refusing the redirect") {
					t.Errorf("message %q does not say the redirect was refused", res.Message)
				}
			}
		})
	}
	policy := redirectPolicy(true)
	req := func(raw string) *http.Request {
		u, _ := url.Parse(raw)
		return &http.Request{URL: u}
	}
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"https://metrics.example/a", "https://metrics.example:443/b", true},
		{"https://metrics.example/a", "http://metrics.example/b", false},
		{"http://metrics.example/a", "http://metrics.example:8080/b", false},
		{"http://metrics.example/a", "http://evil.example/b", false},
	} {
		if err := policy(req(tc.to), []*http.Request{req(tc.from)}); (err == nil) != tc.ok {
			t.Errorf("redirect %s -> %s: err %v, want allowed %v", tc.from, tc.to, err, tc.ok)
		}
	}
}

// TestPrometheusHeadersAndCredentials: Prometheus metrics send headers
// (with ${VAR}) to the server; a password in the address is refused at
// load (it would be printed and recorded). Before, only the address could
// carry credentials, and it was printed in every error and recorded.
func TestPrometheusHeadersAndCredentials(t *testing.T) {
	var auth atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth.Store(r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"status":"success","data":{"resultType":"scalar","result":[1700000000,"0.5"]}}`)
	}))
	defer srv.Close()
	s, err := Parse([]byte("metrics:\n- name: m\n  max: 1\n  prometheus:\n    address: " + srv.URL + "\n    query: up\n    headers: {Authorization: \"Basic ${ZDD_PROM}\"}\n"))
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Env: func(string) string { return "dXNlcjpwYXNz" }, Clock: &fakeClock{}}
	res, err := r.Run(context.Background(), s, Vars{})
	if err != nil || res.Verdict != Passed {
		t.Fatalf("run: %v %+v", err, res)
	}
	if got, _ := auth.Load().(string); got != "Basic dXNlcjpwYXNz" {
		t.Errorf("Prometheus got Authorization %q", got)
	}
	_, err = Parse([]byte("metrics:\n- name: m\n  max: 1\n  prometheus:\n    address: http://admin:hunter2@prom.example:9090\n    query: up\n"))
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "holds a password") {
		t.Errorf("a password in prometheus.address: want an error that does not print it, got %v", err)
	}
}

// TestReach lists what an analysis reaches, for the confirmation resume
// asks for.
func TestReach(t *testing.T) {
	s := recorded(t, "metrics:\n- name: rate\n  max: 1\n  prometheus: {address: 'http://prom:9090', query: up}\n- name: lat\n  max: 1\n  http: {url: 'http://m.example/{{.Name}}', headers: {A: '${ZDD_A}', B: '${TOKEN}'}}\n")
	urls, jobs := s.Reach()
	if diff := cmp.Diff([]string{"metric rate: prometheus http://prom:9090", "metric lat: GET http://m.example/{{.Name}}"}, urls); diff != "" {
		t.Errorf("urls (-want +got):\n%s", diff)
	}
	if len(jobs) != 0 {
		t.Errorf("jobs %v", jobs)
	}
	if diff := cmp.Diff([]string{"TOKEN", "ZDD_A"}, s.EnvRefs()); diff != "" {
		t.Errorf("EnvRefs (-want +got):\n%s", diff)
	}
}

// TestJobFileCappedWhileReading: a job file that never ends (/dev/zero)
// is refused once it passes the limit, not read whole first (which never
// returned).
func TestJobFileCappedWhileReading(t *testing.T) {
	if _, err := readJobFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("readJobFile(/dev/zero) = %v", err)
	}
	if _, err := LoadFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("LoadFile(/dev/zero) = %v", err)
	}
}
