//go:build e2e

package e2e

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
)

// releaseJSONOut is the -o json of bluegreen deploy and canary.
type releaseJSONOut struct {
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	Operation *struct {
		ID     string `json:"id"`
		Result string `json:"result"`
	} `json:"operation"`
	RequestsMeasured bool          `json:"requestsMeasured"`
	Requests         *probe.Report `json:"requests"`
}

// TestReleaseJSON: -o json of bluegreen deploy and canary is one JSON
// object on stdout (the steps, the capacity line and the requests line on
// stderr) carrying the operation and, as rollout's, requestsMeasured and
// requests: measured with --probe (a URL served by this test: the probe
// runs from the user's machine), not measured without.
func TestReleaseJSON(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) }))
	t.Cleanup(srv.Close)
	decode := func(t *testing.T, r CmdResult) releaseJSONOut {
		t.Helper()
		var out releaseJSONOut
		if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
			t.Fatalf("-o json: stdout is not one JSON object: %v\n%s", err, r)
		}
		if !strings.Contains(r.Stderr, "capacity: service ") {
			t.Errorf("-o json: no capacity line on stderr:\n%s", r.Stderr)
		}
		return out
	}
	t.Run("bluegreen deploy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.Apply(blueGreenApp("registry.example/web:v1"))
		e.RolloutStatus("web-blue", 2*time.Minute)
		r := e.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "2m", "--probe", srv.URL, "-o", "json")
		wantCode(t, "bluegreen deploy --probe -o json", r, 0)
		out := decode(t, r)
		if out.Kind != "service" || out.Name != e.NS+"/web" || out.Operation == nil || out.Operation.Result != "succeeded" {
			t.Errorf("-o json: %+v, want the operation on service %s/web, succeeded", out, e.NS)
		}
		if !out.RequestsMeasured || out.Requests == nil || out.Requests.Sent == 0 || out.Requests.Failed != 0 {
			t.Errorf("-o json requests: measured %v, %+v; want sent > 0, failed 0", out.RequestsMeasured, out.Requests)
		}
		if !strings.Contains(r.Stderr, "requests: ") {
			t.Errorf("-o json: no requests line on stderr:\n%s", r.Stderr)
		}
		r = e.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v3", "--timeout", "2m", "-o", "json")
		wantCode(t, "bluegreen deploy -o json", r, 0)
		if out := decode(t, r); out.RequestsMeasured || out.Requests != nil {
			t.Errorf("-o json without --probe: measured %v, %+v; want not measured", out.RequestsMeasured, out.Requests)
		}
	})
	t.Run("canary", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.Apply(appManifest(AppSpec{Replicas: 3}))
		e.RolloutStatus("web", 2*time.Minute)
		r := e.Zdd("canary", "deployment/web", "--image", "app=registry.example/web:v2", "--steps", "34,100", "--timeout", "2m", "--probe", srv.URL, "-o", "json")
		wantCode(t, "canary --probe -o json", r, 0)
		out := decode(t, r)
		if out.Kind != "deployment" || out.Name != e.NS+"/web" || out.Operation == nil || out.Operation.Result != "succeeded" {
			t.Errorf("-o json: %+v, want the operation on deployment %s/web, succeeded", out, e.NS)
		}
		if !out.RequestsMeasured || out.Requests == nil || out.Requests.Sent == 0 || out.Requests.Failed != 0 {
			t.Errorf("-o json requests: measured %v, %+v; want sent > 0, failed 0", out.RequestsMeasured, out.Requests)
		}
	})
}
