//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
	"github.com/zdd-dev/kubectl-zdd/test/meter"
)

// The evidence of the lint rules that are errors (docs/lint-rules.md,
// "Severity follows measured harm"): for each, the same release of the same
// program under the same load, on the real node, loses requests when the
// rule is broken and none when it is fixed; and kubectl zdd lint flags the
// first manifest with that rule's error, and the second with no error.
//
// The release is a plain `kubectl set image` in both arms: the figures are
// the settings' own, not kubectl zdd's. The fixed manifest is the traffic
// suite's zero-downtime one (zddApp), with a program that takes a while to
// open its port (LISTEN_DELAY), as real programs do: that is what a release
// without readiness, or one that stops every old pod first, runs into.
//
// Each arm holds the real node for one measuring window of at least
// minRequests; they run one at a time (needRealNode).

// evidenceListenDelay is how long the evidence's program loads before it
// listens: longer than the preStop sleep (5 s), so that a release that
// removes every serving pod at once leaves a gap.
const evidenceListenDelay = "8s"

// evidenceGood is the fixed manifest of readiness-probe-missing,
// recreate-strategy and max-unavailable-nonzero.
func evidenceGood() AppSpec {
	app := zddApp()
	app.Env = map[string]string{"LISTEN_DELAY": evidenceListenDelay}
	return app
}

// arm is one side of a rule's evidence.
type arm struct {
	name string
	app  AppSpec
	// errors are the lint rules whose errors the manifest must have,
	// exactly (none: it lints without error).
	errors []string
	// lost: the release must lose requests (else it must lose none).
	lost bool
	// load is the meter's options (zero: the suite's default).
	load meter.Options
	// during runs beside the release, from before it starts; its result
	// is checked against the meter's report once the meter stopped.
	during func(t *testing.T, e *Env, tr *Traffic) func(rep *meter.Report)
}

// runEvidence lints and releases each arm, in a namespace of its own.
func runEvidence(t *testing.T, rule string, arms ...arm) {
	for _, a := range arms {
		t.Run(a.name, func(t *testing.T) {
			e := newEnv(t)
			node := needRealNode(t, e.Client, localClusterName())
			checkLintErrors(t, e, a.app, a.errors)

			startRealApp(e, a.app)
			tr := e.StartTraffic(node, "web", a.load)
			var check func(*meter.Report)
			if a.during != nil {
				check = a.during(t, e, tr)
			}
			time.Sleep(3 * time.Second)
			e.MustKubectl("set", "image", "deployment/web", "app="+realImage("v2"))
			e.RolloutStatus("web", 3*time.Minute)
			rep := tr.Stop(minTrafficDuration)
			t.Logf("evidence %s, %s: %d of %d requests failed %v (new connections), %d of %d keep-alive",
				rule, a.name, rep.NewConn.Failed, rep.NewConn.Sent, rep.NewConn.ByKind, rep.KeepAlive.Failed, rep.KeepAlive.Sent)
			if a.lost {
				if rep.NewConn.Failed == 0 {
					t.Errorf("%s: no request lost of %d: the rule's harm is not shown", a.name, rep.NewConn.Sent)
				}
				if rep.NewConn.Sent < minRequests {
					t.Errorf("%s: only %d requests measured, want at least %d", a.name, rep.NewConn.Sent, minRequests)
				}
			} else {
				assertNoFailedRequests(t, a.name, rep)
			}
			if rep.NewConn.ByVersion["v2"] == 0 {
				t.Errorf("%s: no answer from v2 after the release: %v", a.name, rep.NewConn.ByVersion)
			}
			if check != nil {
				check(rep)
			}
		})
	}
}

// checkLintErrors lints the app's manifest (Deployment and Service) with
// kubectl zdd lint and checks the rules that report an error: exactly want,
// with exit 1; none, with exit 0.
func checkLintErrors(t *testing.T, e *Env, app AppSpec, want []string) {
	t.Helper()
	app.Real = true
	file := writeTemp(t, "app.yaml", appManifest(app))
	r := e.Zdd("lint", "-f", file, "-o", "json")
	var rep struct {
		Findings []struct {
			Rule     string
			Severity string
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("kubectl zdd lint: output is not JSON: %v\n%s", err, r)
	}
	got := []string{}
	for _, f := range rep.Findings {
		if f.Severity == "error" && !has(got, f.Rule) {
			got = append(got, f.Rule)
		}
	}
	sort.Strings(got)
	if want == nil {
		want = []string{}
	}
	wantExit := 0
	if len(want) > 0 {
		wantExit = 1
	}
	if strings.Join(got, ",") != strings.Join(want, ",") || r.Code != wantExit {
		t.Errorf("kubectl zdd lint of the manifest: errors %v (exit %d), want %v (exit %d)\n%s", got, r.Code, want, wantExit, r.Stdout)
	}
}

// TestEvidenceGoodManifest is the fixed side of readiness-probe-missing,
// recreate-strategy and max-unavailable-nonzero: the zero-downtime manifest
// of a program that loads 8 s before it listens loses nothing.
func TestEvidenceGoodManifest(t *testing.T) {
	t.Parallel()
	runEvidence(t, "readiness-probe-missing, recreate-strategy, max-unavailable-nonzero",
		arm{name: "fixed", app: evidenceGood()})
}

// TestEvidenceReadinessProbeMissing: without a readiness probe, a new pod
// is an endpoint as soon as its container runs, before the program
// listens: its requests are refused.
func TestEvidenceReadinessProbeMissing(t *testing.T) {
	t.Parallel()
	app := evidenceGood()
	app.NoProbe = true
	runEvidence(t, "readiness-probe-missing",
		arm{name: "no readiness probe", app: app, errors: []string{"readiness-probe-missing"}, lost: true})
}

// TestEvidenceRecreateStrategy: Recreate stops every old pod before it
// starts a new one: nothing serves until the first new pod is ready.
func TestEvidenceRecreateStrategy(t *testing.T) {
	t.Parallel()
	app := evidenceGood()
	app.Recreate = true
	runEvidence(t, "recreate-strategy",
		arm{name: "recreate", app: app, errors: []string{"recreate-strategy"}, lost: true})
}

// TestEvidenceMaxUnavailableAllPods: maxUnavailable that resolves to every
// pod lets the rollout take all serving pods out before one replacement is
// ready (an error); one that takes a share of them leaves the others
// serving every request (a warning: a capacity dip, no request lost).
func TestEvidenceMaxUnavailableAllPods(t *testing.T) {
	t.Parallel()
	all := evidenceGood()
	all.MaxUnavailable, all.MaxSurge = "100%", "1"
	share := evidenceGood()
	share.MaxUnavailable, share.MaxSurge = "1", "0"
	runEvidence(t, "max-unavailable-nonzero",
		arm{name: "maxUnavailable 100% of 3", app: all, errors: []string{"max-unavailable-nonzero"}, lost: true},
		arm{name: "maxUnavailable 1 of 3 (a warning)", app: share})
}

// TestEvidencePreStopMissing: the common program, which exits at once on
// SIGTERM, loses the requests kube-proxy still sends its old pods without a
// preStop sleep, and none with one. Without it, kubectl zdd probe runs
// beside the harness's meter, at the same rate: the two separate meters
// must count nearly the same failures.
func TestEvidencePreStopMissing(t *testing.T) {
	t.Parallel()
	fixed := naiveApp()
	fixed.PreStop = ptr.To[int64](5)
	runEvidence(t, "prestop-missing",
		arm{name: "no preStop", app: naiveApp(), errors: []string{"prestop-missing"}, lost: true, during: probeBeside},
		arm{name: "preStop sleep 5s", app: fixed})
}

// probeBeside runs `kubectl zdd probe` against the meter's URL at the
// meter's rate, and afterwards compares their failures.
func probeBeside(t *testing.T, e *Env, tr *Traffic) func(*meter.Report) {
	// long enough to cover the release and the old pods' ends; the meter
	// runs at least minTrafficDuration and until no pod terminates
	run := e.zddStart(nil, "probe", tr.url, "--for", (minTrafficDuration + 4*time.Second).String(),
		"--probe-rate", fmt.Sprint(trafficRate), "--max-failed-requests", "1000000", "-o", "json")
	return func(rep *meter.Report) {
		r := run.wait(t)
		if r.Code != 0 {
			t.Fatalf("kubectl zdd probe: exit %d\n%s", r.Code, r)
		}
		var got probe.Report
		if err := json.Unmarshal([]byte(r.Stdout), &got); err != nil {
			t.Fatalf("kubectl zdd probe -o json: %v\n%s", err, r.Stdout)
		}
		m := rep.NewConn.Failed
		diff := got.Failed - m
		// Each new connection is routed to a pod at random by kube-proxy:
		// two clients at the same rate see the same failure windows but
		// not the same requests in them. The tolerance is three standard
		// deviations of the difference of two such counts (~sqrt(2m)),
		// and at least 5.
		tol := int(math.Max(5, math.Ceil(3*math.Sqrt(2*float64(m)))))
		t.Logf("evidence probe vs meter: kubectl zdd probe %d of %d failed %v; meter %d of %d failed %v; difference %d (tolerance %d)",
			got.Failed, got.Sent, got.FailedByKind, m, rep.NewConn.Sent, rep.NewConn.ByKind, diff, tol)
		if got.Failed == 0 {
			t.Errorf("kubectl zdd probe counted no failure in a negative control the meter saw %d in", m)
		}
		if diff < -tol || diff > tol {
			t.Errorf("kubectl zdd probe counted %d failures, the meter %d: more than %d apart", got.Failed, m, tol)
		}
	}
}

// TestEvidenceGracePeriodTooShort: requests that take 4 s, a preStop sleep
// of 2 s: with a grace period of 3 s the kubelet kills the program while
// it still serves the requests that reached it before kube-proxy stopped
// sending them; with 30 s they all finish.
func TestEvidenceGracePeriodTooShort(t *testing.T) {
	t.Parallel()
	// requests of 8 s: the ones a pod took just before its endpoint went
	// are still in flight when the sleep ends and the program drains
	slow := meter.Options{URL: "/slow?s=8", KeepAliveRate: -1, Timeout: 15 * time.Second}
	// both arms sleep 5 s in preStop, long enough for the endpoint's
	// removal to reach kube-proxy on a loaded machine (2 s was not: one
	// connection of 3,600 went to a pod already gone); only the grace
	// period differs: 6 s kills the 8-second requests still in flight
	// after the sleep, 30 s lets them finish
	short := zddApp()
	short.PreStop, short.GracePeriod = ptr.To[int64](5), ptr.To[int64](6)
	fixed := zddApp()
	fixed.PreStop, fixed.GracePeriod = ptr.To[int64](5), ptr.To[int64](30)
	runEvidence(t, "grace-period-too-short",
		arm{name: "grace 6s with preStop 5s", app: short, errors: []string{"grace-period-too-short"}, lost: true, load: slow},
		arm{name: "grace 30s with preStop 5s", app: fixed, load: slow})
}
