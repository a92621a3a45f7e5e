package lint

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// ErrUnsupportedKind is wrapped by FromTyped for an object whose kind (or API
// version) no rule audits. Callers print a note and skip the object.
var ErrUnsupportedKind = errors.New("kind not audited by kubectl zdd lint")

// DefaultDrainSeconds is Options.DrainSeconds when it is left at 0.
const DefaultDrainSeconds = 10

// MigrationAnnotation marks a Job as a database migration ("true").
const MigrationAnnotation = state.Prefix + "migration"

// rule is one rule: what Rules() reports about it, whether it runs by
// default, and its check, called once per audited object.
type rule struct {
	RuleInfo
	// Off rules run only when listed in Options.Enabled.
	Off   bool
	check func(c *check)
}

// Rules lists every rule, sorted by id.
func Rules() []RuleInfo {
	out := make([]RuleInfo, 0, len(rules))
	for _, r := range sortedRules {
		out = append(out, r.RuleInfo)
	}
	return out
}

var (
	sortedRules []*rule
	ruleByID    map[string]*rule
)

func init() {
	ruleByID = make(map[string]*rule, len(rules))
	for _, r := range rules {
		if _, dup := ruleByID[r.ID]; dup {
			panic("lint: duplicate rule id " + r.ID)
		}
		ruleByID[r.ID] = r
		sortedRules = append(sortedRules, r)
	}
	sort.Slice(sortedRules, func(i, j int) bool { return sortedRules[i].ID < sortedRules[j].ID })
}

// CheckRuleIDs returns an error naming every id that is not a rule's, for
// validating --disable and --enable (and zdd.dev/ignore values in tests).
func CheckRuleIDs(ids []string) error {
	var unknown []string
	for _, id := range ids {
		if _, ok := ruleByID[id]; !ok {
			unknown = append(unknown, fmt.Sprintf("%q", id))
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown lint rule %s (see docs/lint-rules.md for the list)", strings.Join(unknown, ", "))
	}
	return nil
}

type auditor struct {
	opts    Options
	enabled []*rule
	// context are the Services, PDBs and HPAs: kept to the end, since every
	// workload is linked to them and their own rules need every workload.
	context  []*item
	findings []Finding
	// havePDBs holds the scopes (see Object.scope) of the input that hold
	// at least one PDB: only there is a missing PDB a finding (and
	// everywhere in live mode).
	havePDBs map[string]bool

	byNS map[string]*nsIndex // by nsKey
	hpas map[target]*autoscalingv2.HorizontalPodAutoscaler

	// The traffic objects and RBAC of the input (context.go).
	ingresses  []*item
	routes     []*item
	podLabels  []*item
	tgbs       []*item
	rbacItems  []*item
	namespaces map[string]*corev1.Namespace // by nsKey of the namespace's own name
	// leaseGrants are the grants to update Leases, by ServiceAccount (see
	// saKey) or group of ServiceAccounts.
	leaseGrants map[string][]leaseGrant
}

// nsIndex is what the cross-object rules know of one namespace.
type nsIndex struct {
	svcs    []*service
	svcIdx  *selIndex
	pdbs    []*pdbItem
	pdbIdx  *selIndex
	svcSels []map[string]string
	pdbSels []map[string]string
	// workloads is set once a workload of the namespace is seen.
	workloads bool

	// byName are all the Services of the namespace, with or without a
	// selector, for Ingresses and routes to name.
	byName map[string]*service
	// backendConfigs are the GKE BackendConfigs by name.
	backendConfigs map[string]*BackendConfig
}

// target is what an HPA scales (ns is an nsKey).
type target struct{ ns, kind, name string }

// nsKey is the key of an object's namespace in the indexes: its scope (see
// Object.scope) and its namespace. Cross-object rules match objects of one
// key only.
func nsKey(o *Object) string {
	if o.scope == "" {
		return o.Namespace
	}
	return o.scope + "\x00" + o.Namespace
}

func (a *auditor) drain() int64 {
	if a.opts.DrainSeconds > 0 {
		return int64(a.opts.DrainSeconds)
	}
	return DefaultDrainSeconds
}

// Audit runs every enabled rule over objs and returns the findings sorted by
// source (file, line), object (kind, namespace, name), rule, container and
// field. A rule listed in an object's zdd.dev/ignore annotation (comma
// separated ids, or "*" for all) is not run on that object. Objects marked
// Context are read by the cross-object rules but not reported on.
func Audit(objs []Object, opts Options) []Finding {
	a := newAuditor(opts)
	var workloads []*Object
	for i := range objs {
		if isWorkload(&objs[i]) {
			workloads = append(workloads, &objs[i])
		} else {
			a.addContext(&objs[i])
		}
	}
	a.index()
	for _, o := range workloads {
		a.auditWorkload(o)
	}
	return a.finish()
}

// The audit in three steps, so that a big input can be audited as it is
// read (see LintFiles): every Service, PDB and HPA first (addContext), then
// index, then each workload (auditWorkload: linked, audited, and nothing of
// it kept but what the Services' and PDBs' own rules need), then finish.

func newAuditor(opts Options) *auditor {
	return &auditor{opts: opts, havePDBs: map[string]bool{}, enabled: enabledRules(opts),
		byNS: map[string]*nsIndex{}, hpas: map[target]*autoscalingv2.HorizontalPodAutoscaler{},
		namespaces: map[string]*corev1.Namespace{}, leaseGrants: map[string][]leaseGrant{}}
}

// isWorkload reports whether an object has a pod template (a Deployment,
// StatefulSet, DaemonSet, ReplicaSet or Job): those are audited one at a
// time; everything else is context.
func isWorkload(o *Object) bool {
	switch o.Typed.(type) {
	case *appsv1.Deployment, *appsv1.StatefulSet, *appsv1.DaemonSet, *appsv1.ReplicaSet, *batchv1.Job:
		return true
	}
	return false
}

// addContext adds an object that is not a workload; it must stay unchanged
// until finish.
func (a *auditor) addContext(o *Object) {
	it := newItem(o)
	if it == nil {
		return
	}
	a.context = append(a.context, it)
	switch {
	case it.svc != nil:
		a.ns(nsKey(o)).byName[o.Name] = it.svc
		// A Service without a selector has its endpoints managed by
		// hand; an ExternalName Service has none.
		if len(it.svc.s.Spec.Selector) == 0 || it.svc.s.Spec.Type == corev1.ServiceTypeExternalName {
			return
		}
		n := a.ns(nsKey(o))
		n.svcs = append(n.svcs, it.svc)
		n.svcSels = append(n.svcSels, it.svc.s.Spec.Selector)
	case it.pdb != nil:
		a.havePDBs[o.scope] = true
		n := a.ns(nsKey(o))
		n.pdbs = append(n.pdbs, it.pdb)
		var ml map[string]string
		if s := it.pdb.p.Spec.Selector; s != nil {
			ml = s.MatchLabels
		}
		n.pdbSels = append(n.pdbSels, ml)
	case it.hpa != nil:
		ref := it.hpa.Spec.ScaleTargetRef
		a.hpas[target{nsKey(o), ref.Kind, ref.Name}] = it.hpa
	default:
		a.addTrafficContext(it)
	}
}

func (a *auditor) ns(name string) *nsIndex {
	n := a.byNS[name]
	if n == nil {
		n = &nsIndex{byName: map[string]*service{}, backendConfigs: map[string]*BackendConfig{}}
		a.byNS[name] = n
	}
	return n
}

// index builds the selector indexes once every context object is added,
// and what the traffic and RBAC objects say of the Services and
// ServiceAccounts.
func (a *auditor) index() {
	for _, n := range a.byNS {
		n.svcIdx = newSelIndex(n.svcSels)
		n.pdbIdx = newSelIndex(n.pdbSels)
	}
	a.indexTraffic()
	a.indexRBAC()
	// Pods of bare Pods and ReplicationControllers: their Services select
	// something.
	for _, it := range a.podLabels {
		n := a.byNS[nsKey(it.obj)]
		if n == nil {
			continue
		}
		a.seeWorkload(n)
		lbls := it.pods.Labels
		n.svcIdx.candidates(lbls, func(i int) {
			if s := n.svcs[i]; subset(s.s.Spec.Selector, lbls) {
				s.matched = true
			}
		})
	}
}

// seeWorkload records that a namespace holds pods: its Services are then
// judged by service-selects-nothing.
func (a *auditor) seeWorkload(n *nsIndex) {
	if !n.workloads {
		n.workloads = true
		for _, s := range n.svcs {
			s.workloads = true
		}
	}
}

// auditWorkload links a workload to the context and runs the rules on it.
// The object is not kept.
func (a *auditor) auditWorkload(o *Object) {
	it := newItem(o)
	if it == nil {
		return
	}
	a.link(it)
	if it.obj.Context || it.owned {
		return
	}
	a.run(it)
}

// finish runs the rules on the context objects and returns every finding,
// sorted.
func (a *auditor) finish() []Finding {
	for _, it := range a.context {
		if !it.obj.Context {
			a.run(it)
		}
	}
	SortFindings(a.findings)
	// The same finding twice: two overlays of one base that do not change
	// what the finding is about (same object, same file and line).
	return slices.Compact(a.findings)
}

func (a *auditor) run(it *item) {
	c := &check{a: a, it: it}
	for _, r := range a.enabled {
		if it.ignores(r.ID) {
			continue
		}
		c.r = r
		r.check(c)
	}
}

// enabledRules is the rules that run: on by default or enabled, and not
// disabled (--disable wins over --enable).
func enabledRules(opts Options) []*rule {
	in := func(list []string, id string) bool {
		for _, x := range list {
			if x == id {
				return true
			}
		}
		return false
	}
	var out []*rule
	for _, r := range sortedRules {
		if r.Off && !in(opts.Enabled, r.ID) {
			continue
		}
		if in(opts.Disabled, r.ID) {
			continue
		}
		out = append(out, r)
	}
	return out
}

func (it *item) ignores(id string) bool {
	for _, x := range it.ignore {
		if x == id || x == "*" {
			return true
		}
	}
	return false
}

// SortFindings sorts findings by source (file, line), object (kind,
// namespace, name), rule, container, field and message.
func SortFindings(fs []Finding) {
	slices.SortStableFunc(fs, func(a, b Finding) int {
		if c := cmp.Compare(a.File, b.File); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Line, b.Line); c != 0 {
			return c
		}
		for _, c := range [...]int{
			strings.Compare(a.Kind, b.Kind), strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Name, b.Name),
			strings.Compare(a.Rule, b.Rule), strings.Compare(a.Container, b.Container), strings.Compare(a.Field, b.Field),
		} {
			if c != 0 {
				return c
			}
		}
		if c := strings.Compare(a.Message, b.Message); c != 0 {
			return c
		}
		if c := cmp.Compare(a.FieldLine, b.FieldLine); c != 0 {
			return c
		}
		return strings.Compare(a.Hint, b.Hint)
	})
}
