package rolling

import (
	"context"
	"fmt"
	"io"
	appsv1 "k8s.io/api/apps/v1"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/migration"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// dryRun builds the plan; with --dry-run=server it also sends every write
// with DryRun=All so the server validates them. Nothing is changed.
func (r *Rollout) dryRun(ctx context.Context, rel *release) error {
	cfg := rel.cfg
	res := rel.res
	res.Result = ResultDryRun
	lease := state.LeaseName("deployment", cfg.Name)
	add := func(name, detail, patch string) {
		res.Plan = append(res.Plan, Step{Name: name, Detail: detail, Patch: patch})
	}
	var errs, warns int
	for _, f := range res.Findings {
		switch f.Severity.String() {
		case "error":
			errs++
		case "warning":
			warns++
		}
	}
	force := ""
	if errs > 0 {
		force = " (going on: --force)"
	}
	add(PhasePreflight, fmt.Sprintf("lint deployment %q as it will be applied: %d errors, %d warnings%s", rel.ref, errs, warns, force), "")
	add("lock", fmt.Sprintf("take lease %q for the whole operation; stop if another run holds it", cfg.Namespace+"/"+lease), "")
	if cfg.DryRun == DryRunServer {
		if info, held, err := state.Describe(ctx, r.Kube.CoordinationV1(), cfg.Namespace, lease, r.now()); err == nil && held && info.Renewing {
			add("lock", fmt.Sprintf("lease %q is held by %q now: a real run would stop here", cfg.Namespace+"/"+lease, info.Holder), "")
		}
	}
	if rel.live != nil {
		keys := make([]string, 0, len(rel.op.Params))
		for k := range rel.op.Params {
			keys = append(keys, state.ParamPrefix+k)
		}
		sort.Strings(keys)
		add("record", fmt.Sprintf("record phase preflight and the release's request in annotations of deployment %q (%s), so 'kubectl zdd resume' can finish it; merge patch, precondition resourceVersion %s; every later write carries one too, and a change of the template, selector or strategy by another writer stops the release", rel.ref, strings.Join(keys, ", "), rel.live.ResourceVersion), "")
	}
	var dry []string
	if cfg.DryRun == DryRunServer {
		dry = []string{metav1.DryRunAll}
	}
	if rel.job != nil {
		detail := fmt.Sprintf("create job %q from %s and wait until it succeeds (timeout %s); if it fails, stop with deployment %q unchanged", cfg.Namespace+"/"+rel.job.Name, cfg.MigrationSource, cfg.Timeout, rel.ref)
		if cfg.DryRun == DryRunServer {
			if _, err := migration.Run(ctx, r.Kube, rel.job, dry, nil); err != nil {
				return err
			}
			detail += " [server accepted the job]"
		}
		add(PhaseMigrate, detail, "")
	}
	how := "strategic merge patch"
	if rel.patchTyp == types.ApplyPatchType {
		how = "server-side apply (field manager " + kube.FieldManager + ", force)"
	}
	pre := "no precondition: the deployment is created"
	if rel.live != nil {
		pre = "precondition resourceVersion " + rel.live.ResourceVersion
	}
	detail := fmt.Sprintf("%s of deployment %q (%s), recording the change cause and operation %s", how, rel.ref, pre, rel.op.ID)
	if cfg.DryRun == DryRunServer {
		d, err := r.apply(ctx, rel, dry)
		if err != nil {
			return err
		}
		if rel.live != nil && kube.EqualIgnoreHash(&d.Spec.Template, &rel.live.Spec.Template) {
			detail += " [server accepted; the pod template does not change]"
		} else {
			detail += " [server accepted; the pod template changes]"
		}
	}
	add(PhaseApply, detail, string(rel.patch))
	desired := int32(1)
	if rel.desired.Spec.Replicas != nil {
		desired = *rel.desired.Spec.Replicas
	}
	next := int64(1)
	for i := range rel.rss {
		if v := kube.Revision(&rel.rss[i]); v >= next {
			next = v + 1
		}
	}
	if h := rel.hold; h != nil {
		add(PhaseHold, fmt.Sprintf("hold the old pods (they have no preStop delay): the apply sets minReadySeconds %d and maxSurge 100%%, maxUnavailable 0, so every new pod comes up while no old one stops; once the new pods are ready in the endpoints, record the selectors and add %s=<new> to the selector of service %s, wait until the endpoints hold only new pods, give kube-proxy %s, then set minReadySeconds %d and maxSurge %s back; when the old pods are gone, restore the selectors (resume finishes this; abort and rollback undo it, the selectors first)",
			h.Seconds, appsv1.DefaultDeploymentUniqueLabelKey, strings.Join(rel.services, ", "), holdSettle, h.MinReadySeconds, h.MaxSurge.String()), "")
	}
	add(PhaseWatch, fmt.Sprintf("watch deployment %q until %d of %d replicas of the new revision (expected %d) are updated, ready and available (timeout %s); fail on ProgressDeadlineExceeded, new pods not ready in time, more than %d restarts, or %s",
		rel.ref, desired, desired, next, cfg.Timeout, cfg.MaxRestarts, strings.Join(kube.BadWaitingReasonList(), ", ")), "")
	if cfg.Analysis != nil {
		when := "after the rollout completes"
		if cfg.AnalysisDuring {
			when = "while the rollout runs"
		}
		add(PhaseAnalysis, fmt.Sprintf("run the analysis %s: failed -> roll back; inconclusive -> stop, paused, exit 1", when), "")
	}
	switch {
	case cfg.NoRollback:
		add(PhaseRollback, "on failure: leave the deployment as it is (--no-rollback) and exit 1", "")
	case rel.live == nil || rel.op.FromRevision == "":
		add(PhaseRollback, "on failure: nothing to roll back to (no previous revision); exit 1", "")
	default:
		from := kube.Revision(rel.live)
		target, err := kube.RollbackTarget(rel.live, rel.rss, from)
		if err != nil {
			add(PhaseRollback, fmt.Sprintf("on failure: cannot roll back: %v", err), "")
			break
		}
		p, err := RollbackPatch(&rel.desired.Spec.Template, kube.WithoutHash(&target.Spec.Template), true, "kubectl zdd rollout: automatic rollback to revision "+rel.op.FromRevision)
		if err != nil {
			return err
		}
		add(PhaseRollback, fmt.Sprintf("on failure: restore the pod template of revision %d (replicaset %q) with a JSON patch, wait until it is fully available, exit 1; exit 3 if that fails", from, target.Name), string(p))
	}
	svc := "no service selects the deployment"
	if len(rel.services) > 0 {
		q := make([]string, len(rel.services))
		for i, s := range rel.services {
			q[i] = fmt.Sprintf("%q", cfg.Namespace+"/"+s)
		}
		svc = "watch the ready endpoints of service " + strings.Join(q, ", ") + " and print the minimum"
	}
	add("report", svc, "")
	return nil
}

// PrintPlan writes a dry run's plan, one numbered step each, patches
// indented under their step.
func PrintPlan(w io.Writer, res *Result) {
	fmt.Fprintf(w, "Plan for the release of deployment %q (dry run: %s, operation %s); nothing was changed.\n", res.Deployment, res.DryRun, res.OperationID)
	for i, s := range res.Plan {
		fmt.Fprintf(w, "%2d. %-9s %s\n", i+1, s.Name, s.Detail)
		if s.Patch != "" {
			fmt.Fprintf(w, "    patch: %s\n", s.Patch)
		}
	}
}
