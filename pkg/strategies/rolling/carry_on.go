package rolling

import (
	"context"
	"errors"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// carryOn watches the applied release (and its analysis) and ends it:
// done, paused, stopped because another writer changed it, or rolled back.
// resume joins here too.
func (r *Rollout) carryOn(ctx context.Context, rel *release, applied *appsv1.Deployment, finishDowntime func()) (*Result, error) {
	cfg, res := rel.cfg, rel.res
	// 4./5. Watch, and detect failure; a --fix release whose replaced pods
	// lack the drain it adds holds them out of the Services first.
	rel.op.Phase = PhaseWatch
	var final *appsv1.Deployment
	var failure error
	if rel.hold != nil {
		failure = r.runHold(ctx, rel, rel.hold)
		rel.op.Phase = PhaseWatch
	}
	if failure == nil {
		final, failure = r.watch(ctx, rel, applied)
	}
	if failure == nil && rel.hold != nil {
		failure = r.finishHold(ctx, rel, rel.hold)
		if failure == nil {
			rel.hold = nil
		}
	}
	if final != nil {
		p := kube.DeploymentProgress(final)
		res.Progress = &p
		if rev := kube.Revision(final); rev > 0 {
			res.ToRevision = strconv.FormatInt(rev, 10)
			rel.op.ToRevision = res.ToRevision
		}
	}
	if lost := rel.lostOf(ctx, failure); lost != nil {
		// the lease is gone (contact with the API server lost, another run
		// took it, deleted): the record keeps the phase, nothing is rolled
		// back, nothing more is written
		return res, r.stopLost(rel, lost)
	}
	if failure == nil {
		failure = r.record(ctx, rel, PhaseDone, state.ResultSucceeded, "")
		if lost := rel.lostOf(ctx, failure); lost != nil {
			return res, r.stopLost(rel, lost)
		}
		if failure == nil {
			finishDowntime()
			res.Result = state.ResultSucceeded
			return res, nil
		}
	}
	if IsForeignChange(failure) {
		return r.stoppedByOther(ctx, rel, failure, "", finishDowntime)
	}
	if ctx.Err() != nil {
		// Interrupted (Ctrl-C, SIGTERM): no automatic rollback. The phase
		// is recorded with result interrupted, as in every strategy, the
		// Session's End frees the Lease, and the user chooses resume or
		// abort.
		res.Result = state.ResultInterrupted
		res.Reason = "interrupted"
		_ = r.record(ctx, rel, rel.op.Phase, state.ResultInterrupted, "interrupted in phase "+rel.op.Phase)
		return res, exitcode.NeedsPersonf("deployment %q: interrupted in phase %s; the operation is recorded on the deployment and its lease released: run 'kubectl zdd resume deployment/%s' to carry it on, or 'kubectl zdd abort deployment/%s' to go back to revision %s", rel.ref, rel.op.Phase, cfg.Name, cfg.Name, rel.op.FromRevision)
	}
	if errors.Is(failure, errInconclusive) {
		res.Result = state.ResultPaused
		res.Reason = failure.Error()
		_ = r.recordAnyway(ctx, rel, PhaseAnalysis, state.ResultPaused, res.Reason)
		return res, exitcode.Failedf("deployment %q: %s; the new revision stays in place: run 'kubectl zdd rollout' again to re-check it, or 'kubectl zdd rollback deployment/%s' to go back", rel.ref, res.Reason, cfg.Name)
	}

	// 6. Roll back.
	res.Reason = failure.Error()
	if cfg.NoRollback || rel.op.FromRevision == "" {
		why := "--no-rollback was given"
		if !cfg.NoRollback {
			why = "there is no previous revision"
		}
		_ = r.recordAnyway(ctx, rel, PhaseWatch, state.ResultFailed, res.Reason)
		res.Result = state.ResultFailed
		return res, exitcode.Failedf("release of deployment %q failed: %s; not rolled back (%s)", rel.ref, res.Reason, why)
	}
	if err := r.record(ctx, rel, PhaseRollback, "", res.Reason); err != nil {
		if lost := rel.lostOf(ctx, err); lost != nil {
			return res, r.stopLost(rel, lost)
		}
		return r.stoppedByOther(ctx, rel, err, res.Reason, finishDowntime)
	}
	strategies.Announce(r.Events, strategies.MarkRollback)
	r.logf("rollback: release failed (%s); restoring revision %s", res.Reason, rel.op.FromRevision)
	if err := r.widen(ctx, rel); err != nil {
		if lost := rel.lostOf(ctx, err); lost != nil {
			return res, r.stopLost(rel, lost)
		}
		_ = r.recordAnyway(ctx, rel, PhaseRollback, "", "rollback failed: "+err.Error()+"; the release failed: "+res.Reason)
		res.Result = state.ResultFailed
		return res, exitcode.NeedsPersonf("release of deployment %q failed (%s) and undoing the hold of its old pods failed: %w; the operation stays in flight in phase rollback: run 'kubectl zdd resume deployment/%s' to try the rollback again, or 'kubectl zdd abort deployment/%s'", rel.ref, res.Reason, err, cfg.Name, cfg.Name)
	}
	from, _ := strconv.ParseInt(rel.op.FromRevision, 10, 64)
	extra := holdRollbackOps(rel.w.guard.base, rel.hold)
	if extra != nil {
		r.logf("hold: minReadySeconds %d and maxSurge %s go back with the template of revision %s", rel.hold.MinReadySeconds, rel.hold.MaxSurge.String(), rel.op.FromRevision)
	}
	rb, err := Rollback(context.WithoutCancel(ctx), r.Kube, RollbackConfig{Namespace: cfg.Namespace, Name: cfg.Name, ToRevision: from, Current: &rel.w.guard.base.Spec.Template, Timeout: cfg.Timeout, ChangeCause: "kubectl zdd rollout: automatic rollback to revision " + rel.op.FromRevision, OnProgress: r.OnProgress, Log: r.Log, Fence: rel.fence,
		ExtraOps: extra})
	if err != nil {
		if lost := rel.lostOf(ctx, err); lost != nil {
			return res, r.stopLost(rel, lost)
		}
		if IsForeignChange(err) {
			return r.stoppedByOther(ctx, rel, err, res.Reason, finishDowntime)
		}
		// the operation stays in flight in phase rollback: resume tries
		// the rollback again, abort accepts it; nothing else may start
		// over it meanwhile
		_ = r.recordAnyway(ctx, rel, PhaseRollback, "", "rollback failed: "+err.Error()+"; the release failed: "+res.Reason)
		res.Result = state.ResultFailed
		return res, exitcode.NeedsPersonf("release of deployment %q failed (%s) and the rollback to revision %s failed too: %w; the operation stays in flight in phase rollback: run 'kubectl zdd resume deployment/%s' to try the rollback again, or 'kubectl zdd abort deployment/%s'", rel.ref, res.Reason, rel.op.FromRevision, err, cfg.Name, cfg.Name)
	}
	res.RestoredRevision = strconv.FormatInt(rb.Restored, 10)
	if rb.Progress != nil {
		res.Progress = rb.Progress
	}
	if fresh, gerr := r.Kube.AppsV1().Deployments(cfg.Namespace).Get(ctx, cfg.Name, metav1.GetOptions{}); gerr == nil {
		// the rollback is the rollout's own change: judge from it
		rel.w.guard.accept(fresh)
	}
	setHold(rel.op, nil)
	_ = r.recordAnyway(ctx, rel, PhaseDone, state.ResultRolledBack, res.Reason)
	finishDowntime()
	res.Result = state.ResultRolledBack
	return res, exitcode.Failedf("release of deployment %q failed: %s; rolled back to revision %s (the pod template of revision %s, now revision %d)", rel.ref, res.Reason, rel.op.FromRevision, rel.op.FromRevision, rb.NewRevision)
}

// stoppedByOther ends a release that another writer changed: the record
// says what changed and who changed it, and nothing is rolled back over it.
func (r *Rollout) stoppedByOther(ctx context.Context, rel *release, err error, failed string, finishDowntime func()) (*Result, error) {
	res := rel.res
	res.Result = state.ResultFailed
	var fc *kube.ChangedError
	if errors.As(err, &fc) {
		// the change itself, not the wait it interrupted
		err = fc
		if d := changedDeployment(fc); d != nil {
			rel.w.guard.accept(d)
		}
	}
	if uerr := r.unhold(ctx, rel); uerr != nil {
		r.logf("warning: %v", uerr)
	} else {
		setHold(rel.op, nil)
	}
	res.Reason = err.Error() + "; the release is no longer the one requested: nothing was rolled back"
	if failed != "" {
		res.Reason = "the release failed (" + failed + ") but " + err.Error() + "; nothing was rolled back over that change"
	}
	_ = r.recordAnyway(ctx, rel, rel.op.Phase, state.ResultFailed, res.Reason)
	finishDowntime()
	return res, exitcode.Failedf("deployment %q: %s; see it with 'kubectl zdd status deployment/%s'", rel.ref, res.Reason, rel.cfg.Name)
}

var errInconclusive = errors.New("analysis inconclusive")
