package lint

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rulesOf is the sorted, de-duplicated rule ids of findings.
func rulesOf(fs []Finding) []string {
	seen := map[string]bool{}
	var ids []string
	for _, f := range fs {
		if !seen[f.Rule] {
			seen[f.Rule] = true
			ids = append(ids, f.Rule)
		}
	}
	sortStrings(ids)
	return ids
}

func fixture(t *testing.T, text string) []Object {
	t.Helper()
	return decodeDocs(t, "inline.yaml", []byte(text))
}

// A Deployment with no probes and no preStop hook, fronted by a Service.
const bareApp = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
%s
spec:
  replicas: 3
  progressDeadlineSeconds: 300
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example.com/web:1.0
        ports: [{name: http, containerPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
`

func TestCleanInputHasNoFindings(t *testing.T) {
	for _, live := range []bool{false, true} {
		fs := Audit(loadFixture(t, "testdata/rules/clean.yaml"), Options{Live: live})
		if len(fs) != 0 {
			t.Errorf("live=%v: clean.yaml has findings: %+v", live, fs)
		}
	}
}

func TestSuppressionAnnotation(t *testing.T) {
	tests := []struct {
		name        string
		annotations string
		want        []string
	}{
		{"none", "", []string{"prestop-missing", "readiness-probe-missing"}},
		{"one rule", `  annotations: {zdd.dev/ignore: "prestop-missing"}`, []string{"readiness-probe-missing"}},
		{"two rules with spaces", `  annotations: {zdd.dev/ignore: " prestop-missing , readiness-probe-missing "}`, nil},
		{"all", `  annotations: {zdd.dev/ignore: "*"}`, nil},
		{"other rule", `  annotations: {zdd.dev/ignore: "session-affinity"}`, []string{"prestop-missing", "readiness-probe-missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := fixture(t, fmt.Sprintf(bareApp, tt.annotations))
			if diff := cmp.Diff(tt.want, rulesOf(Audit(objs, Options{}))); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSuppressionIsPerObject(t *testing.T) {
	// The Service's annotation does not silence the Deployment's findings.
	text := strings.Replace(fmt.Sprintf(bareApp, ""), "metadata: {name: web, namespace: shop}",
		"metadata: {name: web, namespace: shop, annotations: {zdd.dev/ignore: \"readiness-probe-missing,prestop-missing\"}}", 1)
	if diff := cmp.Diff([]string{"prestop-missing", "readiness-probe-missing"}, rulesOf(Audit(fixture(t, text), Options{}))); diff != "" {
		t.Errorf("rules (-want +got):\n%s", diff)
	}
}

func TestDisableEnable(t *testing.T) {
	// Make one rule off by default for the length of this test.
	r := ruleByID["prestop-missing"]
	t.Cleanup(func() { r.Off = false })
	objs := fixture(t, fmt.Sprintf(bareApp, ""))
	tests := []struct {
		name string
		off  bool
		opts Options
		want []string
	}{
		{"defaults", false, Options{}, []string{"prestop-missing", "readiness-probe-missing"}},
		{"disable", false, Options{Disabled: []string{"readiness-probe-missing"}}, []string{"prestop-missing"}},
		{"disable both", false, Options{Disabled: []string{"readiness-probe-missing", "prestop-missing"}}, nil},
		{"off by default", true, Options{}, []string{"readiness-probe-missing"}},
		{"off rule enabled", true, Options{Enabled: []string{"prestop-missing"}}, []string{"prestop-missing", "readiness-probe-missing"}},
		{"disable wins over enable", true, Options{Enabled: []string{"prestop-missing"}, Disabled: []string{"prestop-missing"}}, []string{"readiness-probe-missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r.Off = tt.off
			if diff := cmp.Diff(tt.want, rulesOf(Audit(objs, tt.opts))); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDrainSeconds(t *testing.T) {
	text := strings.Replace(fmt.Sprintf(bareApp, ""), "      containers:", "      terminationGracePeriodSeconds: 20\n      containers:", 1)
	tests := []struct {
		name  string
		drain int
		want  []string
	}{
		{"default 10 fits in 20", 0, nil},
		{"15 fits", 15, nil},
		{"25 does not fit", 25, []string{"grace-period-too-short"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := ofRule(Audit(fixture(t, text), Options{DrainSeconds: tt.drain}), "grace-period-too-short")
			if diff := cmp.Diff(tt.want, rulesOf(fs)); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuditSortsFindings(t *testing.T) {
	// Objects from two files, given out of order, come back sorted by file,
	// line, then rule.
	a := decodeDocs(t, "b.yaml", []byte(fmt.Sprintf(bareApp, "")))
	b := decodeDocs(t, "a.yaml", []byte(fmt.Sprintf(bareApp, "")))
	objs := append(append([]Object{}, a...), b...)
	rand.New(rand.NewSource(1)).Shuffle(len(objs), func(i, j int) { objs[i], objs[j] = objs[j], objs[i] })
	type key struct {
		File string
		Line int
		Rule string
	}
	var gotKeys []key
	for _, f := range Audit(objs, Options{}) {
		gotKeys = append(gotKeys, key{f.File, f.Line, f.Rule})
	}
	want := []key{
		{"a.yaml", 1, "prestop-missing"}, {"a.yaml", 1, "readiness-probe-missing"},
		{"b.yaml", 1, "prestop-missing"}, {"b.yaml", 1, "readiness-probe-missing"},
	}
	if diff := cmp.Diff(want, gotKeys); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestSortFindings(t *testing.T) {
	want := []Finding{
		{File: "", Line: 0, Kind: "Deployment", Namespace: "a", Name: "x", Rule: "r1"},
		{File: "", Line: 0, Kind: "Deployment", Namespace: "b", Name: "x", Rule: "r1"},
		{File: "f.yaml", Line: 1, Kind: "Service", Name: "s", Rule: "r1"},
		{File: "f.yaml", Line: 1, Kind: "Service", Name: "s", Rule: "r2", Container: "a"},
		{File: "f.yaml", Line: 1, Kind: "Service", Name: "s", Rule: "r2", Container: "b", Field: "f1"},
		{File: "f.yaml", Line: 1, Kind: "Service", Name: "s", Rule: "r2", Container: "b", Field: "f2"},
		{File: "f.yaml", Line: 12, Kind: "Deployment", Name: "a", Rule: "r0"},
		{File: "g.yaml", Line: 2, Kind: "Deployment", Name: "a", Rule: "r0"},
	}
	for seed := int64(0); seed < 5; seed++ {
		gotFs := append([]Finding(nil), want...)
		rand.New(rand.NewSource(seed)).Shuffle(len(gotFs), func(i, j int) { gotFs[i], gotFs[j] = gotFs[j], gotFs[i] })
		SortFindings(gotFs)
		if diff := cmp.Diff(want, gotFs); diff != "" {
			t.Errorf("seed %d (-want +got):\n%s", seed, diff)
		}
	}
}

func TestLiveMode(t *testing.T) {
	const deploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations: {%s}
spec:
  replicas: 3
  progressDeadlineSeconds: 300
  selector: {matchLabels: {app: web}}
  strategy: {rollingUpdate: {maxSurge: 1, maxUnavailable: 0}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        image: example.com/web:1.0
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {httpGet: {port: http, path: /ready}}
        lifecycle: {preStop: {sleep: {seconds: 5}}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web, namespace: shop}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 2
  maxReplicas: 5
`
	lastApplied := func(spec string) string {
		return fmt.Sprintf(`kubectl.kubernetes.io/last-applied-configuration: '{"apiVersion":"apps/v1","kind":"Deployment","spec":%s}'`, spec)
	}
	tests := []struct {
		name        string
		annotations string
		live        bool
		want        []string
	}{
		{"file: no PDB in input, replicas set under an HPA", "", false, []string{"hpa-replicas-conflict"}},
		{"live: every PDB is known, replicas always set", "", true, []string{"pdb-missing"}},
		{"live: last apply set replicas", lastApplied(`{"replicas":3}`), true, []string{"hpa-replicas-conflict", "pdb-missing"}},
		{"live: last apply left replicas to the HPA", lastApplied(`{"template":{}}`), true, []string{"pdb-missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs := fixture(t, fmt.Sprintf(deploy, tt.annotations))
			if diff := cmp.Diff(tt.want, rulesOf(Audit(objs, Options{Live: tt.live}))); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContextObjects(t *testing.T) {
	objs := fixture(t, fmt.Sprintf(bareApp, "")+`---
apiVersion: v1
kind: Service
metadata: {name: other, namespace: shop}
spec:
  selector: {app: other}
  sessionAffinity: ClientIP
  ports: [{port: 80}]
`)
	// Services read only for context (live mode) still make the readiness
	// probe an error, but are not reported on themselves.
	for i := range objs {
		if objs[i].Kind == "Service" {
			objs[i].Context = true
		}
	}
	var gotKeys []string
	for _, f := range Audit(objs, Options{Live: true}) {
		gotKeys = append(gotKeys, f.Kind+"/"+f.Name+" "+f.Rule+" "+f.Severity.String())
	}
	want := []string{
		"Deployment/web pdb-missing warning",
		"Deployment/web prestop-missing error",
		"Deployment/web readiness-probe-missing error",
	}
	if diff := cmp.Diff(want, gotKeys); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestOwnedReplicaSetIsNotReported(t *testing.T) {
	const rs = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web-5d8f
  namespace: shop
  %s
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: example.com/web}]
`
	owned := `ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: web, uid: "1", controller: true}]`
	if fs := Audit(fixture(t, fmt.Sprintf(rs, owned)), Options{}); len(fs) != 0 {
		t.Errorf("owned ReplicaSet has findings: %+v", fs)
	}
	if diff := cmp.Diff([]string{"mutable-image-tag", "too-few-replicas"}, rulesOf(Audit(fixture(t, fmt.Sprintf(rs, "")), Options{}))); diff != "" {
		t.Errorf("bare ReplicaSet rules (-want +got):\n%s", diff)
	}
}

func TestServiceTrafficReachesTargetContainer(t *testing.T) {
	// Two containers; the Service targets the second by port number. Only
	// that one must have a readiness probe (error); the first declares a
	// port, so it gets a warning.
	text := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web, tier: front}}
    spec:
      containers:
      - {name: metrics, image: example.com/m:1, ports: [{containerPort: 9090}]}
      - {name: app, image: example.com/a:1, ports: [{containerPort: 8080}]}
      - {name: logs, image: example.com/l:1}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`
	var gotKeys []string
	for _, f := range ofRule(Audit(fixture(t, text), Options{}), "readiness-probe-missing") {
		gotKeys = append(gotKeys, f.Container+" "+f.Severity.String())
	}
	if diff := cmp.Diff([]string{"app error", "metrics warning"}, gotKeys); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}

func TestServiceSelectsNothingNeedsWorkloads(t *testing.T) {
	const svc = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  selector: {app: wbe}
  ports: [{port: 80}]
`
	const job = `---
apiVersion: batch/v1
kind: Job
metadata: {name: report, namespace: shop}
spec:
  backoffLimit: 0
  template:
    metadata: {labels: {app: wbe}}
    spec:
      restartPolicy: Never
      containers: [{name: report, image: example.com/report:1}]
`
	const otherNS = `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: billing}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      containers: [{name: api, image: example.com/api:1}]
`
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"a Service alone", svc, nil},
		{"a Job does not count", svc + job, nil},
		{"a workload of another namespace does not count", svc + otherNS, nil},
		{"a workload of the namespace that it misses", strings.Replace(svc+otherNS, "namespace: billing", "namespace: shop", 1), []string{"service-selects-nothing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := ofRule(Audit(fixture(t, tt.text), Options{}), "service-selects-nothing")
			if diff := cmp.Diff(tt.want, rulesOf(fs)); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}
