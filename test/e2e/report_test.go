//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/zdd-dev/kubectl-zdd/internal/browsertest"
	"github.com/zdd-dev/kubectl-zdd/internal/tmuxtest"
	"github.com/zdd-dev/kubectl-zdd/pkg/report"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

// TestReportOfRealCanary records a real release the way the release
// commands will (issue 19, part B): a canary of the test server on the real
// node, in three steps with an analysis at each, watched by the downtime
// watcher, with requests counted per second and version while it runs and
// the phases taken from the command's own lines as they come. It draws the
// recording as a terminal timeline and as the HTML report, checks the
// report's SVG, opens it in headless Chromium when there is one (a path per
// version and the phase labels in the DOM the browser built, the versions'
// colours in its screenshot), and checks the summary fits its 4 KiB; then it
// records the summary on the Deployment and runs kubectl zdd report on it,
// in an 80-column tmux pane (no line wider) and as HTML.
//
// ZDD_REPORT_RECORD=FILE.json writes the recording as JSON (the fixture of
// pkg/report's browser test, testdata/recorded/).
func TestReportOfRealCanary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	app := zddApp()
	app.Replicas = 3
	startRealApp(e, app)

	// the analysis: an error rate served from this machine, well under its
	// limit (the releases of this suite are clean)
	var served atomic.Int32
	metric := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := served.Add(1)
		fmt.Fprintf(w, "%.4f", 0.002+0.003*math.Abs(math.Sin(float64(n))))
	}))
	t.Cleanup(metric.Close)
	file := filepath.Join(t.TempDir(), "analysis.yaml")
	spec := fmt.Sprintf("interval: 1s\ncount: 2\nmetrics:\n- name: error-rate\n  max: 0.01\n  http:\n    url: %s/error-rate\n", metric.URL)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}

	names := e.watchVersionNames()
	downtimeWatch := e.WatchDowntime("web")
	counter := e.countRequests(node, "web", 20)
	lines, code := e.zddLines("canary", "deployment/web", "--image", "app="+realImage("v2"),
		"--steps", "34,67,100", "--pause", "3s", "--analysis", file, "--timeout", "3m")
	if code != 0 {
		t.Fatalf("canary: exit code %d\n%s", code, joinLines(lines))
	}
	// the old pods stop after the command returns; their end belongs to
	// the picture
	e.waitNoTerminatingPods(3 * time.Minute)
	time.Sleep(2 * time.Second)
	probe := counter.Stop()
	rep := downtimeWatch.Stop()

	d := report.FromDowntime(rep, names.Stop())
	dep, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	op, ok := state.FromAnnotations(dep.Annotations)
	if !ok {
		t.Fatalf("deployment web carries no operation record: %v", dep.Annotations)
	}
	d.Facts.Kind, d.Facts.Namespace, d.Facts.Name = "Deployment", "shop", "web" // the namespace is the test's own: call it shop
	d.Facts.Service = "shop/web"
	d.Facts.Strategy, d.Facts.OperationID, d.Facts.Who = op.Strategy, op.ID, redactHolder(state.Identity(op.ID))
	d.Facts.Started, d.Facts.Ended = op.StartTime, op.UpdateTime
	d.Facts.FromRevision, d.Facts.ToRevision = op.FromRevision, op.ToRevision
	d.Facts.Result, d.Facts.Message = op.Result, strings.ReplaceAll(op.Message, e.NS+"/", "shop/")
	phasesAndAnalysis(&d, lines)
	d.Probe = probe

	// what must be there
	if len(d.Versions) < 2 {
		t.Fatalf("versions seen: %+v; want v1 and v2 at least", d.Versions)
	}
	if len(d.Phases) < 4 {
		t.Errorf("phases %+v: want apply, three steps, promote", d.Phases)
	}
	if len(d.Analysis) != 1 || len(d.Analysis[0].Points) < 3 {
		t.Errorf("analysis %+v: want error-rate measured at each step", d.Analysis)
	}
	var sent, failed int
	for _, b := range d.Probe.Buckets {
		c := b.Total()
		sent, failed = sent+c.Sent, failed+c.Failed
	}
	if sent < 200 {
		t.Errorf("%d requests counted, want a few hundred", sent)
	}
	t.Logf("recorded: %d versions, %d phases, %d measurements, %d requests (%d failed), %d ready samples", len(d.Versions), len(d.Phases), len(d.Analysis[0].Points), sent, failed, len(d.Ready))

	// the terminal picture
	var text bytes.Buffer
	if err := report.Text(&text, &d, report.TextOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(strings.TrimSuffix(text.String(), "\n"), "\n") {
		if w := terminal.StringWidth(l); w > 80 {
			t.Errorf("timeline line %d is %d columns:\n%s", i+1, w, l)
		}
	}
	t.Logf("timeline:\n%s", text.String())

	// the summary for the record
	enc, err := report.Encode(&d, 0)
	if err != nil {
		t.Fatal(err)
	}
	back, err := report.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if back.Facts.Result != d.Facts.Result || back.Facts.MinReady != d.Facts.MinReady || !back.Facts.Started.Equal(d.Facts.Started.Truncate(time.Millisecond)) ||
		len(back.Versions) != len(d.Versions) || len(back.Phases) != len(d.Phases) {
		t.Errorf("the summary (%d bytes) lost facts, versions or phases", len(enc))
	}
	t.Logf("summary: %d bytes", len(enc))

	// kubectl zdd report draws it back from the cluster: in an 80-column
	// terminal (a tmux pane) every line fits; -o html is the same chart
	e.MustKubectl("annotate", "deployment/web", report.SummaryAnnotation+"="+enc, "--overwrite")
	pane := tmuxtest.New(t, 80, 40, []string{
		"PATH=" + strings.Join([]string{pluginDir, filepath.Dir(kubectlPath), "/usr/local/bin", "/usr/bin", "/bin"}, string(os.PathListSeparator)),
		"KUBECONFIG=" + e.Kubeconfig,
	})
	code, shown := pane.Run("kubectl zdd report deployment/web -n "+e.NS, time.Minute)
	if code != 0 {
		t.Errorf("kubectl zdd report in the pane: exit %d\n%s", code, strings.Join(shown, "\n"))
	}
	for _, l := range pane.TooWide(shown) {
		t.Errorf("kubectl zdd report: a line wider than the 80-column pane:\n%s", l)
	}
	for _, want := range []string{"canary of deployment shop/web: succeeded", "ready endpoints of service shop/web", "v2 canary", "step 34%"} {
		if !strings.Contains(strings.Join(shown, "\n"), want) {
			t.Errorf("kubectl zdd report in the pane does not show %q:\n%s", want, strings.Join(shown, "\n"))
		}
	}
	t.Logf("kubectl zdd report in an 80-column pane:\n%s", strings.Join(shown, "\n"))

	// the page, and a browser's view of it
	page := filepath.Join(t.TempDir(), "report.html")
	f, err := os.Create(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := report.HTML(f, &d, report.HTMLOptions{Generator: "kubectl zdd (e2e)"}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := browsertest.Chart{Colors: report.VersionColors(&d)}
	for _, v := range d.Versions {
		want.Versions = append(want.Versions, v.Name)
	}
	for _, p := range d.Phases {
		want.Phases = append(want.Phases, p.Name)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	if err := browsertest.CheckDOM(string(html), want); err != nil {
		t.Errorf("the page as written: %v", err)
	}
	if r := e.Zdd("report", "deployment/web", "-o", "html"); r.Code != 0 {
		t.Errorf("kubectl zdd report -o html: %s", r)
	} else if err := browsertest.CheckDOM(r.Stdout, want); err != nil {
		t.Errorf("kubectl zdd report -o html: %v", err)
	}
	if chromium, err := browsertest.Find(); err != nil {
		if browsertest.Required() {
			t.Errorf("%v: the browser check must run here", err)
		} else {
			t.Logf("SKIPPED the browser check: %v", err)
		}
	} else {
		b := &browsertest.Browser{Path: chromium, Dir: t.TempDir()}
		dom, err := b.DumpDOM(page)
		if err != nil {
			t.Fatal(err)
		}
		if err := browsertest.CheckDOM(dom, want); err != nil {
			t.Errorf("the page in the browser: %v", err)
		}
		img, _, err := b.Screenshot(page, 1100, 1500)
		if err != nil {
			t.Fatal(err)
		}
		if err := browsertest.CheckScreenshot(img, want, 150); err != nil {
			t.Error(err)
		}
	}

	if path := os.Getenv("ZDD_REPORT_RECORD"); path != "" {
		js, err := json.MarshalIndent(&d, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, append(js, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("recording written to %s", path)
	}
}

func joinLines(ls []timedLine) string {
	var b strings.Builder
	for _, l := range ls {
		fmt.Fprintf(&b, "%s %s\n", l.at.Format("15:04:05.000"), l.text)
	}
	return b.String()
}

// redactHolder keeps the user of a record's holder ("root@host pid 7 op
// X" becomes "root@e2e"): the recording may be committed.
func redactHolder(h string) string {
	user, _, _ := strings.Cut(h, "@")
	if user == "" {
		return ""
	}
	return user + "@e2e"
}

// timedLine is a line a command wrote, and when it came.
type timedLine struct {
	at   time.Time
	text string
}

// zddLines runs kubectl zdd with the test's namespace and returns the
// lines of its stdout and stderr, each stamped with the time it came, and
// the exit code.
func (e *Env) zddLines(args ...string) ([]timedLine, int) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, commandTimeout)
	defer cancel()
	full := e.withNamespace(append([]string{"zdd"}, args...))
	cmd := exec.CommandContext(ctx, kubectlPath, full...)
	cmd.Env = commandEnv("KUBECONFIG=" + e.Kubeconfig)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var lines []timedLine
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, timedLine{time.Now(), sc.Text()})
			mu.Unlock()
		}
	}()
	err := cmd.Run()
	pw.Close()
	<-done
	code := 0
	if err != nil {
		code = -1
		if ee, ok := err.(*exec.ExitError); ok && ctx.Err() == nil {
			code = ee.ExitCode()
		}
	}
	e.T.Logf("$ kubectl %s -> %d", strings.Join(full, " "), code)
	return lines, code
}

var (
	reCreated   = regexp.MustCompile(`^created deployment "[^"]*-canary"`)
	reStep      = regexp.MustCompile(`^step \d+/\d+: weight (\d+)%: effective`)
	rePromoting = regexp.MustCompile(`^promoting: rolling deployment`)
	rePromoted  = regexp.MustCompile(`^promoted: `)
	reAnalysis  = regexp.MustCompile(`^analysis: \S+ (\S+) value=(\S+) limit=(\S+) (\w+)`)
)

// phasesAndAnalysis reads the phases and the analysis measurements from a
// canary's lines, at the times they came.
func phasesAndAnalysis(d *report.Data, lines []timedLine) {
	metrics := map[string]int{}
	for _, l := range lines {
		switch m := reStep.FindStringSubmatch(l.text); {
		case reCreated.MatchString(l.text):
			d.AddPhase("apply", l.at)
		case m != nil:
			d.AddPhase("step "+m[1]+"%", l.at)
		case rePromoting.MatchString(l.text):
			d.AddPhase("promote", l.at)
		case rePromoted.MatchString(l.text):
			d.AddPhase("retire canary", l.at)
		}
		m := reAnalysis.FindStringSubmatch(l.text)
		if m == nil {
			continue
		}
		i, ok := metrics[m[1]]
		if !ok {
			i = len(d.Analysis)
			metrics[m[1]] = i
			met := report.Metric{Name: m[1]}
			if v, err := strconv.ParseFloat(strings.TrimPrefix(m[3], "<="), 64); err == nil && strings.HasPrefix(m[3], "<=") {
				met.Max = &v
			}
			if v, err := strconv.ParseFloat(strings.TrimPrefix(m[3], ">="), 64); err == nil && strings.HasPrefix(m[3], ">=") {
				met.Min = &v
			}
			d.Analysis = append(d.Analysis, met)
		}
		p := report.Measure{Time: l.at, Verdict: m[4]}
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			p.Value = &v
		}
		d.Analysis[i].Points = append(d.Analysis[i].Points, p)
	}
}

// versionNames learns, from the ReplicaSets of the namespace, what each
// pod-template-hash runs: "v1", "v2", and "v2 canary" for the canary's.
type versionNames struct {
	w     watch.Interface
	mu    sync.Mutex
	names map[string]string
	done  chan struct{}
}

func (e *Env) watchVersionNames() *versionNames {
	e.T.Helper()
	w, err := e.Client.AppsV1().ReplicaSets(e.NS).Watch(e.Ctx, metav1.ListOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	v := &versionNames{w: w, names: map[string]string{}, done: make(chan struct{})}
	go func() {
		defer close(v.done)
		for ev := range w.ResultChan() {
			rs, ok := ev.Object.(*appsv1.ReplicaSet)
			if !ok || len(rs.Spec.Template.Spec.Containers) == 0 {
				continue
			}
			image := rs.Spec.Template.Spec.Containers[0].Image
			name := image[strings.LastIndex(image, ":")+1:]
			if rs.Spec.Template.Labels["track"] == "canary" {
				name += " canary"
			}
			v.mu.Lock()
			v.names[rs.Labels["pod-template-hash"]] = name
			v.mu.Unlock()
		}
	}()
	e.T.Cleanup(w.Stop)
	return v
}

// Stop ends the watch and returns hash -> name.
func (v *versionNames) Stop() map[string]string {
	v.w.Stop()
	<-v.done
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.names
}

// requestCounter sends requests at a fixed rate, each on a new
// connection, and counts them per second and per answering version (the
// X-Zdd-Version header): the per-second input the request probe will give
// the report. Bounded: at most 2*rate in flight, 5 minutes at most.
type requestCounter struct {
	start  time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	counts map[int64]map[string]report.Count
}

func (e *Env) countRequests(node *RealNode, svc string, rate int) *requestCounter {
	e.T.Helper()
	url := e.serviceURL(node, svc)
	ctx, cancel := context.WithTimeout(e.Ctx, 5*time.Minute)
	c := &requestCounter{start: time.Now(), cancel: cancel, counts: map[int64]map[string]report.Count{}}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	slots := make(chan struct{}, 2*rate)
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case at := <-tick.C:
				select {
				case slots <- struct{}{}:
				default:
					continue // too many in flight: not sent
				}
				c.wg.Add(1)
				go func() {
					defer c.wg.Done()
					defer func() { <-slots }()
					version, failed := report.NoVersion, true
					req, _ := http.NewRequestWithContext(context.WithoutCancel(ctx), http.MethodGet, url, nil)
					if resp, err := client.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						version = resp.Header.Get("X-Zdd-Version")
						failed = resp.StatusCode >= 400
					}
					sec := int64(at.Sub(c.start) / time.Second)
					c.mu.Lock()
					if c.counts[sec] == nil {
						c.counts[sec] = map[string]report.Count{}
					}
					n := c.counts[sec][version]
					n.Sent++
					if failed {
						n.Failed++
					}
					c.counts[sec][version] = n
					c.mu.Unlock()
				}()
			}
		}
	}()
	return c
}

// Stop stops sending, waits for the requests in flight and returns the
// counts as buckets of a second.
func (c *requestCounter) Stop() *report.Probe {
	c.cancel()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	p := &report.Probe{Width: time.Second}
	last := int64(-1)
	for s := range c.counts {
		last = max(last, s)
	}
	for s := int64(0); s <= last; s++ {
		if m := c.counts[s]; m != nil {
			p.Buckets = append(p.Buckets, report.Bucket{Time: c.start.Add(time.Duration(s) * time.Second), Counts: m})
		}
	}
	return p
}

// serviceURL is the address of Service svc that this machine can reach on
// the real node (its ClusterIP, or a NodePort on kind), once it answers.
func (e *Env) serviceURL(node *RealNode, svc string) string {
	e.T.Helper()
	s, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, svc, metav1.GetOptions{})
	if err != nil {
		e.T.Fatalf("reading service %s: %v", svc, err)
	}
	var base string
	if node.NodePortHost.IsValid() {
		base = fmt.Sprintf("http://%s:%d", node.NodePortHost, e.nodePort(s))
	} else {
		ip, err := netip.ParseAddr(s.Spec.ClusterIP)
		if err != nil || !node.ServiceCIDR.Contains(ip) {
			e.T.Fatalf("service %s has ClusterIP %q, outside the real node's Service range %s", svc, s.Spec.ClusterIP, node.ServiceCIDR)
		}
		base = fmt.Sprintf("http://%s:%d", ip, s.Spec.Ports[0].Port)
	}
	tr := &Traffic{e: e, svc: svc, node: node}
	tr.waitServing(base + "/")
	return base + "/"
}
