package rolling

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
	"github.com/zdd-dev/kubectl-zdd/pkg/migration"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// prepare reads the live Deployment and builds what will be applied.
func (r *Rollout) prepare(ctx context.Context, cfg Config, start time.Time) (*release, error) {
	newID := state.NewID
	if r.NewID != nil {
		newID = r.NewID
	}
	op := state.NewOperation(Strategy, start)
	op.ID = newID(start)
	rel := &release{cfg: cfg, ref: cfg.Namespace + "/" + cfg.Name, op: op}
	rel.res = &Result{Deployment: rel.ref, OperationID: op.ID, DryRun: cfg.DryRun, Images: cfg.Images, Downtime: []Downtime{}}

	live, err := r.Kube.AppsV1().Deployments(cfg.Namespace).Get(ctx, cfg.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && cfg.Manifest != nil:
		live = nil
	case apierrors.IsNotFound(err):
		return nil, exitcode.Usagef("deployment %q not found", rel.ref)
	case err != nil:
		return nil, fmt.Errorf("reading deployment %q: %w", rel.ref, err)
	}
	rel.live = live
	if other, ok := state.FromAnnotations(annotationsOf(live)); ok && other.Strategy != Strategy && other.Unfinished() {
		return nil, exitcode.Usagef("deployment %q has an unfinished %s operation (%s, phase %s, %s): run 'kubectl zdd resume deployment/%s' or 'kubectl zdd abort deployment/%s' first", rel.ref, other.Strategy, other.ID, other.Phase, resultText(other), cfg.Name, cfg.Name)
	}

	if cfg.Manifest != nil {
		d := &appsv1.Deployment{}
		if err := kube.ToTyped(cfg.Manifest, d); err != nil {
			return nil, exitcode.Usagef("%s: %w", cfg.ManifestSource, err)
		}
		d.Namespace = cfg.Namespace
		rel.desired = d
	} else {
		rel.desired = live.DeepCopy()
		if err := kube.SetImages(&rel.desired.Spec.Template.Spec, cfg.Images); err != nil {
			return nil, exitcode.Usagef("deployment %q: %w", rel.ref, err)
		}
	}
	rel.desired.APIVersion, rel.desired.Kind = "apps/v1", "Deployment"
	if err := runnable(rel.ref, rel.desired, live, cfg.Manifest); err != nil {
		return nil, err
	}
	if cfg.FixStrategy {
		fixStrategy(rel.desired)
	}
	if live != nil {
		op.FromRevision = revString(kube.Revision(live))
		rel.res.FromRevision = op.FromRevision
		rel.rss, err = kube.ReplicaSetsOf(ctx, r.Kube, live)
		if err != nil {
			return nil, err
		}
	}
	if cfg.MigrationJob != nil {
		rel.job = migration.Prepare(cfg.MigrationJob, cfg.Namespace, cfg.Name, migration.PhaseExpand, op.ID)
		rel.res.MigrationJob = rel.job.Name
	}
	if op.Params, err = requestParams(cfg, rel.job); err != nil {
		return nil, err
	}
	if live != nil {
		op.Params[ParamFromTemplate] = templateFingerprint(&live.Spec.Template)
	}
	rel.services, rel.serviceObjs, err = r.servicesFor(ctx, rel)
	if err != nil {
		return nil, err
	}
	if cfg.Fix {
		if err := r.fixDesired(rel); err != nil {
			return nil, err
		}
		if rel.hold = planHold(live, rel.desired, rel.serviceObjs); rel.hold != nil {
			setHold(op, rel.hold)
			r.logf("fix: the pods deployment %q replaces have no preStop delay: they are held out of service %s before they stop (minReadySeconds %d and maxSurge 100%% while the new pods come up)", rel.ref, strings.Join(rel.services, ", "), rel.hold.Seconds)
		}
	}
	if rel.patch, rel.patchTyp, err = r.buildPatch(rel); err != nil {
		return nil, err
	}
	return rel, nil
}

// fixDesired applies --fix to what will be applied, so that the preflight
// judges the fixed Deployment, and prints and records each change.
func (r *Rollout) fixDesired(rel *release) error {
	fixed, changes, err := fixTyped(rel.desired, rel.serviceObjs)
	if err != nil {
		return exitcode.Usagef("--fix of deployment %q: %w", rel.ref, err)
	}
	rel.desired = fixed
	rel.desired.APIVersion, rel.desired.Kind = "apps/v1", "Deployment"
	rel.res.Fixes = changes
	if len(changes) == 0 {
		r.logf("fix: deployment %q: nothing to fix", rel.ref)
		return nil
	}
	for _, c := range changes {
		r.logf("fix: deployment %q: %s", rel.ref, c)
	}
	b, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	rel.op.Params[ParamFixes] = string(b)
	return nil
}

// runnable refuses a release that cannot be watched to its end: a paused
// Deployment never rolls out (the watch would wait for --timeout), and one
// of 0 replicas "succeeds" with nothing running. desired is what is
// applied, live what runs (nil when -f creates it); a manifest (-f) that
// leaves spec.paused or spec.replicas out keeps the live values.
func runnable(ref string, desired, live *appsv1.Deployment, manifest *unstructured.Unstructured) error {
	paused, replicas := desired.Spec.Paused, desired.Spec.Replicas
	if manifest != nil && live != nil {
		if _, found, _ := unstructured.NestedFieldNoCopy(manifest.Object, "spec", "paused"); !found {
			paused = live.Spec.Paused
		}
		if _, found, _ := unstructured.NestedFieldNoCopy(manifest.Object, "spec", "replicas"); !found {
			replicas = live.Spec.Replicas
		}
	}
	if paused {
		return exitcode.Usagef("deployment %q is paused (spec.paused: true): its rollout would never progress; run 'kubectl rollout resume deployment/%s' first", ref, desired.Name)
	}
	if replicas != nil && *replicas == 0 {
		return exitcode.Usagef("deployment %q has 0 replicas (spec.replicas: 0): a rollout of it would succeed with nothing running; scale it up first ('kubectl scale deployment/%s --replicas N')", ref, desired.Name)
	}
	return nil
}

func annotationsOf(d *appsv1.Deployment) map[string]string {
	if d == nil {
		return nil
	}
	return d.Annotations
}

func resultText(op *state.Operation) string {
	if op.Result == "" {
		return "in flight"
	}
	return op.Result
}

func revString(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func fixStrategy(d *appsv1.Deployment) {
	zero, surge := intstr.FromInt32(0), intstr.FromString("25%")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &surge}}
}

// recordAnnotations are the annotations the apply writes: the change cause
// and the operation record (phase apply).
func (rel *release) recordAnnotations() map[string]any {
	ann := map[string]any{}
	for k, v := range rel.op.Annotations() {
		if v != nil {
			ann[k] = *v
		}
	}
	if rel.cfg.ChangeCause != "" {
		ann[state.ChangeCauseKey] = rel.cfg.ChangeCause
	}
	return ann
}

// buildPatch renders the body of the apply: a strategic merge patch of the
// images (with a resourceVersion precondition), or the manifest for
// server-side apply (with the live resourceVersion when there is one).
func (r *Rollout) buildPatch(rel *release) ([]byte, types.PatchType, error) {
	rel.op.Phase = PhaseApply
	ann := rel.recordAnnotations()
	if rel.cfg.Manifest != nil {
		u := rel.cfg.Manifest.DeepCopy()
		if rel.cfg.Fix {
			fixed, _, err := fixObject(u.Object, rel.serviceObjs)
			if err != nil {
				return nil, "", exitcode.Usagef("--fix of deployment %q: %w", rel.ref, err)
			}
			u.Object = fixed
		}
		if rel.hold != nil {
			holdObject(u.Object, rel.hold)
		}
		u.SetNamespace(rel.cfg.Namespace)
		a := u.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		for k, v := range ann {
			a[k] = v.(string)
		}
		u.SetAnnotations(a)
		if rel.live != nil {
			u.SetResourceVersion(rel.live.ResourceVersion)
		}
		if rel.cfg.FixStrategy && rel.hold == nil {
			_ = unstructured.SetNestedMap(u.Object, map[string]any{
				"type":          "RollingUpdate",
				"rollingUpdate": map[string]any{"maxUnavailable": int64(0), "maxSurge": "25%"},
			}, "spec", "strategy")
		}
		unstructured.RemoveNestedField(u.Object, "status")
		b, err := json.Marshal(u.Object)
		return b, types.ApplyPatchType, err
	}
	if rel.cfg.Fix {
		// the images and the fixes, from the version read: a retry after
		// a conflict computes them again from the fresh one
		desired := rel.live.DeepCopy()
		if err := kube.SetImages(&desired.Spec.Template.Spec, rel.cfg.Images); err != nil {
			return nil, "", exitcode.Usagef("deployment %q: %w", rel.ref, err)
		}
		if rel.cfg.FixStrategy {
			fixStrategy(desired)
		}
		fixed, _, err := fixTyped(desired, rel.serviceObjs)
		if err != nil {
			return nil, "", exitcode.Usagef("--fix of deployment %q: %w", rel.ref, err)
		}
		if rel.hold != nil {
			fixed = fixed.DeepCopy()
			holdTyped(fixed, rel.hold)
		}
		body, err := fixPatch(rel.live, fixed)
		if err != nil {
			return nil, "", fmt.Errorf("deployment %q: %w", rel.ref, err)
		}
		body["metadata"] = map[string]any{"resourceVersion": rel.live.ResourceVersion, "annotations": ann}
		b, err := json.Marshal(body)
		return b, types.StrategicMergePatchType, err
	}
	var containers, inits []map[string]any
	names := make([]string, 0, len(rel.cfg.Images))
	for n := range rel.cfg.Images {
		names = append(names, n)
	}
	sort.Strings(names)
	isInit := map[string]bool{}
	for _, c := range rel.live.Spec.Template.Spec.InitContainers {
		isInit[c.Name] = true
	}
	for _, n := range names {
		c := map[string]any{"name": n, "image": rel.cfg.Images[n]}
		if isInit[n] {
			inits = append(inits, c)
		} else {
			containers = append(containers, c)
		}
	}
	podSpec := map[string]any{}
	if len(containers) > 0 {
		podSpec["containers"] = containers
	}
	if len(inits) > 0 {
		podSpec["initContainers"] = inits
	}
	spec := map[string]any{}
	if len(podSpec) > 0 {
		spec["template"] = map[string]any{"spec": podSpec}
	}
	if rel.cfg.FixStrategy {
		spec["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxUnavailable": 0, "maxSurge": "25%"}}
	}
	body := map[string]any{"metadata": map[string]any{"resourceVersion": rel.live.ResourceVersion, "annotations": ann}}
	if len(spec) > 0 {
		body["spec"] = spec
	}
	b, err := json.Marshal(body)
	return b, types.StrategicMergePatchType, err
}

func (r *Rollout) preflight(rel *release) error {
	rel.op.Phase = PhasePreflight
	audit := r.Lint
	if audit == nil {
		audit = func(d *appsv1.Deployment) ([]lint.Finding, error) { return lint.AuditDeployment(d, rel.serviceObjs) }
	}
	findings, err := audit(rel.desired)
	if err != nil {
		return exitcode.Usagef("preflight of deployment %q: %w", rel.ref, err)
	}
	rel.res.Findings = findings
	var errs, warns int
	for _, f := range findings {
		switch f.Severity {
		case lint.Error:
			errs++
		case lint.Warning:
			warns++
		}
	}
	r.logf("preflight: deployment %q as it will be applied: %d errors, %d warnings", rel.ref, errs, warns)
	for _, f := range findings {
		if f.Severity >= lint.Warning {
			field := f.Field
			if f.Container != "" {
				field = "container " + f.Container + ": " + field
			}
			r.logf("  %s %s %s: %s", f.Severity, f.Rule, field, f.Message)
		}
	}
	if errs > 0 && !rel.cfg.Force {
		return exitcode.UsageError(strategies.PreflightError("deployment", rel.ref, errs, rel.cfg.Fix))
	}
	if errs > 0 {
		r.logf("preflight: going on despite %d errors (--force)", errs)
	}
	return nil
}

// apply sends the patch (or server-side apply).
func (r *Rollout) apply(ctx context.Context, rel *release, dryRun []string) (*appsv1.Deployment, error) {
	deps := r.Kube.AppsV1().Deployments(rel.cfg.Namespace)
	if len(dryRun) == 0 {
		if err := rel.fenced(ctx); err != nil {
			return nil, err
		}
	}
	opts := metav1.PatchOptions{FieldManager: kube.FieldManager, DryRun: dryRun}
	if rel.patchTyp == types.ApplyPatchType {
		opts.Force = ptrTo(true)
	}
	d, err := deps.Patch(ctx, rel.cfg.Name, rel.patchTyp, rel.patch, opts)
	switch {
	case apierrors.IsConflict(err):
		return nil, exitcode.Failedf("applying to deployment %q: it changed since it was read (another writer?); nothing was changed, run again: %w", rel.ref, err)
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		return nil, exitcode.Usagef("applying to deployment %q: %w", rel.ref, err)
	case err != nil:
		return nil, exitcode.Failedf("applying to deployment %q: %w", rel.ref, err)
	}
	return d, nil
}

func ptrTo[T any](v T) *T { return &v }
