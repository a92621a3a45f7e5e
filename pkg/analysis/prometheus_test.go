package analysis

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPrometheusValue(t *testing.T) {
	sample := func(series string, v float64) promSample {
		return promSample{metric: map[string]string{"__name__": "up", "series": series}, value: v}
	}
	cases := []struct {
		name        string
		in          *promValue
		wantVerdict Verdict // "" for a value
		wantValue   float64
		wantMsg     string
	}{
		{name: "scalar", in: &promValue{typ: "scalar", scalar: 0.25}, wantValue: 0.25},
		{name: "one-sample vector", in: &promValue{typ: "vector", samples: []promSample{sample("a", 3)}}, wantValue: 3},
		{name: "empty vector is no data", in: &promValue{typ: "vector"}, wantVerdict: Inconclusive, wantMsg: "the query returned no data"},
		{name: "two series is an error naming them", in: &promValue{typ: "vector", samples: []promSample{sample("a", 1), sample("b", 2)}}, wantVerdict: Errored,
			wantMsg: `the query returned 2 series (up{series="a"}, up{series="b"}), want one: aggregate it, e.g. with sum()`},
		{name: "many series are cut short", in: &promValue{typ: "vector", samples: []promSample{sample("a", 1), sample("b", 2), sample("c", 3), sample("d", 4)}}, wantVerdict: Errored,
			wantMsg: `returned 4 series (up{series="a"}, up{series="b"}, up{series="c"}, ...)`},
		{name: "a native histogram is an error", in: &promValue{typ: "vector", samples: []promSample{{metric: map[string]string{"__name__": "h"}, histogram: true}}}, wantVerdict: Errored,
			wantMsg: "the query returned a native histogram (h), want a number"},
		{name: "matrix is an error", in: &promValue{typ: "matrix", series: 1}, wantVerdict: Errored, wantMsg: "returned a range vector of 1 series"},
		{name: "string is an error", in: &promValue{typ: "string", str: "hi"}, wantVerdict: Errored, wantMsg: `returned a string "hi"`},
		{name: "nothing is an error", in: nil, wantVerdict: Errored, wantMsg: "returned nothing"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := prometheusValue(tc.in)
			if o.verdict != tc.wantVerdict {
				t.Errorf("verdict = %q, want %q (%s)", o.verdict, tc.wantVerdict, o.message)
			}
			if tc.wantVerdict == "" && (o.value == nil || *o.value != tc.wantValue) {
				t.Errorf("value = %s, want %g", valueText(o.value), tc.wantValue)
			}
			if o.message != tc.wantMsg && !strings.Contains(o.message, tc.wantMsg) {
				t.Errorf("message = %q, want %q", o.message, tc.wantMsg)
			}
		})
	}
}

// TestSeriesName checks the series names quoted in messages against the
// way Prometheus writes them (prometheus/common's model.Metric.String).
func TestSeriesName(t *testing.T) {
	cases := []struct {
		in   map[string]string
		want string
	}{
		{in: map[string]string{}, want: "{}"},
		{in: map[string]string{"__name__": "up"}, want: "up"},
		{in: map[string]string{"job": "a"}, want: `{job="a"}`},
		{in: map[string]string{"__name__": "up", "z": "1", "a": "say \"hi\"\n"}, want: `up{a="say \"hi\"\n", z="1"}`},
	}
	for _, tc := range cases {
		if got := seriesName(tc.in); got != tc.want {
			t.Errorf("seriesName(%v) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestPrometheusClient checks the client against a fake Prometheus: the
// request (POST of a form to /api/v1/query under the address's path, the
// query and the timeout, no time), the GET fallback, and how each kind of
// answer is read, errors worded as Prometheus' Go client words them.
func TestPrometheusClient(t *testing.T) {
	type reply struct {
		code int
		body string
	}
	cases := []struct {
		name        string
		replies     map[string]reply // by method; a missing method gets 405
		wantVerdict Verdict
		wantValue   *float64
		wantMsg     string
	}{
		{name: "scalar", replies: map[string]reply{"POST": {200, `{"status":"success","data":{"resultType":"scalar","result":[1700000000.123,"0.25"]}}`}},
			wantVerdict: Passed, wantValue: f(0.25)},
		{name: "vector with warnings", replies: map[string]reply{"POST": {200, `{"status":"success","warnings":["w"],"data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a"},"value":[1700000000,"0.5"]}]}}`}},
			wantVerdict: Passed, wantValue: f(0.5)},
		{name: "NaN is inconclusive", replies: map[string]reply{"POST": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"NaN"]}]}}`}},
			wantVerdict: Inconclusive, wantMsg: "NaN"},
		{name: "GET where POST is refused", replies: map[string]reply{"GET": {200, `{"status":"success","data":{"resultType":"scalar","result":[1,"2"]}}`}},
			wantVerdict: Failed, wantValue: f(2), wantMsg: "2 is above max 1"},
		{name: "matrix", replies: map[string]reply{"POST": {200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"],[2,"2"]]}]}}`}},
			wantVerdict: Errored, wantMsg: "range vector of 1 series"},
		{name: "string", replies: map[string]reply{"POST": {200, `{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}`}},
			wantVerdict: Errored, wantMsg: `the query returned a string "hello", want a number`},
		{name: "native histogram", replies: map[string]reply{"POST": {200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"h"},"histogram":[1,{"count":"2","sum":"3","buckets":[]}]}]}}`}},
			wantVerdict: Errored, wantMsg: "native histogram (h)"},
		{name: "unknown result type", replies: map[string]reply{"POST": {200, `{"status":"success","data":{"resultType":"table","result":[]}}`}},
			wantVerdict: Errored, wantMsg: `bad_response: unexpected value type "table"`},
		{name: "bad query", replies: map[string]reply{"POST": {400, `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unclosed left parenthesis"}`}},
			wantVerdict: Errored, wantMsg: "querying prometheus ADDR: bad_data: 1:5: parse error: unclosed left parenthesis"},
		{name: "query timeout", replies: map[string]reply{"POST": {503, `{"status":"error","errorType":"timeout","error":"query timed out"}`}},
			wantVerdict: Errored, wantMsg: "server_error: server error: 503"},
		{name: "422 with no error text", replies: map[string]reply{"POST": {422, `{"status":"error"}`}},
			wantVerdict: Errored, wantMsg: "client_error: client error: 422"},
		{name: "400 saying success", replies: map[string]reply{"POST": {400, `{"status":"success"}`}},
			wantVerdict: Errored, wantMsg: "bad_response: inconsistent body for response code"},
		{name: "proxy error page", replies: map[string]reply{"POST": {502, `<html>bad gateway</html>`}},
			wantVerdict: Errored, wantMsg: "server_error: server error: 502"},
		{name: "not found", replies: map[string]reply{"POST": {404, `404 page not found`}},
			wantVerdict: Errored, wantMsg: "client_error: client error: 404"},
		{name: "not JSON", replies: map[string]reply{"POST": {200, `<html>`}},
			wantVerdict: Errored, wantMsg: "bad_response: invalid character"},
		{name: "error with 200", replies: map[string]reply{"POST": {200, `{"status":"error","errorType":"execution","error":"boom"}`}},
			wantVerdict: Errored, wantMsg: "execution: boom"},
		{name: "unquoted value", replies: map[string]reply{"POST": {200, `{"status":"success","data":{"resultType":"scalar","result":[1,2]}}`}},
			wantVerdict: Errored, wantMsg: "sample value must be a quoted string"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var methods []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				methods = append(methods, r.Method)
				if r.URL.Path != "/prom/api/v1/query" {
					t.Errorf("path %s, want /prom/api/v1/query", r.URL.Path)
				}
				if r.Method == http.MethodPost {
					if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
						t.Errorf("POST with Content-Type %q", ct)
					}
				}
				if err := r.ParseForm(); err != nil {
					t.Error(err)
				}
				want := url.Values{"query": {`sum(rate(x{v="a"}[1m]))`}, "timeout": {"7s"}}
				if r.Method == http.MethodPost && r.URL.RawQuery != "" {
					t.Errorf("POST with a query string %q", r.URL.RawQuery)
				}
				if diff := cmp.Diff(want, r.Form); diff != "" {
					t.Errorf("%s form (-want +got):\n%s", r.Method, diff)
				}
				rep, ok := tc.replies[r.Method]
				if !ok {
					http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(rep.code)
				fmt.Fprint(w, rep.body)
			}))
			defer srv.Close()
			addr := srv.URL + "/prom"
			spec, err := Parse([]byte(fmt.Sprintf("count: 1\nmetrics:\n- name: m\n  prometheus: {address: %q, query: %q, timeout: 7s}\n  max: 1\n", addr, `sum(rate(x{v="{{.Version}}"}[1m]))`)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			res, err := (&Runner{}).Run(context.Background(), spec, Vars{Version: "a"})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			m := res.Measurements[0]
			if m.Verdict != tc.wantVerdict {
				t.Errorf("verdict = %q, want %q (%s)", m.Verdict, tc.wantVerdict, m.Message)
			}
			if tc.wantValue != nil && (m.Value == nil || *m.Value != *tc.wantValue) {
				t.Errorf("value = %s, want %s", valueText(m.Value), valueText(tc.wantValue))
			}
			if want := strings.ReplaceAll(tc.wantMsg, "ADDR", addr); !strings.Contains(m.Message, want) {
				t.Errorf("message = %q, want it to contain %q", m.Message, want)
			}
			wantMethods := []string{"POST"}
			if _, ok := tc.replies["POST"]; !ok {
				wantMethods = []string{"POST", "GET"}
			}
			if diff := cmp.Diff(wantMethods, methods); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
}

// startPrometheus runs hack/prometheus.sh against targets and stops it at
// the end of the test. It needs Debian's prometheus package
// (hack/install-deps.sh installs it).
func startPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	if _, err := exec.LookPath("prometheus"); err != nil {
		t.Fatalf("prometheus is not installed (run hack/install-deps.sh): %v", err)
	}
	script, err := filepath.Abs("../../hack/prometheus.sh")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "prometheus")
	port := freePort(t)
	out, err := exec.Command(script, "start", dir, fmt.Sprint(port), strings.Join(targets, ",")).CombinedOutput()
	if err != nil {
		t.Fatalf("starting prometheus: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("stopping prometheus: %v\n%s", err, out)
		}
	})
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitForQuery polls Prometheus until query returns a value (the first
// scrape lands about a second after start).
func waitForQuery(t *testing.T, address, query string, within time.Duration) {
	t.Helper()
	p, err := newPrometheusMeasurer(&PrometheusMetric{Address: address, Query: query}, Vars{}, os.Getenv, &redactor{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		o := p.measure(ctx)
		if o.value != nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus at %s had no data for %s within %s: %s", address, query, within, o.message)
		case <-tick.C:
		}
	}
}

func TestPrometheusProviderRealServer(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		fmt.Fprint(w, "# TYPE zdd_test_gauge gauge\nzdd_test_gauge{series=\"a\"} 0.5\nzdd_test_gauge{series=\"b\"} 2\n")
	}))
	defer target.Close()
	address := startPrometheus(t, strings.TrimPrefix(target.URL, "http://"))
	waitForQuery(t, address, `count(zdd_test_gauge) == 2`, 30*time.Second)

	cases := []struct {
		name        string
		address     string
		query       string
		max         float64
		wantVerdict Verdict
		wantValue   *float64
		wantMsg     string
	}{
		{name: "scalar", query: `scalar(zdd_test_gauge{series="a"})`, max: 1, wantVerdict: Passed, wantValue: f(0.5)},
		{name: "single-sample vector", query: `zdd_test_gauge{series="b"}`, max: 1, wantVerdict: Failed, wantValue: f(2), wantMsg: "2 is above max 1"},
		{name: "templated vector", query: `zdd_test_gauge{series="{{.Version}}"}`, max: 1, wantVerdict: Passed, wantValue: f(0.5)},
		{name: "aggregated", query: `sum(zdd_test_gauge)`, max: 3, wantVerdict: Passed, wantValue: f(2.5)},
		{name: "no data is inconclusive", query: `zdd_test_gauge{series="none"}`, max: 1, wantVerdict: Inconclusive, wantMsg: "no data"},
		{name: "two series is an error", query: `zdd_test_gauge`, max: 1, wantVerdict: Errored, wantMsg: "the query returned 2 series"},
		{name: "range vector is an error", query: `zdd_test_gauge{series="a"}[10s]`, max: 1, wantVerdict: Errored, wantMsg: "range vector"},
		{name: "string is an error", query: `"hello"`, max: 1, wantVerdict: Errored, wantMsg: `the query returned a string "hello", want a number`},
		{name: "bad query is an error", query: `sum(`, max: 1, wantVerdict: Errored, wantMsg: "bad_data"},
		{name: "unreachable server is an error", address: "http://127.0.0.1:1", query: `up`, max: 1, wantVerdict: Errored, wantMsg: "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := address
			if tc.address != "" {
				addr = tc.address
			}
			spec, err := Parse([]byte(fmt.Sprintf("count: 1\nmetrics:\n- name: m\n  prometheus: {address: %q, query: %q}\n  max: %g\n", addr, tc.query, tc.max)))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			res, err := (&Runner{}).Run(context.Background(), spec, Vars{Version: "a"})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			m := res.Measurements[0]
			if m.Verdict != tc.wantVerdict {
				t.Errorf("verdict = %q, want %q (%s)", m.Verdict, tc.wantVerdict, m.Message)
			}
			if (m.Value == nil) != (tc.wantValue == nil) || (m.Value != nil && *m.Value != *tc.wantValue) {
				t.Errorf("value = %s, want %s", valueText(m.Value), valueText(tc.wantValue))
			}
			if !strings.Contains(m.Message, tc.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", m.Message, tc.wantMsg)
			}
		})
	}
}
