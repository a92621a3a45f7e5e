//go:build e2e

package e2e

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
)

// TestClusterServerVersion checks that the cluster's version is one kubectl
// can parse (the control plane is built with its version stamped in).
func TestClusterServerVersion(t *testing.T) {
	env := newEnv(t)
	r := env.MustKubectl("version", "-o", "json")
	if !strings.Contains(r.Stdout, `"serverVersion"`) || strings.Contains(r.Stdout, "v0.0.0-master") {
		t.Fatalf("kubectl version did not report a parsed server version:\n%s", r)
	}
	nodes, err := env.Client.CoreV1().Nodes().List(env.Ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ready := 0
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	if ready < 3 {
		t.Errorf("want at least 3 Ready nodes, got %d of %d", ready, len(nodes.Items))
	}
}

// TestPlainApplyDowntime changes the image of a 4-replica Deployment with a
// plain kubectl apply and checks what the downtime watcher saw: with
// maxUnavailable 0 the Service never drops below 4 ready endpoints; with
// maxUnavailable 50% (and no surge) the Deployment controller takes 2 old
// pods away before new ones are ready, and the watcher must see exactly
// that dip to 2 (a negative control for the watcher itself).
func TestPlainApplyDowntime(t *testing.T) {
	cases := []struct {
		name           string
		maxUnavailable string
		maxSurge       string
		readyDelay     string
		wantMin        int
	}{
		{name: "maxUnavailable 0 keeps all ready", maxUnavailable: "0", maxSurge: "1", wantMin: 4},
		// new pods take 3s to become Ready, so the dip lasts long enough
		// for the EndpointSlice controller to publish it even on a busy
		// machine
		{name: "maxUnavailable 50% dips to 2", maxUnavailable: "50%", maxSurge: "0", readyDelay: "3s", wantMin: 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			app := AppSpec{Replicas: 4, MaxUnavailable: tc.maxUnavailable, MaxSurge: tc.maxSurge, ReadyDelay: tc.readyDelay}
			env.Apply(appManifest(app))
			env.RolloutStatus("web", 2*time.Minute)
			waitReadyEndpoints(t, env, "web", 4)

			w := env.WatchDowntime("web")
			var oldHash string
			w.WaitFor(time.Minute, func(s downtime.Sample) bool {
				for h := range s.ByHash {
					oldHash = h
				}
				return s.Ready == 4 && len(s.ByHash) == 1
			})
			app.Image = "registry.example/web:v2"
			env.Apply(appManifest(app))
			env.RolloutStatus("web", 2*time.Minute)
			// the end: 4 ready endpoints, all of the new template
			w.WaitFor(time.Minute, func(s downtime.Sample) bool {
				return s.Ready == 4 && len(s.ByHash) == 1 && s.ByHash[oldHash] == 0
			})
			r := w.Stop()

			if r.MinReady != tc.wantMin {
				t.Errorf("minimum ready endpoints: want %d, got %d\n%s", tc.wantMin, r.MinReady, r)
			}
			if r.ZeroFor != 0 {
				t.Errorf("time with no ready endpoint: want 0, got %s", r.ZeroFor)
			}
			// the timeline starts with 4 ready of one hash and ends with 4
			// ready of another: the watcher followed the whole rollout
			first, last := r.Timeline[0], r.Timeline[len(r.Timeline)-1]
			if len(first.ByHash) != 1 || first.Ready != 4 || len(last.ByHash) != 1 || last.Ready != 4 {
				t.Fatalf("want 4 ready of one hash at both ends, got first %v last %v\n%s", first.ByHash, last.ByHash, r)
			}
			if cmp.Equal(first.ByHash, last.ByHash) {
				t.Errorf("the pod-template-hash did not change: %v", last.ByHash)
			}
		})
	}
}

// waitReadyEndpoints waits until Service svc has n ready endpoints.
func waitReadyEndpoints(t *testing.T, env *Env, svc string, n int) {
	t.Helper()
	w := env.WatchDowntime(svc)
	defer w.w.Stop()
	ctx, cancel := context.WithTimeout(env.Ctx, time.Minute)
	defer cancel()
	if err := w.w.WaitFor(ctx, func(ready int) bool { return ready == n }); err != nil {
		t.Fatalf("waiting for %d ready endpoints of %q: %v", n, svc, err)
	}
}

// watchPods runs cond on every state of the namespace's pods matching
// selector until it returns true, failing the test after timeout.
func watchPods(t *testing.T, env *Env, selector string, timeout time.Duration, cond func(pods []*corev1.Pod, ev watch.Event) (bool, error)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(env.Ctx, timeout)
	defer cancel()
	lw := podListWatch(env, selector)
	var store cache.Store
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, func(s cache.Store) (bool, error) {
		store = s
		return cond(storePods(s), watch.Event{})
	}, func(ev watch.Event) (bool, error) {
		return cond(storePods(store), ev)
	})
	if err != nil {
		t.Fatalf("watching pods %q: %v", selector, err)
	}
}

func storePods(s cache.Store) []*corev1.Pod {
	var pods []*corev1.Pod
	for _, o := range s.List() {
		pods = append(pods, o.(*corev1.Pod))
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return pods
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podReadySince(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// TestStageReadyDelay: pods become Ready about 1s after they start by
// default, and after kwok.zdd.dev/ready-delay when it is set.
func TestStageReadyDelay(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(appManifest(AppSpec{Name: "quick", Replicas: 1, NoService: true}))
	env.Apply(appManifest(AppSpec{Name: "slow", Replicas: 1, NoService: true, ReadyDelay: "4s"}))
	got := map[string]time.Duration{}
	watchPods(t, env, "app in (quick,slow)", time.Minute, func(pods []*corev1.Pod, _ watch.Event) (bool, error) {
		for _, p := range pods {
			if podReady(p) && p.Status.StartTime != nil {
				got[p.Labels["app"]] = podReadySince(p).Sub(p.Status.StartTime.Time)
			}
		}
		return len(got) == 2, nil
	})
	// condition times have one-second resolution
	if d := got["quick"]; d > 2*time.Second {
		t.Errorf("default ready delay: want about 1s, got %s", d)
	}
	if d := got["slow"]; d < 3*time.Second || d > 5*time.Second {
		t.Errorf("ready-delay 4s: want 3s-5s between start and Ready, got %s", d)
	}
}

// observePods calls fn on every state of the namespace's pods matching
// selector for the duration d (fn may fail the test).
func observePods(t *testing.T, env *Env, selector string, d time.Duration, fn func(pods []*corev1.Pod)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(env.Ctx, d)
	defer cancel()
	lw := podListWatch(env, selector)
	var store cache.Store
	_, err := watchtools.UntilWithSync(ctx, lw, &corev1.Pod{}, func(s cache.Store) (bool, error) {
		store = s
		fn(storePods(s))
		return false, nil
	}, func(watch.Event) (bool, error) {
		fn(storePods(store))
		return false, nil
	})
	if err != nil && !errors.Is(err, wait.ErrWaitTimeout) && ctx.Err() == nil {
		t.Fatalf("watching pods %q: %v", selector, err)
	}
}

func podListWatch(env *Env, selector string) *cache.ListWatch {
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.LabelSelector = selector
			return env.Client.CoreV1().Pods(env.NS).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.LabelSelector = selector
			return env.Client.CoreV1().Pods(env.NS).Watch(ctx, o)
		},
	}
}

// TestStageNeverReady: kwok.zdd.dev/never-ready pods run but stay unready,
// and their Service never gets a ready endpoint.
func TestStageNeverReady(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	w := env.WatchDowntime("bad")
	env.Apply(appManifest(AppSpec{Name: "bad", Replicas: 2, NeverReady: true}))
	watchPods(t, env, "app=bad", time.Minute, func(pods []*corev1.Pod, _ watch.Event) (bool, error) {
		running := 0
		for _, p := range pods {
			if p.Status.Phase == corev1.PodRunning {
				running++
			}
		}
		return running == 2, nil
	})
	// both run; for the next 5s (five times the default ready delay) none
	// may become Ready
	sawPods := false
	observePods(t, env, "app=bad", 5*time.Second, func(pods []*corev1.Pod) {
		sawPods = sawPods || len(pods) == 2
		for _, p := range pods {
			if podReady(p) {
				t.Fatalf("pod %s became Ready despite %s", p.Name, annNeverReady)
			}
			if p.Status.Phase != corev1.PodRunning {
				t.Fatalf("pod %s left Running: %s", p.Name, p.Status.Phase)
			}
		}
	})
	if !sawPods {
		t.Fatal("the pods were not seen while observing them")
	}
	r := w.Stop()
	if r.MinReady != 0 || slices.ContainsFunc(r.Timeline, func(s downtime.Sample) bool { return s.Ready > 0 }) {
		t.Errorf("want no ready endpoint ever\n%s", r)
	}
}

// TestStageCrashLoop: kwok.zdd.dev/crashloop pods show a CrashLoopBackOff
// waiting reason and a restart count that keeps rising, and are never Ready.
func TestStageCrashLoop(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	env.Apply(appManifest(AppSpec{Name: "crash", Replicas: 1, CrashLoop: true, NoService: true}))
	sawBackOff := false
	var restarts []int32
	watchPods(t, env, "app=crash", time.Minute, func(pods []*corev1.Pod, _ watch.Event) (bool, error) {
		for _, p := range pods {
			if podReady(p) {
				t.Fatalf("crashlooping pod %s became Ready", p.Name)
			}
			for _, cs := range p.Status.ContainerStatuses {
				if cs.State.Waiting != nil && cs.State.Waiting.Reason == "CrashLoopBackOff" {
					sawBackOff = true
				}
				if n := len(restarts); n == 0 || restarts[n-1] != cs.RestartCount {
					restarts = append(restarts, cs.RestartCount)
				}
			}
		}
		return sawBackOff && len(restarts) > 0 && restarts[len(restarts)-1] >= 3, nil
	})
	if !slices.IsSorted(restarts) {
		t.Errorf("restart count went down: %v", restarts)
	}
	r := env.MustKubectl("get", "pods", "-l", "app=crash")
	t.Logf("restart counts seen: %v\n%s", restarts, r.Stdout)
}

// TestStageJobResult: a Job's pod succeeds or fails as kwok.zdd.dev/job-result
// says, and the Job controller marks the Job Complete or Failed.
func TestStageJobResult(t *testing.T) {
	cases := []struct {
		result    string
		wantCond  batchv1.JobConditionType
		wantPhase corev1.PodPhase
	}{
		{result: "succeed", wantCond: batchv1.JobComplete, wantPhase: corev1.PodSucceeded},
		{result: "fail", wantCond: batchv1.JobFailed, wantPhase: corev1.PodFailed},
	}
	for _, tc := range cases {
		t.Run(tc.result, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			env.Apply(jobManifest(JobSpec{Name: "migrate", Result: tc.result}))
			ctx, cancel := context.WithTimeout(env.Ctx, time.Minute)
			defer cancel()
			sel := fields.OneTermEqualSelector("metadata.name", "migrate").String()
			lw := &cache.ListWatch{
				ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
					o.FieldSelector = sel
					return env.Client.BatchV1().Jobs(env.NS).List(ctx, o)
				},
				WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
					o.FieldSelector = sel
					return env.Client.BatchV1().Jobs(env.NS).Watch(ctx, o)
				},
			}
			var got batchv1.JobConditionType
			_, err := watchtools.UntilWithSync(ctx, lw, &batchv1.Job{}, nil, func(ev watch.Event) (bool, error) {
				j, ok := ev.Object.(*batchv1.Job)
				if !ok {
					return false, nil
				}
				for _, c := range j.Status.Conditions {
					if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
						got = c.Type
						return true, nil
					}
				}
				return false, nil
			})
			if err != nil {
				t.Fatalf("waiting for job migrate to finish: %v", err)
			}
			if got != tc.wantCond {
				t.Errorf("job condition: want %s, got %s", tc.wantCond, got)
			}
			pods, err := env.Client.CoreV1().Pods(env.NS).List(env.Ctx, metav1.ListOptions{LabelSelector: labels.Set{"job-name": "migrate"}.String()})
			if err != nil {
				t.Fatal(err)
			}
			var phases []corev1.PodPhase
			for _, p := range pods.Items {
				phases = append(phases, p.Status.Phase)
			}
			if diff := cmp.Diff([]corev1.PodPhase{tc.wantPhase}, phases); diff != "" {
				t.Errorf("pod phases (-want +got):\n%s", diff)
			}
		})
	}
}

// TestStageTerminating: a deleted pod stays Terminating for its grace period
// capped at 3s (hack/kwok/stages/pod.yaml), then disappears.
func TestStageTerminating(t *testing.T) {
	cases := []struct {
		name    string
		grace   int64
		wantMin time.Duration // lower bound of the time between delete and gone
		wantMax time.Duration // generous upper bound: the cap is applied
	}{
		{name: "grace 2s", grace: 2, wantMin: 1500 * time.Millisecond, wantMax: 15 * time.Second},
		{name: "grace 60s capped at 3s", grace: 60, wantMin: 2500 * time.Millisecond, wantMax: 15 * time.Second},
		{name: "grace 0 goes at once", grace: 0, wantMin: 0, wantMax: 10 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t)
			env.Apply(appManifest(AppSpec{Name: "term", Replicas: 1, NoService: true, GracePeriod: ptr.To(tc.grace)}))
			var pod string
			watchPods(t, env, "app=term", time.Minute, func(pods []*corev1.Pod, _ watch.Event) (bool, error) {
				if len(pods) == 1 && podReady(pods[0]) {
					pod = pods[0].Name
					return true, nil
				}
				return false, nil
			})
			// scale to 0 so the ReplicaSet does not replace the pod, then
			// time the pod from deletion to disappearance
			env.MustKubectl("scale", "deployment/term", "--replicas=0")
			var deleting, gone time.Time
			watchPods(t, env, "app=term", time.Minute, func(pods []*corev1.Pod, ev watch.Event) (bool, error) {
				present := false
				for _, p := range pods {
					if p.Name == pod {
						present = true
						if p.DeletionTimestamp != nil && deleting.IsZero() {
							deleting = time.Now()
						}
					}
				}
				if ev.Type == "" && !present {
					// gone before the watch listed (grace 0 can be that quick)
					gone = time.Now()
					return true, nil
				}
				if ev.Type == watch.Deleted {
					if p, ok := ev.Object.(*corev1.Pod); ok && p.Name == pod {
						gone = time.Now()
						return true, nil
					}
				}
				return false, nil
			})
			if deleting.IsZero() && tc.grace > 0 {
				t.Fatalf("pod %s was never seen Terminating", pod)
			}
			if deleting.IsZero() {
				deleting = gone
			}
			lingered := gone.Sub(deleting)
			t.Logf("pod %s with grace %ds lingered %s in Terminating", pod, tc.grace, lingered)
			if lingered < tc.wantMin || lingered > tc.wantMax {
				t.Errorf("Terminating for %s: want between %s and %s", lingered, tc.wantMin, tc.wantMax)
			}
		})
	}
}

// TestHarnessRunsBuiltPlugin: `kubectl zdd` reaches the freshly built binary
// through the real kubectl, and the plugin's exit code comes back.
func TestHarnessRunsBuiltPlugin(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	r := env.Kubectl("plugin", "list")
	want := filepath.Join(pluginDir, "kubectl-zdd")
	if first := firstPlugin(r.Stdout, "kubectl-zdd"); first != want {
		t.Errorf("kubectl plugin list: want %s first, got %q\n%s", want, first, r)
	}
	if r := env.ZddWith(ZddOpts{NoNamespace: true}, "version"); r.Code != 0 || !strings.HasPrefix(r.Stdout, "kubectl-zdd ") {
		t.Errorf("kubectl zdd version: want exit 0 and a version line\n%s", r)
	}
	if r := env.Zdd("version", "--no-such-flag"); r.Code != 2 {
		t.Errorf("kubectl zdd version --no-such-flag: want exit 2\n%s", r)
	}
}

// firstPlugin returns the first path kubectl plugin list prints for name.
func firstPlugin(out, name string) string {
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if filepath.Base(line) == name {
			return line
		}
	}
	return ""
}
