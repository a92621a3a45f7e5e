//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// rolloutReplicas is the replica count of every rollout test app.
const rolloutReplicas = 3

// startApp applies the app at v1 and waits until it is rolled out.
func startApp(e *Env, s AppSpec) {
	e.T.Helper()
	s.Replicas = rolloutReplicas
	e.Apply(appManifest(s))
	e.RolloutStatus(s.withDefaults().Name, 2*time.Minute)
	// the Deployment is available before the EndpointSlices list every pod:
	// start measuring only once they do
	waitReadyEndpoints(e.T, e, s.withDefaults().Name, rolloutReplicas)
}

func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func getDeployment(e *Env, name string) *appsv1.Deployment {
	e.T.Helper()
	d, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatalf("reading deployment %s: %v", name, err)
	}
	return d
}

func getService(e *Env, name string) *corev1.Service {
	e.T.Helper()
	s, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, name, metav1.GetOptions{})
	if err != nil {
		e.T.Fatalf("reading service %s: %v", name, err)
	}
	return s
}

func imageOf(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Image }

func TestRolloutGoodReleaseAndRollback(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startApp(e, AppSpec{})
	w := e.WatchDowntime("web")
	r := e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--timeout", "2m")
	rep := w.Stop()
	if r.Code != 0 {
		t.Fatalf("rollout: %s", r)
	}
	d := getDeployment(e, "web")
	if got := imageOf(d); got != "registry.example/web:v2" {
		t.Errorf("image %q, want registry.example/web:v2", got)
	}
	if d.Status.UpdatedReplicas != rolloutReplicas || d.Status.AvailableReplicas != rolloutReplicas {
		t.Errorf("status %+v, want %d updated and available", d.Status, rolloutReplicas)
	}
	if rep.MinReady < rolloutReplicas {
		t.Errorf("ready endpoints dropped to %d, want never below %d", rep.MinReady, rolloutReplicas)
	}
	a := d.Annotations
	if a[state.KeyResult] != state.ResultSucceeded || a[state.KeyStrategy] != "rollout" || a[state.KeyFromRevision] != "1" || a[state.KeyToRevision] != "2" {
		t.Errorf("operation record %v, want result succeeded, strategy rollout, revisions 1 -> 2", a)
	}
	if !strings.Contains(a[state.ChangeCauseKey], "app=registry.example/web:v2") {
		t.Errorf("change cause %q does not name the image", a[state.ChangeCauseKey])
	}
	// the endpoints figure is capacity, and without --probe the release
	// says that requests were not measured
	if !strings.Contains(r.Stdout, `capacity: service "`+e.NS+`/web": minimum ready endpoints `) || !strings.Contains(r.Stdout, " desired (") {
		t.Errorf("no capacity figure in the output:\n%s", r)
	}
	if !strings.Contains(r.Stdout, "requests: not measured (no --probe URL)") {
		t.Errorf("the output does not say that requests were not measured:\n%s", r)
	}
	if _, err := e.Client.CoordinationV1().Leases(e.NS).Get(e.Ctx, state.LeaseName("deployment", "web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("lease still there after the release (err %v)", err)
	}

	// kubectl zdd rollback goes back to revision 1's template.
	w = e.WatchDowntime("web")
	r = e.Zdd("rollback", "deployment/web", "--timeout", "2m")
	rep = w.Stop()
	if r.Code != 0 {
		t.Fatalf("rollback: %s", r)
	}
	d = getDeployment(e, "web")
	if got := imageOf(d); got != "registry.example/web:v1" {
		t.Errorf("after rollback image %q, want registry.example/web:v1", got)
	}
	if d.Status.AvailableReplicas != rolloutReplicas || d.Status.UpdatedReplicas != rolloutReplicas {
		t.Errorf("after rollback status %+v, want fully available", d.Status)
	}
	if rep.MinReady < rolloutReplicas {
		t.Errorf("rollback: ready endpoints dropped to %d", rep.MinReady)
	}
	if !strings.Contains(r.Stdout, "rolled back to revision 1") {
		t.Errorf("rollback output does not name revision 1:\n%s", r)
	}
	// a revision that does not exist is bad input
	if r := e.Zdd("rollback", "deployment/web", "--to-revision", "42"); r.Code != 2 || !strings.Contains(r.Stderr, "no revision 42") {
		t.Errorf("rollback to a missing revision: want exit 2 naming it, got %s", r)
	}
}

func TestRolloutRollsBackBadReleases(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    AppSpec
		timeout string
		reason  string
	}{
		{name: "never ready", spec: AppSpec{NeverReady: true}, timeout: "15s", reason: "not ready within --timeout 15s"},
		{name: "crash loop", spec: AppSpec{CrashLoop: true}, timeout: "90s", reason: "CrashLoopBackOff"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			startApp(e, AppSpec{})
			tc.spec.Replicas = rolloutReplicas
			tc.spec.Image = "registry.example/web:v2"
			bad := writeTemp(t, "web-v2.yaml", appManifest(tc.spec))
			w := e.WatchDowntime("web")
			r := e.Zdd("rollout", "-f", bad, "--timeout", tc.timeout)
			rep := w.Stop()
			if r.Code != 1 {
				t.Fatalf("want exit 1, got %s", r)
			}
			if !strings.Contains(r.Stderr, tc.reason) || !strings.Contains(r.Stderr, "rolled back to revision 1") {
				t.Errorf("error should name the reason %q and the restored revision 1:\n%s", tc.reason, r)
			}
			d := getDeployment(e, "web")
			if got := imageOf(d); got != "registry.example/web:v1" {
				t.Errorf("image %q after the rollback, want registry.example/web:v1", got)
			}
			if _, still := d.Spec.Template.Annotations[annNeverReady]; still {
				t.Errorf("the bad release's annotation is still on the template: %v", d.Spec.Template.Annotations)
			}
			if _, still := d.Spec.Template.Annotations[annCrashLoop]; still {
				t.Errorf("the bad release's annotation is still on the template: %v", d.Spec.Template.Annotations)
			}
			if d.Status.AvailableReplicas != rolloutReplicas || d.Status.Replicas != rolloutReplicas {
				t.Errorf("status %+v, want %d replicas, all available", d.Status, rolloutReplicas)
			}
			if d.Annotations[state.KeyResult] != state.ResultRolledBack {
				t.Errorf("recorded result %q, want rolled-back", d.Annotations[state.KeyResult])
			}
			if rep.MinReady < rolloutReplicas {
				t.Errorf("ready endpoints dropped to %d, want never below %d", rep.MinReady, rolloutReplicas)
			}
		})
	}
}

func TestRolloutMigrationJob(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startApp(e, AppSpec{})
	before := getDeployment(e, "web")

	// a Job that could retry is refused before anything is created
	retry := writeTemp(t, "retry.yaml", jobManifest(JobSpec{Name: "migrate", BackoffLimit: 2}))
	r := e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--migration-job", retry)
	if r.Code != 2 || !strings.Contains(r.Stderr, "backoffLimit is 2") {
		t.Errorf("retrying job: want exit 2 naming backoffLimit, got %s", r)
	}

	// a failing Job blocks the release
	failing := writeTemp(t, "fail.yaml", jobManifest(JobSpec{Name: "migrate", Result: "fail"}))
	r = e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--migration-job", failing, "--timeout", "90s")
	if r.Code != 1 {
		t.Fatalf("failing migration: want exit 1, got %s", r)
	}
	if !strings.Contains(r.Stderr, "condition Failed=True") || !strings.Contains(r.Stderr, "was not changed") {
		t.Errorf("want the Job's conditions and 'was not changed' in:\n%s", r)
	}
	after := getDeployment(e, "web")
	// the spec is untouched; only the operation record (zdd.dev/
	// annotations, written from the first phase so resume can finish a
	// release) says the migration failed
	if diff := cmp.Diff(before.Spec, after.Spec); diff != "" {
		t.Errorf("deployment spec changed by a release whose migration failed (-before +after):\n%s", diff)
	}
	if after.Annotations[state.KeyPhase] != "migrate" || after.Annotations[state.KeyResult] != state.ResultFailed {
		t.Errorf("record after the failed migration: phase %q result %q, want migrate, failed", after.Annotations[state.KeyPhase], after.Annotations[state.KeyResult])
	}
	jobs, err := e.Client.BatchV1().Jobs(e.NS).List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != 1 || !strings.HasPrefix(jobs.Items[0].Name, "migrate-") {
		t.Errorf("want exactly the one failed job migrate-<operation id>, got %d jobs", len(jobs.Items))
	}

	// a succeeding Job lets it through, under another unique name
	ok := writeTemp(t, "ok.yaml", jobManifest(JobSpec{Name: "migrate", Result: "succeed"}))
	r = e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--migration-job", ok, "--timeout", "2m", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("good migration: %s", r)
	}
	var res struct {
		Result       string `json:"result"`
		MigrationJob string `json:"migrationJob"`
		FromRevision string `json:"fromRevision"`
		ToRevision   string `json:"toRevision"`
		Downtime     []struct {
			Service  string `json:"service"`
			MinReady int    `json:"minReady"`
		} `json:"downtime"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("-o json output is not JSON: %v\n%s", err, r)
	}
	if res.Result != "succeeded" || !strings.HasPrefix(res.MigrationJob, "migrate-") || res.FromRevision != "1" || res.ToRevision != "2" ||
		len(res.Downtime) != 1 || res.Downtime[0].Service != e.NS+"/web" || res.Downtime[0].MinReady < rolloutReplicas {
		t.Errorf("JSON result %+v, want succeeded, job migrate-*, revisions 1 -> 2, min ready >= %d on %s/web", res, rolloutReplicas, e.NS)
	}
	if got := imageOf(getDeployment(e, "web")); got != "registry.example/web:v2" {
		t.Errorf("image %q, want v2", got)
	}
	jobs, _ = e.Client.BatchV1().Jobs(e.NS).List(e.Ctx, metav1.ListOptions{})
	if len(jobs.Items) != 2 || jobs.Items[0].Name == jobs.Items[1].Name {
		t.Errorf("want two jobs with different names, got %d", len(jobs.Items))
	}
}

func TestMigrateContractGuard(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startApp(e, AppSpec{})
	job := writeTemp(t, "contract.yaml", jobManifest(JobSpec{Name: "contract", Result: "succeed"}))
	countJobs := func() int {
		l, err := e.Client.BatchV1().Jobs(e.NS).List(e.Ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}

	// a release stuck half way: the old ReplicaSet still has pods
	e.Apply(appManifest(AppSpec{Replicas: rolloutReplicas, Image: "registry.example/web:v2", NeverReady: true}))
	r := e.Zdd("migrate", "-f", job, "--for", "deployment/web", "--phase", "contract", "--timeout", "1m")
	if r.Code != 1 || !strings.Contains(r.Stderr, "older revision still run") || !strings.Contains(r.Stderr, "(revision 1 of deployment") {
		t.Errorf("contract with old pods running: want exit 1 naming revision 1, got %s", r)
	}
	// another colour of the same app
	blue := appDeployment(AppSpec{Name: "web-blue", Replicas: 1, PodLabels: map[string]string{"version": "blue"}})
	blue.Spec.Template.Labels["app"] = "web"
	blue.Spec.Selector.MatchLabels = map[string]string{"app": "web", "version": "blue"}
	e.Apply(toYAML(blue))

	// the release completes: only the other colour keeps contract back
	e.Apply(appManifest(AppSpec{Replicas: rolloutReplicas, Image: "registry.example/web:v2", PodLabels: map[string]string{"version": "green"}}))
	r = e.Zdd("migrate", "-f", job, "--for", "deployment/web", "--phase", "contract", "--timeout", "1m")
	if r.Code != 1 || !strings.Contains(r.Stderr, `deployment "`+e.NS+`/web-blue"`) {
		t.Errorf("contract with another colour running: want exit 1 naming web-blue, got %s", r)
	}
	if n := countJobs(); n != 0 {
		t.Errorf("a refused contract created %d jobs", n)
	}
	e.MustKubectl("scale", "deployment/web-blue", "--replicas=0")
	e.RolloutStatus("web", 2*time.Minute)
	e.RolloutStatus("web-blue", 2*time.Minute)
	r = e.Zdd("migrate", "-f", job, "--for", "deployment/web", "--phase", "contract", "--timeout", "1m")
	if r.Code != 0 {
		t.Fatalf("contract once old pods are gone: %s", r)
	}
	if n := countJobs(); n != 1 {
		t.Errorf("want 1 contract job, got %d", n)
	}
}

func TestRolloutDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startApp(e, AppSpec{})
	rvs := func() map[string]string {
		m := map[string]string{}
		d := getDeployment(e, "web")
		m["deployment/web"] = d.ResourceVersion
		rss, err := e.Client.AppsV1().ReplicaSets(e.NS).List(e.Ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range rss.Items {
			m["replicaset/"+rs.Name] = rs.ResourceVersion
		}
		jobs, _ := e.Client.BatchV1().Jobs(e.NS).List(e.Ctx, metav1.ListOptions{})
		for _, j := range jobs.Items {
			m["job/"+j.Name] = j.ResourceVersion
		}
		leases, _ := e.Client.CoordinationV1().Leases(e.NS).List(e.Ctx, metav1.ListOptions{})
		for _, l := range leases.Items {
			m["lease/"+l.Name] = l.ResourceVersion
		}
		return m
	}
	before := rvs()
	job := writeTemp(t, "migrate.yaml", jobManifest(JobSpec{Name: "migrate", Result: "succeed"}))
	manifest := writeTemp(t, "web.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: "registry.example/web:v2"}))
	for _, args := range [][]string{
		{"rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--migration-job", job, "--dry-run=client"},
		{"rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--migration-job", job, "--dry-run=server"},
		{"rollout", "-f", manifest, "--dry-run=server"},
		{"rollback", "deployment/web", "--dry-run=server"},
	} {
		r := e.Zdd(args...)
		if strings.HasPrefix(args[0], "rollout") && (r.Code != 0 || !strings.Contains(r.Stdout, "nothing was changed") || !strings.Contains(r.Stdout, "patch: ")) {
			t.Errorf("%v: want exit 0 and a plan with patches, got %s", args, r)
		}
		if args[0] == "rollback" && r.Code != 2 {
			// revision 1 is the only one: nothing to roll back to
			t.Errorf("%v: want exit 2 (no previous revision), got %s", args, r)
		}
	}
	after := rvs()
	if len(before) != len(after) {
		t.Errorf("objects before %v, after %v", before, after)
	}
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s resourceVersion %s -> %s", k, v, after[k])
		}
	}
}

func TestRolloutSecondRunRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startApp(e, AppSpec{})
	slow := writeTemp(t, "slow.yaml", appManifest(AppSpec{Replicas: rolloutReplicas, Image: "registry.example/web:v2", ReadyDelay: "4s"}))
	var wg sync.WaitGroup
	var first CmdResult
	wg.Add(1)
	go func() {
		defer wg.Done()
		first = e.Zdd("rollout", "-f", slow, "--timeout", "2m")
	}()
	waitForLease(e, state.LeaseName("deployment", "web"))
	second := e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v3", "--timeout", "1m")
	if second.Code != 1 || !strings.Contains(second.Stderr, "is held by") || !strings.Contains(second.Stderr, "pid") {
		t.Errorf("second run: want exit 1 naming the holder, got %s", second)
	}
	wg.Wait()
	if first.Code != 0 {
		t.Fatalf("first run: %s", first)
	}
	d := getDeployment(e, "web")
	if got := imageOf(d); got != "registry.example/web:v2" {
		t.Errorf("image %q, want the first run's v2", got)
	}
	// the refused run never applied anything: no ReplicaSet ever ran v3,
	// and the change cause is the first run's
	rss, err := e.Client.AppsV1().ReplicaSets(e.NS).List(e.Ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, rs := range rss.Items {
		if img := rs.Spec.Template.Spec.Containers[0].Image; img == "registry.example/web:v3" {
			t.Errorf("replicaset %s runs %s: the refused run changed the deployment", rs.Name, img)
		}
	}
	if cc := d.Annotations[state.ChangeCauseKey]; strings.Contains(cc, "v3") || !strings.Contains(cc, "slow.yaml") {
		t.Errorf("change cause %q, want the first run's", cc)
	}
}

// waitForLease watches until the Lease exists (the first run holds it).
func waitForLease(e *Env, name string) {
	e.T.Helper()
	lw := kube.NameScoped(e.Client.CoordinationV1().Leases(e.NS), name)
	ctx, cancel := context.WithTimeout(e.Ctx, time.Minute)
	defer cancel()
	_, err := watchtools.UntilWithSync(ctx, lw, &coordinationv1.Lease{}, nil, func(ev watch.Event) (bool, error) {
		return ev.Type == watch.Added || ev.Type == watch.Modified, nil
	})
	if err != nil {
		e.T.Fatalf("waiting for lease %q: %v", name, err)
	}
}
