//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
)

// gatewayAPIVersion is the sigs.k8s.io/gateway-api release whose CRDs the
// Gateway API canary test installs (read from the Go module cache, never a
// dependency of the plugin).
const gatewayAPIVersion = "v1.2.1"

const canaryV2 = "registry.example/web:v2"

var (
	httpRouteGVR      = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	virtualServiceGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}
	trafficSplitGVR   = schema.GroupVersionResource{Group: "split.smi-spec.io", Version: "v1alpha2", Resource: "trafficsplits"}
	ingressGVR        = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
)

// canaryStepLine matches the tool's report of each step.
var canaryStepLine = regexp.MustCompile(`step (\d+)/(\d+): weight (\d+)%: effective weight (\d+)% \((\d+) of (\d+) ready pods`)

type canaryStep struct{ Step, Weight, Canary, All int }

func canarySteps(out string) []canaryStep {
	var s []canaryStep
	for _, m := range canaryStepLine.FindAllStringSubmatch(out, -1) {
		n := func(i int) int { v, _ := strconv.Atoi(m[i]); return v }
		s = append(s, canaryStep{Step: n(1), Weight: n(3), Canary: n(5), All: n(6)})
	}
	return s
}

// ceilSplit is the replica split the issue specifies, written out again here
// so the test does not trust the code under test.
func ceilSplit(n, w int) (canary, stable int) {
	if w == 0 {
		return 0, n
	}
	c := (n*w + 99) / 100
	if c < 1 {
		c = 1
	}
	return c, n - c
}

// splitsSeen returns, in order, the distinct (canary, stable) ready counts
// of the timeline while only the first stable revision and one other were
// ready; stableHash is the hash ready at the start.
func splitsSeen(rep downtime.Report) (stableHash string, seen [][2]int) {
	if len(rep.Timeline) == 0 {
		return "", nil
	}
	for h := range rep.Timeline[0].ByHash {
		stableHash = h
	}
	for _, s := range rep.Timeline {
		if len(s.ByHash) > 2 {
			continue
		}
		st := s.ByHash[stableHash]
		pair := [2]int{s.Ready - st, st}
		if n := len(seen); n == 0 || seen[n-1] != pair {
			seen = append(seen, pair)
		}
	}
	return stableHash, seen
}

// isSubsequence reports whether want appears in got in order.
func isSubsequence(want, got [][2]int) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func (e *Env) deployment(name string) *appsv1.Deployment {
	e.T.Helper()
	d, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatalf("reading deployment %q: %v", name, err)
	}
	return d
}

func (e *Env) deploymentGone(name string) bool {
	_, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	return apierrors.IsNotFound(err)
}

func (e *Env) mustZdd(args ...string) CmdResult {
	e.T.Helper()
	r := e.Zdd(args...)
	if r.Code != 0 {
		e.T.Fatalf("kubectl zdd %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// canaryApp deploys the app with n replicas and waits until it is ready.
func canaryApp(t *testing.T, n int32) *Env {
	env := newEnv(t)
	env.Apply(appManifest(AppSpec{Replicas: n, MaxUnavailable: "25%", MaxSurge: "25%"}))
	env.RolloutStatus("web", 2*time.Minute)
	// A finished rollout can be ahead of the EndpointSlices: wait until all n
	// pods are ready endpoints, so a test's downtime watch starts from n.
	w, err := downtime.Start(env.Ctx, env.Client, env.NS, "web")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(env.Ctx, time.Minute)
	defer cancel()
	if err := w.WaitFor(ctx, func(ready int) bool { return ready == int(n) }); err != nil {
		t.Fatalf("waiting for %d ready endpoints of service web: %v", n, err)
	}
	w.Stop()
	return env
}

func TestCanaryReplicaRatioProgression(t *testing.T) {
	t.Parallel()
	const n = 5
	env := canaryApp(t, n)
	watch := env.WatchDowntime("web")
	r := env.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "10,30,50,100", "--pause", "1s", "--timeout", "4m")
	rep := watch.Stop()
	if r.Code != 0 {
		t.Fatalf("canary: %s", r)
	}
	t.Logf("%s\n%s", r.Stdout, rep.Summary())

	var want []canaryStep
	var wantSplits [][2]int
	for i, w := range []int{10, 30, 50, 100} {
		c, s := ceilSplit(n, w)
		want = append(want, canaryStep{Step: i + 1, Weight: w, Canary: c, All: n})
		wantSplits = append(wantSplits, [2]int{c, s})
	}
	if diff := cmp.Diff(want, canarySteps(r.Stdout)); diff != "" {
		t.Errorf("effective weights printed at each step (-want +got):\n%s", diff)
	}
	_, seen := splitsSeen(rep)
	if !isSubsequence(wantSplits, seen) {
		t.Errorf("ready (canary, stable) endpoints seen %v do not include the expected splits %v in order", seen, wantSplits)
	}
	if rep.MinReady < n {
		t.Errorf("ready endpoints fell to %d, below the %d replicas", rep.MinReady, n)
	}
	if rep.ZeroFor != 0 {
		t.Errorf("no ready endpoint for %s", rep.ZeroFor)
	}
	// Finished: the stable runs v2 on n replicas with its own strategy back,
	// and the canary is gone.
	d := env.deployment("web")
	if got := d.Spec.Template.Spec.Containers[0].Image; got != canaryV2 {
		t.Errorf("stable image = %q, want %q", got, canaryV2)
	}
	if *d.Spec.Replicas != n || d.Spec.Strategy.RollingUpdate.MaxUnavailable.String() != "25%" {
		t.Errorf("stable replicas %d maxUnavailable %s, want %d and 25%% (restored)", *d.Spec.Replicas, d.Spec.Strategy.RollingUpdate.MaxUnavailable, n)
	}
	if _, ok := d.Spec.Template.Labels["track"]; ok {
		t.Errorf("stable pod template took the canary's track label: %v", d.Spec.Template.Labels)
	}
	if d.Annotations["zdd.dev/strategy"] != "canary" || d.Annotations["zdd.dev/result"] != "succeeded" || d.Annotations["zdd.dev/param.steps"] != "10,30,50,100" {
		t.Errorf("operation record: %v", d.Annotations)
	}
	if !env.deploymentGone("web-canary") {
		t.Error("deployment web-canary still exists after the release finished")
	}
}

// failingAtSecondCall serves a metric that passes (0) on its first request
// and fails (5) afterwards.
func failingAtSecondCall(t *testing.T) (url string, calls *atomic.Int32) {
	calls = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			fmt.Fprint(w, "0")
			return
		}
		fmt.Fprint(w, "5")
	}))
	t.Cleanup(srv.Close)
	return srv.URL, calls
}

func TestCanaryFailingAnalysisAborts(t *testing.T) {
	t.Parallel()
	const n = 4
	env := canaryApp(t, n)
	url, calls := failingAtSecondCall(t)
	file := filepath.Join(t.TempDir(), "analysis.yaml")
	spec := fmt.Sprintf("interval: 100ms\ncount: 1\nfailureLimit: 0\nerrorLimit: 0\nmetrics:\n- name: error-rate\n  max: 1\n  http:\n    url: %s/metric\n", url)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	watch := env.WatchDowntime("web")
	r := env.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "10,30,50,100", "--pause", "1s", "--analysis", file, "--timeout", "3m")
	rep := watch.Stop()
	t.Logf("%s\n%s", r, rep.Summary())
	if r.Code != 1 {
		t.Fatalf("exit code %d, want 1 (aborted by the analysis): %s", r.Code, r)
	}
	if got := calls.Load(); got != 2 {
		t.Errorf("analysis measured %d times, want 2 (passed at step 1, failed at step 2)", got)
	}
	if steps := canarySteps(r.Stdout); len(steps) != 2 {
		t.Errorf("steps reached %v, want 2", steps)
	}
	d, c := env.deployment("web"), env.deployment("web-canary")
	got := []int32{*d.Spec.Replicas, d.Status.ReadyReplicas, *c.Spec.Replicas, c.Status.Replicas}
	if diff := cmp.Diff([]int32{n, n, 0, 0}, got); diff != "" {
		t.Errorf("[stable replicas, stable ready, canary replicas, canary pods] (-want +got):\n%s", diff)
	}
	if d.Spec.Template.Spec.Containers[0].Image == canaryV2 {
		t.Error("the stable took the canary's image after an abort")
	}
	if d.Annotations["zdd.dev/result"] != "aborted" || !strings.Contains(d.Annotations["zdd.dev/message"], "analysis at step 2") {
		t.Errorf("operation record: %v", d.Annotations)
	}
	if rep.MinReady < n {
		t.Errorf("ready endpoints fell to %d, below %d", rep.MinReady, n)
	}
}

func TestCanaryManualPromoteFullFromTheMiddle(t *testing.T) {
	t.Parallel()
	const n = 4
	env := canaryApp(t, n)
	watch := env.WatchDowntime("web")
	r := env.mustZdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "25,50,75,100", "--manual")
	if got := canarySteps(r.Stdout); len(got) != 1 || got[0].Canary != 1 {
		t.Fatalf("first manual run: want step 1 with 1 canary pod, got %v\n%s", got, r)
	}
	if d := env.deployment("web"); d.Annotations["zdd.dev/phase"] != "step-1" || d.Annotations["zdd.dev/result"] != "paused" {
		t.Errorf("record after step 1: phase %q result %q", d.Annotations["zdd.dev/phase"], d.Annotations["zdd.dev/result"])
	}
	r = env.mustZdd("canary", "promote", "deployment/web")
	if got := canarySteps(r.Stdout); len(got) != 1 || got[0].Step != 2 || got[0].Canary != 2 || got[0].All != n {
		t.Fatalf("promote: want step 2 with 2 of %d, got %v\n%s", n, got, r)
	}
	if d, c := env.deployment("web"), env.deployment("web-canary"); *d.Spec.Replicas != 2 || *c.Spec.Replicas != 2 {
		t.Errorf("at step 2: stable %d canary %d replicas, want 2 and 2", *d.Spec.Replicas, *c.Spec.Replicas)
	}
	env.mustZdd("canary", "promote", "deployment/web", "--full")
	rep := watch.Stop()
	t.Log(rep.Summary())
	d := env.deployment("web")
	if d.Spec.Template.Spec.Containers[0].Image != canaryV2 || *d.Spec.Replicas != n || d.Status.ReadyReplicas != n {
		t.Errorf("after promote --full: image %q replicas %d ready %d", d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas, d.Status.ReadyReplicas)
	}
	if !env.deploymentGone("web-canary") {
		t.Error("web-canary remains after promote --full")
	}
	if rep.MinReady < n {
		t.Errorf("ready endpoints fell to %d, below %d", rep.MinReady, n)
	}
}

func TestCanaryAbortFromTheMiddle(t *testing.T) {
	t.Parallel()
	const n = 4
	env := canaryApp(t, n)
	watch := env.WatchDowntime("web")
	env.mustZdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "25,50,100", "--manual")
	env.mustZdd("canary", "promote", "deployment/web")
	env.mustZdd("canary", "abort", "deployment/web")
	rep := watch.Stop()
	t.Log(rep.Summary())
	d, c := env.deployment("web"), env.deployment("web-canary")
	got := []int32{*d.Spec.Replicas, d.Status.ReadyReplicas, *c.Spec.Replicas, c.Status.Replicas}
	if diff := cmp.Diff([]int32{n, n, 0, 0}, got); diff != "" {
		t.Errorf("[stable replicas, stable ready, canary replicas, canary pods] (-want +got):\n%s", diff)
	}
	if d.Annotations["zdd.dev/result"] != "aborted" {
		t.Errorf("result %q, want aborted", d.Annotations["zdd.dev/result"])
	}
	if rep.MinReady < n {
		t.Errorf("ready endpoints fell to %d, below %d", rep.MinReady, n)
	}
	if r := env.Zdd("canary", "abort", "deployment/web"); r.Code != 2 {
		t.Errorf("a second abort: exit %d, want 2 (nothing in flight): %s", r.Code, r)
	}
}

// installCRDs applies CRD files (each holding the CRD named in crds, in
// order) and watches each until it is Established.
func (e *Env) installCRDs(files []string, crds []string) {
	e.T.Helper()
	for _, f := range files {
		r := e.run("", nil, kubectlPath, "apply", "--server-side", "--force-conflicts", "-f", f)
		if r.Code != 0 {
			e.T.Fatalf("installing %s: %s", f, r)
		}
	}
	crdGVR := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	for _, name := range crds {
		ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
		sel := fields.OneTermEqualSelector("metadata.name", name).String()
		lw := &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = sel
				return e.Dynamic.Resource(crdGVR).List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = sel
				return e.Dynamic.Resource(crdGVR).Watch(ctx, o)
			},
		}
		_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
			u, ok := ev.Object.(*unstructured.Unstructured)
			if !ok {
				return false, nil
			}
			conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
			for _, c := range conds {
				m, _ := c.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true, nil
				}
			}
			return false, nil
		})
		cancel()
		if err != nil {
			e.T.Fatalf("waiting for CRD %q to be established: %v", name, err)
		}
	}
}

// gatewayAPICRD returns the path of the HTTPRoute CRD in the module cache.
func gatewayAPICRD(t *testing.T) string {
	cmd := exec.Command("go", "mod", "download", "-json", "sigs.k8s.io/gateway-api@"+gatewayAPIVersion)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go mod download sigs.k8s.io/gateway-api@%s: %v", gatewayAPIVersion, err)
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download: %s (%v)", out, err)
	}
	return filepath.Join(mod.Dir, "config", "crd", "standard", "gateway.networking.k8s.io_httproutes.yaml")
}

func (e *Env) getObject(gvr schema.GroupVersionResource, name string) *unstructured.Unstructured {
	e.T.Helper()
	u, err := e.Dynamic.Resource(gvr).Namespace(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatalf("reading %s %q: %v", gvr.Resource, name, err)
	}
	return u
}

// weightsOf lists name=weight of the references at path (a list of maps) in
// the first element of the list at outer.
func weightsOf(u *unstructured.Unstructured, outer []string, inner string, name func(map[string]any) string) []string {
	list, _, _ := unstructured.NestedSlice(u.Object, outer...)
	if len(list) == 0 {
		return nil
	}
	refs, _, _ := unstructured.NestedSlice(list[0].(map[string]any), inner)
	var out []string
	for _, r := range refs {
		m := r.(map[string]any)
		w, _, _ := unstructured.NestedInt64(m, "weight")
		out = append(out, fmt.Sprintf("%s=%d", name(m), w))
	}
	return out
}

// webHTTPRoute is an HTTPRoute sending all of the gateway's traffic to
// Service web, as a user has it before a canary with --traffic-router
// gateway-api.
const webHTTPRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs:
  - name: shop-gateway
  rules:
  - backendRefs:
    - name: web
      port: 80
`

func TestCanaryGatewayAPI(t *testing.T) {
	t.Parallel()
	const n = 4
	env := canaryApp(t, n)
	env.installCRDs([]string{gatewayAPICRD(t)}, []string{"httproutes.gateway.networking.k8s.io"})
	env.Apply(webHTTPRoute)
	watch := env.WatchDowntime("web")
	name := func(m map[string]any) string { s, _ := m["name"].(string); return s }
	route := func() []string {
		return weightsOf(env.getObject(httpRouteGVR, "web"), []string{"spec", "rules"}, "backendRefs", name)
	}
	args := []string{"canary", "deployment/web", "--image", "app=" + canaryV2, "--steps", "10,50,100", "--manual", "--traffic-router", "gateway-api", "--route", "web"}
	r := env.mustZdd(args...)
	if diff := cmp.Diff([]string{"web-stable=90", "web-canary=10"}, route()); diff != "" {
		t.Errorf("httproute backendRefs at step 1 (-want +got):\n%s", diff)
	}
	if !strings.Contains(r.Stdout, `httproute "`+env.NS+`/web" routes 10% to the canary`) {
		t.Errorf("step 1 output does not report the route's weight:\n%s", r.Stdout)
	}
	stableSvc, err := env.Client.CoreV1().Services(env.NS).Get(env.Ctx, "web-stable", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("web-stable service: %v", err)
	}
	if stableSvc.Spec.Selector["pod-template-hash"] == "" || stableSvc.Spec.Selector["app"] != "web" {
		t.Errorf("web-stable selector %v: want app=web and the stable's pod-template-hash", stableSvc.Spec.Selector)
	}
	canarySvc, err := env.Client.CoreV1().Services(env.NS).Get(env.Ctx, "web-canary", metav1.GetOptions{})
	if err != nil || canarySvc.Spec.Selector["track"] != "canary" {
		t.Fatalf("web-canary service: %v %v", canarySvc, err)
	}
	env.mustZdd("canary", "promote", "deployment/web")
	if diff := cmp.Diff([]string{"web-stable=50", "web-canary=50"}, route()); diff != "" {
		t.Errorf("httproute backendRefs at step 2 (-want +got):\n%s", diff)
	}
	if c := env.deployment("web-canary"); *c.Spec.Replicas != 2 {
		t.Errorf("canary replicas at 50%% = %d, want 2", *c.Spec.Replicas)
	}
	env.mustZdd("canary", "promote", "deployment/web")
	if diff := cmp.Diff([]string{"web-stable=0", "web-canary=100"}, route()); diff != "" {
		t.Errorf("httproute backendRefs at step 3 (-want +got):\n%s", diff)
	}
	env.mustZdd("canary", "promote", "deployment/web", "--full")
	rep := watch.Stop()
	if diff := cmp.Diff([]string{"web-stable=100", "web-canary=0"}, route()); diff != "" {
		t.Errorf("httproute backendRefs after promote --full (-want +got):\n%s", diff)
	}
	stableSvc, _ = env.Client.CoreV1().Services(env.NS).Get(env.Ctx, "web-stable", metav1.GetOptions{})
	if diff := cmp.Diff(map[string]string{"app": "web"}, stableSvc.Spec.Selector); diff != "" {
		t.Errorf("web-stable selector after the release (-want +got):\n%s", diff)
	}
	if d := env.deployment("web"); d.Spec.Template.Spec.Containers[0].Image != canaryV2 || d.Status.ReadyReplicas != n {
		t.Errorf("stable after promote --full: image %q ready %d", d.Spec.Template.Spec.Containers[0].Image, d.Status.ReadyReplicas)
	}
	if rep.MinReady < n {
		t.Errorf("ready endpoints of web fell to %d, below %d", rep.MinReady, n)
	}
}

func TestCanaryNGINXIngress(t *testing.T) {
	t.Parallel()
	const n = 4
	env := canaryApp(t, n)
	env.Apply(`apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: web
spec:
  ingressClassName: nginx
  rules:
  - host: shop.example
    http:
      paths:
      - path: /
        pathType: Prefix
        backend:
          service:
            name: web
            port:
              number: 80
`)
	backend := func(name string) string {
		u := env.getObject(ingressGVR, name)
		rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
		paths, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "http", "paths")
		s, _, _ := unstructured.NestedString(paths[0].(map[string]any), "backend", "service", "name")
		return s + " " + u.GetAnnotations()["nginx.ingress.kubernetes.io/canary"] + " " + u.GetAnnotations()["nginx.ingress.kubernetes.io/canary-weight"]
	}
	env.mustZdd("canary", "deployment/web", "--image", "app="+canaryV2, "--weight", "30", "--traffic-router", "nginx", "--ingress", "web")
	if diff := cmp.Diff([]string{"web-stable  ", "web-canary true 30"}, []string{backend("web"), backend("web-canary")}); diff != "" {
		t.Errorf("ingresses [main, canary] as 'backend canary weight' (-want +got):\n%s", diff)
	}
	if c := env.deployment("web-canary"); *c.Spec.Replicas != 2 {
		t.Errorf("canary replicas for 30%% of 4 = %d, want 2", *c.Spec.Replicas)
	}
	env.mustZdd("canary", "abort", "deployment/web")
	if got := backend("web-canary"); got != "web-canary true 0" {
		t.Errorf("canary ingress after abort: %q, want weight 0", got)
	}
}

func TestCanaryIstioAndSMI(t *testing.T) {
	t.Parallel()
	const n = 4
	env := canaryApp(t, n)
	env.installCRDs([]string{"testdata/crds/istio-virtualservice.yaml", "testdata/crds/smi-trafficsplit.yaml"}, []string{"virtualservices.networking.istio.io", "trafficsplits.split.smi-spec.io"})
	env.Apply(`apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: web
spec:
  hosts: [web]
  http:
  - route:
    - destination:
        host: web
        port:
          number: 80
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata:
  name: web
spec:
  service: web
  backends:
  - service: web
    weight: 100
`)
	host := func(m map[string]any) string {
		s, _, _ := unstructured.NestedString(m, "destination", "host")
		return s
	}
	svc := func(m map[string]any) string { s, _ := m["service"].(string); return s }
	vs := func() []string {
		return weightsOf(env.getObject(virtualServiceGVR, "web"), []string{"spec", "http"}, "route", host)
	}
	ts := func() []string {
		u := env.getObject(trafficSplitGVR, "web")
		wrapped := &unstructured.Unstructured{Object: map[string]any{"x": []any{u.Object["spec"]}}}
		return weightsOf(wrapped, []string{"x"}, "backends", svc)
	}

	env.mustZdd("canary", "deployment/web", "--image", "app="+canaryV2, "--weight", "40", "--traffic-router", "istio", "--virtual-service", "web")
	if diff := cmp.Diff([]string{"web-stable=60", "web-canary=40"}, vs()); diff != "" {
		t.Errorf("virtualservice routes at 40%% (-want +got):\n%s", diff)
	}
	env.mustZdd("canary", "abort", "deployment/web")
	if diff := cmp.Diff([]string{"web-stable=100", "web-canary=0"}, vs()); diff != "" {
		t.Errorf("virtualservice routes after abort (-want +got):\n%s", diff)
	}

	// The new version from a manifest (-f) this time.
	manifest := filepath.Join(t.TempDir(), "web-v3.yaml")
	if err := os.WriteFile(manifest, []byte(toYAML(appDeployment(AppSpec{Replicas: n, Image: "registry.example/web:v3"}))), 0o644); err != nil {
		t.Fatal(err)
	}
	env.mustZdd("canary", "-f", manifest, "--weight", "25", "--traffic-router", "smi", "--traffic-split", "web")
	if got := env.deployment("web-canary").Spec.Template.Spec.Containers[0].Image; got != "registry.example/web:v3" {
		t.Errorf("canary image from -f = %q, want registry.example/web:v3", got)
	}
	if diff := cmp.Diff([]string{"web-stable=75", "web-canary=25"}, ts()); diff != "" {
		t.Errorf("trafficsplit backends at 25%% (-want +got):\n%s", diff)
	}
	if c := env.deployment("web-canary"); *c.Spec.Replicas != 1 {
		t.Errorf("canary replicas for 25%% of 4 = %d, want 1", *c.Spec.Replicas)
	}
	env.mustZdd("canary", "abort", "deployment/web")
	if diff := cmp.Diff([]string{"web-stable=100", "web-canary=0"}, ts()); diff != "" {
		t.Errorf("trafficsplit backends after abort (-want +got):\n%s", diff)
	}
}

func TestCanaryBadInputChangesNothing(t *testing.T) {
	env := canaryApp(t, 3)
	before := env.deployment("web")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"weight above 100", []string{"--weight", "150"}, "weight 150 is outside 0..100"},
		{"negative weight", []string{"--weight", "-5"}, "weight -5 is outside 0..100"},
		{"steps not increasing", []string{"--steps", "30,10"}, "steps must increase: 10 comes after 30"},
		{"step above 100", []string{"--steps", "10,120"}, "weight 120 is outside 0..100"},
		{"unknown router", []string{"--weight", "10", "--traffic-router", "traefik"}, `--traffic-router "traefik"`},
		{"missing route", []string{"--weight", "10", "--traffic-router", "nginx", "--ingress", "nope"}, `ingress "` + env.NS + `/nope" not found`},
		{"router without its object", []string{"--weight", "10", "--traffic-router", "gateway-api"}, "needs --route NAME"},
		{"missing CRD", []string{"--weight", "10", "--traffic-router", "smi", "--traffic-split", "web"}, ""},
		{"missing httproute", []string{"--weight", "10", "--traffic-router", "gateway-api", "--route", "nope"}, ""},
		{"unknown container", []string{"--weight", "10", "--image", "nope=x:1"}, `"nope"`},
		{"missing deployment", []string{"--weight", "10", "--image", "app=x:2", "deployment/nope"}, `deployment "` + env.NS + `/nope" not found`},
	}
	smiInstalled := false
	if _, err := env.Client.Discovery().ServerResourcesForGroupVersion("split.smi-spec.io/v1alpha2"); err == nil {
		smiInstalled = true
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "missing CRD" && smiInstalled {
				// another test of this run installed it; a missing route is then what is reported
				tt.want = `trafficsplit "` + env.NS + `/web" not found`
			} else if tt.name == "missing CRD" {
				tt.want = "the cluster does not serve TrafficSplit"
			}
			if tt.name == "missing httproute" {
				// the CRD is there when the Gateway API test ran first in this cluster
				tt.want = "the cluster does not serve HTTPRoute"
				if _, err := env.Client.Discovery().ServerResourcesForGroupVersion("gateway.networking.k8s.io/v1"); err == nil {
					tt.want = `httproute "` + env.NS + `/nope" not found`
				}
			}
			args := append([]string{"canary"}, tt.args...)
			if !strings.Contains(strings.Join(tt.args, " "), "deployment/") {
				args = append(args, "deployment/web")
			}
			if !strings.Contains(strings.Join(tt.args, " "), "--image") {
				args = append(args, "--image", "app="+canaryV2)
			}
			r := env.Zdd(args...)
			if r.Code != 2 || !strings.Contains(r.Stderr, tt.want) {
				t.Errorf("want exit 2 and %q on stderr, got %s", tt.want, r)
			}
		})
	}
	after := env.deployment("web")
	if diff := cmp.Diff(before.Annotations, after.Annotations); diff != "" {
		t.Errorf("stable annotations changed by bad input (-before +after):\n%s", diff)
	}
	if before.ResourceVersion != after.ResourceVersion && before.Generation != after.Generation {
		t.Errorf("stable spec changed by bad input: generation %d -> %d", before.Generation, after.Generation)
	}
	if !env.deploymentGone("web-canary") {
		t.Error("bad input created web-canary")
	}
	for _, svc := range []string{"web-stable", "web-canary"} {
		if _, err := env.Client.CoreV1().Services(env.NS).Get(context.Background(), svc, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("bad input created service %q (err %v)", svc, err)
		}
	}
	if _, err := env.Client.CoordinationV1().Leases(env.NS).Get(context.Background(), "zdd-deployment-web", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("bad input left a lease (err %v)", err)
	}
}

func TestCanaryThatNeverBecomesReadyIsPulledBack(t *testing.T) {
	t.Parallel()
	const n = 4
	env := canaryApp(t, n)
	// The new version's pods run but never become Ready: a bad release.
	manifest := filepath.Join(t.TempDir(), "web-bad.yaml")
	bad := appDeployment(AppSpec{Replicas: n, Image: "registry.example/web:bad", MaxUnavailable: "25%", MaxSurge: "25%", NeverReady: true})
	if err := os.WriteFile(manifest, []byte(toYAML(bad)), 0o644); err != nil {
		t.Fatal(err)
	}
	watch := env.WatchDowntime("web")
	r := env.Zdd("canary", "-f", manifest, "--steps", "25,50,100", "--pause", "1s", "--timeout", "15s")
	rep := watch.Stop()
	t.Logf("%s\n%s", r, rep.Summary())
	if r.Code != 1 {
		t.Fatalf("exit code %d, want 1 (pulled back): %s", r.Code, r)
	}
	d, c := env.deployment("web"), env.deployment("web-canary")
	got := []int32{*d.Spec.Replicas, d.Status.ReadyReplicas, *c.Spec.Replicas, c.Status.Replicas}
	if diff := cmp.Diff([]int32{n, n, 0, 0}, got); diff != "" {
		t.Errorf("[stable replicas, stable ready, canary replicas, canary pods] (-want +got):\n%s", diff)
	}
	if d.Annotations["zdd.dev/result"] != "aborted" {
		t.Errorf("result %q, want aborted", d.Annotations["zdd.dev/result"])
	}
	if rep.MinReady < n {
		t.Errorf("ready endpoints fell to %d, below %d", rep.MinReady, n)
	}
}
