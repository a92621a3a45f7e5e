//go:build e2e

package e2e

import (
	"encoding/json"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
	"github.com/zdd-dev/kubectl-zdd/test/meter"
)

// The request probe of the release commands (--probe URL) on the real
// node: it stays at 0 on a good release, and a release that starts
// dropping requests while every pod passes readiness fails on it and goes
// back. The URL is the meter's (the Service's ClusterIP), requested from
// this machine as a user's kubectl zdd would.

// requestsLineRE is the requests line of a release: sent, failed.
var requestsLineRE = regexp.MustCompile(`(?m)^requests: (\d+) sent in [0-9.]+s, (\d+) failed`)

// requestsLine returns the sent and failed counts of the requests line in
// out, failing the test without one.
func requestsLine(t *testing.T, out string) (sent, failed int) {
	t.Helper()
	m := requestsLineRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no requests line in the output:\n%s", out)
	}
	return atoi(t, m[1]), atoi(t, m[2])
}

func secs(s string) float64 {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return -1
	}
	return f
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' {
			t.Fatalf("%q is not a count", s)
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// TestTrafficRolloutProbe: a good rollout with --probe reports 0 failed
// (text and -o json, and status), agreeing with the meter; a v2 that
// answers 500 on every other request yet passes readiness is rolled back
// by the probe's budget, with its failures printed.
func TestTrafficRolloutProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, zddApp())

	t.Run("good release", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		r := e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "2m",
			"--probe", tr.url, "--probe-version-header", "X-Zdd-Version")
		wantCode(t, "rollout --probe", r, 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "rollout --probe v1 -> v2", rep)
		sent, failed := requestsLine(t, r.Stdout)
		if failed != 0 || sent == 0 {
			t.Errorf("requests line: %d sent, %d failed; want some sent and none failed:\n%s", sent, failed, r.Stdout)
		}
		if !strings.Contains(r.Stdout, "v2 ") || !strings.Contains(r.Stdout, "v1 ") {
			t.Errorf("the requests line does not count the answers of v1 and v2:\n%s", r.Stdout)
		}
		if !strings.Contains(r.Stdout, `capacity: service "`+e.NS+`/web": minimum ready endpoints `) {
			t.Errorf("no capacity line:\n%s", r.Stdout)
		}
		st := e.Zdd("status", "deployment/web")
		if !strings.Contains(st.Stdout, "failed requests 0/") {
			t.Errorf("status does not show the failed requests of the last operation:\n%s", st)
		}
	})
	t.Run("good release -o json", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(2 * time.Second)
		r := e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v1"), "--timeout", "2m", "--probe", tr.url, "-o", "json")
		wantCode(t, "rollout --probe -o json", r, 0)
		tr.Stop(0)
		var out struct {
			Result           string        `json:"result"`
			RequestsMeasured bool          `json:"requestsMeasured"`
			Requests         *probe.Report `json:"requests"`
		}
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			t.Fatalf("-o json: %v\n%s", err, r.Stdout)
		}
		if !out.RequestsMeasured || out.Requests == nil || out.Requests.Sent == 0 || out.Requests.Failed != 0 || out.Requests.MaxFailed != 0 {
			t.Errorf("-o json requests: measured %v, %+v; want sent > 0, failed 0, budget 0", out.RequestsMeasured, out.Requests)
		}
	})
	t.Run("v2 failing every other request rolled back", func(t *testing.T) {
		bad := zddApp()
		bad.Image = realImage("v2")
		bad.Env = map[string]string{"FAIL_EVERY": "2"}
		file := writeTemp(t, "bad.yaml", appManifest(bad))
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(2 * time.Second)
		r := e.Zdd("rollout", "-f", file, "--timeout", "2m", "--probe", tr.url)
		tr.Stop(0)
		if r.Code != 1 {
			t.Fatalf("rollout of a v2 failing every other request: exit %d, want 1\n%s", r.Code, r)
		}
		out := r.Stdout + r.Stderr
		for _, want := range []string{"requests failed", "more than --max-failed-requests 0", "rolled back", "status 500 x"} {
			if !strings.Contains(out, want) {
				t.Errorf("the output does not say %q:\n%s", want, out)
			}
		}
		if _, failed := requestsLine(t, r.Stdout); failed == 0 {
			t.Errorf("the requests line counts no failure:\n%s", r.Stdout)
		}
		d := getDeployment(e, "web")
		if got := imageOf(d); got != realImage("v1") {
			t.Errorf("image after the probe's rollback %q, want %q", got, realImage("v1"))
		}
		for _, env := range d.Spec.Template.Spec.Containers[0].Env {
			if env.Name == "FAIL_EVERY" {
				t.Errorf("the rolled back template still sets FAIL_EVERY=%s", env.Value)
			}
		}
	})
}

// TestTrafficPreflightNaiveThenFix: the naive manifest (no preStop, a
// program that exits at once) is refused by rollout's preflight with exit
// 2, naming --fix and --force, and nothing changes; `rollout --fix`
// releases it in one rollout, with the preStop sleep and grace added,
// printed and recorded, and loses no request (meter and probe): the old
// pods it replaces have no preStop (a running pod's hooks cannot change),
// so the release holds them out of the Service before they stop, and gives
// the Service its selector back after. The next release, of the fixed
// template, loses none either.
func TestTrafficPreflightNaiveThenFix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, naiveApp())

	rvs := func() (string, string) {
		d := getDeployment(e, "web")
		s, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return d.ResourceVersion, s.ResourceVersion
	}
	d0, s0 := rvs()
	r := e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "2m")
	wantCode(t, "rollout of the naive manifest", r, 2)
	for _, want := range []string{"prestop-missing", "--fix", "--force", "nothing was changed"} {
		if !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Errorf("the refusal does not name %q:\n%s", want, r)
		}
	}
	if d1, s1 := rvs(); d1 != d0 || s1 != s0 {
		t.Errorf("resourceVersions changed by a refused rollout: deployment %s -> %s, service %s -> %s", d0, d1, s0, s1)
	}

	svc0 := getService(e, "web")
	tr := e.StartTraffic(node, "web", meter.Options{})
	time.Sleep(3 * time.Second)
	r = e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "3m", "--fix", "--probe", tr.url)
	wantCode(t, "rollout --fix", r, 0)
	rep := tr.Stop(minTrafficDuration)
	sent, probeFailed := requestsLine(t, r.Stdout)
	t.Logf("MEASURE rollout --fix of the naive manifest (its old pods held out of service): meter %d of %d new connections failed %v, keep-alive %d of %d; probe %d of %d failed",
		rep.NewConn.Failed, rep.NewConn.Sent, rep.NewConn.ByKind, rep.KeepAlive.Failed, rep.KeepAlive.Sent, probeFailed, sent)
	assertNoFailedRequests(t, "rollout --fix of the naive manifest", rep)
	if probeFailed != 0 || sent == 0 {
		t.Errorf("rollout --fix: the probe sent %d, %d failed; want some sent and none failed:\n%s", sent, probeFailed, r.Stdout)
	}
	for _, want := range []string{`fixed: added a preStop sleep of 5s to container "app"`, "fixed: set spec.strategy.rollingUpdate.maxUnavailable to 0",
		"holding the old pods out of service/web until they stop", "service/web selects every pod of its selector again"} {
		if !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Errorf("the output does not say %q:\n%s", want, r)
		}
	}
	if svc := getService(e, "web"); !maps.Equal(svc.Spec.Selector, svc0.Spec.Selector) {
		t.Errorf("service selector after rollout --fix %v, want %v as before", svc.Spec.Selector, svc0.Spec.Selector)
	}
	d := getDeployment(e, "web")
	if d.Spec.MinReadySeconds != 0 || d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" || d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "0" {
		t.Errorf("after rollout --fix: minReadySeconds %d, strategy %+v; want 0 and maxSurge 25%%, maxUnavailable 0 as the fix left them", d.Spec.MinReadySeconds, d.Spec.Strategy.RollingUpdate)
	}
	if v, ok := d.Annotations["zdd.dev/param.hold"]; ok {
		t.Errorf("the record still holds the hold after the release: %s", v)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != realImage("v2") || c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("after rollout --fix: image %q, lifecycle %+v; want v2 with a preStop sleep", c.Image, c.Lifecycle)
	}
	if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g == nil || *g < 15 {
		t.Errorf("after rollout --fix: terminationGracePeriodSeconds %v, want at least the sleep 5 s plus the drain 10 s", g)
	}
	if !strings.Contains(d.Annotations["zdd.dev/param.fixes"], "preStop") || d.Annotations["zdd.dev/param.fix"] != "true" {
		t.Errorf("the fixes are not recorded: %v", d.Annotations)
	}

	// the next release of the fixed Deployment passes the preflight and
	// loses nothing (meter and probe, --max-failed-requests 0): its old
	// pods have the preStop sleep
	tr = e.StartTraffic(node, "web", meter.Options{})
	time.Sleep(3 * time.Second)
	r = e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v3"), "--timeout", "3m", "--probe", tr.url)
	wantCode(t, "rollout after --fix", r, 0)
	rep = tr.Stop(minTrafficDuration)
	sent, probeFailed = requestsLine(t, r.Stdout)
	t.Logf("MEASURE rollout of the --fix'ed manifest: meter %d of %d new connections failed %v, keep-alive %d of %d; probe %d of %d failed",
		rep.NewConn.Failed, rep.NewConn.Sent, rep.NewConn.ByKind, rep.KeepAlive.Failed, rep.KeepAlive.Sent, probeFailed, sent)
	assertNoFailedRequests(t, "rollout of the --fix'ed manifest", rep)
	if probeFailed != 0 || sent == 0 {
		t.Errorf("rollout after --fix: the probe sent %d, %d failed; want some sent and none failed:\n%s", sent, probeFailed, r.Stdout)
	}
	if strings.Contains(r.Stdout+r.Stderr, "holding the old pods") {
		t.Errorf("the release of the fixed template held its old pods (they have the preStop sleep):\n%s", r)
	}
	// the probe goes on until the replaced pods stopped: their preStop
	// sleep alone is 5 s
	if m := regexp.MustCompile(`(?m)^requests: \d+ sent in ([0-9.]+)s`).FindStringSubmatch(r.Stdout); m == nil || secs(m[1]) < 5 {
		t.Errorf("the probe stopped before the replaced pods did (their preStop sleeps 5 s):\n%s", r.Stdout)
	}
}

// TestTrafficBlueGreenProbe: a blue-green deploy with --probe reports 0
// failed and loses nothing; a new colour that answers 500 on every other
// request yet passes readiness is switched back by the probe's budget
// during --scale-down-delay, the failures printed.
func TestTrafficBlueGreenProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, zddApp())
	wantCode(t, "bluegreen init", e.Zdd("bluegreen", "init", "service/web", "--timeout", "2m"), 0)

	t.Run("good deploy", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		r := e.Zdd("bluegreen", "deploy", "service/web", "--image", "app="+realImage("v2"), "--timeout", "2m", "--probe", tr.url)
		wantCode(t, "bluegreen deploy --probe", r, 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "bluegreen deploy --probe", rep)
		if sent, failed := requestsLine(t, r.Stdout); failed != 0 || sent == 0 {
			t.Errorf("requests line: %d sent, %d failed; want some sent and none failed:\n%s", sent, failed, r.Stdout)
		}
		st := e.Zdd("status", "service/web")
		if !strings.Contains(st.Stdout, "failed requests 0/") {
			t.Errorf("status does not show the failed requests of the last operation:\n%s", st)
		}
	})
	t.Run("new colour failing every other request switched back", func(t *testing.T) {
		svc, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		before := svc.Spec.Selector
		bad := zddApp()
		bad.Image = realImage("v3")
		bad.Env = map[string]string{"FAIL_EVERY": "2"}
		file := writeTemp(t, "bad.yaml", appManifest(bad))
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(2 * time.Second)
		r := e.Zdd("bluegreen", "deploy", "service/web", "-f", file, "--timeout", "2m", "--scale-down-delay", "30s", "--probe", tr.url)
		tr.Stop(0)
		if r.Code != 1 {
			t.Fatalf("bluegreen deploy of a colour failing every other request: exit %d, want 1\n%s", r.Code, r)
		}
		out := r.Stdout + r.Stderr
		for _, want := range []string{"requests failed", "more than --max-failed-requests 0", "status 500 x"} {
			if !strings.Contains(out, want) {
				t.Errorf("the output does not say %q:\n%s", want, out)
			}
		}
		svc, err = e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(svc.Spec.Selector, before) {
			t.Errorf("service selector after the probe's switch back %v, want %v", svc.Spec.Selector, before)
		}
	})
}

// TestTrafficCanaryProbe: a canary with --probe reports 0 failed and loses
// nothing; a canary that answers 500 on every other request yet passes
// readiness is pulled back by the probe's budget during its pause.
func TestTrafficCanaryProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	app := zddApp()
	app.Replicas = 3
	startRealApp(e, app)

	t.Run("good canary", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		r := e.Zdd("canary", "deployment/web", "--image", "app="+realImage("v2"), "--steps", "34,100", "--pause", "3s", "--timeout", "3m", "--probe", tr.url)
		wantCode(t, "canary --probe", r, 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "canary --probe", rep)
		if sent, failed := requestsLine(t, r.Stdout); failed != 0 || sent == 0 {
			t.Errorf("requests line: %d sent, %d failed; want some sent and none failed:\n%s", sent, failed, r.Stdout)
		}
	})
	t.Run("canary failing every other request pulled back", func(t *testing.T) {
		bad := app
		bad.Image = realImage("v3")
		bad.Env = map[string]string{"FAIL_EVERY": "2"}
		file := writeTemp(t, "bad.yaml", appManifest(bad))
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(2 * time.Second)
		r := e.Zdd("canary", "deployment/web", "-f", file, "--steps", "34,100", "--pause", "30s", "--timeout", "3m", "--probe", tr.url)
		tr.Stop(0)
		if r.Code != 1 {
			t.Fatalf("canary failing every other request: exit %d, want 1\n%s", r.Code, r)
		}
		out := r.Stdout + r.Stderr
		for _, want := range []string{"requests failed", "more than --max-failed-requests 0", "status 500 x"} {
			if !strings.Contains(out, want) {
				t.Errorf("the output does not say %q:\n%s", want, out)
			}
		}
		d := getDeployment(e, "web")
		if got := imageOf(d); got != realImage("v2") || *d.Spec.Replicas != 3 {
			t.Errorf("stable after the pull back: image %q, %d replicas; want v2 at 3", got, *d.Spec.Replicas)
		}
		if _, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, "web-canary", metav1.GetOptions{}); err == nil {
			t.Logf("the canary Deployment is still there after the pull back (scaled to 0?)")
		}
	})
}

// TestCanaryPreflightAndFix: a canary of a Deployment with no preStop hook
// behind a Service is refused before any write (exit 2, naming --fix and
// --force, resourceVersions unchanged, no canary Deployment); with --fix
// the canary runs the template with the preStop sleep added.
func TestCanaryPreflightAndFix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Apply(appManifest(AppSpec{Replicas: 3, NoPreStop: true}))
	e.RolloutStatus("web", 2*time.Minute)
	before := getDeployment(e, "web").ResourceVersion
	r := e.Zdd("canary", "deployment/web", "--image", "app=registry.example/web:v2", "--weight", "34", "--timeout", "2m")
	wantCode(t, "canary of a template with no preStop", r, 2)
	for _, want := range []string{"prestop-missing", "--fix", "--force", "nothing was changed"} {
		if !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Errorf("the refusal does not name %q:\n%s", want, r)
		}
	}
	if after := getDeployment(e, "web").ResourceVersion; after != before {
		t.Errorf("a refused canary changed the deployment: resourceVersion %s -> %s", before, after)
	}
	if _, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, "web-canary", metav1.GetOptions{}); err == nil {
		t.Error("a refused canary created its Deployment")
	}
	r = e.Zdd("canary", "deployment/web", "--image", "app=registry.example/web:v2", "--weight", "34", "--timeout", "2m", "--fix")
	wantCode(t, "canary --fix", r, 0)
	if !strings.Contains(r.Stdout, "added a preStop sleep of 5s") {
		t.Errorf("the fix is not printed:\n%s", r.Stdout)
	}
	c := getDeployment(e, "web-canary").Spec.Template.Spec.Containers[0]
	if c.Image != "registry.example/web:v2" || c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("the canary's container %+v: want the new image with a preStop sleep", c)
	}
	if !regexp.MustCompile(`(?m)^capacity: service "`+regexp.QuoteMeta(e.NS)+`/web": minimum ready endpoints \d+ of 3 desired \(\d+%\)`).MatchString(r.Stdout) || !strings.Contains(r.Stdout, "requests: not measured (no --probe URL)") {
		t.Errorf("canary did not print the capacity line (of 3 desired) and the requests line:\n%s", r.Stdout)
	}
	if ann := getDeployment(e, "web").Annotations; !strings.Contains(ann["zdd.dev/param.fixes"], "preStop") || ann["zdd.dev/param.fix"] != "true" {
		t.Errorf("the fixes are not recorded with the canary's operation: %v", ann)
	}
}
