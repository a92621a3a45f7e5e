//go:build e2e

package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/test/meter"
)

// requestsRecord is the zdd.dev/requests annotation.
type requestsRecord struct {
	OperationID string `json:"operationId"`
	Sent        int    `json:"sent"`
	Failed      int    `json:"failed"`
}

// serviceRequests reads zdd.dev/requests and the operation id of the
// record on Service name.
func serviceRequests(t *testing.T, e *Env, name string) (rec requestsRecord, opID string) {
	t.Helper()
	ann := serviceAnnotations(e, name)
	if v := ann["zdd.dev/requests"]; v != "" {
		if err := json.Unmarshal([]byte(v), &rec); err != nil {
			t.Fatalf("zdd.dev/requests %q: %v", v, err)
		}
	}
	return rec, ann[state.KeyOperationID]
}

// TestTrafficUndoProbe: --probe on the commands that go back (rollback,
// canary abort; bluegreen rollback in TestTrafficBlueGreenUndoProbe) and
// on resume with the probe settings the record keeps, on the real node:
// each prints the requests line with requests sent and none failed, loses
// nothing by the meter, and the operations with a record of their own
// (bluegreen rollback, the resumed deploy) get what was measured in
// zdd.dev/requests (rollback keeps no record; canary abort ends the
// canary's operation, whose own figures stay).
func TestTrafficUndoProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, zddApp())
	wantCode(t, "rollout to v2", e.Zdd("rollout", "deployment/web", "--image", "app="+realImage("v2"), "--timeout", "2m"), 0)
	e.waitNoTerminatingPods(3 * time.Minute)

	measured := func(t *testing.T, what string, r CmdResult) int {
		t.Helper()
		sent, failed := requestsLine(t, r.Stdout)
		if sent == 0 || failed != 0 {
			t.Errorf("%s: requests line %d sent, %d failed; want some sent and none failed:\n%s", what, sent, failed, r.Stdout)
		}
		return sent
	}

	t.Run("rollback --probe", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		r := e.Zdd("rollback", "deployment/web", "--timeout", "2m", "--probe", tr.url)
		wantCode(t, "rollback --probe", r, 0)
		assertNoFailedRequests(t, "rollback --probe", tr.Stop(minTrafficDuration))
		measured(t, "rollback --probe", r)
		if got := imageOf(getDeployment(e, "web")); got != realImage("v1") {
			t.Errorf("image after the rollback %q, want v1", got)
		}
	})

	t.Run("canary abort --probe", func(t *testing.T) {
		wantCode(t, "canary holding at 34%", e.Zdd("canary", "deployment/web", "--image", "app="+realImage("v3"), "--weight", "34", "--timeout", "2m"), 0)
		e.waitNoTerminatingPods(3 * time.Minute)
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		r := e.Zdd("canary", "abort", "deployment/web", "--timeout", "2m", "--probe", tr.url)
		wantCode(t, "canary abort --probe", r, 0)
		assertNoFailedRequests(t, "canary abort --probe", tr.Stop(minTrafficDuration))
		measured(t, "canary abort --probe", r)
		d := getDeployment(e, "web")
		if got := imageOf(d); got != realImage("v1") || *d.Spec.Replicas != 3 {
			t.Errorf("stable after the abort: image %q, %d replicas; want v1 at 3", got, *d.Spec.Replicas)
		}
	})

}

// TestTrafficBlueGreenUndoProbe: TestTrafficUndoProbe's checks for
// bluegreen rollback and for resume with the recorded probe, on a
// blue-green Service of its own.
func TestTrafficBlueGreenUndoProbe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	node := needRealNode(t, e.Client, localClusterName())
	startRealApp(e, zddApp())
	measured := func(t *testing.T, what string, r CmdResult) int {
		t.Helper()
		sent, failed := requestsLine(t, r.Stdout)
		if sent == 0 || failed != 0 {
			t.Errorf("%s: requests line %d sent, %d failed; want some sent and none failed:\n%s", what, sent, failed, r.Stdout)
		}
		return sent
	}
	wantCode(t, "bluegreen init", e.Zdd("bluegreen", "init", "service/web", "--timeout", "2m"), 0)
	wantCode(t, "bluegreen deploy v2", e.Zdd("bluegreen", "deploy", "service/web", "--image", "app="+realImage("v2"), "--timeout", "2m"), 0)
	e.waitNoTerminatingPods(3 * time.Minute)

	t.Run("bluegreen rollback --probe", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		r := e.Zdd("bluegreen", "rollback", "service/web", "--timeout", "2m", "--probe", tr.url)
		wantCode(t, "bluegreen rollback --probe", r, 0)
		assertNoFailedRequests(t, "bluegreen rollback --probe", tr.Stop(minTrafficDuration))
		sent := measured(t, "bluegreen rollback --probe", r)
		if got := e.serviceSelector("web")["version"]; got != "blue" {
			t.Errorf("service selects version=%q after the rollback, want blue", got)
		}
		rec, id := serviceRequests(t, e, "web")
		if rec.OperationID != id || id == "" || rec.Sent != sent || rec.Failed != 0 {
			t.Errorf("zdd.dev/requests %+v, want the rollback's (operation %s): %d sent, 0 failed", rec, id, sent)
		}
		if p := serviceAnnotations(e, "web")["zdd.dev/param.probe"]; !strings.Contains(p, tr.url) {
			t.Errorf("the rollback does not record its probe settings: zdd.dev/param.probe %q", p)
		}
	})

	t.Run("resume with the recorded probe", func(t *testing.T) {
		tr := e.StartTraffic(node, "web", meter.Options{})
		time.Sleep(3 * time.Second)
		run := e.zddStart(nil, "bluegreen", "deploy", "service/web", "--image", "app="+realImage("v3"), "--timeout", "2m", "--scale-down-delay", "20s", "--probe", tr.url)
		e.waitService("web", "phase scale-down-delay", phaseIs("scale-down-delay"))
		r := run.signal(t, os.Interrupt)
		checkInterrupted(t, e, r, "scale-down-delay", "green")
		r = e.Zdd("resume", "service/web", "--timeout", "2m", "--yes")
		wantCode(t, "resume with the recorded probe", r, 0)
		assertNoFailedRequests(t, "deploy --probe interrupted, then resume", tr.Stop(minTrafficDuration))
		if !strings.Contains(r.Stdout, "probe: "+tr.url) {
			t.Errorf("resume did not start the recorded probe:\n%s", r)
		}
		sent := measured(t, "resume", r)
		rec, id := serviceRequests(t, e, "web")
		if rec.OperationID != id || id == "" || rec.Sent != sent || rec.Failed != 0 {
			t.Errorf("zdd.dev/requests %+v, want resume's figures (operation %s): %d sent, 0 failed", rec, id, sent)
		}
		if got := e.serviceSelector("web")["version"]; got != "green" {
			t.Errorf("service selects version=%q after resume, want green", got)
		}
	})
}
