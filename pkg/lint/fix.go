package lint

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/zdd-dev/kubectl-zdd/pkg/probes"
)

// The settings --fix writes.
const (
	// FixPreStopSleepSeconds is the preStop sleep --fix adds: long enough for
	// endpoint controllers and proxies to stop routing to a terminating pod.
	FixPreStopSleepSeconds = 5
	// FixRevisionHistoryLimit is the revisionHistoryLimit --fix sets
	// (the Deployment default).
	FixRevisionHistoryLimit = 10
)

// fixableRules are the rules whose findings --fix rewrites.
var fixableRules = map[string]bool{
	"max-unavailable-nonzero": true,
	"rollout-cannot-progress": true,
	"prestop-missing":         true,
	"grace-period-too-short":  true,
	"revision-history-zero":   true,
	"progress-deadline":       true,
	// --fix raises the grace period to LongLivedGraceSeconds.
	"long-lived-grace-too-short": true,
	// only for a container with a livenessProbe, copied: without one a
	// person must write the probe.
	"readiness-probe-missing": true,
}

// Fixable reports whether --fix can rewrite a finding of this rule.
func Fixable(rule string) bool { return fixableRules[rule] }

// Change is one edit --fix made to an object.
type Change struct {
	Kind      string
	Namespace string
	Name      string
	Source    Source
	// Description says what was set, e.g. "set spec.revisionHistoryLimit to 10".
	Description string
}

func (c Change) String() string {
	name := c.Name
	if c.Namespace != "" {
		name = c.Namespace + "/" + c.Name
	}
	where := ""
	if c.Source.File != "" {
		where = c.Source.File
		if c.Source.Line > 0 {
			where += ":" + strconv.Itoa(c.Source.Line)
		}
		where += ": "
	}
	return fmt.Sprintf("%s%s %s: %s", where, c.Kind, name, c.Description)
}

// fixer rewrites one object, held as a kyaml node, for its findings.
type fixer struct {
	node    *kyaml.RNode
	kind    string
	drain   int64
	changes []string
	// minGrace is the least terminationGracePeriodSeconds another rule
	// asks for (long-lived connections).
	minGrace int64
}

// FixNode applies the mechanical fixes for findings (all of the object node
// holds, whose kind is kind) and returns a description of every edit. Fields
// are set in place, so comments and the order of existing fields are kept;
// new fields are appended to their mapping.
func FixNode(node *kyaml.RNode, kind string, findings []Finding, drainSeconds int) ([]string, error) {
	if drainSeconds <= 0 {
		drainSeconds = DefaultDrainSeconds
	}
	f := &fixer{node: node, kind: kind, drain: int64(drainSeconds)}
	// A stable order: the same input gives the same edits.
	sorted := append([]Finding(nil), findings...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Rule < sorted[j].Rule })
	graceCheck := false
	for _, fd := range sorted {
		var err error
		switch fd.Rule {
		case "max-unavailable-nonzero":
			err = f.maxUnavailable(fd)
		case "rollout-cannot-progress":
			err = f.maxSurge(fd)
		case "prestop-missing":
			err = f.preStop(fd)
			graceCheck = true
		case "grace-period-too-short":
			graceCheck = true
		case "long-lived-grace-too-short":
			f.minGrace = LongLivedGraceSeconds
			graceCheck = true
		case "readiness-probe-missing":
			err = f.readinessFromLiveness(fd)
		case "revision-history-zero":
			err = f.set([]string{"spec"}, "revisionHistoryLimit", strconv.Itoa(FixRevisionHistoryLimit))
		case "progress-deadline":
			err = f.set([]string{"spec"}, "progressDeadlineSeconds", strconv.Itoa(MaxProgressDeadlineSeconds))
		}
		if err != nil {
			return f.changes, fmt.Errorf("fixing %s on %s: %w", fd.Rule, fd.Kind+" "+fd.Name, err)
		}
	}
	if graceCheck {
		if err := f.grace(); err != nil {
			return f.changes, err
		}
	}
	return f.changes, nil
}

// set sets path.field to a scalar, creating the path, and records the edit
// when the value changes.
func (f *fixer) set(path []string, field, value string) error {
	parent, err := f.node.Pipe(kyaml.LookupCreate(kyaml.MappingNode, path...))
	if err != nil {
		return err
	}
	if cur := parent.Field(field); cur != nil && cur.Value.YNode().Kind == kyaml.ScalarNode {
		// Edit the scalar in place: its comments stay with it.
		n := cur.Value.YNode()
		if n.Value == value {
			return nil
		}
		n.Value, n.Tag, n.Style = value, kyaml.NodeTagInt, 0
	} else if err := parent.PipeE(kyaml.SetField(field, intNode(value))); err != nil {
		return err
	}
	f.changes = append(f.changes, fmt.Sprintf("set %s to %s", strings.Join(append(append([]string{}, path...), field), "."), value))
	return nil
}

// get reads a scalar at path (nil when absent).
func (f *fixer) get(path ...string) *kyaml.RNode {
	n, err := f.node.Pipe(kyaml.Lookup(path...))
	if err != nil || n == nil || n.YNode().Kind != kyaml.ScalarNode {
		return nil
	}
	return n
}

// rollingPath is where a workload keeps its rolling-update budget.
func (f *fixer) rollingPath(fd Finding) []string {
	if p := strings.TrimSuffix(strings.TrimSuffix(fd.Field, ".maxUnavailable"), ".maxSurge"); strings.HasSuffix(p, "rollingUpdate") {
		return strings.Split(p, ".")
	}
	if f.kind == "Deployment" {
		return []string{"spec", "strategy", "rollingUpdate"}
	}
	return []string{"spec", "updateStrategy", "rollingUpdate"}
}

func zeroIntOrPercent(v string) bool {
	v = strings.TrimSpace(strings.Trim(v, `"'`))
	return v == "0" || v == "0%"
}

// maxUnavailable sets maxUnavailable to 0 and makes sure maxSurge lets the
// rollout progress (at least 1). Only Deployments and DaemonSets accept a
// maxUnavailable of 0.
func (f *fixer) maxUnavailable(fd Finding) error {
	if f.kind != "Deployment" && f.kind != "DaemonSet" {
		return nil
	}
	strategy := []string{"spec", "strategy"}
	if f.kind == "DaemonSet" {
		strategy = []string{"spec", "updateStrategy"}
	}
	if t := f.get(append(strategy, "type")...); t != nil && t.YNode().Value != "RollingUpdate" {
		return nil // Recreate / OnDelete: a choice --fix does not overturn
	}
	path := f.rollingPath(fd)
	surge := f.get(append(path, "maxSurge")...)
	// A Deployment's default maxSurge (25%) rounds up to at least 1; a
	// DaemonSet's default is 0.
	if surge == nil && f.kind == "DaemonSet" || surge != nil && zeroIntOrPercent(surge.YNode().Value) {
		if err := f.set(path, "maxSurge", "1"); err != nil {
			return err
		}
	}
	return f.set(path, "maxUnavailable", "0")
}

// maxSurge fixes a rollout that can never progress (maxSurge 0 and
// maxUnavailable 0) by allowing one extra pod.
func (f *fixer) maxSurge(fd Finding) error {
	return f.set(f.rollingPath(fd), "maxSurge", "1")
}

// podSpecPath is the path of the pod spec in a workload.
func (f *fixer) podSpecPath() []string {
	if f.kind == "Pod" {
		return []string{"spec"}
	}
	return []string{"spec", "template", "spec"}
}

// container is the node of the finding's container in the pod spec (nil
// when the finding names none, or it is not there): the one lookup of the
// fixes that change a container.
func (f *fixer) container(fd Finding) (*kyaml.RNode, error) {
	if fd.Container == "" {
		return nil, nil
	}
	containers, err := f.node.Pipe(kyaml.Lookup(append(f.podSpecPath(), "containers")...))
	if err != nil || containers == nil {
		return nil, err
	}
	return containers.Pipe(kyaml.MatchElement("name", fd.Container))
}

// preStop adds a preStop sleep to the finding's container, using the
// kubelet's sleep action (no shell needed in the image).
func (f *fixer) preStop(fd Finding) error {
	c, err := f.container(fd)
	if err != nil || c == nil {
		return err
	}
	if ps, _ := c.Pipe(kyaml.Lookup("lifecycle", "preStop")); ps != nil {
		return nil
	}
	sleep, err := c.Pipe(kyaml.LookupCreate(kyaml.MappingNode, "lifecycle", "preStop", "sleep"))
	if err != nil {
		return err
	}
	if err := sleep.PipeE(kyaml.SetField("seconds", intNode(strconv.Itoa(FixPreStopSleepSeconds)))); err != nil {
		return err
	}
	f.changes = append(f.changes, fmt.Sprintf("added a preStop sleep of %ds to container %q", FixPreStopSleepSeconds, fd.Container))
	return nil
}

// readinessFromLiveness gives the finding's container a readinessProbe
// copied from its livenessProbe, when it has one: the liveness endpoint
// says at least that the process answers. Without a livenessProbe nothing
// is written: what "ready" means is for a person to say.
func (f *fixer) readinessFromLiveness(fd Finding) error {
	c, err := f.container(fd)
	if err != nil || c == nil {
		return err
	}
	if rp, _ := c.Pipe(kyaml.Lookup("readinessProbe")); rp != nil {
		return nil
	}
	lp, err := c.Pipe(kyaml.Lookup("livenessProbe"))
	if err != nil || lp == nil {
		return err
	}
	if err := c.PipeE(kyaml.SetField("readinessProbe", lp.Copy())); err != nil {
		return err
	}
	f.changes = append(f.changes, fmt.Sprintf("added a readinessProbe to container %q, a copy of its livenessProbe", fd.Container))
	return nil
}

// grace makes terminationGracePeriodSeconds at least the longest preStop
// sleep plus the drain budget, and at least minGrace.
func (f *fixer) grace() error {
	specNode, err := f.node.Pipe(kyaml.Lookup(f.podSpecPath()...))
	if err != nil || specNode == nil {
		return err
	}
	m, err := specNode.Map()
	if err != nil {
		return err
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var spec corev1.PodSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("reading the pod spec: %w", err)
	}
	var longest int64
	for i := range spec.Containers {
		if ps := probes.PreStopOf(&spec.Containers[i]); ps.Seconds > longest {
			longest = ps.Seconds
		}
	}
	need := longest + f.drain
	if need < f.minGrace {
		need = f.minGrace
	}
	if probes.GracePeriod(&spec) >= need {
		return nil
	}
	return f.set(f.podSpecPath(), "terminationGracePeriodSeconds", strconv.FormatInt(need, 10))
}
