//go:build e2e

package e2e

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/test/meter"
)

// The traffic suite: releases on the real node under a steady stream of
// requests, judged by the requests they lose. The negative controls come
// first: they show that the meter sees failures when a release causes them,
// so the zeros of the other tests mean something.

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

// TestTrafficNegativeControlPlainSetImage: a plain `kubectl set image` of the
// naive manifest loses requests, as the old pods exit while kube-proxy still
// sends them traffic. The meter must see it.
func TestTrafficNegativeControlPlainSetImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, naiveApp())
	tr := e.StartTraffic(node, "web", meter.Options{})
	time.Sleep(3 * time.Second)
	e.MustKubectl("set", "image", "deployment/web", "app="+realImage("v2"))
	e.RolloutStatus("web", 2*time.Minute)
	rep := tr.Stop(minTrafficDuration)
	if rep.NewConn.Failed == 0 {
		t.Errorf("negative control: a plain set image of the naive manifest lost no request of %d: the meter cannot see failures", rep.NewConn.Sent)
	}
	if rep.NewConn.ByVersion["v2"] == 0 {
		t.Errorf("no answer from v2 after the release: %v", rep.NewConn.ByVersion)
	}
}

// TestTrafficRolloutZeroDowntime: a guarded rollout of the zero-downtime
// manifest loses nothing.
func TestTrafficRolloutZeroDowntime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, zddApp())
	tr := e.StartTraffic(node, "web", meter.Options{})
	time.Sleep(3 * time.Second)
	r := e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "2m")
	if r.Code != 0 {
		t.Fatalf("rollout: %s", r)
	}
	rep := tr.Stop(minTrafficDuration)
	assertNoFailedRequests(t, "rollout v1 -> v2", rep)
	if rep.NewConn.ByVersion["v2"] == 0 || rep.NewConn.ByVersion["v1"] == 0 {
		t.Errorf("answers per version %v: want both v1 and v2", rep.NewConn.ByVersion)
	}
}
