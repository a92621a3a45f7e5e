package analysis

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

func TestPrometheusValue(t *testing.T) {
	sample := func(series string, v float64) *model.Sample {
		return &model.Sample{Metric: model.Metric{"__name__": "up", "series": model.LabelValue(series)}, Value: model.SampleValue(v)}
	}
	cases := []struct {
		name        string
		in          model.Value
		wantVerdict Verdict // "" for a value
		wantValue   float64
		wantMsg     string
	}{
		{name: "scalar", in: &model.Scalar{Value: 0.25}, wantValue: 0.25},
		{name: "one-sample vector", in: model.Vector{sample("a", 3)}, wantValue: 3},
		{name: "empty vector is no data", in: model.Vector{}, wantVerdict: Inconclusive, wantMsg: "the query returned no data"},
		{name: "two series is an error naming them", in: model.Vector{sample("a", 1), sample("b", 2)}, wantVerdict: Errored,
			wantMsg: `the query returned 2 series (up{series="a"}, up{series="b"}), want one: aggregate it, e.g. with sum()`},
		{name: "many series are cut short", in: model.Vector{sample("a", 1), sample("b", 2), sample("c", 3), sample("d", 4)}, wantVerdict: Errored,
			wantMsg: `returned 4 series (up{series="a"}, up{series="b"}, up{series="c"}, ...)`},
		{name: "matrix is an error", in: model.Matrix{&model.SampleStream{}}, wantVerdict: Errored, wantMsg: "returned a range vector of 1 series"},
		{name: "string is an error", in: &model.String{Value: "hi"}, wantVerdict: Errored, wantMsg: `returned a string "hi"`},
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
	p, err := newPrometheusMeasurer(&PrometheusMetric{Address: address, Query: query}, Vars{})
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
		// the client refuses to decode a string result; its error still says what came back
		{name: "string is an error", query: `"hello"`, max: 1, wantVerdict: Errored, wantMsg: `unexpected value type "string"`},
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
