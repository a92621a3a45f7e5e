package lint

import (
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// got is the part of a finding the fixture tests compare.
type got struct {
	Severity  Severity
	Kind      string
	Name      string
	Container string
	Field     string
}

const (
	c0 = "spec.template.spec.containers[0]."
)

// ruleWants is, for each rule, the findings its bad.yaml must yield, in the
// order Audit sorts them (by document, then container and field).
var ruleWants = map[string][]got{
	"readiness-probe-missing": {
		{Error, "Deployment", "web", "web", c0 + "readinessProbe"},
		{Warning, "Deployment", "worker", "worker", c0 + "readinessProbe"},
	},
	"readiness-equals-liveness": {
		{Warning, "Deployment", "web", "web", c0 + "livenessProbe"},
	},
	"probe-port-not-exposed": {
		{Warning, "Deployment", "web", "web", c0 + "livenessProbe.tcpSocket.port"},
		{Error, "Deployment", "web", "web", c0 + "readinessProbe.httpGet.port"},
	},
	"probe-timing": {
		{Warning, "Deployment", "web", "web", c0 + "livenessProbe.timeoutSeconds"},
		{Warning, "Deployment", "web", "web", c0 + "readinessProbe.timeoutSeconds"},
	},
	"liveness-before-ready": {
		{Error, "Deployment", "web", "web", c0 + "livenessProbe"},
	},
	"prestop-missing": {
		{Error, "Deployment", "web", "web", c0 + "lifecycle.preStop"},
		{Info, "Deployment", "admin", "admin", c0 + "lifecycle.preStop"},
		{Error, "Deployment", "queue", "queue", c0 + "lifecycle.preStop"},
		{Error, "Deployment", "cart", "cart", c0 + "lifecycle.preStop"},
	},
	"grace-period-too-short": {
		{Error, "Deployment", "web", "web", "spec.template.spec.terminationGracePeriodSeconds"},
		{Error, "Deployment", "api", "api", "spec.template.spec.terminationGracePeriodSeconds"},
		{Error, "Deployment", "fast", "fast", "spec.template.spec.terminationGracePeriodSeconds"},
		{Warning, "Deployment", "worker", "", "spec.template.spec.terminationGracePeriodSeconds"},
	},
	"max-unavailable-nonzero": {
		{Warning, "Deployment", "web", "", "spec.strategy.rollingUpdate.maxUnavailable"},
		{Error, "Deployment", "api", "", "spec.strategy.rollingUpdate.maxUnavailable"},
		{Warning, "DaemonSet", "agent", "", "spec.updateStrategy.rollingUpdate.maxUnavailable"},
	},
	"rollout-cannot-progress": {
		{Error, "Deployment", "web", "", "spec.strategy.rollingUpdate.maxSurge"},
		{Error, "DaemonSet", "agent", "", "spec.updateStrategy.rollingUpdate.maxSurge"},
	},
	"recreate-strategy": {
		{Error, "Deployment", "web", "", "spec.strategy.type"},
	},
	"too-few-replicas": {
		{Warning, "Deployment", "web", "", "spec.replicas"},
		{Warning, "Deployment", "api", "", "spec.replicas"},
		{Warning, "StatefulSet", "db", "", "spec.replicas"},
		{Warning, "Deployment", "shop", "", "spec.replicas"},
	},
	"revision-history-zero": {
		{Warning, "Deployment", "web", "", "spec.revisionHistoryLimit"},
		{Warning, "StatefulSet", "db", "", "spec.revisionHistoryLimit"},
	},
	"progress-deadline": {
		{Warning, "Deployment", "web", "", "spec.progressDeadlineSeconds"},
		{Info, "Deployment", "api", "", "spec.progressDeadlineSeconds"},
	},
	"hpa-replicas-conflict": {
		{Warning, "Deployment", "web", "", "spec.replicas"},
	},
	"mutable-image-tag": {
		{Warning, "Deployment", "web", "init", "spec.template.spec.initContainers[0].image"},
		{Warning, "Deployment", "web", "proxy", "spec.template.spec.containers[1].image"},
		{Warning, "Deployment", "web", "web", c0 + "image"},
	},
	"pdb-missing": {
		{Warning, "Deployment", "web", "", "spec.template.metadata.labels"},
	},
	"pdb-blocks-eviction": {
		{Warning, "PodDisruptionBudget", "web", "", "spec.maxUnavailable"},
		{Warning, "PodDisruptionBudget", "api", "", "spec.minAvailable"},
		{Warning, "PodDisruptionBudget", "db", "", "spec.minAvailable"},
		{Warning, "PodDisruptionBudget", "all", "", "spec.minAvailable"},
	},
	"service-selects-nothing": {
		{Warning, "Service", "web", "", "spec.selector"},
		{Warning, "Service", "api", "", "spec.selector"},
	},
	"session-affinity": {
		{Warning, "Service", "web", "", "spec.sessionAffinity"},
	},
	"lb-no-connection-draining": {
		{Warning, "Service", "web", "", "metadata.annotations"},
		{Warning, "Service", "gke", "", "metadata.annotations"},
		{Warning, "Service", "neg", "", "metadata.annotations"},
		{Warning, "Service", "negcfg", "", "metadata.annotations"},
		{Warning, "Ingress", "azure", "", "metadata.annotations"},
	},
	"long-lived-grace-too-short": {
		{Warning, "Deployment", "chat", "", "spec.template.spec.terminationGracePeriodSeconds"},
		{Warning, "Deployment", "feed", "", "spec.template.spec.terminationGracePeriodSeconds"},
		{Warning, "Deployment", "events", "", "spec.template.spec.terminationGracePeriodSeconds"},
	},
	"leader-election-handoff": {
		{Warning, "Deployment", "controller", "", "spec.replicas"},
		{Warning, "Deployment", "operator", "", "spec.strategy.type"},
		{Warning, "Deployment", "agent", "", "spec.replicas"},
	},
	"cookie-session-affinity": {
		{Warning, "Ingress", "web", "", "metadata.annotations"},
		{Warning, "Ingress", "api", "", "metadata.annotations"},
		{Warning, "Service", "admin", "", "metadata.annotations"},
		{Warning, "HTTPRoute", "shop", "", "spec.rules[1].sessionPersistence"},
	},
	"lb-readiness-gate-missing": {
		{Warning, "Deployment", "web", "", "spec.template.spec.readinessGates"},
		{Warning, "Deployment", "api", "", "spec.template.spec.readinessGates"},
		{Warning, "Deployment", "worker", "", "spec.template.spec.readinessGates"},
	},
	"mesh-sidecar-no-drain": {
		{Warning, "Deployment", "web", "", "spec.template.metadata.annotations"},
		{Warning, "Deployment", "api", "", "spec.template.metadata.annotations"},
		{Warning, "Deployment", "worker", "", "spec.template.metadata.annotations"},
		{Warning, "Deployment", "gateway", "", "spec.template.metadata.annotations"},
	},
	"migration-job-retries": {
		{Warning, "Job", "db-migrate", "", "spec.backoffLimit"},
		{Warning, "Job", "db-migrate", "", "spec.template.spec.restartPolicy"},
		{Warning, "Job", "schema-update", "", "spec.backoffLimit"},
	},
}

func ofRule(fs []Finding, id string) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Rule == id {
			out = append(out, f)
		}
	}
	return out
}

func TestRuleFixtures(t *testing.T) {
	for _, r := range Rules() {
		t.Run(r.ID, func(t *testing.T) {
			want, ok := ruleWants[r.ID]
			if !ok {
				t.Fatalf("no expected findings for rule %q in ruleWants", r.ID)
			}
			dir := filepath.Join("testdata", "rules", r.ID)
			bad := ofRule(Audit(loadFixture(t, filepath.Join(dir, "bad.yaml")), Options{}), r.ID)
			var gotBad []got
			for _, f := range bad {
				gotBad = append(gotBad, got{f.Severity, f.Kind, f.Name, f.Container, f.Field})
			}
			if diff := cmp.Diff(want, gotBad); diff != "" {
				t.Errorf("bad.yaml findings of %s (-want +got):\n%s", r.ID, diff)
			}
			for _, f := range bad {
				checkFindingText(t, f)
			}
			good := ofRule(Audit(loadFixture(t, filepath.Join(dir, "good.yaml")), Options{}), r.ID)
			if len(good) > 0 {
				t.Errorf("good.yaml yields %d findings of %s, want none: %+v", len(good), r.ID, good)
			}
		})
	}
}

// checkFindingText checks that a finding's message names the object, the
// container and the field, that it has a hint, and where it came from.
func checkFindingText(t *testing.T, f Finding) {
	t.Helper()
	if !strings.Contains(f.Message, f.Name) {
		t.Errorf("%s: message %q does not name the object %q", f.Rule, f.Message, f.Name)
	}
	if f.Container != "" && !strings.Contains(f.Message, `container "`+f.Container+`"`) {
		t.Errorf("%s: message %q does not name the container %q", f.Rule, f.Message, f.Container)
	}
	leaf := f.Field[strings.LastIndexByte(f.Field, '.')+1:]
	if !strings.Contains(strings.ToLower(f.Message), strings.ToLower(leaf)) {
		t.Errorf("%s: message %q does not name the field %q", f.Rule, f.Message, leaf)
	}
	if f.Hint == "" || strings.Contains(f.Hint, "\n") {
		t.Errorf("%s: hint %q is not one line", f.Rule, f.Hint)
	}
	if f.File == "" || f.Line < 1 {
		t.Errorf("%s: finding has no source: %q:%d", f.Rule, f.File, f.Line)
	}
}

var kebab = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

func TestRulesCatalogue(t *testing.T) {
	rs := Rules()
	if len(rs) != len(ruleWants) {
		t.Errorf("Rules() has %d rules, ruleWants %d", len(rs), len(ruleWants))
	}
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.ID
		if !kebab.MatchString(r.ID) {
			t.Errorf("rule id %q is not kebab-case", r.ID)
		}
		if r.Description == "" || r.Hint == "" {
			t.Errorf("rule %q lacks a description or a hint", r.ID)
		}
		for _, f := range []string{"bad.yaml", "good.yaml"} {
			if _, err := os.Stat(filepath.Join("testdata", "rules", r.ID, f)); err != nil {
				t.Errorf("rule %q has no fixture: %v", r.ID, err)
			}
		}
	}
	if !sort.StringsAreSorted(ids) {
		t.Errorf("Rules() not sorted by id: %v", ids)
	}
	// Every fixture folder belongs to a rule.
	dirs, err := os.ReadDir(filepath.Join("testdata", "rules"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if d.IsDir() {
			if _, ok := ruleByID[d.Name()]; !ok {
				t.Errorf("fixture folder %q names no rule", d.Name())
			}
		}
	}
	// The rule list, by id: none may disappear.
	for _, id := range []string{"readiness-probe-missing", "readiness-equals-liveness", "probe-port-not-exposed", "probe-timing",
		"liveness-before-ready", "prestop-missing", "grace-period-too-short", "max-unavailable-nonzero", "rollout-cannot-progress",
		"recreate-strategy", "too-few-replicas", "pdb-missing", "pdb-blocks-eviction", "service-selects-nothing", "session-affinity",
		"mutable-image-tag", "revision-history-zero", "progress-deadline", "hpa-replicas-conflict", "migration-job-retries",
		"lb-no-connection-draining", "long-lived-grace-too-short", "leader-election-handoff", "cookie-session-affinity",
		"lb-readiness-gate-missing", "mesh-sidecar-no-drain"} {
		if _, ok := ruleByID[id]; !ok {
			t.Errorf("rule %q is missing", id)
		}
	}
}

func TestCheckRuleIDs(t *testing.T) {
	tests := []struct {
		name    string
		ids     []string
		wantErr string
	}{
		{"known", []string{"prestop-missing", "session-affinity"}, ""},
		{"none", nil, ""},
		{"unknown", []string{"prestop-missing", "pre-stop", "nope"}, `unknown lint rule "pre-stop", "nope"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckRuleIDs(tt.ids)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if tt.wantErr == "" && gotErr != "" || tt.wantErr != "" && !strings.Contains(gotErr, tt.wantErr) {
				t.Errorf("CheckRuleIDs(%q) = %q, want %q", tt.ids, gotErr, tt.wantErr)
			}
		})
	}
}
