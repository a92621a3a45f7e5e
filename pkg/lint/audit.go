package lint

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

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

// item is one object with the facts the rules need, computed once.
type item struct {
	obj    *Object
	meta   *metav1.ObjectMeta
	ignore []string
	// owned is a ReplicaSet managed by a Deployment: linked (its Services
	// are matched) but not reported on, its Deployment is.
	owned bool

	w   *workload // Deployment, StatefulSet, DaemonSet, ReplicaSet, Job
	svc *service
	pdb *pdbItem
	hpa *autoscalingv2.HorizontalPodAutoscaler

	// Read by the traffic, RBAC and mesh rules (context.go).
	ing   *networkingv1.Ingress
	route *GatewayRoute
	rbac  runtime.Object // Role, ClusterRole, RoleBinding, ClusterRoleBinding
	nsObj *corev1.Namespace
	bc    *BackendConfig
	tgb   *TargetGroupBinding
	pods  *PodLabels
}

// workload is an object with a pod template.
type workload struct {
	kind string
	tmpl *corev1.PodTemplateSpec
	// replicas is spec.replicas as written (nil when unset, or for a
	// DaemonSet or a Job).
	replicas *int32
	hasScale bool // Deployment, StatefulSet, ReplicaSet

	deploy *appsv1.Deployment
	sts    *appsv1.StatefulSet
	ds     *appsv1.DaemonSet
	rs     *appsv1.ReplicaSet
	job    *batchv1.Job

	// Cross-object facts.
	services []*service                             // Services of the input that select its pods
	pdbs     []*pdbItem                             // PDBs of the input that cover its pods
	hpa      *autoscalingv2.HorizontalPodAutoscaler // an HPA of the input that scales it
	traffic  []bool                                 // per container: receives Service traffic
}

// expected is the number of pods the workload normally runs: minReplicas of
// an HPA that scales it, else spec.replicas (1 when unset). ok is false for
// kinds without replicas.
func (w *workload) expected() (n int32, ok bool) {
	if !w.hasScale {
		return 0, false
	}
	if w.hpa != nil {
		if w.hpa.Spec.MinReplicas != nil {
			return *w.hpa.Spec.MinReplicas, true
		}
		return 1, true
	}
	if w.replicas == nil {
		return 1, true
	}
	return *w.replicas, true
}

type service struct {
	it      *item
	s       *corev1.Service
	matched bool
	// workloads is true when the input holds a workload (other than a
	// Job) in the Service's namespace.
	workloads bool

	// Set by index from the Service and the Ingresses, routes and
	// TargetGroupBindings that send it traffic (context.go).
	//
	// longLived says why its connections last long (WebSockets, read
	// timeouts above 60 s); awsIP why an AWS load balancer sends traffic
	// straight to its pods' IPs; neg is set when GKE load-balances to its
	// pods through network endpoint groups.
	longLived []string
	awsIP     []string
	neg       bool
}

type pdbItem struct {
	it  *item
	p   *policyv1.PodDisruptionBudget
	sel labels.Selector
	// covered are the expected pods of each workload of the input it
	// selects.
	covered []coveredPods
}

// coveredPods is what a workload's expected() said.
type coveredPods struct {
	n  int32
	ok bool
}

// check is what a rule's check function sees: the object, the audit, and a
// way to report.
type check struct {
	a  *auditor
	it *item
	r  *rule
}

// add reports a finding of the running rule on the object. An empty hint
// uses the rule's.
func (c *check) add(sev Severity, container, field, message, hint string) {
	if hint == "" {
		hint = c.r.Hint
	}
	o := c.it.obj
	loc := Location{File: o.Source.File, Line: o.Source.Line}
	if o.doc != nil {
		loc = o.doc.locate(field, container)
	}
	c.a.findings = append(c.a.findings, Finding{
		Rule:      c.r.ID,
		Severity:  sev,
		Kind:      o.Kind,
		Namespace: o.Namespace,
		Name:      o.Name,
		Container: container,
		Field:     field,
		Message:   message,
		Hint:      hint,
		File:      loc.File,
		Line:      loc.Line,
		FieldLine: loc.FieldLine,
	})
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

// newItem classifies an object; nil for objects no rule reads.
func newItem(o *Object) *item {
	if o.Typed == nil || reflect.ValueOf(o.Typed).IsNil() {
		return nil
	}
	it := &item{obj: o}
	switch t := o.Typed.(type) {
	case *appsv1.Deployment:
		it.meta = &t.ObjectMeta
		it.w = &workload{kind: "Deployment", tmpl: &t.Spec.Template, replicas: t.Spec.Replicas, hasScale: true, deploy: t}
	case *appsv1.StatefulSet:
		it.meta = &t.ObjectMeta
		it.w = &workload{kind: "StatefulSet", tmpl: &t.Spec.Template, replicas: t.Spec.Replicas, hasScale: true, sts: t}
	case *appsv1.DaemonSet:
		it.meta = &t.ObjectMeta
		it.w = &workload{kind: "DaemonSet", tmpl: &t.Spec.Template, ds: t}
	case *appsv1.ReplicaSet:
		it.meta = &t.ObjectMeta
		it.w = &workload{kind: "ReplicaSet", tmpl: &t.Spec.Template, replicas: t.Spec.Replicas, hasScale: true, rs: t}
		it.owned = metav1.GetControllerOf(t) != nil
	case *batchv1.Job:
		it.meta = &t.ObjectMeta
		it.w = &workload{kind: "Job", tmpl: &t.Spec.Template, job: t}
	case *corev1.Service:
		it.meta = &t.ObjectMeta
		it.svc = &service{it: it, s: t}
	case *policyv1.PodDisruptionBudget:
		it.meta = &t.ObjectMeta
		sel, err := metav1.LabelSelectorAsSelector(t.Spec.Selector)
		if err != nil {
			sel = labels.Nothing()
		}
		it.pdb = &pdbItem{it: it, p: t, sel: sel}
	case *autoscalingv2.HorizontalPodAutoscaler:
		it.meta = &t.ObjectMeta
		it.hpa = t
	case *networkingv1.Ingress:
		it.meta = &t.ObjectMeta
		it.ing = t
	case *GatewayRoute:
		it.meta = &t.ObjectMeta
		it.route = t
	case *rbacv1.Role:
		it.meta, it.rbac = &t.ObjectMeta, t
	case *rbacv1.ClusterRole:
		it.meta, it.rbac = &t.ObjectMeta, t
	case *rbacv1.RoleBinding:
		it.meta, it.rbac = &t.ObjectMeta, t
	case *rbacv1.ClusterRoleBinding:
		it.meta, it.rbac = &t.ObjectMeta, t
	case *corev1.Namespace:
		it.meta = &t.ObjectMeta
		it.nsObj = t
	case *BackendConfig:
		it.meta = &t.ObjectMeta
		it.bc = t
	case *TargetGroupBinding:
		it.meta = &t.ObjectMeta
		it.tgb = t
	case *PodLabels:
		it.meta = &t.ObjectMeta
		it.pods = t
	default:
		return nil
	}
	if v, ok := it.meta.Annotations[state.IgnoreAnnotation]; ok {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				it.ignore = append(it.ignore, id)
			}
		}
	}
	return it
}

// pair is one label key=value.
type pair struct{ k, v string }

// selIndex finds, among many selectors of one namespace, those that match a
// set of labels without trying each: every selector is filed under the
// rarest key=value of its matchLabels (selectors with none are tried always).
type selIndex struct {
	byPair map[pair][]int
	always []int
}

func newSelIndex(required []map[string]string) *selIndex {
	count := map[pair]int{}
	for _, m := range required {
		for k, v := range m {
			count[pair{k, v}]++
		}
	}
	x := &selIndex{byPair: map[pair][]int{}}
	for i, m := range required {
		best, bestN := pair{}, -1
		for k, v := range m {
			p := pair{k, v}
			if n := count[p]; bestN < 0 || n < bestN || (n == bestN && (p.k < best.k || (p.k == best.k && p.v < best.v))) {
				best, bestN = p, n
			}
		}
		if bestN < 0 {
			x.always = append(x.always, i)
		} else {
			x.byPair[best] = append(x.byPair[best], i)
		}
	}
	return x
}

// candidates calls f with every selector that may match lbls.
func (x *selIndex) candidates(lbls map[string]string, f func(i int)) {
	for k, v := range lbls {
		for _, i := range x.byPair[pair{k, v}] {
			f(i)
		}
	}
	for _, i := range x.always {
		f(i)
	}
}

func subset(sel, lbls map[string]string) bool {
	for k, v := range sel {
		if lv, ok := lbls[k]; !ok || lv != v {
			return false
		}
	}
	return true
}

// link computes the cross-object facts of a workload: which Services and
// PDBs of the input select its pods, which HPA scales it, and which of its
// containers receive Service traffic; and, the other way, that its
// Services select something and what its PDBs cover.
func (a *auditor) link(it *item) {
	w := it.w
	if w == nil {
		return
	}
	if w.hasScale {
		w.hpa = a.hpas[target{nsKey(it.obj), w.kind, it.obj.Name}]
	}
	w.traffic = make([]bool, len(w.tmpl.Spec.Containers))
	n := a.byNS[nsKey(it.obj)]
	if n == nil || w.job != nil {
		return
	}
	a.seeWorkload(n)
	lbls := w.tmpl.Labels
	n.svcIdx.candidates(lbls, func(i int) {
		s := n.svcs[i]
		if subset(s.s.Spec.Selector, lbls) {
			s.matched = true
			w.services = append(w.services, s)
			markTraffic(w, s.s)
		}
	})
	n.pdbIdx.candidates(lbls, func(i int) {
		p := n.pdbs[i]
		if p.sel.Matches(labels.Set(lbls)) {
			w.pdbs = append(w.pdbs, p)
			pods, ok := w.expected()
			p.covered = append(p.covered, coveredPods{pods, ok})
		}
	})
}

// markTraffic marks the containers of w that a port of Service s reaches:
// the one declaring the targetPort (by name, or by number). When no container
// declares it (ports are informational), the first container is taken to
// listen on it.
func markTraffic(w *workload, s *corev1.Service) {
	cs := w.tmpl.Spec.Containers
	if len(cs) == 0 {
		return
	}
	for _, sp := range s.Spec.Ports {
		tp := sp.TargetPort
		found := false
		for i := range cs {
			for _, cp := range cs[i].Ports {
				if (tp.Type == intstr.String && tp.StrVal != "" && cp.Name == tp.StrVal) ||
					(tp.Type == intstr.Int && tp.IntVal != 0 && cp.ContainerPort == tp.IntVal) ||
					(tp.Type == intstr.Int && tp.IntVal == 0 && cp.ContainerPort == sp.Port) {
					w.traffic[i] = true
					found = true
				}
			}
		}
		if !found {
			w.traffic[0] = true
		}
	}
	if len(s.Spec.Ports) == 0 {
		w.traffic[0] = true
	}
}
