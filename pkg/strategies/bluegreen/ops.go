package bluegreen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// initTargets is what Init works on: the Service, the one Deployment it
// selects and its colour copy (existing, when an earlier init made it).
type initTargets struct {
	snap           *Snapshot
	orig, existing *appsv1.Deployment
	name, colour   string
}

// discoverInit reads what Init needs and checks it; bad input is a usage
// error and nothing is changed.
func (r *Runner) discoverInit(ctx context.Context) (*initTargets, error) {
	key := r.key()
	label, colour := r.Colours.Label, r.Colours.Names[0]
	svc, err := r.Client.CoreV1().Services(r.Namespace).Get(ctx, r.Service, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, exitcode.Usagef("service %q not found", key)
	}
	if err != nil {
		return nil, fmt.Errorf("reading service %q: %w", key, err)
	}
	if cur, ok := svc.Spec.Selector[label]; ok {
		return nil, exitcode.Usagef("service %q already selects %s=%s: it is blue-green already (see 'kubectl zdd bluegreen status service/%s')", key, label, cur, r.Service)
	}
	if len(svc.Spec.Selector) == 0 {
		return nil, exitcode.Usagef("service %q has no selector; blue-green needs a Service that selects the pods of one Deployment", key)
	}
	deps, err := r.Client.AppsV1().Deployments(r.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing deployments in %q: %w", r.Namespace, err)
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	var found []*appsv1.Deployment
	for i := range deps.Items {
		d := &deps.Items[i]
		if d.DeletionTimestamp != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
			continue
		}
		if c := d.Spec.Template.Labels[label]; c != "" && r.Colours.Other(c) != "" {
			// a colour copy of an earlier, unfinished init: not the original
			continue
		}
		found = append(found, d)
	}
	if len(found) != 1 {
		what := "no deployment has such pods"
		if len(found) > 1 {
			what = fmt.Sprintf("%d deployments have such pods: %s", len(found), names(found))
		}
		return nil, exitcode.Usagef("service %q selects %s, but %s; init needs exactly one", key, formatSelector(svc.Spec.Selector), what)
	}
	orig := found[0]
	name := orig.Name + "-" + colour
	existing, err := r.Client.AppsV1().Deployments(r.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		existing = nil
	case err != nil:
		return nil, fmt.Errorf("reading deployment %q: %w", r.Namespace+"/"+name, err)
	case existing.Spec.Template.Labels[label] != colour:
		return nil, exitcode.Usagef("deployment %q exists and its pods are not labelled %s=%s; rename or remove it before init", r.Namespace+"/"+name, label, colour)
	}
	snap := &Snapshot{Service: svc, AppSelector: maps.Clone(svc.Spec.Selector), Active: colour, Idle: r.Colours.Other(colour)}
	snap.Services = append([]string{r.Service}, r.Services...)
	return &initTargets{snap: snap, orig: orig, existing: existing, name: name, colour: colour}, nil
}

// initOp turns a Service and the one Deployment it selects into blue-green
// with no dip: it creates <deployment>-<first colour> as a copy whose
// selector and pods carry the colour, waits until it is fully ready, adds the
// colour to the Service selector (guarded, resourceVersion-checked), waits
// until the endpoints list only the new pods, then scales the original to 0.
func (r *Runner) initOp(ctx context.Context) error {
	if err := r.Colours.Validate(); err != nil {
		return err
	}
	it, err := r.discoverInit(ctx)
	if err != nil {
		return err
	}
	snap, orig, existing, name, colour := it.snap, it.orig, it.existing, it.name, it.colour

	params, err := r.requestParams(OperationInit)
	if err != nil {
		return err
	}
	params[ParamTarget] = colour
	params[ParamOriginal] = orig.Name
	s, err := r.begin(ctx, "init", false, params)
	if err != nil {
		return err
	}
	return s.end(r.init(s, snap, orig, existing, name, colour))
}

func (r *Runner) init(s *session, snap *Snapshot, orig, existing *appsv1.Deployment, name, colour string) error {
	s.op.Params[ParamTarget] = colour
	if err := s.preflightAutoscalers(s.ctx, snap, orig.Name); err != nil {
		return err
	}
	if existing == nil {
		d := colourCopy(orig, name, r.Colours.Label, colour)
		if err := r.fenced(s.ctx); err != nil {
			return err
		}
		if _, err := r.Client.AppsV1().Deployments(r.Namespace).Create(s.ctx, d, metav1.CreateOptions{FieldManager: kube.FieldManager}); err != nil {
			return fmt.Errorf("creating deployment %q: %w", r.Namespace+"/"+name, err)
		}
		r.printf("colour %s: created deployment %q as a copy of %q", colour, r.Namespace+"/"+name, orig.Name)
	}
	if _, err := r.waitReady(s.ctx, name, colour); err != nil {
		return exitcode.Failedf("colour %s of service %q did not become ready; service unchanged: %w", colour, r.key(), err)
	}
	cur, err := r.Client.AppsV1().Deployments(r.Namespace).Get(s.ctx, orig.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %q: %w", r.Namespace+"/"+orig.Name, err)
	}
	need, why := r.need(cur.Status.ReadyReplicas)
	s.op.Phase = "switching"
	if err := s.save(); err != nil {
		return err
	}
	if switched, err := s.switchTo(s.ctx, snap, "", colour, name, need, why, r.BeforePatch); err != nil {
		if switched {
			return exitcode.NeedsPersonf("service %q now selects %s=%s but its endpoints did not converge: %w", r.key(), r.Colours.Label, colour, err)
		}
		return exitcode.FailedError(fmt.Errorf("no switch; service %q unchanged: %w", r.key(), err))
	}
	if err := r.scale(s.ctx, orig.Name, 0); err != nil {
		return err
	}
	r.printf("deployment %q scaled to 0; service %q is blue-green, live colour %s", r.Namespace+"/"+orig.Name, r.key(), colour)
	s.op.Phase = "done"
	return nil
}

// idleTemplate builds the new colour's pod template from the live one (with
// Images) or from Template, labelled for the idle colour. Errors are usage
// errors; nothing is changed.
func (r *Runner) idleTemplate(snap *Snapshot) (*corev1.PodTemplateSpec, error) {
	label := r.Colours.Label
	var t *corev1.PodTemplateSpec
	if r.Template != nil {
		t = r.Template.DeepCopy()
	} else {
		t = snap.ActiveDep.Spec.Template.DeepCopy()
		if len(r.Images) == 0 {
			return nil, exitcode.Usagef("deploying service %q: nothing to change; give --image CONTAINER=IMAGE or -f FILE", r.key())
		}
		if err := kube.SetImages(&t.Spec, r.Images); err != nil {
			// the object the containers were looked for in
			return nil, exitcode.UsageError(fmt.Errorf("deploying service %q from the pod template of deployment %q: %w", r.key(), snap.ActiveDep.Namespace+"/"+snap.ActiveDep.Name, err))
		}
	}
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	delete(t.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	maps.Copy(t.Labels, snap.AppSelector)
	if snap.ActiveDep.Spec.Selector != nil {
		maps.Copy(t.Labels, snap.ActiveDep.Spec.Selector.MatchLabels)
	}
	t.Labels[label] = snap.Idle
	return t, nil
}

// deployOp brings up the idle colour with the new images (or template), waits
// until it is fully ready, keeps the preview Service on it, runs the
// pre-switch analysis, and switches unless ManualPromote.
func (r *Runner) deployOp(ctx context.Context) error {
	snap, err := r.discover(ctx)
	if err != nil {
		return err
	}
	tmpl, err := r.idleTemplate(snap)
	if err != nil {
		return err
	}
	if r.idleReplicas(snap) < 1 {
		// a colour of no pods cannot be switched to
		return exitcode.Usagef("deploying service %q: the live colour's deployment %q has 0 replicas (spec.replicas: 0), so the new colour would have none; give --replicas N", r.key(), r.Namespace+"/"+snap.ActiveDep.Name)
	}
	params, err := r.requestParams(OperationDeploy)
	if err != nil {
		return err
	}
	params[ParamActive], params[ParamTarget] = snap.Active, snap.Idle
	if err := templateParam(params, tmpl, r.idleReplicas(snap)); err != nil {
		return err
	}
	s, err := r.begin(ctx, "deploying", false, params)
	if err != nil {
		return err
	}
	return s.end(r.deploy(s, snap, tmpl))
}

// idleReplicas is the new colour's size: --replicas, else the live colour's.
func (r *Runner) idleReplicas(snap *Snapshot) int32 {
	if r.Replicas != nil {
		return *r.Replicas
	}
	return replicasOf(snap.ActiveDep)
}

func (r *Runner) deploy(s *session, snap *Snapshot, tmpl *corev1.PodTemplateSpec) error {
	ns, idle := r.Namespace, snap.Idle
	if err := s.preflightAutoscalers(s.ctx, snap); err != nil {
		return err
	}
	replicas := r.idleReplicas(snap)
	s.op.Params[ParamActive] = snap.Active
	s.op.Params[ParamTarget] = idle
	deps := r.Client.AppsV1().Deployments(ns)
	var applied *appsv1.Deployment
	strategies.Announce(r.Events, strategies.MarkApply)
	if snap.IdleDep == nil {
		d := colourCopy(snap.ActiveDep, snap.IdleName, r.Colours.Label, idle)
		d.Spec.Template = *tmpl
		d.Spec.Replicas = &replicas
		var err error
		if err := r.fenced(s.ctx); err != nil {
			return err
		}
		wctx, cancel := writeCtx(s.ctx)
		applied, err = deps.Create(wctx, d, metav1.CreateOptions{FieldManager: kube.FieldManager})
		cancel()
		if err != nil {
			return fmt.Errorf("creating deployment %q for colour %s: %w", ns+"/"+snap.IdleName, idle, err)
		}
		r.printf("colour %s: created deployment %q (%s, %d replicas)", idle, ns+"/"+snap.IdleName, Images(tmpl), replicas)
	} else {
		var err error
		if applied, err = r.updateIdle(s, snap.IdleName, idle, tmpl, replicas); err != nil {
			return err
		}
		r.printf("colour %s: updated deployment %q (%s, %d replicas)", idle, ns+"/"+snap.IdleName, Images(tmpl), replicas)
	}
	s.applied = applied
	if err := s.save(); err != nil {
		return err
	}
	// pods of the new colour in trouble (CrashLoopBackOff, image pull
	// errors, restarts above MaxRestarts) end the wait at once
	wctx, stop := context.WithCancelCause(s.ctx)
	defer stop(nil)
	go func() {
		problems, err := kube.WatchNewPodProblems(wctx, r.Client, applied, &applied.Spec.Template, r.maxRestarts())
		if err == nil && len(problems) > 0 {
			stop(fmt.Errorf("pods of colour %s are in trouble: %s", idle, strings.Join(problems, "; ")))
		}
	}()
	if _, err := r.waitReady(wctx, snap.IdleName, idle); err != nil {
		return exitcode.Failedf("colour %s of service %q did not become ready; no switch, service still on %s: %w", idle, r.key(), snap.Active, err)
	}
	stop(nil)
	// the preview goes to the new colour once it is ready (not while it
	// scales up: each pod would be one more endpoint update)
	if err := r.ensurePreview(s.ctx, snap, idle); err != nil {
		return err
	}
	if pre := r.analyzer(r.PreAnalysis, r.PreAnalysisSpec); pre != nil {
		s.op.Phase = "pre-analysis"
		if err := s.save(); err != nil {
			return err
		}
		if err := r.runAnalysis(s.ctx, "pre-switch", pre, r.vars(idle, PreviewName(r.Service))); err != nil {
			return exitcode.Failedf("no switch, service %q still on %s: %w", r.key(), snap.Active, err)
		}
	}
	if r.ManualPromote {
		s.op.Phase = "ready-to-promote"
		s.op.Result = state.ResultPaused
		s.op.Message = fmt.Sprintf("colour %s is ready; run 'kubectl zdd bluegreen promote service/%s' to switch", idle, r.Service)
		r.printf("%s", s.op.Message)
		return nil
	}
	return r.promote(s, snap)
}

// updateIdle sets the pod template and replicas of the idle colour's
// Deployment name (and unpauses it) with a JSON patch that first tests the
// generation it read: the deployment controller's status writes (which move
// the resourceVersion all the time, not the generation) never conflict
// with it, and when another writer changed the spec in between it stops
// naming the change instead of overwriting it.
func (r *Runner) updateIdle(s *session, name, colour string, tmpl *corev1.PodTemplateSpec, replicas int32) (*appsv1.Deployment, error) {
	deps := r.Client.AppsV1().Deployments(r.Namespace)
	key := r.Namespace + "/" + name
	cur, err := deps.Get(s.ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading deployment %q: %w", key, err)
	}
	gen := cur.Generation
	patch, err := json.Marshal([]map[string]any{
		{"op": "test", "path": "/metadata/generation", "value": gen},
		{"op": "add", "path": "/spec/template", "value": tmpl},
		{"op": "add", "path": "/spec/replicas", "value": replicas},
		{"op": "add", "path": "/spec/paused", "value": false},
	})
	if err != nil {
		return nil, err
	}
	if err := r.fenced(s.ctx); err != nil {
		return nil, err
	}
	wctx, cancel := writeCtx(s.ctx)
	applied, err := deps.Patch(wctx, name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: kube.FieldManager})
	cancel()
	if apierrors.IsInvalid(err) {
		// a failed test of the generation is an Invalid too: read again
		// to tell another writer's change from a template the API server
		// refused
		if now, gerr := deps.Get(s.ctx, name, metav1.GetOptions{}); gerr == nil && now.Generation != gen {
			return nil, exitcode.FailedError(&kube.ChangedError{Object: fmt.Sprintf("deployment %q", key), Fields: []string{"spec"},
				Change: fmt.Sprintf("its spec (generation %d, then %d) while deploy was updating it for colour %s", gen, now.Generation, colour),
				Writer: kube.WriterOf(now, kube.Path("spec")), Err: errors.New("no switch"), Seen: now})
		}
	}
	if err != nil {
		return nil, fmt.Errorf("updating deployment %q for colour %s: %w", key, colour, err)
	}
	return applied, nil
}
