package rolling

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
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
