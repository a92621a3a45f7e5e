//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/test/meter"
)

// The traffic suite: releases on the real node under a steady stream of
// requests (trafficRate a second, a new connection each, beside a
// keep-alive client and long-lived streams), judged by the requests they
// lose. The negative controls show that the meter sees failures when a
// release causes them, so the zeros of the other tests mean something.
//
// Each test holds the real node for its whole run (needRealNode), so
// traffic tests run one at a time, beside the simulated-node tests.

// naiveApp is the common manifest: no preStop hook, a program that exits at
// once on SIGTERM, the default rolling update (25%/25%).
func naiveApp() AppSpec {
	return AppSpec{Real: true, Replicas: 3, Shutdown: "exit", PreStop: ptr.To[int64](0), MaxUnavailable: "25%", MaxSurge: "25%"}
}

// zddApp is the zero-downtime manifest: readiness, a preStop sleep of 5 s,
// a program that drains on SIGTERM, a grace period that covers both, and a
// rolling update that never removes a pod before its replacement is ready.
func zddApp() AppSpec {
	return AppSpec{Real: true, Replicas: 3}
}

// withStreams is the meter with three long-lived streams beside the
// requests.
var withStreams = meter.Options{Streams: 3}

// streamEnds counts how the streams ended while the meter ran (those still
// open when it stopped left out).
func streamEnds(rep *meter.Report) (clean, cut int) {
	for _, s := range rep.Streams {
		switch s.Kind {
		case meter.StreamClean:
			clean++
		case meter.StreamStopped:
		default:
			cut++
		}
	}
	return clean, cut
}

// TestTrafficNegativeControlPlainSetImage: a plain `kubectl set image` of the
// naive manifest loses requests, as the old pods exit while kube-proxy still
// sends them traffic, and cuts the streams they held. The meter must see it.
func TestTrafficNegativeControlPlainSetImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, naiveApp())
	tr := e.StartTraffic(node, "web", withStreams)
	time.Sleep(3 * time.Second)
	e.MustKubectl("set", "image", "deployment/web", "app="+realImage("v2"))
	e.RolloutStatus("web", 2*time.Minute)
	rep := tr.Stop(minTrafficDuration)
	if rep.NewConn.Failed == 0 {
		t.Errorf("negative control: a plain set image of the naive manifest lost no request of %d: the meter cannot see failures", rep.NewConn.Sent)
	}
	if _, cut := streamEnds(rep); cut == 0 {
		t.Errorf("negative control: no stream was cut when the naive pods exited: %+v", rep.Streams)
	}
	if rep.NewConn.ByVersion["v2"] == 0 {
		t.Errorf("no answer from v2 after the release: %v", rep.NewConn.ByVersion)
	}
}

// TestTrafficNegativeControlMaxUnavailable: maxUnavailable 50% on two
// replicas of the naive program takes a serving pod away before its
// replacement is ready, and the slow requests it was serving are cut.
func TestTrafficNegativeControlMaxUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	app := naiveApp()
	app.Replicas, app.MaxUnavailable, app.MaxSurge = 2, "50%", "0"
	startRealApp(e, app)
	// each request takes a second: about 20 are in flight at any moment
	tr := e.StartTraffic(node, "web", meter.Options{URL: "/slow?s=1", Rate: 20, KeepAliveRate: -1, Timeout: 5 * time.Second})
	time.Sleep(3 * time.Second)
	e.MustKubectl("set", "image", "deployment/web", "app="+realImage("v2"))
	e.RolloutStatus("web", 2*time.Minute)
	rep := tr.Stop(20 * time.Second)
	cut := rep.NewConn.ByKind[meter.KindEOF] + rep.NewConn.ByKind[meter.KindReset]
	if cut == 0 {
		t.Errorf("negative control: no slow request was cut when maxUnavailable 50%% removed a serving pod: %s", rep)
	}
}

// TestTrafficRollout: the guarded rolling update of the zero-downtime
// manifest loses nothing, whether the release is good, bad (rolled back by
// itself), undone with kubectl zdd rollback, or preceded by a migration Job;
// and the streams held across it end cleanly.
func TestTrafficRollout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, zddApp())

	t.Run("good release", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", withStreams)
		time.Sleep(3 * time.Second)
		wantCode(t, "rollout", e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "2m"), 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "rollout v1 -> v2", rep)
		if rep.NewConn.ByVersion["v2"] == 0 || rep.NewConn.ByVersion["v1"] == 0 {
			t.Errorf("answers per version %v: want both v1 and v2", rep.NewConn.ByVersion)
		}
		if clean, cut := streamEnds(rep); cut != 0 || clean == 0 {
			t.Errorf("streams across the rollout: %d ended cleanly, %d cut; want every old pod's streams closed cleanly: %+v", clean, cut, rep.Streams)
		}
	})
	t.Run("bad release rolled back", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		r := e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("missing"), "--timeout", "2m")
		wantCode(t, "rollout of an image the node does not have", r, 1)
		if !strings.Contains(r.Stdout+r.Stderr, "ErrImageNeverPull") {
			t.Errorf("the rollback does not name the reason:\n%s", r)
		}
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "bad release rolled back", rep)
		if got := imageOf(getDeployment(e, "web")); got != realImage("v2") {
			t.Errorf("image after the rollback %q, want %q", got, realImage("v2"))
		}
	})
	t.Run("kubectl zdd rollback", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		wantCode(t, "rollback", e.Zdd("rollback", "deployment/web", "--to-revision", "1", "--timeout", "2m"), 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "rollback to revision 1", rep)
		if got := imageOf(getDeployment(e, "web")); got != realImage("v1") {
			t.Errorf("image after the rollback %q, want v1", got)
		}
	})
	t.Run("migration job then rollout", func(t *testing.T) {
		job := writeTemp(t, "migrate.yaml", jobManifest(JobSpec{}))
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		wantCode(t, "rollout with a migration", e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v3"), "--migration-job", job, "--timeout", "2m"), 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "migration then rollout", rep)
		if rep.NewConn.ByVersion["v3"] == 0 {
			t.Errorf("no answer from v3: %v", rep.NewConn.ByVersion)
		}
	})
}

// TestTrafficBlueGreen: init, a deploy that switches and retires, a manual
// promotion, and a rollback, each with no failed request.
func TestTrafficBlueGreen(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, zddApp())
	step := func(what string, want string, cmds ...[]string) {
		t.Run(what, func(t *testing.T) {
			tr := e.StartTraffic(node, "web", withStreams)
			time.Sleep(3 * time.Second)
			for _, c := range cmds {
				wantCode(t, strings.Join(c[:2], " "), e.Zdd(c...), 0)
			}
			rep := tr.Stop(minTrafficDuration)
			assertNoFailedRequests(t, what, rep)
			if rep.NewConn.ByVersion[want] == 0 {
				t.Errorf("no answer from %s: %v", want, rep.NewConn.ByVersion)
			}
			if _, cut := streamEnds(rep); cut != 0 {
				t.Errorf("%d streams cut: %+v", cut, rep.Streams)
			}
		})
	}
	step("init", "v1", []string{"bluegreen", "init", "service/web", "--timeout", "2m"})
	step("deploy, switch and retire", "v2", []string{"bluegreen", "deploy", "service/web", "--image", "app=" + realImage("v2"), "--timeout", "2m"})
	step("manual promote", "v3",
		[]string{"bluegreen", "deploy", "service/web", "--image", "app=" + realImage("v3"), "--manual-promote", "--timeout", "2m"},
		[]string{"bluegreen", "promote", "service/web", "--timeout", "2m"})
	step("rollback", "v2", []string{"bluegreen", "rollback", "service/web", "--timeout", "2m"})
}

// TestTrafficCanary: a canary through its steps to promotion, and one
// aborted from the middle, with no failed request.
func TestTrafficCanary(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	app := zddApp()
	app.Replicas = 3
	startRealApp(e, app)
	t.Run("steps and promote", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", withStreams)
		time.Sleep(3 * time.Second)
		wantCode(t, "canary", e.Zdd("canary", "deployment/web", "--image", "app="+realImage("v2"), "--steps", "34,67,100", "--pause", "3s", "--timeout", "3m"), 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "canary 34,67,100", rep)
		if rep.NewConn.ByVersion["v2"] == 0 || rep.NewConn.ByVersion["v1"] == 0 {
			t.Errorf("answers per version %v: want v1 and v2", rep.NewConn.ByVersion)
		}
		if _, cut := streamEnds(rep); cut != 0 {
			t.Errorf("%d streams cut: %+v", cut, rep.Streams)
		}
	})
	t.Run("abort from the middle", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		wantCode(t, "canary", e.Zdd("canary", "deployment/web", "--image", "app="+realImage("v3"), "--weight", "34", "--timeout", "2m"), 0)
		time.Sleep(5 * time.Second)
		wantCode(t, "canary abort", e.Zdd("canary", "abort", "deployment/web", "--timeout", "2m"), 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "canary abort", rep)
		if rep.NewConn.ByVersion["v3"] == 0 {
			t.Errorf("the canary never answered: %v", rep.NewConn.ByVersion)
		}
		if got := imageOf(getDeployment(e, "web")); got != realImage("v2") {
			t.Errorf("stable image after the abort %q, want v2", got)
		}
	})
}

// TestTrafficKilledThenResumed: kubectl zdd killed (SIGKILL) in the middle
// of a release, then resumed or aborted: the release's pods never notice.
func TestTrafficKilledThenResumed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	app := zddApp()
	app.Env = map[string]string{"READY_DELAY": "3s"} // a slower release, to kill it in the middle
	startRealApp(e, app)
	t.Run("rollout killed, then resume", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		run := e.zddStart(nil, "rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "2m")
		e.waitForPhase("web", "watch")
		run.signal(t, syscall.SIGKILL)
		wantCode(t, "resume", e.Zdd("resume", "deployment/web", "--force-unlock", "--timeout", "2m"), 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "rollout killed, then resumed", rep)
		if got := imageOf(getDeployment(e, "web")); got != realImage("v2") {
			t.Errorf("image after resume %q, want v2", got)
		}
	})
	t.Run("rollout killed, then abort", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		run := e.zddStart(nil, "rollout", "deployment/web", "--image", "app="+realImage("v3"), "--timeout", "2m")
		e.waitForPhase("web", "watch")
		run.signal(t, syscall.SIGKILL)
		wantCode(t, "abort", e.Zdd("abort", "deployment/web", "--force-unlock", "--timeout", "2m"), 0)
		rep := tr.Stop(minTrafficDuration)
		assertNoFailedRequests(t, "rollout killed, then aborted", rep)
		d := getDeployment(e, "web")
		if got := imageOf(d); got != realImage("v2") {
			t.Errorf("image after abort %q, want v2 (the release before)", got)
		}
		if d.Annotations[state.KeyResult] != state.ResultAborted {
			t.Errorf("result %q, want aborted", d.Annotations[state.KeyResult])
		}
	})
}

// TestTrafficAPIServerRestart: the data path does not need the API server:
// a release during which kube-apiserver crashes and comes back loses no
// request (and still finishes). A private cluster with a real node of its
// own, since its API server is stopped.
func TestTrafficAPIServerRestart(t *testing.T) {
	t.Parallel()
	c := startPrivateClusterWith(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := c.env(ctx, "traffic-apiserver")
	node := needRealNode(t, c.client, c.name)
	app := zddApp()
	app.Env = map[string]string{"READY_DELAY": "3s"}
	startRealApp(e, app)
	tr := e.StartTraffic(node, "web", withStreams)
	time.Sleep(3 * time.Second)
	run := startZdd(e, "rollout", "rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "3m")
	e.waitForPhase("web", "watch")
	c.killAPIServer()
	time.Sleep(2 * time.Second)
	c.startAPIServer()
	if r := run.wait(t, 3*time.Minute); r.Code != 0 {
		t.Errorf("rollout across the API server's restart: exit %d", r.Code)
	}
	rep := tr.Stop(minTrafficDuration)
	assertNoFailedRequests(t, "rollout across an API server crash", rep)
	if _, cut := streamEnds(rep); cut != 0 {
		t.Errorf("%d streams cut: %+v", cut, rep.Streams)
	}
}

// TestTrafficInFlight: a 5-second request that a pod is serving when it is
// deleted completes when the grace period covers it, and is cut when it
// does not. (A grace of 1 s is 2 s in fact: the kubelet never gives a
// container less.)
func TestTrafficInFlight(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	needRealNode(t, e.Client, localClusterName())
	for _, tc := range []struct {
		grace int64
		cut   bool
	}{{10, false}, {1, true}} {
		t.Run(fmt.Sprintf("grace %ds", tc.grace), func(t *testing.T) {
			name := fmt.Sprintf("slow-%d", tc.grace)
			// no preStop: SIGTERM comes at once, and the draining
			// program waits for the request in flight
			startRealApp(e, AppSpec{Name: name, Real: true, Replicas: 1, PreStop: ptr.To[int64](0), GracePeriod: ptr.To(tc.grace), NoService: true})
			pods, err := e.Client.CoreV1().Pods(e.NS).List(e.Ctx, metav1.ListOptions{LabelSelector: "app=" + name})
			if err != nil || len(pods.Items) != 1 {
				t.Fatalf("pods of %s: %v %v", name, pods, err)
			}
			pod := pods.Items[0]
			type result struct {
				body string
				err  error
				took time.Duration
			}
			done := make(chan result, 1)
			start := time.Now()
			go func() {
				client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{Proxy: nil}}
				resp, err := client.Get(fmt.Sprintf("http://%s:8080/slow?s=5", pod.Status.PodIP))
				if err != nil {
					done <- result{err: err, took: time.Since(start)}
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				done <- result{body: string(b), err: err, took: time.Since(start)}
			}()
			time.Sleep(500 * time.Millisecond)
			e.MustKubectl("delete", "pod", pod.Name, "--wait=false")
			res := <-done
			t.Logf("the 5 s request, pod deleted after 0.5 s with grace %ds: %q, %v, after %.2fs", tc.grace, res.body, res.err, res.took.Seconds())
			if tc.cut {
				if res.err == nil {
					t.Errorf("grace %ds: the 5 s request completed (%q); want it cut when the kubelet kills the pod", tc.grace, res.body)
				} else if k := meter.Classify(res.err); k != meter.KindEOF && k != meter.KindReset {
					t.Errorf("grace %ds: the request failed as %s (%v), want cut (eof or reset)", tc.grace, k, res.err)
				}
				return
			}
			if res.err != nil || !strings.Contains(res.body, "slept 5s") {
				t.Errorf("grace %ds: the 5 s request did not complete: %q, %v", tc.grace, res.body, res.err)
			}
		})
	}
}
