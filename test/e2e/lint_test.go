//go:build e2e

package e2e

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// lintBadApp has the mechanical problems --fix repairs (maxUnavailable 1,
// revisionHistoryLimit 0, no preStop) and others (one replica, :latest).
const lintBadApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: lint-bad
  labels: {tier: lint-bad-tier}
spec:
  replicas: 1
  revisionHistoryLimit: 0
  progressDeadlineSeconds: 300
  selector:
    matchLabels: {app: lint-bad}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 1}
  template:
    metadata:
      labels: {app: lint-bad}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
      - name: app
        image: registry.example/web:latest
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /ready, port: http}
          periodSeconds: 2
---
apiVersion: v1
kind: Service
metadata:
  name: lint-bad
spec:
  selector: {app: lint-bad}
  ports: [{port: 80, targetPort: http}]
`

const lintGoodApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: lint-good
  labels: {tier: lint-good-tier}
spec:
  replicas: 2
  revisionHistoryLimit: 10
  progressDeadlineSeconds: 300
  selector:
    matchLabels: {app: lint-good}
  strategy:
    type: RollingUpdate
    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}
  template:
    metadata:
      labels: {app: lint-good}
    spec:
      terminationGracePeriodSeconds: 30
      containers:
      - name: app
        image: registry.example/web:v1.2.3
        ports: [{name: http, containerPort: 8080}]
        readinessProbe:
          httpGet: {path: /ready, port: http}
          periodSeconds: 2
        lifecycle:
          preStop:
            sleep: {seconds: 5}
---
apiVersion: v1
kind: Service
metadata:
  name: lint-good
spec:
  selector: {app: lint-good}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: lint-good
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: lint-good}
`

// lintRules runs `kubectl zdd lint ARGS -o json` and returns the exit code
// and the "Kind/name rule" of every finding, sorted.
func lintRules(t *testing.T, env *Env, args ...string) (int, []string) {
	t.Helper()
	r := env.Zdd(append([]string{"lint", "-o", "json"}, args...)...)
	var rep struct {
		Findings []struct{ Rule, Kind, Name, Namespace, File string }
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("kubectl zdd lint %v: output is not JSON: %v\n%s", args, err, r)
	}
	var out []string
	for _, f := range rep.Findings {
		if f.Namespace != env.NS || f.File != "" {
			t.Errorf("live finding %s on %s/%s has namespace %q, file %q", f.Rule, f.Kind, f.Name, f.Namespace, f.File)
		}
		out = append(out, f.Kind+"/"+f.Name+" "+f.Rule)
	}
	sort.Strings(out)
	return r.Code, out
}

func has(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestLintLive(t *testing.T) {
	env := newEnv(t)
	env.Apply(lintBadApp)
	env.Apply(lintGoodApp)

	code, rules := lintRules(t, env, "deployment/lint-bad", "service/lint-bad")
	if code != 1 {
		t.Errorf("lint of the bad app: exit %d, want 1", code)
	}
	for _, want := range []string{
		"Deployment/lint-bad max-unavailable-nonzero",
		"Deployment/lint-bad revision-history-zero",
		"Deployment/lint-bad prestop-missing",
		"Deployment/lint-bad too-few-replicas",
		"Deployment/lint-bad mutable-image-tag",
		"Deployment/lint-bad pdb-missing", // live mode: no PDB in the namespace covers it
	} {
		if !has(rules, want) {
			t.Errorf("lint of the bad app: missing %q in %v", want, rules)
		}
	}

	t.Run("good app exits 0", func(t *testing.T) {
		code, rules := lintRules(t, env, "deployment/lint-good", "service/lint-good", "poddisruptionbudget/lint-good")
		if code != 0 || len(rules) != 0 {
			t.Errorf("lint of the good app: exit %d, findings %v; want 0 and none", code, rules)
		}
	})

	t.Run("label selector picks the bad Deployment only", func(t *testing.T) {
		code, rules := lintRules(t, env, "deployments", "-l", "tier=lint-bad-tier")
		if code != 1 || len(rules) == 0 {
			t.Fatalf("exit %d, findings %v; want 1 and findings", code, rules)
		}
		for _, r := range rules {
			if !strings.HasPrefix(r, "Deployment/lint-bad ") {
				t.Errorf("finding %q is not on deployment/lint-bad", r)
			}
		}
	})

	t.Run("a PDB read from the cluster removes pdb-missing", func(t *testing.T) {
		env.Apply(`apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: lint-bad
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app: lint-bad}
`)
		_, rules := lintRules(t, env, "deployment/lint-bad")
		if has(rules, "Deployment/lint-bad pdb-missing") {
			t.Errorf("pdb-missing still reported with a PDB in the cluster: %v", rules)
		}
		if !has(rules, "Deployment/lint-bad max-unavailable-nonzero") {
			t.Errorf("other findings vanished too: %v", rules)
		}
	})

	// what a write by lint would change: the spec (and so the generation),
	// the labels and annotations; not the status, which the Deployment
	// controller keeps updating while the pods come up (a resourceVersion
	// would change with it: CI saw that)
	rv := func() string {
		d, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "lint-bad", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(struct {
			Generation  int64
			Labels      map[string]string
			Annotations map[string]string
			Spec        any
		}{d.Generation, d.Labels, d.Annotations, d.Spec})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	t.Run("--fix --dry-run=server changes nothing", func(t *testing.T) {
		before := rv()
		r := env.Zdd("lint", "deployment/lint-bad", "--fix", "--dry-run=server")
		if !strings.Contains(r.Stdout, "accepted by the server (dry run, not saved)") {
			t.Errorf("dry run output:\n%s", r)
		}
		if r.Code == 2 {
			t.Errorf("dry run exit 2:\n%s", r)
		}
		if after := rv(); after != before {
			t.Errorf("the Deployment changed on a dry run:\nbefore %s\nafter  %s", before, after)
		}
		_, rules := lintRules(t, env, "deployment/lint-bad")
		if !has(rules, "Deployment/lint-bad max-unavailable-nonzero") {
			t.Errorf("dry run fixed the object: %v", rules)
		}
	})

	t.Run("--fix --dry-run=client prints the patch only", func(t *testing.T) {
		before := rv()
		r := env.Zdd("lint", "deployment/lint-bad", "--fix", "--dry-run=client")
		if !strings.Contains(r.Stdout, `"maxUnavailable":0`) || !strings.Contains(r.Stdout, "not sent") {
			t.Errorf("client dry run output:\n%s", r)
		}
		if after := rv(); after != before {
			t.Errorf("the Deployment changed on a client dry run:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("--fix patches the live object", func(t *testing.T) {
		before := rv()
		r := env.Zdd("lint", "deployment/lint-bad", "--fix")
		if !strings.Contains(r.Stdout, "patched") {
			t.Fatalf("--fix output:\n%s", r)
		}
		if rv() == before {
			t.Errorf("the Deployment unchanged after --fix: %s", before)
		}
		_, rules := lintRules(t, env, "deployment/lint-bad")
		for _, gone := range []string{"max-unavailable-nonzero", "revision-history-zero", "prestop-missing"} {
			if has(rules, "Deployment/lint-bad "+gone) {
				t.Errorf("%s still reported after --fix: %v", gone, rules)
			}
		}
		if !has(rules, "Deployment/lint-bad mutable-image-tag") {
			t.Errorf("--fix removed a finding it cannot fix: %v", rules)
		}
		d, err := env.Client.AppsV1().Deployments(env.NS).Get(env.Ctx, "lint-bad", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ps := d.Spec.Template.Spec.Containers[0].Lifecycle
		if ps == nil || ps.PreStop == nil || ps.PreStop.Sleep == nil || ps.PreStop.Sleep.Seconds != 5 {
			t.Errorf("preStop after --fix = %+v, want a 5s sleep", ps)
		}
	})

	t.Run("unknown object is bad input", func(t *testing.T) {
		r := env.Zdd("lint", "deployment/no-such-thing")
		if r.Code != 2 || !strings.Contains(r.Stderr, "no-such-thing") {
			t.Errorf("want exit 2 naming the object:\n%s", r)
		}
	})
}
