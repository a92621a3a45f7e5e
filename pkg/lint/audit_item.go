package lint

import (
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
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
	"reflect"
	"strings"
)

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
