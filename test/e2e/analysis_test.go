//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
)

// The analysis tests bring their own metrics stack and take it down again:
// the exporter in test/e2e/exporter (http_requests_total{code,version} at
// rates the test sets) and a real Prometheus (Debian's package, started by
// hack/prometheus.sh on a free loopback port, scraping the exporter every
// second). Nothing is left running: both are stopped in t.Cleanup.

// exporterProc is a running exporter.
type exporterProc struct {
	URL string // http://127.0.0.1:PORT
}

// The exporter is built once per run, next to the plugin in the temp dir
// TestMain removes.
var (
	exporterOnce sync.Once
	exporterBin  string
	exporterErr  error
)

func startExporter(t *testing.T) *exporterProc {
	t.Helper()
	exporterOnce.Do(func() {
		exporterBin = filepath.Join(pluginDir, "zdd-test-exporter")
		build := exec.Command("go", "build", "-o", exporterBin, "./test/e2e/exporter")
		build.Dir = repoRoot
		if out, err := build.CombinedOutput(); err != nil {
			exporterErr = fmt.Errorf("%w\n%s", err, out)
		}
	})
	if exporterErr != nil {
		t.Fatalf("building the exporter: %v", exporterErr)
	}
	bin := exporterBin
	cmd := exec.Command(bin, "-listen", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the exporter: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the exporter's address: %v", err)
	}
	go func() { _, _ = io.Copy(io.Discard, stdout) }()
	u := strings.TrimSpace(strings.TrimPrefix(line, "listening on "))
	if !strings.HasPrefix(u, "http://127.0.0.1:") {
		t.Fatalf("exporter said %q, want listening on http://127.0.0.1:PORT", line)
	}
	return &exporterProc{URL: u}
}

// SetRate makes http_requests_total{version,code} advance at rate per second.
func (x *exporterProc) SetRate(t *testing.T, version, code string, rate float64) {
	t.Helper()
	q := url.Values{"version": {version}, "code": {code}, "rate": {fmt.Sprint(rate)}}
	resp, err := http.Post(x.URL+"/rates?"+q.Encode(), "text/plain", nil)
	if err != nil {
		t.Fatalf("setting rate: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("setting rate: %s: %s", resp.Status, body)
	}
}

// startPrometheus runs hack/prometheus.sh start on a free loopback port and
// stops it when the test ends; it returns the server's address.
func startPrometheus(t *testing.T, targets ...string) string {
	t.Helper()
	script := filepath.Join(repoRoot, "hack", "prometheus.sh")
	dir := filepath.Join(t.TempDir(), "prometheus")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	out, err := exec.Command(script, "start", dir, fmt.Sprint(port), strings.Join(targets, ",")).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/prometheus.sh start: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command(script, "stop", dir).CombinedOutput(); err != nil {
			t.Errorf("hack/prometheus.sh stop: %v\n%s", err, out)
		}
	})
	return strings.TrimSpace(string(out))
}

// waitForValue waits until an analysis of query yields a value (Prometheus
// has scraped enough to compute it), polling on a ticker.
func waitForPromValue(t *testing.T, address, query string) {
	t.Helper()
	spec, err := analysis.Parse([]byte(fmt.Sprintf("metrics:\n- name: probe\n  prometheus: {address: %q, query: %q}\n  min: -1e300\n", address, query)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		res, err := (&analysis.Runner{}).Run(ctx, spec, analysis.Vars{})
		if err == nil && res.Verdict == analysis.Passed {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("prometheus had no value for %s: %+v %v", query, res, err)
		case <-tick.C:
		}
	}
}

func writeAnalysisTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const errorRateQuery = `sum(rate(http_requests_total{code=~"5..",version="{{.Version}}"}[5s])) / sum(rate(http_requests_total{version="{{.Version}}"}[5s]))`

// TestAnalysisRolloutRollsBackOnErrorRate: a rollout judged by a real
// Prometheus. With the new version's error rate above the limit the release
// is rolled back by itself (old image back, exit 1, the failing measurement
// printed); with a healthy error rate the same release completes.
func TestAnalysisRolloutRollsBackOnErrorRate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		errorRate float64 // 5xx per second for v2, beside 20 good ones
		extraArgs []string
		wantCode  int
		wantImage string
		wantOut   []string
	}{
		{name: "bad error rate rolls back", errorRate: 5, wantCode: 1, wantImage: "registry.example/web:v1",
			wantOut: []string{"error-rate", "0.2", "<=0.05", "failed", "is above max 0.05"}},
		{name: "healthy error rate completes", errorRate: 0.2, wantCode: 0, wantImage: "registry.example/web:v2",
			wantOut: []string{"error-rate", "passed"}},
		{name: "bad error rate measured during the rollout rolls back", errorRate: 5, extraArgs: []string{"--analysis-during"},
			wantCode: 1, wantImage: "registry.example/web:v1", wantOut: []string{"error-rate", "0.2", "failed", "is above max 0.05"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			exp := startExporter(t)
			prom := startPrometheus(t, strings.TrimPrefix(exp.URL, "http://"))
			exp.SetRate(t, "v1", "200", 20)
			exp.SetRate(t, "v1", "500", 0)
			exp.SetRate(t, "v2", "200", 20)
			exp.SetRate(t, "v2", "500", tc.errorRate)

			env.Apply(appManifest(AppSpec{Replicas: 2, PodLabels: map[string]string{"version": "v1"}}))
			env.RolloutStatus("web", time.Minute)
			waitForPromValue(t, prom, strings.ReplaceAll(errorRateQuery, "{{.Version}}", "v2"))

			file := writeAnalysisTemp(t, "analysis.yaml", fmt.Sprintf(`interval: 1s
count: 3
failureLimit: 0
errorLimit: 0
metrics:
- name: error-rate
  prometheus:
    address: %s
    query: '%s'
  max: 0.05
`, prom, errorRateQuery))
			v2 := toYAML(appDeployment(AppSpec{Replicas: 2, Image: "registry.example/web:v2", PodLabels: map[string]string{"version": "v2"}}))
			manifest := writeAnalysisTemp(t, "web-v2.yaml", v2)

			res := env.Zdd(append([]string{"rollout", "-f", manifest, "--analysis", file, "--timeout", "3m"}, tc.extraArgs...)...)
			t.Logf("rollout:\n%s", res)
			if res.Code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", res.Code, tc.wantCode)
			}
			out := res.Stdout + res.Stderr
			for _, w := range tc.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q", w)
				}
			}
			d, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Spec.Template.Spec.Containers[0].Image; got != tc.wantImage {
				t.Errorf("image after the release = %q, want %q", got, tc.wantImage)
			}
		})
	}
}

// TestAnalysisAnalyzePrometheus: kubectl zdd analyze against the real
// Prometheus, with the version read from the Deployment by --for; it changes
// nothing in the cluster.
func TestAnalysisAnalyzePrometheus(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	exp := startExporter(t)
	prom := startPrometheus(t, strings.TrimPrefix(exp.URL, "http://"))
	exp.SetRate(t, "v1", "200", 10)
	exp.SetRate(t, "v1", "503", 10)
	env.Apply(appManifest(AppSpec{Replicas: 1, PodLabels: map[string]string{"version": "v1"}}))
	waitForPromValue(t, prom, strings.ReplaceAll(errorRateQuery, "{{.Version}}", "v1"))
	before, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file := writeAnalysisTemp(t, "analysis.yaml", fmt.Sprintf(`interval: 1s
count: 2
failureLimit: 1
metrics:
- name: error-rate
  prometheus: {address: %s, query: '%s'}
  max: 0.1
- name: no-such-version
  prometheus: {address: %s, query: 'sum(rate(http_requests_total{version="v9"}[5s]))'}
  max: 1
`, prom, errorRateQuery, prom))
	res := env.Zdd("analyze", "-f", file, "--for", "deployment/web", "-o", "json")
	t.Logf("analyze:\n%s", res)
	// error-rate fails once (0.5 > 0.1, tolerated by failureLimit 1), then
	// the query for a version nobody serves has no data: inconclusive, exit 3
	if res.Code != 3 {
		t.Errorf("exit code = %d, want 3 (inconclusive)", res.Code)
	}
	for _, w := range []string{`"verdict": "inconclusive"`, `"metric": "error-rate"`, `"verdict": "failed"`, "the query returned no data"} {
		if !strings.Contains(res.Stdout, w) {
			t.Errorf("stdout lacks %q", w)
		}
	}
	// Prometheus' rate() may give 0.49999999999999994 for 0.5
	var got struct {
		Measurements []struct {
			Metric string   `json:"metric"`
			Value  *float64 `json:"value"`
		} `json:"measurements"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &got); err != nil {
		t.Fatalf("analyze -o json: %v", err)
	}
	if len(got.Measurements) == 0 || got.Measurements[0].Metric != "error-rate" || got.Measurements[0].Value == nil || math.Abs(*got.Measurements[0].Value-0.5) > 1e-9 {
		t.Errorf("the first measurement is not error-rate = 0.5: %+v", got.Measurements)
	}
	after, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("analyze changed deployment web (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}
}

// TestAnalysisJobSmoke: job metrics on the real cluster, the Job's end
// decided by kwok's job-result stage.
func TestAnalysisJobSmoke(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		result      string
		keepJobs    bool
		wantCode    int
		wantVerdict string
		wantJobs    int
	}{
		{name: "passing smoke test", result: "succeed", wantCode: 0, wantVerdict: "passed"},
		{name: "failing smoke test", result: "fail", wantCode: 1, wantVerdict: "failed"},
		{name: "keep-jobs leaves the Job", result: "succeed", keepJobs: true, wantCode: 0, wantVerdict: "passed", wantJobs: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			dir := t.TempDir()
			job := strings.Replace(jobManifest(JobSpec{Name: "smoke", Result: tc.result}), "name: smoke", "name: smoke-{{.Name}}", 1)
			if err := os.WriteFile(filepath.Join(dir, "smoke-job.yaml"), []byte(job), 0o600); err != nil {
				t.Fatal(err)
			}
			file := filepath.Join(dir, "analysis.yaml")
			if err := os.WriteFile(file, []byte("count: 1\nmetrics:\n- name: smoke\n  job:\n    file: smoke-job.yaml\n    timeout: 1m\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			args := []string{"analyze", "-f", file, "--var", "Name=web"}
			if tc.keepJobs {
				args = append(args, "--keep-jobs")
			}
			res := env.Zdd(args...)
			t.Logf("analyze:\n%s", res)
			if res.Code != tc.wantCode {
				t.Errorf("exit code = %d, want %d", res.Code, tc.wantCode)
			}
			if !strings.Contains(res.Stdout, "smoke") || !strings.Contains(res.Stdout, tc.wantVerdict) || !strings.Contains(res.Stdout, `job "`+env.NS+`/smoke-web-`) {
				t.Errorf("stdout lacks the smoke measurement %s naming its Job", tc.wantVerdict)
			}
			jobs, err := env.Client.BatchV1().Jobs(env.NS).List(env.Ctx, metav1.ListOptions{LabelSelector: analysis.MetricLabel + "=smoke"})
			if err != nil {
				t.Fatal(err)
			}
			left := 0
			for _, j := range jobs.Items {
				if j.DeletionTimestamp == nil {
					left++
				}
			}
			if left != tc.wantJobs {
				t.Errorf("%d smoke Jobs left, want %d", left, tc.wantJobs)
			}
		})
	}
}

// TestAnalysisSecretHeaderNeverShown: a rollout whose HTTP metric sends a
// token from the environment to a server that echoes it back in its error
// answers. The release is rolled back by provider errors; the token reaches
// the server but appears nowhere in the output or in the annotations the
// operation leaves on the Deployment.
func TestAnalysisSecretHeaderNeverShown(t *testing.T) {
	t.Parallel()
	const token = "e2e-secret-7f3a9c1d"
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "upstream broken, your credentials: "+r.Header.Get("Authorization"), http.StatusBadGateway)
	}))
	defer srv.Close()

	env := newEnv(t)
	env.Apply(appManifest(AppSpec{Replicas: 2, PodLabels: map[string]string{"version": "v1"}}))
	env.RolloutStatus("web", time.Minute)
	file := writeAnalysisTemp(t, "analysis.yaml", fmt.Sprintf(`interval: 1s
count: 3
errorLimit: 1
metrics:
- name: latency
  http:
    url: %s/latency?version={{.Version}}
    headers: {Authorization: "Bearer ${ZDD_E2E_METRICS_TOKEN}"}
    timeout: 2s
  max: 0.5
`, srv.URL))
	manifest := writeAnalysisTemp(t, "web-v2.yaml", toYAML(appDeployment(AppSpec{Replicas: 2, Image: "registry.example/web:v2", PodLabels: map[string]string{"version": "v2"}})))
	res := env.ZddWith(ZddOpts{Env: []string{"ZDD_E2E_METRICS_TOKEN=" + token}}, "rollout", "-f", manifest, "--analysis", file, "--timeout", "2m")
	t.Logf("rollout:\n%s", res)
	if res.Code != 1 {
		t.Errorf("exit code = %d, want 1 (rolled back by provider errors)", res.Code)
	}
	for _, w := range []string{"2 provider errors, more than errorLimit 1", "502 Bad Gateway", "Bearer [redacted]"} {
		if !strings.Contains(res.Stdout+res.Stderr, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if strings.Contains(res.Stdout+res.Stderr, token) {
		t.Errorf("the token was printed")
	}
	d, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := d.Spec.Template.Spec.Containers[0].Image; got != "registry.example/web:v1" {
		t.Errorf("image = %q, want v1 back", got)
	}
	for k, v := range d.Annotations {
		if strings.Contains(v, token) {
			t.Errorf("annotation %s holds the token", k)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Errorf("server got %d requests, want 2 (stop at the second error)", len(seen))
	}
	for _, a := range seen {
		if a != "Bearer "+token {
			t.Errorf("server got Authorization %q, want the token", a)
		}
	}
}
