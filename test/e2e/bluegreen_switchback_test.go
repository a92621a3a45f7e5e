//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// greenUpdatedTwice adds web-green (0 replicas) to the blue-green app and
// sets its image twice, so that the two colours' Deployments are at
// different generations (1 and 3) when the release starts, as they are
// after any colour was updated twice.
func greenUpdatedTwice(t *testing.T, e *Env) {
	t.Helper()
	d := appDeployment(AppSpec{Name: "web", Replicas: 1, Image: "registry.example/web:v0", PodLabels: map[string]string{"version": "green"}})
	d.Name = "web-green"
	d.Spec.Selector.MatchLabels["version"] = "green"
	d.Spec.Replicas = ptr.To[int32](0)
	e.Apply(toYAML(d))
	for _, img := range []string{"registry.example/web:v0.1", "registry.example/web:v0.2"} {
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":%q}]}}}}`, img)
		if _, err := e.Client.AppsV1().Deployments(e.NS).Patch(e.Ctx, "web-green", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	blue, green := getDeployment(e, "web-blue"), getDeployment(e, "web-green")
	if blue.Generation == green.Generation {
		t.Fatalf("the colours are at the same generation %d", blue.Generation)
	}
	t.Logf("web-blue at generation %d, web-green at %d", blue.Generation, green.Generation)
}

// analysisFile writes an analysis of the HTTP metric url (2 measurements,
// none may fail) and returns its path.
func analysisFile(t *testing.T, url string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "analysis.yaml")
	spec := fmt.Sprintf("interval: 500ms\ncount: 2\nfailureLimit: 0\nmetrics:\n- name: error-rate\n  max: 0.05\n  http:\n    url: %s/errors?color={{.Color}}\n", url)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestBlueGreenSwitchBackAcrossGenerations: with the colours' Deployments
// at different generations (web-green updated twice before the release),
// a failing post-switch analysis switches straight back to blue (exit 1),
// and so do 'bluegreen rollback' and 'abort' of a release killed in its
// analysis (exit 0); the Service never selects a colour without ready pods.
// Before, the switch back after the failing analysis compared blue with
// the Deployment deploy had written for green, refused it as "changed by
// someone else", left the traffic on the failing colour and exited 3.
func TestBlueGreenSwitchBackAcrossGenerations(t *testing.T) {
	t.Parallel()
	for _, how := range []string{"failing analysis", "rollback", "abort"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.Apply(blueGreenApp("registry.example/web:v1"))
			e.RolloutStatus("web-blue", 2*time.Minute)
			e.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
			greenUpdatedTwice(t, e)
			failing := how == "failing analysis"
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if failing && r.URL.Query().Get("color") == "green" {
					fmt.Fprint(w, "0.42")
					return
				}
				fmt.Fprint(w, "0")
			}))
			defer srv.Close()
			deploy := []string{"bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--analysis", analysisFile(t, srv.URL), "--timeout", "2m"}

			dt, cw := e.WatchDowntime("web"), watchColours(e, "web")
			var r CmdResult
			switch how {
			case "failing analysis":
				r = e.Zdd(deploy...)
				wantCode(t, "deploy with a failing post-switch analysis", r, 1)
				if !strings.Contains(r.Stderr, "switched back to blue") {
					t.Errorf("the error does not say the service was switched back:\n%s", r.Stderr)
				}
			case "rollback":
				wantCode(t, "deploy", e.Zdd(deploy...), 0)
				r = e.Zdd("bluegreen", "rollback", "service/web", "--timeout", "2m")
				wantCode(t, "rollback", r, 0)
			case "abort":
				killed := e.ZddWith(ZddOpts{Env: []string{state.KillAtPhaseEnv + "=bluegreen:analysis"}}, deploy...)
				if killed.Code != -1 {
					t.Fatalf("the deploy was not killed in its analysis: %s", killed)
				}
				r = e.Zdd("abort", "service/web", "--force-unlock", "--timeout", "2m")
				wantCode(t, "abort", r, 0)
			}
			samples := cw.Stop()
			assertNoDip(t, dt.Stop(), samples, 1)
			if got := e.serviceSelector("web")["version"]; got != "blue" {
				t.Errorf("service selects version=%q after the %s, want blue\n%s", got, how, r)
			}
			if _, ready := e.replicas("web-blue"); ready < 1 {
				t.Errorf("web-blue has no ready pod after the %s", how)
			}
		})
	}
}

// TestBlueGreenLeaseTakenOverMidRelease: a deploy whose Lease is taken
// over (as another run's --force-unlock does) while its post-switch
// analysis runs makes no write after that moment, although the analysis
// fails: the Service (watched: no new resourceVersion), the two
// Deployments (no new generation, the same annotations) and the record
// stay as they were; it exits 3 naming the other holder and the phase its
// record keeps. Before, the switch back and the record were written over
// the other run's operation.
func TestBlueGreenLeaseTakenOverMidRelease(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Apply(blueGreenApp("registry.example/web:v1"))
	e.RolloutStatus("web-blue", 2*time.Minute)
	e.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)

	type snapshot struct {
		svcRV             string
		generations, anns map[string]string
	}
	take := func() snapshot {
		s := snapshot{generations: map[string]string{}, anns: map[string]string{}}
		svc, err := e.Client.CoreV1().Services(e.NS).Get(context.Background(), "web", metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return s
		}
		s.svcRV = svc.ResourceVersion
		for _, n := range []string{"web-blue", "web-green"} {
			d, err := e.Client.AppsV1().Deployments(e.NS).Get(context.Background(), n, metav1.GetOptions{})
			if err != nil {
				t.Error(err)
				continue
			}
			s.generations[n] = fmt.Sprint(d.Generation, " replicas ", ptr.Deref(d.Spec.Replicas, 1))
			s.anns[n] = fmt.Sprint(d.Annotations)
		}
		return s
	}
	var takenOver atomic.Bool
	var at snapshot
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("color") == "green" && takenOver.CompareAndSwap(false, true) {
			// another run takes the lease over, as --force-unlock does
			other := &state.Lock{Client: e.Client.CoordinationV1(), Namespace: e.NS, Name: state.LeaseName("service", "web"), Holder: "another run"}
			if err := other.Acquire(context.Background(), true); err != nil {
				t.Errorf("taking the lease over: %v", err)
			}
			at = take()
		}
		fmt.Fprint(w, "0.42") // failing: the run would switch back
	}))
	defer srv.Close()

	svcWatch, err := e.Client.CoreV1().Services(e.NS).Watch(e.Ctx, metav1.ListOptions{FieldSelector: "metadata.name=web"})
	if err != nil {
		t.Fatal(err)
	}
	defer svcWatch.Stop()
	r := e.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--analysis", analysisFile(t, srv.URL), "--timeout", "2m")
	wantCode(t, "deploy whose lease was taken over", r, 3)
	if !strings.Contains(r.Stderr, `was taken over by "another run"`) || !strings.Contains(r.Stderr, "phase analysis recorded on service") {
		t.Errorf("the error does not name the other holder and the phase kept:\n%s", r.Stderr)
	}
	if !takenOver.Load() {
		t.Fatal("the analysis never asked about green: the lease was not taken over")
	}
	after := take()
	if after.svcRV != at.svcRV {
		t.Errorf("service web was written after the takeover: resourceVersion %s -> %s, selector %v", at.svcRV, after.svcRV, e.serviceSelector("web"))
	}
	for _, n := range []string{"web-blue", "web-green"} {
		if after.generations[n] != at.generations[n] || after.anns[n] != at.anns[n] {
			t.Errorf("deployment %s was written after the takeover: %s -> %s, %s -> %s", n, at.generations[n], after.generations[n], at.anns[n], after.anns[n])
		}
	}
	ann := serviceAnnotations(e, "web")
	if ann[state.KeyPhase] != "analysis" || ann[state.KeyResult] != "" || e.serviceSelector("web")["version"] != "green" {
		t.Errorf("record phase %q result %q, selector %v: want the state the run left at the takeover", ann[state.KeyPhase], ann[state.KeyResult], e.serviceSelector("web"))
	}
}
