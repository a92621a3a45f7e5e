package rolling

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/migration"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// release is the state of one Run.
type release struct {
	cfg      Config
	ref      string
	op       *state.Operation
	live     *appsv1.Deployment // nil when -f creates the Deployment
	desired  *appsv1.Deployment
	rss      []appsv1.ReplicaSet
	patch    []byte
	patchTyp types.PatchType
	job      *batchv1.Job
	services []string
	// serviceObjs are the Services in services, for the preflight's
	// cross-object rules (a container without a readiness probe is an error
	// only when a Service sends it traffic).
	serviceObjs []corev1.Service
	res         *Result
	// w writes the record, with the guard that judges every change of the
	// Deployment by others; nil until there is a Deployment to write on.
	w *recordWriter
	// fence is the operation's lease, checked right before each write
	// (the Lock the run took, or resume's); nil in a dry run.
	fence state.Fence
	// hold is the hold of the old pods of a --fix release (hold.go), nil
	// when there is none.
	hold *holdRecord
}

// Run performs the release. The error carries the exit code: 1 when the
// release failed (rolled back or not), 2 for bad input (nothing changed), 3
// when the rollback itself failed.
func (r *Rollout) Run(ctx context.Context, cfg Config) (*Result, error) {
	start := r.now()
	rel, err := r.prepare(ctx, cfg, start)
	if err != nil {
		return nil, err
	}
	res := rel.res
	defer func() { res.DurationSeconds = r.now().Sub(start).Seconds() }()

	// 1. Preflight.
	r.preflightAutoscalers(ctx, rel)
	if err := r.preflight(rel); err != nil {
		res.Result = state.ResultFailed
		res.Reason = err.Error()
		return res, err
	}
	if cfg.DryRun != DryRunNone {
		return res, r.dryRun(ctx, rel)
	}

	// The Lease for the whole operation; the context ends with the
	// *state.LostError when it is lost.
	sess, err := state.Begin(ctx, state.SessionConfig{Leases: r.Kube.CoordinationV1(), Namespace: cfg.Namespace, Kind: "deployment", Name: cfg.Name,
		OperationID: rel.op.ID, Force: cfg.ForceUnlock, Duration: r.LeaseDuration, Clock: r.Clock, Logf: r.logf})
	if err != nil {
		return nil, err
	}
	defer sess.End()
	rel.op.Holder = sess.Holder()
	rel.fence = sess.Fence()
	ctx = sess.Context()

	// Watch the Services' endpoints from before the first change.
	watchers := r.startDowntime(ctx, rel)
	finishDowntime := func() {
		for _, w := range watchers {
			rep := strategies.StopWatch(r.Events, w)
			res.Downtime = append(res.Downtime, Downtime{Service: rep.Service, MinReady: rep.MinReady, ZeroForSeconds: rep.ZeroFor.Seconds(), ObservedSeconds: rep.Stopped.Sub(rep.Started).Seconds(),
				BlindForSeconds: rep.BlindFor().Seconds(), Lost: len(rep.Gaps)})
		}
		watchers = nil
	}
	defer finishDowntime()

	// 1b. Record what the release asks for, before anything changes, so
	// resume can finish it if this client dies (not when -f creates the
	// Deployment: there is nothing to record on yet). The write carries the
	// resourceVersion read, like every later one.
	if rel.live != nil {
		// the first record carries the resourceVersion read before the
		// Lease was taken: a record another run wrote meanwhile stops it
		rel.w = r.writerFor(rel, rel.live, "while the rollout prepared it")
		if err := r.recordFirst(ctx, rel); err != nil {
			if lost := state.LeaseLost(err); lost != nil {
				return res, r.stopLost(rel, lost)
			}
			res.Result = state.ResultFailed
			res.Reason = err.Error()
			if IsForeignChange(err) {
				return res, exitcode.Failedf("deployment %q: %w; nothing was changed, run again", rel.ref, err)
			}
			return res, exitcode.Failedf("deployment %q: %w; nothing was changed", rel.ref, err)
		}
	}

	// 2. Migration. The Deployment is not touched before it succeeds.
	if rel.job != nil {
		if rel.w != nil {
			if err := r.record(ctx, rel, PhaseMigrate, "", ""); err != nil {
				return r.stoppedBeforeApply(ctx, rel, err)
			}
		}
		if err := r.migrate(ctx, rel, false); err != nil {
			return res, err
		}
	}

	// 3. Apply.
	applied, err := r.applyRecorded(ctx, rel)
	if err != nil {
		return res, err
	}
	return r.carryOn(ctx, rel, applied, finishDowntime)
}

// recordFirst writes the first record (phase preflight, with the request
// in params), removing the params an earlier operation left.
func (r *Rollout) recordFirst(ctx context.Context, rel *release) error {
	rel.op.Phase = PhasePreflight
	return rel.w.save(context.WithoutCancel(ctx), rel.op, staleParams(rel.live.Annotations, rel.op)...)
}

// stopLost ends a release whose lease is lost without any further write:
// the record keeps the phase it holds (in flight), for resume or abort.
func (r *Rollout) stopLost(rel *release, lost *state.LostError) error {
	rel.res.Result = state.ResultFailed
	rel.res.Reason = lost.Error()
	phase := rel.op.Phase
	if rel.w != nil && rel.w.guard.base != nil {
		if p := rel.w.guard.base.Annotations[state.KeyPhase]; p != "" {
			// what the record on the Deployment holds, as last seen
			phase = p
		}
	}
	return exitcode.NeedsPersonf("deployment %q: %w; the release was left as it was, no further change was made: %s", rel.ref, lost, state.StoppedHint("deployment", rel.cfg.Namespace, rel.cfg.Name, phase))
}

// lostOf returns why the release's lease is lost (err, ctx or the fence
// say so), nil while it is held.
func (rel *release) lostOf(ctx context.Context, err error) *state.LostError {
	return state.Lost(ctx, err, rel.fence)
}

// fenced is the check right before each write of the release.
func (rel *release) fenced(ctx context.Context) error {
	if rel.fence == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return rel.fence.Check(ctx)
}

// migrate runs the migration Job (resumed: waits for the one the killed run
// created, or creates it when it was not). On failure the record says so
// and the Deployment is not changed.
func (r *Rollout) migrate(ctx context.Context, rel *release, resumed bool) error {
	cfg, res := rel.cfg, rel.res
	ref := cfg.Namespace + "/" + rel.job.Name
	mctx, mcancel := context.WithTimeout(ctx, cfg.Timeout)
	defer mcancel()
	var err error
	existing, gerr := r.Kube.BatchV1().Jobs(cfg.Namespace).Get(ctx, rel.job.Name, metav1.GetOptions{})
	switch {
	case resumed && gerr == nil && existing != nil:
		r.logf("migrate: waiting for job %q, created by the interrupted run", ref)
		if _, err = migration.Wait(mctx, r.Kube, cfg.Namespace, rel.job.Name); err != nil {
			err = exitcode.FailedError(fmt.Errorf("%w: %w\n%s", migration.ErrFailed, err, migration.Describe(context.WithoutCancel(ctx), r.Kube, cfg.Namespace, rel.job.Name)))
		}
	default:
		r.logf("migrate: running job %q", ref)
		if err = rel.fenced(ctx); err == nil {
			_, err = migration.Run(mctx, r.Kube, rel.job, nil, r.Log)
		}
	}
	if lost := rel.lostOf(ctx, err); lost != nil {
		return r.stopLost(rel, lost)
	}
	if err == nil {
		return nil
	}
	res.Result = state.ResultFailed
	res.Reason = fmt.Sprintf("migration job %q failed; deployment %q was not changed", ref, rel.ref)
	if rel.w != nil {
		_ = r.recordAnyway(ctx, rel, PhaseMigrate, state.ResultFailed, res.Reason)
	}
	return exitcode.Failedf("%s: %w", res.Reason, err)
}

// stoppedBeforeApply ends a release whose record could not be written
// before the apply: nothing was changed.
func (r *Rollout) stoppedBeforeApply(ctx context.Context, rel *release, err error) (*Result, error) {
	if lost := rel.lostOf(ctx, err); lost != nil {
		return rel.res, r.stopLost(rel, lost)
	}
	rel.res.Result = state.ResultFailed
	rel.res.Reason = err.Error()
	if IsForeignChange(err) {
		_ = r.recordAnyway(ctx, rel, rel.op.Phase, state.ResultFailed, err.Error()+"; nothing was changed")
	}
	return rel.res, exitcode.Failedf("deployment %q: %w; nothing was changed", rel.ref, err)
}

// applyRecorded records phase apply, then sends the change with the
// resourceVersion of the version last judged; on a conflict it re-reads the
// Deployment and retries when what changed is not what the rollout manages
// (a scale, a label), and stops naming the change otherwise.
func (r *Rollout) applyRecorded(ctx context.Context, rel *release) (*appsv1.Deployment, error) {
	res := rel.res
	if rel.w != nil {
		if err := r.record(ctx, rel, PhaseApply, "", ""); err != nil {
			_, err = r.stoppedBeforeApply(ctx, rel, err)
			return nil, err
		}
	}
	rel.op.Phase = PhaseApply
	strategies.Announce(r.Events, strategies.MarkApply)
	var applied *appsv1.Deployment
	var err error
	for try := 0; ; try++ {
		if rel.w != nil {
			rel.live = rel.w.guard.base
			if rel.patch, rel.patchTyp, err = r.buildPatch(rel); err != nil {
				break
			}
		}
		applied, err = r.apply(ctx, rel, nil)
		if err == nil || !apierrors.IsConflict(err) || rel.w == nil || try >= 4 {
			break
		}
		fresh, gerr := r.Kube.AppsV1().Deployments(rel.cfg.Namespace).Get(ctx, rel.cfg.Name, metav1.GetOptions{})
		if gerr != nil {
			break
		}
		if ferr := rel.w.guard.observe(fresh); ferr != nil {
			err = ferr
			break
		}
	}
	if lost := rel.lostOf(ctx, err); err != nil && lost != nil {
		return nil, r.stopLost(rel, lost)
	}
	if err != nil {
		res.Result = state.ResultFailed
		res.Reason = err.Error()
		if rel.w != nil {
			_ = r.recordAnyway(ctx, rel, PhaseApply, state.ResultFailed, err.Error()+"; nothing was changed")
		}
		if IsForeignChange(err) {
			return nil, exitcode.Failedf("applying to deployment %q: %w; nothing was changed, run again", rel.ref, err)
		}
		return nil, err
	}
	r.logf("apply: deployment %q updated (generation %d)", rel.ref, applied.Generation)
	if rel.w == nil {
		rel.w = r.writerFor(rel, applied, "while the rollout watched it")
	}
	rel.w.guard.accept(applied)
	rel.w.guard.while = "while the rollout watched it"
	rel.op.Params[ParamTemplate] = templateFingerprint(&applied.Spec.Template)
	return applied, nil
}

// writerFor is the record writer of a release, judging from base.
func (r *Rollout) writerFor(rel *release, base *appsv1.Deployment, while string) *recordWriter {
	return &recordWriter{kube: r.Kube, ns: rel.cfg.Namespace, name: rel.cfg.Name, now: r.Now, fence: rel.fence,
		guard: &guard{ref: rel.ref, base: base.DeepCopy(), while: while, logf: r.logf}}
}

// record writes the record with its precondition; a failure other than a
// change by another writer is only a warning.
func (r *Rollout) record(ctx context.Context, rel *release, phase, result, msg string) error {
	rel.op.Phase, rel.op.Result, rel.op.Message = phase, result, msg
	err := rel.w.save(context.WithoutCancel(ctx), rel.op)
	if err != nil && !IsForeignChange(err) && state.LeaseLost(err) == nil {
		var changed *state.RecordChangedError
		if errors.As(err, &changed) {
			return err
		}
		r.logf("warning: %v", err)
		return nil
	}
	return err
}

// recordAnyway writes a final record even over another writer's change.
func (r *Rollout) recordAnyway(ctx context.Context, rel *release, phase, result, msg string) error {
	rel.op.Phase, rel.op.Result, rel.op.Message = phase, result, msg
	err := rel.w.saveAnyway(context.WithoutCancel(ctx), rel.op)
	if err != nil {
		r.logf("warning: %v", err)
	}
	return err
}

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

// widen gives the Services of the release's hold their selectors back, so
// the old pods serve again before a rollback stops the new ones; the
// Deployment's hold values go back in the rollback's patch
// (holdRollbackOps).
func (r *Rollout) widen(ctx context.Context, rel *release) error {
	if rel.hold == nil {
		return nil
	}
	return releaseHold(ctx, r.Kube, rel.cfg.Namespace, rel.hold, rel.fence, r.logf)
}

// unhold undoes the whole hold of a release that another writer took
// over: the Services' selectors, then the Deployment's values (while it
// still has the hold's).
func (r *Rollout) unhold(ctx context.Context, rel *release) error {
	if err := r.widen(ctx, rel); err != nil {
		return err
	}
	if rel.hold == nil {
		return nil
	}
	if err := rel.fenced(ctx); err != nil {
		return err
	}
	d, err := unholdDeployment(context.WithoutCancel(ctx), r.Kube, rel.cfg.Namespace, rel.cfg.Name, rel.hold)
	if err != nil {
		return err
	}
	if d != nil {
		rel.w.guard.accept(d)
	}
	rel.hold = nil
	return nil
}
