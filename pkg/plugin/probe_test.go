package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// probeServer answers every request: 200 "ok" from version v1, except
// every failEvery-th (counting from 1), which gets 503 from v2. It counts
// the requests and keeps the last Authorization header it saw.
type probeServer struct {
	*httptest.Server
	n         atomic.Int64
	auth      atomic.Value
	failEvery int64
}

func newProbeServer(t *testing.T, failEvery int64) *probeServer {
	s := &probeServer{failEvery: failEvery}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.n.Add(1)
		s.auth.Store(r.Header.Get("Authorization"))
		if s.failEvery > 0 && n%s.failEvery == 0 {
			w.Header().Set("X-Version", "v2")
			// a server that echoes what it was sent: nothing of it may show
			http.Error(w, "unavailable, you sent "+r.Header.Get("Authorization"), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("X-Version", "v1")
		w.Write([]byte("ok\n"))
	}))
	t.Cleanup(s.Close)
	return s
}

// runZdd runs `kubectl zdd ARGS` through the root command under ctx and
// returns stdout, stderr and the exit code main would produce.
func runZdd(ctx context.Context, args ...string) (string, string, int) {
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := NewCmdRoot(streams)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err != nil && !exitcode.IsSilent(err) {
		errOut.WriteString("error: " + err.Error() + "\n")
	}
	return out.String(), errOut.String(), exitcode.Of(err)
}

func TestProbeCommandExitCodes(t *testing.T) {
	t.Setenv("ZDD_TEST_PROBE_UNSET", "")
	ok := newProbeServer(t, 0)
	flaky := newProbeServer(t, 3) // 2 of 6 requests fail
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    string // a substring of stdout
		wantErrOut string // a substring of stderr
		nothing    bool   // nothing may be sent (bad input)
	}{
		{name: "every request answered", args: []string{ok.URL, "--for", "300ms"}, wantCode: 0,
			wantOut: "requests: 6 sent in 0.3s, 0 failed, p50 ", wantErrOut: "probe: " + ok.URL + " for 300ms: 20 requests a second, timeout 2s, expecting 200-399, at most 0 failed"},
		{name: "failures over the default budget of 0", args: []string{flaky.URL, "--for", "300ms"}, wantCode: 1,
			wantOut: "requests: 6 sent in 0.3s, 2 failed (status 503 2)", wantErrOut: "error: kubectl zdd probe: 2 of 6 requests failed, more than --max-failed-requests 0"},
		{name: "failures within the budget", args: []string{flaky.URL, "--for", "300ms", "--max-failed-requests", "2"}, wantCode: 0, wantOut: "2 failed"},
		{name: "the failing status expected", args: []string{flaky.URL, "--for", "300ms", "--probe-expect", "200,503"}, wantCode: 0, wantOut: "6 sent in 0.3s, 0 failed"},
		{name: "versions", args: []string{flaky.URL, "--for", "300ms", "--probe-version-header", "X-Version", "--max-failed-requests", "9"}, wantCode: 0, wantOut: "; v1 4 ok, v2 0 ok 2 failed"},
		{name: "rate", args: []string{ok.URL, "--for", "200ms", "--probe-rate", "50"}, wantCode: 0, wantOut: "requests: 10 sent in 0.2s"},

		{name: "no URL", args: []string{"probe"}, wantCode: 2, wantErrOut: "accepts 1 arg(s), received 0", nothing: true},
		{name: "two URLs", args: []string{ok.URL, ok.URL}, wantCode: 2, wantErrOut: "accepts 1 arg(s), received 2", nothing: true},
		{name: "not http", args: []string{"ftp://127.0.0.1/"}, wantCode: 2, wantErrOut: `URL "ftp://127.0.0.1/": want http:// or https://`, nothing: true},
		{name: "--for 0", args: []string{ok.URL, "--for", "0s"}, wantCode: 2, wantErrOut: "--for 0s: want more than 0", nothing: true},
		{name: "--for too long", args: []string{ok.URL, "--for", "25h"}, wantCode: 2, wantErrOut: "--for 25h0m0s: want more than 0 and at most 24h0m0s", nothing: true},
		{name: "--probe-rate 0", args: []string{ok.URL, "--probe-rate", "0"}, wantCode: 2, wantErrOut: "--probe-rate 0: want 1 to 1000", nothing: true},
		{name: "--probe-rate too high", args: []string{ok.URL, "--probe-rate", "5000"}, wantCode: 2, wantErrOut: "--probe-rate 5000", nothing: true},
		{name: "--probe-timeout 0", args: []string{ok.URL, "--probe-timeout", "0s"}, wantCode: 2, wantErrOut: "--probe-timeout 0s", nothing: true},
		{name: "--probe-expect", args: []string{ok.URL, "--probe-expect", "2xx,999"}, wantCode: 2, wantErrOut: `--probe-expect "2xx,999": "999" is not an HTTP status`, nothing: true},
		{name: "--probe-header without a colon", args: []string{ok.URL, "--probe-header", "Authorization Bearer abc"}, wantCode: 2, wantErrOut: `--probe-header (no name): want "Name: value"`, nothing: true},
		{name: "--probe-header malformed reference", args: []string{ok.URL, "--probe-header", "Authorization: Bearer ${TOKEN"}, wantCode: 2, wantErrOut: `--probe-header "Authorization": header Authorization: malformed ${VAR} reference`, nothing: true},
		{name: "--probe-header unset variable", args: []string{ok.URL, "--probe-header", "Authorization: Bearer ${ZDD_TEST_PROBE_UNSET}"}, wantCode: 2, wantErrOut: "kubectl zdd probe: header Authorization: environment variable ZDD_TEST_PROBE_UNSET is not set (--probe-header); nothing was sent", nothing: true},
		{name: "--probe-version-header", args: []string{ok.URL, "--probe-version-header", "X Version"}, wantCode: 2, wantErrOut: `--probe-version-header "X Version": not a header name`, nothing: true},
		{name: "negative --max-failed-requests", args: []string{ok.URL, "--max-failed-requests=-1"}, wantCode: 2, wantErrOut: "--max-failed-requests -1: must not be negative", nothing: true},
		{name: "unknown --output", args: []string{ok.URL, "-o", "yaml"}, wantCode: 2, wantErrOut: `--output "yaml": want json`, nothing: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ok.n.Load() + flaky.n.Load()
			args := tt.args
			if args[0] != "probe" {
				args = append([]string{"probe"}, args...)
			}
			out, errOut, code := runZdd(context.Background(), args...)
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out, errOut)
			}
			if !strings.Contains(out, tt.wantOut) {
				t.Errorf("stdout does not contain %q:\n%s", tt.wantOut, out)
			}
			if !strings.Contains(errOut, tt.wantErrOut) {
				t.Errorf("stderr does not contain %q:\n%s", tt.wantErrOut, errOut)
			}
			if sent := ok.n.Load() + flaky.n.Load() - before; tt.nothing && sent != 0 {
				t.Errorf("bad input, yet %d requests were sent", sent)
			}
		})
	}
}

// The -update flag rewrites golden files; defined here only when no other
// test file of the package defines it first (package-level variables are
// initialised before init functions run).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata/")
	}
}

func probeGoldenUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// The parts of a probe's output that change from run to run.
var (
	probeTimesRE   = regexp.MustCompile(`\d\d:\d\d:\d\d \(\+\d+\.\ds\)`)
	probeLatencyRE = regexp.MustCompile(`p(50|99) [0-9.]+(µs|ms|s)\b`)
	probeURLRE     = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
)

// TestProbeCommandGolden: the text and JSON reports of a probe with
// failures, with what changes between runs (times, latencies, the port)
// replaced, against testdata/probe/*.golden (-update rewrites them).
func TestProbeCommandGolden(t *testing.T) {
	for _, output := range []string{"text", "json"} {
		t.Run(output, func(t *testing.T) {
			srv := newProbeServer(t, 3)
			args := []string{"probe", srv.URL + "/healthz", "--for", "300ms", "--probe-version-header", "X-Version", "--max-failed-requests", "1"}
			if output == "json" {
				args = append(args, "-o", "json")
			}
			out, _, code := runZdd(context.Background(), args...)
			if code != 1 {
				t.Errorf("exit code %d, want 1", code)
			}
			got := probeURLRE.ReplaceAllString(out, "http://127.0.0.1:PORT")
			if output == "json" {
				got = normaliseProbeJSON(t, got)
			} else {
				got = probeTimesRE.ReplaceAllString(got, "HH:MM:SS (+S.Ss)")
				got = probeLatencyRE.ReplaceAllString(got, "p$1 LATENCY")
				got = probeOverRE.ReplaceAllString(got, "over S.Ss")
			}
			golden := filepath.Join("testdata", "probe", output+".golden")
			if probeGoldenUpdate() {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// normaliseProbeJSON replaces the values that change between runs, keeping
// the JSON as printed.
func normaliseProbeJSON(t *testing.T, s string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, s)
	}
	s = probeJSONTimeRE.ReplaceAllString(s, `"$1": "VARIES"`)
	return probeJSONSecondsRE.ReplaceAllString(s, `"$1": VARIES`)
}

var (
	probeJSONTimeRE    = regexp.MustCompile(`"(start|time|exceededAt)": "[^"]*"`)
	probeJSONSecondsRE = regexp.MustCompile(`"(p50Seconds|p99Seconds|atSeconds|lastSeconds)": [-0-9.e+]+`)
	probeOverRE        = regexp.MustCompile(`over \d+\.\ds`)
)

// TestProbeCommandSecretNeverShown: a ${VAR} header is sent expanded, and
// its value appears in no output, text or JSON, even when the server echoes
// it back in a failing answer.
func TestProbeCommandSecretNeverShown(t *testing.T) {
	const secret = "s3cr3t-probe-token"
	t.Setenv("ZDD_TEST_PROBE_TOKEN", secret)
	srv := newProbeServer(t, 2)
	for _, output := range []string{"", "json"} {
		out, errOut, code := runZdd(context.Background(), "probe", srv.URL, "--for", "200ms", "-o", output,
			"--probe-header", "Authorization: Bearer ${ZDD_TEST_PROBE_TOKEN}")
		if code != 1 {
			t.Errorf("-o %q: exit %d, want 1 (every second request fails)", output, code)
		}
		if got := srv.auth.Load(); got != "Bearer "+secret {
			t.Errorf("the server got Authorization %q", got)
		}
		if strings.Contains(out+errOut, secret) {
			t.Errorf("-o %q: the secret is shown:\nstdout:\n%s\nstderr:\n%s", output, out, errOut)
		}
	}
}

// TestProbeCommandProgressAndInterrupt: a failure is told on stderr while
// the probe runs, with the budget exceeded; an interrupted probe reports
// what it measured and exits 3.
func TestProbeCommandProgressAndInterrupt(t *testing.T) {
	srv := newProbeServer(t, 5)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(1500 * time.Millisecond); cancel() }()
	out, errOut, code := runZdd(ctx, "probe", srv.URL, "--for", "1m", "--max-failed-requests", "100")
	if code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	for _, want := range []string{"failed so far (status 503 ", "error: kubectl zdd probe: interrupted after "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if !strings.Contains(out, "requests: ") {
		t.Errorf("no report on stdout:\n%s", out)
	}

	out, errOut, code = runZdd(context.Background(), "probe", srv.URL, "--for", "1200ms", "--max-failed-requests", "1")
	if code != 1 || !strings.Contains(errOut, "requests failed, more than --max-failed-requests 1") {
		t.Errorf("budget: exit %d, want 1 and the budget told on stderr:\n%s\n%s", code, out, errOut)
	}
}
