//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// bgReplicas is the replica count of every blue-green test app.
const bgReplicas = 3

// blueGreenApp is a Service web selecting app=web,version=blue and its one
// Deployment web-blue, as `bluegreen init` leaves them.
func blueGreenApp(image string) string {
	d := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, Image: image, PodLabels: map[string]string{"version": "blue"}})
	d.Name = "web-blue"
	d.Spec.Selector.MatchLabels["version"] = "blue"
	s := appService(AppSpec{Name: "web", ServiceSelector: map[string]string{"app": "web", "version": "blue"}})
	return toYAML(d, s)
}

// colourSample is the Service's selected colour and how many ready,
// not-terminating pods that selector matched at one moment.
type colourSample struct {
	RV        int64
	At        time.Time
	Colour    string
	Selector  string
	ReadyPods int
}

// objEvent is one observed version of the Service or of a pod.
type objEvent struct {
	rv       int64
	at       time.Time
	service  bool
	name     string
	selector map[string]string // the Service's
	labels   map[string]string // a pod's
	ready    bool              // a pod's: Ready and not terminating
	deleted  bool
}

// colourWatch watches a Service's selector together with the namespace's
// pods. The two watches deliver events independently, so Stop replays every
// observed version in resourceVersion order (etcd's revision: one global
// order of all writes, which the API server exposes as resourceVersion) and
// evaluates, after each write, how many ready pods the selector matched at
// that moment: the Service must never select a colour with none.
type colourWatch struct {
	mu     sync.Mutex
	events []objEvent
	// initial is the state read when the informers synced: the replay
	// starts from it, since versions older than that were never seen.
	initial map[string]objEvent
	cancel  context.CancelFunc
	done    chan struct{}
	t       *testing.T
}

func parseRV(t *testing.T, o metav1.Object) int64 {
	n, err := strconv.ParseInt(o.GetResourceVersion(), 10, 64)
	if err != nil {
		t.Errorf("resourceVersion %q of %s is not a number: %v", o.GetResourceVersion(), o.GetName(), err)
	}
	return n
}

func watchColours(e *Env, service string) *colourWatch {
	e.T.Helper()
	ctx, cancel := context.WithCancel(e.Ctx)
	f := informers.NewSharedInformerFactoryWithOptions(e.Client, 0, informers.WithNamespace(e.NS))
	svcInf := f.Core().V1().Services().Informer()
	podInf := f.Core().V1().Pods().Informer()
	w := &colourWatch{cancel: cancel, done: make(chan struct{}), t: e.T}
	record := func(obj any, deleted bool) {
		if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj, deleted = d.Obj, true
		}
		ev := objEvent{at: time.Now(), deleted: deleted}
		switch o := obj.(type) {
		case *corev1.Service:
			if o.Name != service {
				return
			}
			ev.rv, ev.service, ev.name, ev.selector = parseRV(e.T, o), true, o.Name, o.Spec.Selector
		case *corev1.Pod:
			ev.rv, ev.name, ev.labels = parseRV(e.T, o), o.Name, o.Labels
			if o.DeletionTimestamp == nil {
				for _, c := range o.Status.Conditions {
					if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
						ev.ready = true
					}
				}
			}
		default:
			return
		}
		w.mu.Lock()
		w.events = append(w.events, ev)
		w.mu.Unlock()
	}
	h := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { record(o, false) },
		UpdateFunc: func(_, o any) { record(o, false) },
		DeleteFunc: func(o any) { record(o, true) },
	}
	if _, err := svcInf.AddEventHandler(h); err != nil {
		e.T.Fatal(err)
	}
	if _, err := podInf.AddEventHandler(h); err != nil {
		e.T.Fatal(err)
	}
	f.Start(ctx.Done())
	for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
		if !ok {
			e.T.Fatalf("syncing the %v informer", typ)
		}
	}
	w.initial = map[string]objEvent{}
	for _, o := range append(svcInf.GetStore().List(), podInf.GetStore().List()...) {
		record(o, false)
	}
	w.mu.Lock()
	for _, ev := range w.events {
		k := ev.key()
		if cur, ok := w.initial[k]; !ok || ev.rv > cur.rv {
			w.initial[k] = ev
		}
	}
	w.events = nil
	w.mu.Unlock()
	go func() { <-ctx.Done(); f.Shutdown(); close(w.done) }()
	e.T.Cleanup(cancel)
	return w
}

func (ev objEvent) key() string {
	if ev.service {
		return "service/" + ev.name
	}
	return "pod/" + ev.name
}

// Stop ends the watch and returns the samples, one per write that changed
// the selector or the number of ready pods it matched.
func (w *colourWatch) Stop() []colourSample {
	w.cancel()
	<-w.done
	w.mu.Lock()
	events := append([]objEvent(nil), w.events...)
	w.mu.Unlock()
	sort.SliceStable(events, func(i, j int) bool { return events[i].rv < events[j].rv })
	var selector map[string]string
	pods := map[string]objEvent{}
	var out []colourSample
	var start int64
	for _, ev := range w.initial {
		if ev.service {
			selector = ev.selector
		} else {
			pods[ev.name] = ev
		}
		start = max(start, ev.rv)
	}
	first := objEvent{rv: start, at: time.Now()}
	for _, ev := range append([]objEvent{first}, events...) {
		if ev.name == "" {
			// the initial state
		} else if init, ok := w.initial[ev.key()]; ok && ev.rv <= init.rv {
			continue // a version already in the initial state
		} else if ev.service {
			selector = ev.selector
		} else if ev.deleted {
			delete(pods, ev.name)
		} else {
			pods[ev.name] = ev
		}
		if selector == nil {
			continue
		}
		sel := labels.SelectorFromSet(selector)
		n := 0
		for _, p := range pods {
			if p.ready && sel.Matches(labels.Set(p.labels)) {
				n++
			}
		}
		s := colourSample{RV: ev.rv, At: ev.at, Colour: selector["version"], Selector: sel.String(), ReadyPods: n}
		if k := len(out); k > 0 && out[k-1].Selector == s.Selector && out[k-1].ReadyPods == s.ReadyPods {
			continue
		}
		out = append(out, s)
	}
	return out
}

// colours is the sequence of distinct colours the Service selected.
func colours(samples []colourSample) []string {
	var out []string
	for _, s := range samples {
		if len(out) == 0 || out[len(out)-1] != s.Colour {
			out = append(out, s.Colour)
		}
	}
	return out
}

// assertNoDip checks the two zero-downtime conditions: the Service's ready
// endpoints never fell below want, and at no moment did its selector match
// zero ready pods.
func assertNoDip(t *testing.T, rep downtime.Report, samples []colourSample, want int) {
	t.Helper()
	if rep.MinReady < want || rep.ZeroFor > 0 {
		t.Errorf("ready endpoints fell to %d (want at least %d), %s with none", rep.MinReady, want, rep.ZeroFor)
	}
	for _, s := range samples {
		if s.ReadyPods == 0 {
			t.Errorf("at resourceVersion %d (seen %s) the service selected %s, which had no ready pod", s.RV, s.At.Format("15:04:05.000"), s.Selector)
		}
	}
	t.Logf("service selector timeline: %d samples, colours %v", len(samples), colours(samples))
}

// waitEndpoints waits until the Service's EndpointSlices list only pods
// matching sel, at least n of them, all ready: a Deployment is rolled out a
// moment before its Service's endpoints catch up, and the downtime
// measurement must start from the settled state.
func (e *Env) waitEndpoints(service string, sel map[string]string, n int) {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	if _, err := traffic.WaitConverged(ctx, e.Client, e.NS, service, sel, n); err != nil {
		e.T.Fatal(err)
	}
}

func (e *Env) serviceSelector(name string) map[string]string {
	e.T.Helper()
	s, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	return s.Spec.Selector
}

func (e *Env) replicas(deployment string) (spec, ready int32) {
	e.T.Helper()
	d, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, deployment, metav1.GetOptions{})
	if err != nil {
		e.T.Fatal(err)
	}
	return *d.Spec.Replicas, d.Status.ReadyReplicas
}

func wantCode(t *testing.T, what string, r CmdResult, code int) {
	t.Helper()
	if r.Code != code {
		t.Fatalf("%s: want exit code %d, got %s", what, code, r)
	}
	t.Logf("%s: exit %d\n%s%s", what, r.Code, r.Stdout, r.Stderr)
}

// TestBlueGreenLifecycle: init, deploy (switch and retire) and rollback after
// retirement, with the Service's ready endpoints and its selected colour
// watched at every moment.
func TestBlueGreenLifecycle(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(appManifest(AppSpec{Name: "web", Replicas: bgReplicas}))
	env.RolloutStatus("web", 2*time.Minute)
	env.waitEndpoints("web", map[string]string{"app": "web"}, bgReplicas)

	t.Run("init", func(t *testing.T) {
		dt, cw := env.WatchDowntime("web"), watchColours(env, "web")
		wantCode(t, "bluegreen init", env.Zdd("bluegreen", "init", "service/web", "--timeout", "2m"), 0)
		samples := cw.Stop()
		assertNoDip(t, dt.Stop(), samples, bgReplicas)
		if got := colours(samples); strings.Join(got, ",") != ",blue" {
			t.Errorf("colours selected over time %q, want [\"\" blue]", got)
		}
		if got := env.serviceSelector("web")["version"]; got != "blue" {
			t.Errorf("after init the service selects version=%q, want blue", got)
		}
		if spec, _ := env.replicas("web"); spec != 0 {
			t.Errorf("the original deployment has %d replicas after init, want 0", spec)
		}
		if spec, ready := env.replicas("web-blue"); spec != bgReplicas || ready != bgReplicas {
			t.Errorf("web-blue: %d/%d ready, want %d/%d", ready, spec, bgReplicas, bgReplicas)
		}
	})

	t.Run("deploy switch and retire", func(t *testing.T) {
		dt, cw := env.WatchDowntime("web"), watchColours(env, "web")
		r := env.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "2m")
		wantCode(t, "bluegreen deploy", r, 0)
		samples := cw.Stop()
		assertNoDip(t, dt.Stop(), samples, bgReplicas)
		if got := colours(samples); strings.Join(got, ",") != "blue,green" {
			t.Errorf("colours selected over time %v, want [blue green]", got)
		}
		if spec, ready := env.replicas("web-green"); spec != bgReplicas || ready != bgReplicas {
			t.Errorf("web-green: %d/%d ready, want %d/%d", ready, spec, bgReplicas, bgReplicas)
		}
		if spec, _ := env.replicas("web-blue"); spec != 0 {
			t.Errorf("web-blue has %d replicas after the switch, want 0 (retired)", spec)
		}
		// the retired colour has no pods: at rest the preview selects the
		// live colour (the next deploy moves it once its colour is ready)
		if got := env.serviceSelector("web-preview")["version"]; got != "green" {
			t.Errorf("preview service selects version=%q, want the live colour green (blue is retired)", got)
		}
		if !strings.Contains(r.Stdout, `capacity: service "`+env.NS+`/web": minimum ready endpoints 3 of 3 desired (100%), `) || strings.Contains(r.Stdout, "capacity dip") {
			t.Errorf("deploy did not print the capacity line (3 of 3 desired, no dip):\n%s", r.Stdout)
		}
		if !strings.Contains(r.Stdout, "requests: not measured (no --probe URL)") {
			t.Errorf("deploy did not say that requests were not measured:\n%s", r.Stdout)
		}
	})

	t.Run("rollback after retirement", func(t *testing.T) {
		dt, cw := env.WatchDowntime("web"), watchColours(env, "web")
		wantCode(t, "bluegreen rollback", env.Zdd("bluegreen", "rollback", "service/web", "--timeout", "2m"), 0)
		samples := cw.Stop()
		assertNoDip(t, dt.Stop(), samples, bgReplicas)
		if got := colours(samples); strings.Join(got, ",") != "green,blue" {
			t.Errorf("colours selected over time %v, want [green blue]", got)
		}
		if spec, ready := env.replicas("web-blue"); spec != bgReplicas || ready != bgReplicas {
			t.Errorf("web-blue: %d/%d ready after rollback, want %d/%d", ready, spec, bgReplicas, bgReplicas)
		}
	})

	t.Run("status", func(t *testing.T) {
		r := env.Zdd("bluegreen", "status", "service/web")
		wantCode(t, "bluegreen status", r, 0)
		for _, want := range []string{"Live:     version=blue", "registry.example/web:v2", "rolled-back"} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("status lacks %q:\n%s", want, r.Stdout)
			}
		}
	})
}

// TestBlueGreenNeverReady: a new colour that never becomes ready is never
// switched to, and the live colour is not touched.
func TestBlueGreenNeverReady(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(blueGreenApp("registry.example/web:v1"))
	env.RolloutStatus("web-blue", 2*time.Minute)
	env.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
	before, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "web-blue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "web-v2.yaml")
	bad := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, Image: "registry.example/web:v2", NeverReady: true})
	if err := os.WriteFile(file, []byte(toYAML(bad)), 0o644); err != nil {
		t.Fatal(err)
	}

	dt, cw := env.WatchDowntime("web"), watchColours(env, "web")
	r := env.Zdd("bluegreen", "deploy", "service/web", "-f", file, "--timeout", "15s")
	wantCode(t, "bluegreen deploy of a never-ready colour", r, 1)
	samples := cw.Stop()
	assertNoDip(t, dt.Stop(), samples, bgReplicas)
	if got := colours(samples); strings.Join(got, ",") != "blue" {
		t.Errorf("colours selected over time %v, want only blue", got)
	}
	after, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "web-blue", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("web-blue was changed (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}
	if !strings.Contains(r.Stderr, "no switch") {
		t.Errorf("the error does not say there was no switch:\n%s", r.Stderr)
	}
}

// TestBlueGreenCrashLoopFailsFast: a new colour whose pods crash-loop is
// judged broken as soon as a pod shows it (well before --timeout): no switch,
// exit 1.
func TestBlueGreenCrashLoopFailsFast(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(blueGreenApp("registry.example/web:v1"))
	env.RolloutStatus("web-blue", 2*time.Minute)
	env.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
	file := filepath.Join(t.TempDir(), "web-v2.yaml")
	bad := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, Image: "registry.example/web:v2", CrashLoop: true})
	if err := os.WriteFile(file, []byte(toYAML(bad)), 0o644); err != nil {
		t.Fatal(err)
	}
	dt, cw := env.WatchDowntime("web"), watchColours(env, "web")
	r := env.Zdd("bluegreen", "deploy", "service/web", "-f", file, "--timeout", "10m")
	wantCode(t, "bluegreen deploy of a crash-looping colour", r, 1)
	samples := cw.Stop()
	assertNoDip(t, dt.Stop(), samples, bgReplicas)
	if got := colours(samples); strings.Join(got, ",") != "blue" {
		t.Errorf("colours selected over time %v, want only blue", got)
	}
	if !strings.Contains(r.Stderr, "in trouble") || !strings.Contains(r.Stderr, "no switch") {
		t.Errorf("the error does not name the pods in trouble and say there was no switch:\n%s", r.Stderr)
	}
}

// TestBlueGreenAnalysisSwitchesBack: a failing post-switch analysis (an HTTP
// metric served by this test process on 127.0.0.1) switches straight back to
// the old colour, which was still running, and exits 1.
func TestBlueGreenAnalysisSwitchesBack(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(blueGreenApp("registry.example/web:v1"))
	env.RolloutStatus("web-blue", 2*time.Minute)
	env.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)

	var mu sync.Mutex
	asked := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.URL.Query().Get("color")
		mu.Lock()
		asked[c]++
		mu.Unlock()
		if c == "green" {
			fmt.Fprint(w, "0.42") // 42% errors on the new colour
			return
		}
		fmt.Fprint(w, "0")
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "analysis.yaml")
	spec := fmt.Sprintf(`interval: 1s
count: 2
failureLimit: 0
metrics:
- name: error-rate
  max: 0.05
  http:
    url: %s/errors?color={{.Color}}
`, srv.URL)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}

	dt, cw := env.WatchDowntime("web"), watchColours(env, "web")
	r := env.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--analysis", file, "--timeout", "2m")
	wantCode(t, "bluegreen deploy with a failing analysis", r, 1)
	samples := cw.Stop()
	assertNoDip(t, dt.Stop(), samples, bgReplicas)
	if got := colours(samples); strings.Join(got, ",") != "blue,green,blue" {
		t.Errorf("colours selected over time %v, want [blue green blue]", got)
	}
	if got := env.serviceSelector("web")["version"]; got != "blue" {
		t.Errorf("service selects version=%q after the failed analysis, want blue", got)
	}
	if spec, ready := env.replicas("web-blue"); spec != bgReplicas || ready != bgReplicas {
		t.Errorf("web-blue: %d/%d ready, want %d/%d (never retired)", ready, spec, bgReplicas, bgReplicas)
	}
	mu.Lock()
	if asked["green"] == 0 {
		t.Errorf("the analysis never asked about green: %v", asked)
	}
	mu.Unlock()
	if !strings.Contains(r.Stderr, "switched back to blue") {
		t.Errorf("the error does not say the service was switched back:\n%s", r.Stderr)
	}
}

// TestBlueGreenPreAnalysisBlocksSwitch: a failing pre-switch analysis of the
// idle colour (templated with {{.Color}}, aimed at this test process on
// 127.0.0.1) stops the release before the switch: exit 1, the Service never
// selects the new colour.
func TestBlueGreenPreAnalysisBlocksSwitch(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(blueGreenApp("registry.example/web:v1"))
	env.RolloutStatus("web-blue", 2*time.Minute)
	env.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
	var mu sync.Mutex
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.URL.Query().Get("color"))
		mu.Unlock()
		fmt.Fprint(w, "0") // smoke test: 0 of the requests succeeded
	}))
	defer srv.Close()
	file := filepath.Join(t.TempDir(), "smoke.yaml")
	spec := fmt.Sprintf("count: 1\nmetrics:\n- name: smoke-success\n  min: 1\n  http:\n    url: %s/smoke?color={{.Color}}\n", srv.URL)
	if err := os.WriteFile(file, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	dt, cw := env.WatchDowntime("web"), watchColours(env, "web")
	r := env.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--pre-analysis", file, "--timeout", "2m")
	wantCode(t, "bluegreen deploy with a failing pre-switch analysis", r, 1)
	samples := cw.Stop()
	assertNoDip(t, dt.Stop(), samples, bgReplicas)
	if got := colours(samples); strings.Join(got, ",") != "blue" {
		t.Errorf("colours selected over time %v, want only blue", got)
	}
	mu.Lock()
	if strings.Join(asked, ",") != "green" {
		t.Errorf("the pre-switch analysis asked about %v, want [green]", asked)
	}
	mu.Unlock()
	if !strings.Contains(r.Stderr, "no switch") || !strings.Contains(r.Stderr, "pre-switch analysis") {
		t.Errorf("the error does not say the pre-switch analysis stopped the switch:\n%s", r.Stderr)
	}
}

// TestBlueGreenConcurrentEdit: the Service's selector is edited between the
// guard and the selector patch (the binary pauses there through the
// test-only ZDD_TEST_SWITCH_PAUSE_FILE hook, see pkg/plugin/bluegreen.go);
// the patch's resourceVersion precondition makes the switch fail, naming the
// new selector, instead of overwriting the edit. (An edit that leaves the
// selector alone is switched over again: TestBlueGreenConcurrentEditRetried.)
func TestBlueGreenConcurrentEdit(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(blueGreenApp("registry.example/web:v1"))
	env.RolloutStatus("web-blue", 2*time.Minute)
	env.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)

	gate := filepath.Join(t.TempDir(), "go")
	res := make(chan CmdResult, 1)
	go func() {
		res <- env.ZddWith(ZddOpts{Env: []string{"ZDD_TEST_SWITCH_PAUSE_FILE=" + gate}},
			"bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--timeout", "2m")
	}()
	// wait until the binary has passed the guard and paused before the patch
	deadline := time.After(3 * time.Minute)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
waiting:
	for {
		select {
		case r := <-res:
			t.Fatalf("deploy ended before reaching the switch: %s", r)
		case <-deadline:
			t.Fatal("deploy never reached the switch")
		case <-tick.C:
			if _, err := os.Stat(gate + ".waiting"); err == nil {
				break waiting
			}
		}
	}
	// the concurrent edit: someone else drops the colour from the selector
	// right now (both colours are ready, so it serves both)
	env.MustKubectl("patch", "service/web", "--type", "merge", "-p", `{"spec":{"selector":{"version":null}}}`)
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	r := <-res
	wantCode(t, "bluegreen deploy during a concurrent edit", r, 1)
	if !strings.Contains(r.Stderr, "changed by someone else") || !strings.Contains(r.Stderr, "its selector app=web (was app=web,version=blue)") {
		t.Errorf("the error does not name the concurrent change:\n%s", r.Stderr)
	}
	svc, err := env.Client.CoreV1().Services(env.NS).Get(env.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := labels.SelectorFromSet(svc.Spec.Selector).String(); got != "app=web" {
		t.Errorf("service selects %s, want app=web (the concurrent edit, not overwritten)", got)
	}
}

// TestBlueGreenManualPromoteTwoServices: deploy --manual-promote stops with
// the new colour ready behind the preview Service and nothing switched; then
// promote switches both Services that select the app (web, and web-admin
// found by its selector) and --delete-old deletes the old colour.
func TestBlueGreenManualPromoteTwoServices(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	admin := appService(AppSpec{Name: "web", ServiceSelector: map[string]string{"app": "web", "version": "blue"}})
	admin.Name = "web-admin"
	env.Apply(blueGreenApp("registry.example/web:v1") + toYAML(admin))
	env.RolloutStatus("web-blue", 2*time.Minute)
	env.waitEndpoints("web", map[string]string{"app": "web", "version": "blue"}, bgReplicas)
	env.waitEndpoints("web-admin", map[string]string{"app": "web", "version": "blue"}, bgReplicas)

	dt, cw := env.WatchDowntime("web"), watchColours(env, "web")
	dtAdmin, cwAdmin := env.WatchDowntime("web-admin"), watchColours(env, "web-admin")
	wantCode(t, "bluegreen deploy --manual-promote", env.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--manual-promote", "--timeout", "2m"), 0)
	for _, svc := range []string{"web", "web-admin"} {
		if got := env.serviceSelector(svc)["version"]; got != "blue" {
			t.Errorf("service %s selects version=%q before promote, want blue", svc, got)
		}
	}
	if got := env.serviceSelector("web-preview")["version"]; got != "green" {
		t.Errorf("preview selects version=%q, want green", got)
	}
	if spec, ready := env.replicas("web-green"); spec != bgReplicas || ready != bgReplicas {
		t.Errorf("web-green: %d/%d ready, want %d/%d", ready, spec, bgReplicas, bgReplicas)
	}
	st := env.Zdd("bluegreen", "status", "service/web")
	wantCode(t, "bluegreen status", st, 0)
	if !strings.Contains(st.Stdout, "ready-to-promote") || !strings.Contains(st.Stdout, "Switches: web, web-admin") {
		t.Errorf("status does not show the paused operation and both services:\n%s", st.Stdout)
	}

	wantCode(t, "bluegreen promote --delete-old", env.Zdd("bluegreen", "promote", "service/web", "--delete-old", "--timeout", "2m"), 0)
	s1, s2 := cw.Stop(), cwAdmin.Stop()
	assertNoDip(t, dt.Stop(), s1, bgReplicas)
	assertNoDip(t, dtAdmin.Stop(), s2, bgReplicas)
	for name, s := range map[string][]colourSample{"web": s1, "web-admin": s2} {
		if got := colours(s); strings.Join(got, ",") != "blue,green" {
			t.Errorf("service %s: colours selected over time %v, want [blue green]", name, got)
		}
	}
	if _, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "web-blue", metav1.GetOptions{}); err == nil {
		t.Error("web-blue still exists after promote --delete-old")
	}
}
