package canary

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// plan is everything a run needs, read from the cluster before any change.
type plan struct {
	stable   *appsv1.Deployment
	canary   *appsv1.Deployment // desired canary (nil: keep the existing one)
	existing *appsv1.Deployment // the canary Deployment in the cluster, if any
	service  *corev1.Service
	router   traffic.WeightRouter // nil: replica ratio
	op       *state.Operation
	replicas int32
	trackKey string
	trackVal string
	steps    []int
	pauses   []time.Duration
	manual   bool
	hold     bool
	rec      *state.RecordWriter
	// record is the record on the stable as prepare read it: after the
	// Lease is taken it is read again, and must not have changed
	record    *state.Operation
	stableSel map[string]string // the stable's matchLabels
	// seen holds the version of each Deployment (stable, canary) this run
	// last read or wrote; splitSel the selectors it last set on
	// SERVICE-stable and SERVICE-canary (see writers.go).
	seen     map[string]*appsv1.Deployment
	splitSel map[string]map[string]string
	// autoscalers size the stable (see autoscale.go); canaryWant is the
	// canary's size at the step last applied under them
	autoscalers []kube.Autoscaler
	canaryWant  int32
	// endpoints is the downtime watcher's watch of the Service, which the
	// step waits read (nil when it is not running: each wait starts its
	// own)
	endpoints *kube.EndpointWatch
}

func (p *plan) ref() string        { return p.stable.Namespace + "/" + p.stable.Name }
func (p *plan) canaryName() string { return p.stable.Name + "-canary" }
func (p *plan) canaryRef() string  { return p.stable.Namespace + "/" + p.canaryName() }

// CanaryName is the name of the canary Deployment of stable.
func CanaryName(stable string) string { return stable + "-canary" }

func (c *Canary) getStable(ctx context.Context, ns, name string) (*appsv1.Deployment, error) {
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, exitcode.Usagef("deployment %q not found", ns+"/"+name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading deployment %q: %w", ns+"/"+name, err)
	}
	if strings.HasSuffix(name, "-canary") && d.Annotations[CanaryOfAnnotation] != "" {
		return nil, exitcode.Usagef("deployment %q is the canary of %q: name the stable deployment", ns+"/"+name, d.Annotations[CanaryOfAnnotation])
	}
	return d, nil
}

// Prepare reads the cluster and checks cfg against it without changing
// anything: every problem of input is a usage error.
func (c *Canary) prepare(ctx context.Context, cfg Config) (*plan, error) {
	stable, err := c.getStable(ctx, cfg.Namespace, cfg.Name)
	if err != nil {
		return nil, err
	}
	p := &plan{stable: stable, steps: cfg.Steps, pauses: cfg.Pauses, manual: cfg.Manual, hold: cfg.Hold,
		trackKey: cfg.TrackKey, trackVal: cfg.TrackValue}
	if p.trackKey == "" {
		p.trackKey, p.trackVal = "track", "canary"
	}
	ref := p.ref()
	p.rec = c.recordWriter(p)
	p.rec.Observe(stable)
	p.remember(stable)
	op, ok := state.FromAnnotations(stable.Annotations)
	if ok {
		rec := *op
		p.record = &rec
	}
	if ok && op.Unfinished() && op.Strategy != Strategy {
		// the same rule as rollout: in flight, interrupted, paused or
		// failed part-way, another strategy's operation is finished first
		return nil, exitcode.Usagef("deployment %q has an unfinished %s operation (%s, phase %s, %s): run 'kubectl zdd resume deployment/%s' or 'kubectl zdd abort deployment/%s' first",
			ref, op.Strategy, op.ID, op.Phase, resultText(op), stable.Name, stable.Name)
	}
	// its own unfinished operation is carried on, but not one that failed
	// (the release starts again)
	if ok && op.Strategy == Strategy && op.Unfinished() && op.Result != state.ResultFailed {
		p.op = op
		n, err := strconv.Atoi(op.Params[ParamReplicas])
		if err != nil {
			return nil, exitcode.Usagef("deployment %q: canary record has no replica count (%s%s=%q)", ref, state.ParamPrefix, ParamReplicas, op.Params[ParamReplicas])
		}
		p.replicas = int32(n)
	} else {
		p.replicas = 1
		if stable.Spec.Replicas != nil {
			p.replicas = *stable.Spec.Replicas
		}
	}
	if p.replicas < 1 {
		return nil, exitcode.Usagef("deployment %q has no replicas (spec.replicas: 0): a canary needs at least one stable pod to compare with; scale it up first", ref)
	}
	if stable.Spec.Paused && p.op == nil {
		return nil, exitcode.Usagef("deployment %q is paused (spec.paused: true): its rollout to the canary's pod template would never progress; run 'kubectl rollout resume deployment/%s' first", ref, stable.Name)
	}
	if stable.Spec.Selector == nil || len(stable.Spec.Selector.MatchLabels) == 0 {
		return nil, exitcode.Usagef("deployment %q: its selector has no matchLabels, which the canary's Services need", ref)
	}
	p.stableSel = maps.Clone(stable.Spec.Selector.MatchLabels)
	if _, used := stable.Spec.Selector.MatchLabels[p.trackKey]; used {
		return nil, exitcode.Usagef("deployment %q selects on label %q, the canary track label: choose another --track-label", ref, p.trackKey)
	}
	for _, e := range stable.Spec.Selector.MatchExpressions {
		if e.Key == p.trackKey {
			return nil, exitcode.Usagef("deployment %q selects on label %q, the canary track label: choose another --track-label", ref, p.trackKey)
		}
	}

	existing, err := c.Client.AppsV1().Deployments(stable.Namespace).Get(ctx, p.canaryName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading deployment %q: %w", p.canaryRef(), err)
	default:
		if existing.Annotations[CanaryOfAnnotation] != stable.Name {
			return nil, exitcode.Usagef("deployment %q exists and is not the canary of %q (no %s annotation): rename one of them", p.canaryRef(), ref, CanaryOfAnnotation)
		}
		p.existing = existing
		p.remember(existing)
	}

	if cfg.Template != nil || len(cfg.Images) > 0 || p.existing == nil {
		canary, err := buildCanary(stable, cfg, p)
		if err != nil {
			return nil, err
		}
		p.canary = canary
	}

	svcName := cfg.Service
	if svcName == "" && p.op != nil {
		svcName = p.op.Params[ParamService]
	}
	svc, err := c.findService(ctx, stable, svcName)
	if err != nil {
		return nil, err
	}
	p.service = svc
	tmpl := stable.Spec.Template
	if p.canary != nil {
		tmpl = p.canary.Spec.Template
	} else if p.existing != nil {
		tmpl = p.existing.Spec.Template
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(tmpl.Labels)) {
		return nil, exitcode.Usagef("service %q (selector %s) would not select the canary's pods (labels %s)", svc.Namespace+"/"+svc.Name, labels.Set(svc.Spec.Selector), labels.Set(tmpl.Labels))
	}

	kind, object := cfg.RouterKind, cfg.RouterObject
	if kind == "" && p.op != nil {
		kind, object, _ = strings.Cut(p.op.Params[ParamRouter], "/")
	}
	if kind != "" && kind != traffic.RouterReplicaRatio {
		r, err := traffic.NewWeightRouter(traffic.RouterConfig{Kind: kind, Name: object, Namespace: stable.Namespace, Service: svc.Name}, c.Dynamic, c.Discovery)
		if err != nil {
			return nil, err
		}
		if err := r.Check(ctx); err != nil {
			return nil, err
		}
		p.router = r
	}
	if err := c.findAutoscalers(ctx, p); err != nil {
		return nil, err
	}
	return p, nil
}

// buildCanary makes the desired canary Deployment from the stable one.
func buildCanary(stable *appsv1.Deployment, cfg Config, p *plan) (*appsv1.Deployment, error) {
	ref := p.ref()
	tmpl := stable.Spec.Template.DeepCopy()
	if cfg.Template != nil {
		tmpl = cfg.Template.DeepCopy()
		if tmpl.Labels == nil {
			tmpl.Labels = map[string]string{}
		}
	}
	if len(cfg.Images) > 0 {
		if err := kube.SetImages(&tmpl.Spec, cfg.Images); err != nil {
			return nil, exitcode.UsageError(fmt.Errorf("deployment %q: %w", ref, err))
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(stable.Spec.Selector)
	if err != nil {
		return nil, exitcode.Usagef("deployment %q has an invalid selector: %w", ref, err)
	}
	if !sel.Matches(labels.Set(tmpl.Labels)) {
		return nil, exitcode.Usagef("the canary's pod labels %s do not match the selector %s of deployment %q", labels.Set(tmpl.Labels), sel, ref)
	}
	if kube.EqualIgnoreHash(tmpl, &stable.Spec.Template) && p.existing == nil {
		return nil, exitcode.Usagef("deployment %q: the canary's pod template would be the same as the stable's: give --image or -f with the new version", ref)
	}
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	tmpl.Labels[p.trackKey] = p.trackVal

	selector := stable.Spec.Selector.DeepCopy()
	selector.MatchLabels[p.trackKey] = p.trackVal

	lbls := gitops.UntrackedLabels(stable) // not claimed by the stable's Argo CD application
	lbls[p.trackKey] = p.trackVal
	one := intOrString("1")
	zero := intOrString("0")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:        p.canaryName(),
			Namespace:   stable.Namespace,
			Labels:      lbls,
			Annotations: map[string]string{CanaryOfAnnotation: stable.Name},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                int32Ptr(0),
			Selector:                selector,
			Template:                *tmpl,
			MinReadySeconds:         stable.Spec.MinReadySeconds,
			ProgressDeadlineSeconds: stable.Spec.ProgressDeadlineSeconds,
			RevisionHistoryLimit:    stable.Spec.RevisionHistoryLimit,
			// The canary's own updates never take a ready canary pod away.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &zero}},
		},
	}
	return d, nil
}

// findService returns the named Service, or the one Service whose selector
// selects the stable's pods.
func (c *Canary) findService(ctx context.Context, stable *appsv1.Deployment, name string) (*corev1.Service, error) {
	ns := stable.Namespace
	if name != "" {
		svc, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, exitcode.Usagef("service %q not found", ns+"/"+name)
		}
		if err != nil {
			return nil, fmt.Errorf("reading service %q: %w", ns+"/"+name, err)
		}
		return svc, nil
	}
	list, err := c.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing services in namespace %q: %w", ns, err)
	}
	var found []*corev1.Service
	for i := range list.Items {
		s := &list.Items[i]
		if len(s.Spec.Selector) == 0 || s.Labels[kube.ManagedByLabel] == kube.FieldManager {
			continue
		}
		if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(stable.Spec.Template.Labels)) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return nil, exitcode.Usagef("no service in namespace %q selects the pods of deployment %q: a canary is reached through one (give --service)", ns, stable.Name)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, s := range found {
		names[i] = s.Name
	}
	return nil, exitcode.Usagef("services %s all select the pods of deployment %q: choose one with --service", strings.Join(names, ", "), ns+"/"+stable.Name)
}
