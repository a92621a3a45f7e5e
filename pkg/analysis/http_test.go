package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

const secret = "tok-9f8e7d6c5b4a"

// metricsServer answers by path, echoes the Authorization header it got in
// error answers (as a careless server might) and records it.
type metricsServer struct {
	mu   sync.Mutex
	auth []string
	srv  *httptest.Server
	slow chan struct{}
}

func newMetricsServer(t *testing.T) *metricsServer {
	s := &metricsServer{slow: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.auth = append(s.auth, r.Header.Get("Authorization"))
		s.mu.Unlock()
		switch r.URL.Path {
		case "/number":
			fmt.Fprintln(w, " 0.25 ")
		case "/json":
			fmt.Fprintf(w, `{"service":%q,"p99":0.42,"p50":"0.1","nested":{"items":[{"v":1},{"v":2}]},"none":null}`, r.URL.Query().Get("service"))
		case "/slow":
			select {
			case <-s.slow:
			case <-r.Context().Done():
			}
		case "/500":
			http.Error(w, "backend down; you sent "+r.Header.Get("Authorization"), http.StatusInternalServerError)
		case "/500-long":
			// the echo crosses the 200 characters a message quotes
			auth := r.Header.Get("Authorization")
			pad := strings.Repeat("x", 200-len("Bearer ")-len(secret)/2)
			http.Error(w, pad+auth+" was refused", http.StatusInternalServerError)
		case "/text":
			fmt.Fprint(w, "ok "+r.Header.Get("Authorization"))
		case "/empty":
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(func() { close(s.slow); s.srv.Close() })
	return s
}

func TestHTTPProvider(t *testing.T) {
	srv := newMetricsServer(t)
	cases := []struct {
		name        string
		url         string
		jsonPath    string
		timeout     string
		max         string
		wantVerdict Verdict
		wantValue   *float64
		wantMsg     string
	}{
		{name: "bare number", url: "/number", max: "1", wantVerdict: Passed, wantValue: f(0.25)},
		{name: "bare number above max", url: "/number", max: "0.2", wantVerdict: Failed, wantValue: f(0.25), wantMsg: "0.25 is above max 0.2"},
		{name: "json path", url: "/json?service={{.Name}}", jsonPath: "{.p99}", max: "0.5", wantVerdict: Passed, wantValue: f(0.42)},
		{name: "json path to a string number", url: "/json", jsonPath: "{.p50}", max: "0.5", wantVerdict: Passed, wantValue: f(0.1)},
		{name: "json path into an array", url: "/json", jsonPath: "{.nested.items[1].v}", max: "5", wantVerdict: Passed, wantValue: f(2)},
		{name: "json path matching two values", url: "/json", jsonPath: "{.nested.items[*].v}", max: "5", wantVerdict: Errored, wantMsg: "found 2 values, want one"},
		{name: "json path not found is no data", url: "/json", jsonPath: "{.p999}", max: "1", wantVerdict: Inconclusive, wantMsg: "found no data"},
		{name: "json null is no data", url: "/json", jsonPath: "{.none}", max: "1", wantVerdict: Inconclusive, wantMsg: "is null"},
		{name: "json path to a string", url: "/json", jsonPath: "{.service}", max: "1", wantVerdict: Errored, wantMsg: "not a number"},
		{name: "slow server times out, counted as an error", url: "/slow", timeout: "200ms", max: "1", wantVerdict: Errored, wantMsg: "no answer within 200ms"},
		{name: "500 answer is an error", url: "/500", max: "1", wantVerdict: Errored, wantMsg: "500 Internal Server Error: \"backend down; you sent Bearer [redacted]\""},
		{name: "500 answer echoing the secret across the quoted 200 characters", url: "/500-long", max: "1", wantVerdict: Errored, wantMsg: "xBearer [redacte"},
		{name: "404 answer is an error", url: "/nope", max: "1", wantVerdict: Errored, wantMsg: "404 Not Found"},
		{name: "text that is not a number", url: "/text", max: "1", wantVerdict: Errored, wantMsg: "\"ok Bearer [redacted]\" is not a number"},
		{name: "empty answer is no data", url: "/empty", max: "1", wantVerdict: Inconclusive, wantMsg: "the answer is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := fmt.Sprintf(`
count: 1
metrics:
- name: m
  http:
    url: %s%s
    jsonPath: '%s'
    timeout: %s
    headers: {Authorization: "Bearer ${METRICS_TOKEN}"}
  max: %s
`, srv.srv.URL, tc.url, tc.jsonPath, orDefault(tc.timeout, "5s"), tc.max)
			spec, err := Parse([]byte(doc))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var out bytes.Buffer
			r := &Runner{Out: &out, Env: func(k string) string {
				if k == "METRICS_TOKEN" {
					return secret
				}
				return ""
			}}
			res, err := r.Run(context.Background(), spec, Vars{Namespace: "shop", Name: "web"})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(res.Measurements) != 1 {
				t.Fatalf("got %d measurements, want 1", len(res.Measurements))
			}
			m := res.Measurements[0]
			if m.Verdict != tc.wantVerdict {
				t.Errorf("verdict = %q, want %q (message %q)", m.Verdict, tc.wantVerdict, m.Message)
			}
			if (m.Value == nil) != (tc.wantValue == nil) || (m.Value != nil && *m.Value != *tc.wantValue) {
				t.Errorf("value = %v, want %v", valueText(m.Value), valueText(tc.wantValue))
			}
			if !strings.Contains(m.Message, tc.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", m.Message, tc.wantMsg)
			}
			// the secret reaches the server but never the output
			var table bytes.Buffer
			if err := PrintTable(&table, res); err != nil {
				t.Fatal(err)
			}
			js, _ := json.Marshal(res)
			for what, text := range map[string]string{"progress": out.String(), "table": table.String(), "json": string(js)} {
				if strings.Contains(text, secret) || strings.Contains(text, secret[:len(secret)/2]) {
					t.Errorf("%s output shows the secret:\n%s", what, text)
				}
			}
		})
	}
	srv.mu.Lock()
	defer srv.mu.Unlock()
	for _, a := range srv.auth {
		if a != "Bearer "+secret {
			t.Errorf("server got Authorization %q, want the expanded secret", a)
		}
	}
}

func TestHTTPProviderMissingEnvIsSetupError(t *testing.T) {
	spec, err := Parse([]byte(`
metrics:
- name: m
  http: {url: "http://127.0.0.1:1/x", headers: {Authorization: "Bearer ${NOT_SET_ANYWHERE}"}}
  max: 1
`))
	if err != nil {
		t.Fatal(err)
	}
	_, err = (&Runner{Env: func(string) string { return "" }}).Run(context.Background(), spec, Vars{})
	want := `analysis metric "m": http.headers[Authorization]: environment variable NOT_SET_ANYWHERE is not set`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

func TestHTTPProviderUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	spec, err := Parse([]byte(fmt.Sprintf("count: 2\nerrorLimit: 1\ninterval: 1ms\nmetrics:\n- name: m\n  http: {url: %q}\n  max: 1\n", url+"/x")))
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&Runner{}).Run(context.Background(), spec, Vars{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Verdict != Failed || !strings.Contains(res.Message, "2 provider errors, more than errorLimit 1") {
		t.Errorf("verdict %q message %q, want failed by provider errors", res.Verdict, res.Message)
	}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}
