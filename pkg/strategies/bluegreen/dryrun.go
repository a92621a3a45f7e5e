package bluegreen

// Dry runs of init, deploy, promote and rollback (--dry-run=client|server):
// the plan of the operation, read from the cluster as a real run reads it,
// with nothing written. Under server, the Deployment it creates or
// updates, the selector patches and the scaling are sent with dryRun=All
// and each step says what the API server answered.

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// planner builds one plan.
type planner struct {
	r    *Runner
	ctx  context.Context
	plan *strategies.Plan
	dry  []string // dryRun=All under server, nil under client
}

func (p *planner) server() bool { return p.dry != nil }

// Plan plans operation (OperationInit, OperationDeploy, OperationPromote
// or OperationRollback) of cfg without changing anything; cfg.DryRun is
// strategies.DryRunClient (the default) or DryRunServer. Bad input is the
// usage error a real run gives.
func (r *Runner) Plan(ctx context.Context, operation string, cfg Config) (*strategies.Plan, error) {
	r.config, r.last = cfg, nil
	mode := cfg.DryRun
	if mode == "" {
		mode = strategies.DryRunClient
	}
	if err := r.Colours.Validate(); err != nil {
		return nil, err
	}
	p := &planner{r: r, ctx: ctx, plan: &strategies.Plan{Title: fmt.Sprintf("blue-green %s of service %q", operation, r.key()), DryRun: mode}}
	if mode == strategies.DryRunServer {
		p.dry = []string{metav1.DryRunAll}
	}
	var err error
	switch operation {
	case OperationInit:
		err = p.init()
	case OperationDeploy, OperationPromote, OperationRollback:
		err = p.colours(operation)
	default:
		err = fmt.Errorf("no dry run of blue-green %q", operation)
	}
	if err != nil {
		return nil, err
	}
	return p.plan, nil
}

func (p *planner) common(snap *Snapshot, deps ...string) error {
	r := p.r
	as, err := kube.FindAutoscalers(p.ctx, r.Client, r.Dynamic, r.Namespace, deps...)
	if err != nil {
		return fmt.Errorf("preflight of service %q: %w", r.key(), err)
	}
	pre := fmt.Sprintf("service %q and every service that switches with it (%s)", r.key(), strings.Join(snap.Services, ", "))
	if len(as) > 0 {
		pre += "; " + kube.Describe(as) + ": pointed at the live colour's deployment at the switch"
	}
	p.plan.Add("preflight", pre, "")
	p.plan.Add("lock", fmt.Sprintf("take lease %q for the whole operation; stop if another run holds it", r.Namespace+"/"+state.LeaseName("service", r.Service)), "")
	p.plan.Add("record", fmt.Sprintf("record the operation in zdd.dev/ annotations of service %q, precondition resourceVersion %s", r.key(), snap.Service.ResourceVersion), "")
	return nil
}

// switchStep plans the guarded selector patch of every Service from colour
// from to colour to (Deployment toDep), and the autoscalers following it.
func (p *planner) switchStep(snap *Snapshot, from, to, toDep string, need int32, why string) error {
	r := p.r
	patch, err := traffic.SelectorPatch(r.Colours.Label, to, "", nil)
	if err != nil {
		return err
	}
	for _, name := range snap.Services {
		detail := fmt.Sprintf("guard: deployment %q fully rolled out with at least %d ready pods (%s); then patch the selector of service %q from %s to %s, wait until its endpoints list only %s pods",
			r.Namespace+"/"+toDep, need, why, r.Namespace+"/"+name, orNone(from), to, to)
		if p.server() {
			_, err := r.Client.CoreV1().Services(r.Namespace).Patch(p.ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kube.FieldManager, DryRun: p.dry})
			detail += p.plan.Answer(err)
		}
		p.plan.Add("switch", detail, string(patch))
	}
	return nil
}

// scaleStep plans setting the replicas of Deployment name.
func (p *planner) scaleStep(step, name string, n int32, why string) {
	r := p.r
	detail := fmt.Sprintf("scale deployment %q to %d%s", r.Namespace+"/"+name, n, why)
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, n)
	if p.server() {
		_, err := r.Client.AppsV1().Deployments(r.Namespace).Patch(p.ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{FieldManager: kube.FieldManager, DryRun: p.dry})
		detail += p.plan.Answer(err)
	}
	p.plan.Add(step, detail, patch)
}

func (p *planner) init() error {
	r := p.r
	it, err := r.discoverInit(p.ctx)
	if err != nil {
		return err
	}
	if err := p.common(it.snap, it.orig.Name, it.name); err != nil {
		return err
	}
	if it.existing == nil {
		d := colourCopy(it.orig, it.name, r.Colours.Label, it.colour)
		detail := fmt.Sprintf("create deployment %q as a copy of %q whose selector and pods carry %s=%s (%d replicas), wait until it is fully ready",
			r.Namespace+"/"+it.name, it.orig.Name, r.Colours.Label, it.colour, replicasOf(d))
		if p.server() {
			_, err := r.Client.AppsV1().Deployments(r.Namespace).Create(p.ctx, d, metav1.CreateOptions{FieldManager: kube.FieldManager, DryRun: p.dry})
			detail += p.plan.Answer(err)
		}
		p.plan.Add("colour", detail, "")
	} else {
		p.plan.Add("colour", fmt.Sprintf("deployment %q exists (an earlier init): wait until it is fully ready", r.Namespace+"/"+it.name), "")
	}
	need, why := r.need(it.orig.Status.ReadyReplicas)
	if err := p.switchStep(it.snap, "", it.colour, it.name, need, why); err != nil {
		return err
	}
	p.scaleStep("retire", it.orig.Name, 0, " (the original, no longer selected)")
	return nil
}

func (p *planner) colours(operation string) error {
	r := p.r
	snap, err := Discover(p.ctx, r.Client, r.Namespace, r.Service, r.Services, r.Colours)
	if err != nil {
		return err
	}
	deps := []string{snap.ActiveDep.Name, snap.IdleName}
	ns, idle := r.Namespace, snap.Idle
	switch operation {
	case OperationDeploy:
		tmpl, err := r.idleTemplate(snap)
		if err != nil {
			return err
		}
		replicas := r.idleReplicas(snap)
		if replicas < 1 {
			return exitcode.Usagef("deploying service %q: the live colour's deployment %q has 0 replicas (spec.replicas: 0), so the new colour would have none; give --replicas N", r.key(), ns+"/"+snap.ActiveDep.Name)
		}
		if err := p.common(snap, deps...); err != nil {
			return err
		}
		var d *appsv1.Deployment
		verb := "create"
		if snap.IdleDep == nil {
			d = colourCopy(snap.ActiveDep, snap.IdleName, r.Colours.Label, idle)
		} else {
			verb = "update"
			d = snap.IdleDep.DeepCopy()
		}
		d.Spec.Template = *tmpl
		d.Spec.Replicas = &replicas
		detail := fmt.Sprintf("%s deployment %q of colour %s (%s, %d replicas)", verb, ns+"/"+snap.IdleName, idle, Images(tmpl), replicas)
		if p.server() {
			if verb == "create" {
				_, err = r.Client.AppsV1().Deployments(ns).Create(p.ctx, d, metav1.CreateOptions{FieldManager: kube.FieldManager, DryRun: p.dry})
			} else {
				_, err = r.Client.AppsV1().Deployments(ns).Update(p.ctx, d, metav1.UpdateOptions{FieldManager: kube.FieldManager, DryRun: p.dry})
			}
			detail += p.plan.Answer(err)
		}
		p.plan.Add("colour", detail, "")
		p.plan.Add("preview", fmt.Sprintf("wait until colour %s is fully ready (pods in trouble end the wait), then service %q selects %s", idle, ns+"/"+PreviewName(r.Service), formatSelector(snap.Selector(r.Colours.Label, idle))), "")
		if r.analyzer(r.PreAnalysis, r.PreAnalysisSpec) != nil {
			p.plan.Add("analysis", fmt.Sprintf("run the pre-switch analysis against %q: a failure stops with no switch", ns+"/"+PreviewName(r.Service)), "")
		}
		if r.ManualPromote {
			p.plan.Add("hold", fmt.Sprintf("colour %s ready: 'kubectl zdd bluegreen promote service/%s' switches", idle, r.Service), "")
			return nil
		}
		fallthrough
	case OperationPromote:
		if operation == OperationPromote {
			if snap.IdleDep == nil {
				return exitcode.Usagef("service %q is on %s and there is no deployment of colour %s to promote; run 'kubectl zdd bluegreen deploy' first", r.key(), snap.Active, snap.Idle)
			}
			if err := p.common(snap, deps...); err != nil {
				return err
			}
		}
		need, why := r.need(snap.ActiveDep.Status.ReadyReplicas)
		if err := p.switchStep(snap, snap.Active, idle, snap.IdleName, need, why); err != nil {
			return err
		}
		if r.analyzer(r.Analysis, r.AnalysisSpec) != nil {
			p.plan.Add("analysis", "run the post-switch analysis: a failure switches back", "")
		}
		if r.DeleteOld {
			p.plan.Add("retire", fmt.Sprintf("after %s: delete deployment %q of colour %s", r.ScaleDownDelay, ns+"/"+snap.ActiveDep.Name, snap.Active), "")
		} else {
			p.scaleStep("retire", snap.ActiveDep.Name, 0, fmt.Sprintf(" after %s (colour %s)", r.ScaleDownDelay, snap.Active))
		}
		p.plan.Add("preview", fmt.Sprintf("service %q selects the live colour %s (the retired one has no pods)", ns+"/"+PreviewName(r.Service), idle), "")
		p.plan.Add("on failure", fmt.Sprintf("switch every service back to %s (the colour live before)", snap.Active), "")
	case OperationRollback:
		if snap.IdleDep == nil {
			return exitcode.Usagef("service %q is on %s and there is no deployment of colour %s to roll back to", r.key(), snap.Active, snap.Idle)
		}
		if err := p.common(snap, deps...); err != nil {
			return err
		}
		want := replicasOf(snap.IdleDep)
		if want == 0 {
			want = replicasOf(snap.ActiveDep)
			p.scaleStep("scale-up", snap.IdleName, want, fmt.Sprintf(" (colour %s was retired), wait until it is fully ready", idle))
		} else {
			p.plan.Add("scale-up", fmt.Sprintf("colour %s has %d replicas: wait until it is fully ready", idle, want), "")
		}
		need, why := r.need(min(snap.ActiveDep.Status.ReadyReplicas, want))
		if err := p.switchStep(snap, snap.Active, idle, snap.IdleName, need, why); err != nil {
			return err
		}
		p.plan.Add("preview", fmt.Sprintf("service %q selects %s; colour %s stays up (the idle colour now)", ns+"/"+PreviewName(r.Service), formatSelector(snap.Selector(r.Colours.Label, snap.Active)), snap.Active), "")
	}
	return nil
}
