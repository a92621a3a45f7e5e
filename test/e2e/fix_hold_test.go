//go:build e2e

package e2e

import (
	"maps"
	"strings"
	"syscall"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/test/meter"
)

// TestTrafficFixKilledDuringHold: a `rollout --fix` of the naive manifest
// killed while it holds the old pods out of the Service is finished by
// resume (killed right after it recorded the hold, before the Service
// changed) and undone by abort (killed once the Service selects only the
// new pods): either way the Service gets its selector back, the
// Deployment its fixed minReadySeconds and surge, the record drops the
// hold, and no request is lost.
func TestTrafficFixKilledDuringHold(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	check := func(t *testing.T, name string, was map[string]string, wantImage string) {
		t.Helper()
		if svc := getService(e, name); !maps.Equal(svc.Spec.Selector, was) {
			t.Errorf("service %s selector %v, want %v as before the release", name, svc.Spec.Selector, was)
		}
		d := getDeployment(e, name)
		if got := imageOf(d); got != wantImage {
			t.Errorf("image %q, want %q", got, wantImage)
		}
		if d.Spec.MinReadySeconds != 0 || d.Spec.Strategy.RollingUpdate == nil || d.Spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" {
			t.Errorf("minReadySeconds %d, strategy %+v; want 0 and maxSurge 25%% as the fix left it", d.Spec.MinReadySeconds, d.Spec.Strategy.RollingUpdate)
		}
		if v, ok := d.Annotations[state.ParamPrefix+"hold"]; ok {
			t.Errorf("the record still holds the hold: %s", v)
		}
	}
	t.Run("killed after recording the hold, then resume", func(t *testing.T) {
		app := naiveApp()
		app.Name = "web"
		startRealApp(e, app)
		was := getService(e, "web").Spec.Selector
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=rollout:hold"}}, "rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "3m", "--fix")
		if killed.Code != -1 && killed.Code != 137 {
			t.Logf("killed run: exit %d", killed.Code)
		}
		if ph := getDeployment(e, "web").Annotations[state.KeyPhase]; ph != "hold" {
			t.Fatalf("the killed run left phase %q, want hold:\n%s", ph, killed)
		}
		r := e.Zdd("resume", "deployment/web", "--force-unlock", "--timeout", "3m")
		wantCode(t, "resume", r, 0)
		rep := tr.Stop(minTrafficDuration)
		t.Logf("MEASURE rollout --fix killed at the hold, then resume: meter %d of %d failed %v", rep.Failed(), rep.Sent(), rep.NewConn.ByKind)
		assertNoFailedRequests(t, "rollout --fix killed at the hold, then resumed", rep)
		if !strings.Contains(r.Stdout+r.Stderr, "holding the old pods out of service/web") {
			t.Errorf("resume does not say it holds the old pods out of the service:\n%s", r)
		}
		check(t, "web", was, realImage("v2"))
	})
	t.Run("killed with the service narrowed, then abort", func(t *testing.T) {
		app := naiveApp()
		app.Name = "shop"
		startRealApp(e, app)
		d0 := getDeployment(e, "shop")
		was := getService(e, "shop").Spec.Selector
		tr := e.StartTraffic(node, "shop", meter.Options{})
		time.Sleep(3 * time.Second)
		run := e.zddStart(nil, "rollout", "deployment/shop", "--image", "app="+realImage("v2"), "--timeout", "3m", "--fix")
		e.waitForPhase("shop", "hold")
		deadline := time.Now().Add(time.Minute)
		for {
			if _, narrowed := getService(e, "shop").Spec.Selector[appsv1.DefaultDeploymentUniqueLabelKey]; narrowed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the service was not narrowed to the new pods within a minute")
			}
			time.Sleep(50 * time.Millisecond)
		}
		run.signal(t, syscall.SIGKILL)
		held := getDeployment(e, "shop").Spec.MinReadySeconds != 0
		if !held {
			t.Logf("the killed run had let the old pods go already (minReadySeconds 0): the abort is tested from later in the hold")
		}
		r := e.Zdd("abort", "deployment/shop", "--force-unlock", "--timeout", "3m")
		wantCode(t, "abort", r, 0)
		rep := tr.Stop(minTrafficDuration)
		t.Logf("MEASURE rollout --fix killed in the hold, then abort: meter %d of %d failed %v", rep.Failed(), rep.Sent(), rep.NewConn.ByKind)
		assertNoFailedRequests(t, "rollout --fix killed in the hold, then aborted", rep)
		if !strings.Contains(r.Stdout+r.Stderr, "service/shop selects every pod of its selector again") {
			t.Errorf("abort does not say it restored the service's selector:\n%s", r)
		}
		if held && !strings.Contains(r.Stdout+r.Stderr, "go back with the template of revision") {
			t.Errorf("abort of a release killed while it held the old pods does not set minReadySeconds back with the template:\n%s", r)
		}
		check(t, "shop", was, imageOf(d0))
		if got := getDeployment(e, "shop").Annotations[state.KeyResult]; got != state.ResultAborted {
			t.Errorf("result %q, want aborted", got)
		}
	})
}
