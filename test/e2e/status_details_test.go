//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestStatusDetails: after a real rollout, a real blue-green deploy and a
// canary paused at a step, `kubectl zdd status` shows in DETAILS what a
// person needs (images as container=image, revisions, step and weight,
// colours) and none of the raw params kept for resume; -o wide adds the
// operation id and the params shortened; -o yaml gives them whole.
func TestStatusDetails(t *testing.T) {
	const v2 = "registry.example/web:v2"
	// checkStatus runs status on target and checks its table row, -o wide
	// and -o yaml.
	checkStatus := func(t *testing.T, e *Env, target string, wantDetails []string, wantParam string) {
		t.Helper()
		r := e.Zdd("status", target)
		if r.Code != 0 {
			t.Fatalf("status: %s", r)
		}
		t.Logf("status %s:\n%s", target, r.Stdout)
		for _, want := range append([]string{"DETAILS"}, wantDetails...) {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("status does not show %q:\n%s", want, r.Stdout)
			}
		}
		for _, raw := range []string{"bytes>", "template=", "images=", "OPERATION", "PARAMS"} {
			if strings.Contains(r.Stdout, raw) {
				t.Errorf("status shows %q (a raw param or a wide column):\n%s", raw, r.Stdout)
			}
		}
		kind, name, _ := strings.Cut(target, "/")
		var annotations map[string]string
		if kind == "service" {
			annotations = serviceAnnotations(e, name)
		} else {
			annotations = getDeployment(e, name).Annotations
		}
		wide := e.Zdd("status", target, "-o", "wide")
		if wide.Code != 0 {
			t.Fatalf("status -o wide: %s", wide)
		}
		for _, want := range append([]string{"OPERATION", "PARAMS", annotations[state.KeyOperationID], wantParam + "=", "bytes)"}, wantDetails...) {
			if !strings.Contains(wide.Stdout, want) {
				t.Errorf("status -o wide does not show %q:\n%s", want, wide.Stdout)
			}
		}
		y := e.Zdd("status", target, "-o", "yaml")
		if y.Code != 0 {
			t.Fatalf("status -o yaml: %s", y)
		}
		// the whole value, as recorded (a long one is folded by YAML: look
		// for its start)
		whole := annotations[state.ParamPrefix+wantParam]
		if whole == "" || !strings.Contains(y.Stdout, whole[:min(len(whole), 30)]) || !strings.Contains(y.Stdout, "    "+wantParam+": ") {
			t.Errorf("status -o yaml does not give param %s (%q) whole:\n%s", wantParam, whole, y.Stdout)
		}
	}

	t.Run("rollout", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		startApp(e, AppSpec{})
		e.mustZdd("rollout", "deployment/web", "--image", "app="+v2, "--timeout", "2m")
		checkStatus(t, e, "deployment/web", []string{"revision 1->2", "images app=" + v2}, "images")
	})

	t.Run("bluegreen deploy", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		e.Apply(blueGreenApp("registry.example/web:v1"))
		e.RolloutStatus("web-blue", 2*time.Minute)
		e.mustZdd("bluegreen", "deploy", "service/web", "--image", "app="+v2, "--timeout", "2m")
		checkStatus(t, e, "service/web", []string{"deploy, colour blue->green, live green, images app=" + v2}, "template")
	})

	t.Run("canary step", func(t *testing.T) {
		t.Parallel()
		e := canaryApp(t, 4)
		run := startZdd(e, "canary", "canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--pause", "1h", "--timeout", "5m")
		e.waitForPhase("web", "step-1")
		// the weight is recorded once the step's canary is ready
		deadline := time.Now().Add(time.Minute)
		for getDeployment(e, "web").Annotations[state.ParamPrefix+"weight"] != "50" {
			if time.Now().After(deadline) {
				t.Fatalf("the canary recorded no weight 50 within a minute: %v", getDeployment(e, "web").Annotations)
			}
			time.Sleep(200 * time.Millisecond)
		}
		checkStatus(t, e, "deployment/web", []string{"step 1/2, weight 50%, revision 1->-, images app=" + canaryV2}, "template")
		_ = run.cmd.Process.Kill()
		run.wait(t, time.Minute)
		// the killed run's lease is taken at once (this host, pid gone)
		e.mustZdd("abort", "deployment/web", "--timeout", "2m")
	})
}
