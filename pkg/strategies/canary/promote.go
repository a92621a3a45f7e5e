package canary

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// load reads the record of an operation for promote and abort.
func (c *Canary) load(ctx context.Context, ns, name string) (*plan, error) {
	return c.loadWith(ctx, ns, name, false)
}

// loadWith is load; fromStart (a record at phase start) builds the canary
// from the pod template recorded there, whether the canary deployment does
// not exist yet or is left from an earlier release with another template:
// its first step then sets that template.
func (c *Canary) loadWith(ctx context.Context, ns, name string, fromStart bool) (*plan, error) {
	stable, err := c.getStable(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	ref := ns + "/" + name
	op, ok := state.FromAnnotations(stable.Annotations)
	if !ok || op.Strategy != Strategy || !op.Unfinished() {
		return nil, exitcode.Usagef("deployment %q has no canary release in flight", ref)
	}
	steps, err := ParseSteps(op.Params[ParamSteps])
	if err != nil {
		return nil, exitcode.Usagef("deployment %q: canary record: %w", ref, err)
	}
	pauses, _ := ParsePauses(op.Params[ParamPauses], len(steps))
	key, val, _ := strings.Cut(op.Params[ParamTrack], "=")
	kind, object, _ := strings.Cut(op.Params[ParamRouter], "/")
	cfg := Config{Namespace: ns, Name: name, Steps: steps, Pauses: pauses, Manual: op.Params[ParamManual] == "true",
		TrackKey: key, TrackValue: val, Service: op.Params[ParamService], RouterKind: kind, RouterObject: object}
	if fromStart && op.Params[ParamTemplate] != "" {
		tmpl, err := decodeTemplate(op.Params[ParamTemplate])
		if err != nil {
			return nil, exitcode.Usagef("deployment %q: canary record: %w", ref, err)
		}
		cfg.Template = tmpl
	}
	p, err := c.prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if fromStart && cfg.Template != nil {
		return p, nil
	}
	if p.existing == nil {
		return nil, exitcode.Usagef("deployment %q has no canary deployment %q", ref, p.canaryRef())
	}
	p.canary = nil
	return p, nil
}

// StepOf returns the 1-based step of a phase "step-N", 0 otherwise.
func StepOf(phase string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(phase, "step-"))
	if err != nil || !strings.HasPrefix(phase, "step-") {
		return 0
	}
	return n
}

// AnalysisOf returns the analysis recorded on the stable (the spec itself,
// with its Job files' text); nil when the release has none. A path in the
// record is never read: a record whose analysis is only a file name (an
// older version) has none to run again, and says so.
func (c *Canary) AnalysisOf(ctx context.Context, ns, name string) (*analysis.Spec, error) {
	d, err := c.getStable(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	op, _ := state.FromAnnotations(d.Annotations)
	spec, err := RecordedAnalysis(op, ns+"/"+name)
	if spec == nil && err == nil && op != nil && op.Params[ParamAnalysis] != "" {
		c.printf("the analysis %s of this release is recorded by its file name only (an older version): files named in a record are not read, so it is not run", op.Params[ParamAnalysis])
	}
	return spec, err
}

// Promote moves a held canary to its next step, or (full, or after the last
// step) finishes it.
func (c *Canary) Promote(ctx context.Context, cfg Config) (*Result, error) {
	return c.onRecorded(ctx, cfg, func(ctx context.Context, p *plan) error {
		p.op.Result, p.op.Message = "", ""
		step := StepOf(p.op.Phase)
		if cfg.Full || step >= len(p.steps) {
			return c.finish(ctx, p)
		}
		p.hold = true
		return c.walk(ctx, p, step)
	})
}

// Abort brings the stable back to its N replicas, Ready, then the canary to 0.
func (c *Canary) Abort(ctx context.Context, cfg Config) (*Result, error) {
	return c.onRecorded(ctx, cfg, func(ctx context.Context, p *plan) error {
		return c.abortRecorded(ctx, ctx, p, "aborted by request")
	})
}

// onRecorded runs op on the canary recorded on cfg's Deployment, under its
// Lease and the downtime watch, and returns the Result as op left it.
func (c *Canary) onRecorded(ctx context.Context, cfg Config, op func(context.Context, *plan) error) (*Result, error) {
	res := &Result{}
	var p *plan
	defer func() { resultOf(res, cfg, p) }()
	c.timeout = cfg.Timeout
	p, err := c.load(ctx, cfg.Namespace, cfg.Name)
	if err != nil {
		return res, err
	}
	ctx, release, err := c.lock(ctx, p, cfg.ForceUnlock)
	if err != nil {
		return res, err
	}
	defer release()
	defer c.watchDowntime(ctx, p)()
	return res, op(ctx, p)
}

// abortRecorded aborts p and records it aborted with msg (the record saved
// with saveCtx); a failure to abort needs a person, unless the Lease was lost.
func (c *Canary) abortRecorded(ctx, saveCtx context.Context, p *plan, msg string) error {
	if err := c.abort(ctx, p); err != nil {
		if stop := c.stopLost(ctx, p, err); stop != nil {
			return stop
		}
		return exitcode.NeedsPersonError(fmt.Errorf("aborting the canary of deployment %q: %w; %s", p.ref(), err, abortHint(p)))
	}
	p.op.Result = state.ResultAborted
	p.op.Message = msg
	return c.save(saveCtx, p)
}

// AbortTimeout bounds an abort that follows a failure.
var AbortTimeout = 5 * time.Minute

// PhaseAborting is recorded, in flight, before an abort moves anything: an
// abort that fails (or is killed) stays there, resume and abort do it
// again.
const PhaseAborting = "aborting"

// abortHint says how to go on after a failed abort.
func abortHint(p *plan) string {
	return fmt.Sprintf("the release stays in flight in phase %s: run 'kubectl zdd resume deployment/%s' or 'kubectl zdd canary abort deployment/%s' to pull it back again", PhaseAborting, p.stable.Name, p.stable.Name)
}

func (c *Canary) abort(ctx context.Context, p *plan) error {
	p.op.Phase, p.op.Result = PhaseAborting, ""
	if err := c.save(ctx, p); err != nil {
		return err
	}
	strategies.Announce(c.Events, strategies.MarkAbort)
	if p.autoscaled() {
		c.printf("aborting: the canary to 0 (deployment %q keeps the replicas %s gives it)", p.ref(), p.autoscalers[0].Ref())
	} else {
		c.printf("aborting: scaling deployment %q back to %d replicas, then the canary to 0", p.ref(), p.replicas)
	}
	if err := c.applyWeight(ctx, p, 0); err != nil {
		return err
	}
	p.op.Phase = "aborted"
	p.op.Params[ParamWeight] = "0"
	if err := c.releaseStableService(ctx, p); err != nil {
		return err
	}
	c.printf("aborted: deployment %q at %d replicas, deployment %q at 0", p.ref(), p.replicas, p.canaryRef())
	return nil
}

// restoreStable rolls the stable back to the pod template of the record's
// from-revision (maxUnavailable 0), at its N replicas, waits until they are
// all ready, and puts its own strategy back: the first move of an abort of a
// promotion that had already rolled the stable to the canary's template.
func (c *Canary) restoreStable(ctx context.Context, p *plan) error {
	d, err := c.Client.AppsV1().Deployments(p.stable.Namespace).Get(ctx, p.stable.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %q: %w", p.ref(), err)
	}
	rss, err := kube.ReplicaSetsOf(ctx, c.Client, d)
	if err != nil {
		return err
	}
	var from *appsv1.ReplicaSet
	for i := range rss {
		if rss[i].Annotations[kube.RevisionAnnotation] == p.op.FromRevision {
			from = &rss[i]
		}
	}
	if from == nil {
		return fmt.Errorf("the replica set of revision %s of deployment %q is gone, so its pod template cannot be restored: run 'kubectl zdd resume deployment/%s' to finish the promotion instead", p.op.FromRevision, p.ref(), p.stable.Name)
	}
	tmpl := from.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	var orig appsv1.DeploymentStrategy
	if s := p.op.Params[ParamStrategy]; s != "" {
		_ = json.Unmarshal([]byte(s), &orig)
	} else {
		orig = d.Spec.Strategy
	}
	zero, one := intOrString("0"), intOrString("1")
	strategies.Announce(c.Events, strategies.MarkRollback)
	c.printf("aborting: rolling deployment %q back to the pod template of revision %s (maxUnavailable 0)", p.ref(), p.op.FromRevision)
	if _, err := c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) {
		d.Spec.Template = *tmpl
		d.Spec.Replicas = p.stableReplicas(d)
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}}
	}); err != nil {
		return err
	}
	if _, err := c.waitSettled(ctx, p.stable.Namespace, p.stable.Name); err != nil {
		return err
	}
	_, err = c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) { d.Spec.Strategy = orig })
	return err
}

// releaseStableService drops the pod-template-hash from SERVICE-stable.
func (c *Canary) releaseStableService(ctx context.Context, p *plan) error {
	if p.router == nil {
		return nil
	}
	name := traffic.StableServiceName(p.service.Name)
	if err := c.fenced(ctx); err != nil {
		return err
	}
	if _, err := traffic.EnsureSplitService(ctx, c.Client, p.service, traffic.SplitService{Name: name, Selector: p.stableSel}); err != nil {
		return err
	}
	return c.rememberSelector(ctx, p, name)
}

// rememberSelector records the selector of Service name as this run last
// saw it, for checkWriters.
func (c *Canary) rememberSelector(ctx context.Context, p *plan, name string) error {
	svc, err := c.Client.CoreV1().Services(p.stable.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading service %q: %w", p.stable.Namespace+"/"+name, err)
	}
	if p.splitSel == nil {
		p.splitSel = map[string]map[string]string{}
	}
	p.splitSel[name] = maps.Clone(svc.Spec.Selector)
	return nil
}

// finish rolls the stable to the canary's pod template (maxUnavailable 0),
// waits, and removes the canary.
func (c *Canary) finish(ctx context.Context, p *plan) error {
	canary, err := c.Client.AppsV1().Deployments(p.stable.Namespace).Get(ctx, p.canaryName(), metav1.GetOptions{})
	if err != nil {
		return c.fail(ctx, p, fmt.Errorf("reading deployment %q: %w", p.canaryRef(), err))
	}
	if seen := p.seen[canary.Name]; seen != nil {
		if changed := p.change(seen, canary); changed != nil {
			return c.fail(ctx, p, changed)
		}
	}
	p.existing = canary
	if p.router != nil {
		// Before the stable's pods change, the whole traffic goes to the canary,
		// which has all N replicas.
		c.printf("promoting: all traffic to the canary before deployment %q is rolled", p.ref())
		if err := c.applyWeight(ctx, p, 100); err != nil {
			return c.fail(ctx, p, err)
		}
	}
	p.op.Phase = "promote"
	strategies.Announce(c.Events, strategies.MarkPromote)
	if err := c.save(ctx, p); err != nil {
		return err
	}
	var orig appsv1.DeploymentStrategy
	if s := p.op.Params[ParamStrategy]; s != "" {
		_ = json.Unmarshal([]byte(s), &orig)
	} else {
		orig = p.stable.Spec.Strategy
	}
	tmpl := canary.Spec.Template.DeepCopy()
	tmpl.Labels = maps.Clone(p.stable.Spec.Template.Labels)
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	zero, one := intOrString("0"), intOrString("1")
	c.printf("promoting: rolling deployment %q to the canary's pod template (maxUnavailable 0)", p.ref())
	if _, err := c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) {
		d.Spec.Template = *tmpl
		d.Spec.Replicas = p.stableReplicas(d)
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}}
	}); err != nil {
		return c.fail(ctx, p, err)
	}
	if _, err := c.waitSettled(ctx, p.stable.Namespace, p.stable.Name); err != nil {
		return c.fail(ctx, p, err)
	}
	if p.router != nil {
		if err := c.ensureServices(ctx, p); err != nil { // SERVICE-stable follows the new hash
			return c.fail(ctx, p, err)
		}
		if err := c.fenced(ctx); err != nil {
			return c.fail(ctx, p, err)
		}
		if err := p.router.SetWeight(ctx, 0); err != nil {
			return c.fail(ctx, p, err)
		}
	}
	if _, err := c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) {
		d.Spec.Strategy = orig
	}); err != nil {
		return c.fail(ctx, p, err)
	}
	if err := c.fenced(ctx); err != nil {
		return c.fail(ctx, p, err)
	}
	strategies.Announce(c.Events, strategies.MarkRetire)
	err = c.Client.AppsV1().Deployments(p.stable.Namespace).Delete(ctx, p.canaryName(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return c.fail(ctx, p, fmt.Errorf("removing deployment %q: %w", p.canaryRef(), err))
	}
	if err := c.releaseStableService(ctx, p); err != nil {
		return c.fail(ctx, p, err)
	}
	n := p.replicas
	d, err := c.Client.AppsV1().Deployments(p.stable.Namespace).Get(ctx, p.stable.Name, metav1.GetOptions{})
	if err == nil {
		p.op.ToRevision = strconv.FormatInt(kube.Revision(d), 10)
		if d.Spec.Replicas != nil {
			n = *d.Spec.Replicas
		}
	}
	p.op.Phase = "done"
	p.op.Params[ParamWeight] = "100"
	p.op.Result = state.ResultSucceeded
	p.op.Message = "the stable runs the canary's pod template; the canary is removed"
	if err := c.save(ctx, p); err != nil {
		return err
	}
	c.printf("promoted: deployment %q runs the canary's pod template on %d replicas; deployment %q removed", p.ref(), n, p.canaryRef())
	return nil
}
