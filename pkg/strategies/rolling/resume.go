package rolling

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// NewResumer is the strategy's Resumer, for the plugin's registry.
func NewResumer() strategies.Resumer { return resumer{} }

// resumeMaxRestarts is the restart limit of new pods while a resumed rollout
// is watched (the run that was killed does not record its --max-restarts).
const resumeMaxRestarts = 3

// resumer continues or undoes a rollout from its record on the Deployment.
type resumer struct{}

func logf(env strategies.Env, format string, a ...any) {
	if env.Log != nil {
		fmt.Fprintf(env.Log, format+"\n", a...)
	}
}

func (resumer) deployment(ctx context.Context, env strategies.Env, t strategies.Target) (*appsv1.Deployment, error) {
	d, err := env.Kube.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, exitcode.Usagef("deployment %q not found", t.Ref())
	}
	if err != nil {
		return nil, fmt.Errorf("reading deployment %q: %w", t.Ref(), err)
	}
	return d, nil
}

// Resume continues a rollout from its recorded phase, with what the release
// asked for as recorded in params: before the apply (phases preflight,
// migrate, apply) it finishes the migration Job and applies the recorded
// change, unless another writer changed the template meanwhile; after it
// (watch, analysis) it watches the Deployment, runs the recorded analysis
// again on the new revision, and rolls back to the from-revision when the
// release fails (unless --no-rollback was recorded); in phase rollback it
// finishes the rollback. A change of the template, selector or strategy by
// another writer stops it with nothing rolled back over that change.
func (rs resumer) Resume(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	// Unfinished is the one rule (state.Operation); within it, a paused
	// release waits for a new rollout or a rollback, and a failure is not
	// carried on, except a rollback that failed (recorded failed by an
	// older version), tried again like one in flight.
	if !op.Unfinished() || op.Result == state.ResultPaused {
		logf(env, "resume: rollout %s of deployment %q already ended (phase %s, result %s): nothing to resume", op.ID, t.Ref(), op.Phase, op.Result)
		return nil
	}
	if op.Result == state.ResultFailed && op.Phase != PhaseRollback {
		// a failure is not a success: it says so, with exit 2
		return exitcode.Usagef("rollout %s of deployment %q ended failed in phase %s (%s): nothing to resume; 'kubectl zdd abort deployment/%s' returns to revision %s, or run a new rollout", op.ID, t.Ref(), op.Phase, op.Message, t.Name, op.FromRevision)
	}
	if op.Result == state.ResultInterrupted {
		// carried on from the phase recorded at Ctrl-C, in flight again
		op.Result, op.Message = "", ""
	}
	d, err := rs.deployment(ctx, env, t)
	if err != nil {
		return err
	}
	switch op.Phase {
	case PhaseRollback:
		logf(env, "resume: rollout %s of deployment %q was rolling back (%s): restoring revision %s", op.ID, t.Ref(), op.Message, op.FromRevision)
		if err := rs.checkOwnTemplate(ctx, env, t, op, d, "resume"); err != nil {
			return err
		}
		reason := strings.TrimPrefix(op.Message, "rollback failed: ")
		return rs.rollback(ctx, env, t, op, d, rs.saver(ctx, env, t, op, d), reason, state.ResultRolledBack)
	case PhasePreflight, PhaseMigrate, PhaseApply, PhaseHold, PhaseWatch, PhaseAnalysis:
	default:
		return exitcode.Usagef("rollout %s of deployment %q is in unknown phase %q: cannot resume it", op.ID, t.Ref(), op.Phase)
	}
	r, rel, job, err := resumeRelease(env, t, op, d)
	if err != nil {
		return err
	}
	before := op.Phase == PhasePreflight || op.Phase == PhaseMigrate
	// what the record would make this run reach (its analysis, its
	// migration Job) is shown and confirmed before anything runs
	var jobs []string
	if job != nil && before && hasRequest(op) {
		jobs = append(jobs, "migration "+analysis.DescribeJob(job))
	}
	if err := strategies.ConfirmRecorded(env, "deployment "+t.Ref(), []*analysis.Spec{rel.cfg.Analysis}, jobs); err != nil {
		return err
	}
	if before && !hasRequest(op) {
		// a record written before the request was recorded
		if err := rs.saver(ctx, env, t, op, d)(op.Phase, state.ResultFailed, "the client stopped before the Deployment was changed; run 'kubectl zdd rollout' again"); err != nil {
			return err
		}
		return exitcode.Usagef("rollout %s of deployment %q stopped in phase %s, before the Deployment was changed, and its record does not hold the release: nothing to resume, run 'kubectl zdd rollout' again", op.ID, t.Ref(), op.Phase)
	}
	logf(env, "resume: rollout %s of deployment %q from phase %s", op.ID, t.Ref(), op.Phase)
	var applied *appsv1.Deployment
	switch {
	case hasRequest(op) && (before || op.Phase == PhaseApply):
		if job != nil && before {
			rel.job = job
			if err := r.record(ctx, rel, PhaseMigrate, "", ""); err != nil {
				_, err = r.stoppedBeforeApply(ctx, rel, err)
				return err
			}
			if err := r.migrate(ctx, rel, true); err != nil {
				return err
			}
		}
		if applied, err = r.resumeApply(ctx, rel); err != nil {
			return err
		}
	default:
		if err := rs.checkOwnTemplate(ctx, env, t, op, d, "resume"); err != nil {
			return err
		}
		if op.Phase == PhaseAnalysis && rel.cfg.Analysis == nil {
			logf(env, "resume: the analysis of the interrupted run is not run again (its record does not hold it); checking that the new revision is fully available")
		}
		if rel.cfg.Analysis != nil {
			logf(env, "resume: the recorded analysis %q is run again on the new revision once it is fully available", rel.cfg.Analysis.File)
		}
		applied = d
		rel.op.Params[ParamTemplate] = templateFingerprint(&d.Spec.Template)
	}
	res, err := r.carryOn(ctx, rel, applied, func() {})
	if res != nil && res.Analysis != nil {
		_ = analysis.PrintTable(env.Log, res.Analysis)
	}
	switch {
	case res == nil:
	case res.Result == state.ResultSucceeded:
		logf(env, "resume: deployment %q rolled out: revision %s (from %s)", t.Ref(), op.ToRevision, op.FromRevision)
	case res.Result == state.ResultRolledBack:
		logf(env, "deployment %q is back on the pod template of revision %s, fully available", t.Ref(), op.FromRevision)
	}
	return err
}

// resumeRelease rebuilds the release from the record: the request and
// settings in params, the live Deployment, and a record writer judging from
// it. A record without params gives the settings of old: the resume
// --timeout and resumeMaxRestarts, no analysis.
func resumeRelease(env strategies.Env, t strategies.Target, op *state.Operation, d *appsv1.Deployment) (*Rollout, *release, *batchv1.Job, error) {
	cfg, job, err := configFromParams(op, t.Namespace, t.Name, env.Timeout)
	if err != nil {
		return nil, nil, nil, err
	}
	if op.Params[ParamTimeout] != "" {
		logf(env, "resume: using the recorded --timeout %s", cfg.Timeout)
	}
	cfg.Tripwire = env.Tripwire
	r := &Rollout{Kube: env.Kube, Dynamic: env.Dynamic, Log: env.Log, AnalysisOut: env.Log, NoDowntimeWatch: true, AnalysisEnv: analysis.RecordedEnv(env.AllowEnv), Events: env.Events}
	rel := &release{cfg: cfg, ref: t.Ref(), op: op, live: d, desired: d.DeepCopy(), fence: env.Fence, res: &Result{Deployment: t.Ref(), OperationID: op.ID, FromRevision: op.FromRevision, Downtime: []Downtime{}}}
	if op.Params == nil {
		op.Params = map[string]string{}
	}
	rel.w = r.writerFor(rel, d, "while resume read it")
	h, err := holdOf(op)
	if err != nil {
		return nil, nil, nil, exitcode.Usagef("deployment %q: %w", t.Ref(), err)
	}
	rel.hold = h
	if h != nil {
		logf(env, "resume: the release holds the old pods of deployment %q out of its Services until they stop (recorded): resume finishes that", t.Ref())
	}
	return r, rel, job, nil
}

// resumeApply applies the recorded request, unless it is applied already (a
// server-side dry run of it changes nothing the rollout manages) or another
// writer changed the template since the operation started (the Deployment
// is no longer on the from-revision): then it stops, nothing changed.
func (r *Rollout) resumeApply(ctx context.Context, rel *release) (*appsv1.Deployment, error) {
	var live, dry *appsv1.Deployment
	for try := 0; ; try++ {
		// the version judged last may be old by now (a migration ran):
		// read it again, and judge it
		fresh, err := r.Kube.AppsV1().Deployments(rel.cfg.Namespace).Get(ctx, rel.cfg.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("reading deployment %q: %w", rel.ref, err)
		}
		if err := rel.w.guard.observe(fresh); err != nil {
			_, err = r.stoppedBeforeApply(ctx, rel, err)
			return nil, err
		}
		live = rel.w.guard.base
		rel.live = live
		if rel.cfg.Manifest == nil {
			rel.desired = live.DeepCopy()
			if err := kube.SetImages(&rel.desired.Spec.Template.Spec, rel.cfg.Images); err != nil {
				return nil, exitcode.Usagef("deployment %q: the recorded release: %w", rel.ref, err)
			}
		}
		rel.op.Phase = PhaseApply
		if rel.patch, rel.patchTyp, err = r.buildPatch(rel); err != nil {
			return nil, err
		}
		dry, err = r.apply(ctx, rel, []string{metav1.DryRunAll})
		if err == nil {
			break
		}
		if !apierrors.IsConflict(err) || try >= 4 {
			return nil, err
		}
	}
	if foreignChange(live, dry, "") == nil {
		r.logf("resume: the recorded release is already applied to deployment %q", rel.ref)
		rel.op.Params[ParamTemplate] = templateFingerprint(&live.Spec.Template)
		return live, nil
	}
	// the template the operation started from is recorded (its
	// fingerprint); the revision annotation is the fallback for older
	// records (the controller sets it a moment after a change, so it can lag)
	changed := false
	if from := rel.op.Params[ParamFromTemplate]; from != "" {
		changed = templateFingerprint(&live.Spec.Template) != from
	} else if rev := revString(kube.Revision(live)); rel.op.FromRevision != "" && rev != rel.op.FromRevision {
		changed = true
	}
	if changed {
		fc := templateChangedBy(live, "after the rollout started (it is neither the template the release started from nor the recorded release)")
		_, err := r.stoppedBeforeApply(ctx, rel, fc)
		return nil, err
	}
	return r.applyRecorded(ctx, rel)
}

// lostOf returns why the caller's lease is lost (err or ctx say so).
func lostOf(ctx context.Context, err error) *state.LostError {
	if l := state.LeaseLost(err); l != nil {
		return l
	}
	return state.LostCause(ctx)
}

// saver records op with the precondition of a record writer judging from d.
func (rs resumer) saver(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation, d *appsv1.Deployment) func(phase, result, msg string) error {
	w := &recordWriter{kube: env.Kube, ns: t.Namespace, name: t.Name, fence: env.Fence, guard: &guard{ref: t.Ref(), base: d.DeepCopy(), while: "while resume or abort read it", logf: func(format string, a ...any) { logf(env, format, a...) }}}
	return func(phase, result, msg string) error {
		op.Phase, op.Result, op.Message = phase, result, msg
		return w.saveAnyway(context.WithoutCancel(ctx), op)
	}
}

// checkOwnTemplate makes sure the Deployment runs the template the rollout
// applied (or the from-revision's, when it was restored already), as the
// fingerprints in the record say. Otherwise another writer changed it:
// resume and abort stop without writing over that change, and the record
// says so (result failed).
func (rs resumer) checkOwnTemplate(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation, d *appsv1.Deployment, command string) error {
	fp := templateFingerprint(&d.Spec.Template)
	applied, from := op.Params[ParamTemplate], op.Params[ParamFromTemplate]
	if applied == "" || fp == applied || fp == from {
		return nil
	}
	fc := templateChangedBy(d, "after the rollout applied it")
	msg := fmt.Sprintf("%v; %s does not write over it: nothing was changed", fc, command)
	_ = rs.saver(ctx, env, t, op, d)(op.Phase, state.ResultFailed, msg)
	return exitcode.Failedf("deployment %q: %w; %s does not write over it: nothing was changed", t.Ref(), fc, command)
}

// Abort returns to the from-revision: before the apply (phases preflight
// and migrate, or apply when the template is still the from-revision's)
// nothing changed, so the record is only marked aborted; after it the
// from-revision's pod template is restored and waited for, unless another
// writer changed the template meanwhile.
func (rs resumer) Abort(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	if !op.Unfinished() {
		return exitcode.Usagef("rollout %s of deployment %q already ended (phase %s, result %s): nothing to abort; 'kubectl zdd rollback deployment/%s' goes back a revision", op.ID, t.Ref(), op.Phase, op.Result, t.Name)
	}
	d, err := rs.deployment(ctx, env, t)
	if err != nil {
		return err
	}
	save := rs.saver(ctx, env, t, op, d)
	unchanged := op.Phase == PhasePreflight || op.Phase == PhaseMigrate
	if op.Phase == PhaseApply && op.Params[ParamFromTemplate] != "" && templateFingerprint(&d.Spec.Template) == op.Params[ParamFromTemplate] {
		unchanged = true
	}
	if unchanged {
		msg := "aborted by 'kubectl zdd abort' before the Deployment was changed"
		if v := op.Params[ParamMigrationJob]; v != "" && op.Phase == PhaseMigrate {
			var j batchv1.Job
			if json.Unmarshal([]byte(v), &j) == nil {
				msg += fmt.Sprintf("; migration job %q is left as it is", t.Namespace+"/"+j.Name)
			}
		}
		if err := save(op.Phase, state.ResultAborted, msg); err != nil {
			return err
		}
		logf(env, "abort: rollout %s of deployment %q (phase %s) had not changed it: %s", op.ID, t.Ref(), op.Phase, msg)
		return nil
	}
	if op.FromRevision == "" {
		return exitcode.Usagef("rollout %s of deployment %q created it (no from-revision): nothing to go back to", op.ID, t.Ref())
	}
	if err := rs.checkOwnTemplate(ctx, env, t, op, d, "abort"); err != nil {
		return err
	}
	logf(env, "abort: rollout %s of deployment %q (phase %s): restoring revision %s", op.ID, t.Ref(), op.Phase, op.FromRevision)
	return rs.rollback(ctx, env, t, op, d, save, "aborted by 'kubectl zdd abort'", state.ResultAborted)
}

// rollback restores op.FromRevision (or finds it already restored), waits
// until it is fully available, and records the result.
func (resumer) rollback(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation, d *appsv1.Deployment, save func(phase, result, msg string) error, reason, result string) error {
	if err := save(PhaseRollback, "", reason); err != nil {
		return err
	}
	// the old pods serve again before the new ones leave
	h, err := holdOf(op)
	if err != nil {
		return exitcode.Usagef("deployment %q: %w", t.Ref(), err)
	}
	if err := releaseHold(ctx, env.Kube, t.Namespace, h, env.Fence, func(format string, a ...any) { logf(env, format, a...) }); err != nil {
		if lost := lostOf(ctx, err); lost != nil {
			return exitcode.NeedsPersonf("deployment %q: %v; no further change was made: %s", t.Ref(), lost, state.StoppedHint("deployment", t.Namespace, t.Name, PhaseRollback))
		}
		_ = save(PhaseRollback, "", "rollback failed: "+err.Error())
		return exitcode.NeedsPersonf("deployment %q: undoing the hold of the old pods failed: %w; the operation stays in flight in phase rollback: run 'kubectl zdd resume deployment/%s' to try again", t.Ref(), err, t.Name)
	}
	from, err := strconv.ParseInt(op.FromRevision, 10, 64)
	if err != nil {
		return exitcode.Usagef("deployment %q: the record's from-revision %q is not a number", t.Ref(), op.FromRevision)
	}
	command, mark := "resume", strategies.MarkRollback
	if result == state.ResultAborted {
		command, mark = "abort", strategies.MarkAbort
	}
	strategies.Announce(env.Events, mark)
	extra := holdRollbackOps(d, h)
	if extra != nil {
		logf(env, "hold: minReadySeconds %d and maxSurge %s go back with the template of revision %s", h.MinReadySeconds, h.MaxSurge.String(), op.FromRevision)
	}
	rb, err := Rollback(ctx, env.Kube, RollbackConfig{
		Namespace: t.Namespace, Name: t.Name, ToRevision: from, Current: &d.Spec.Template, Timeout: env.Timeout,
		ChangeCause: "kubectl zdd " + command + ": back to revision " + op.FromRevision, ExtraOps: extra,
		Log: env.Log, Fence: env.Fence,
	})
	if err != nil {
		if lost := lostOf(ctx, err); lost != nil {
			return exitcode.NeedsPersonf("deployment %q: %w; no further change was made: %s", t.Ref(), lost, state.StoppedHint("deployment", t.Namespace, t.Name, PhaseRollback))
		}
		// in flight in phase rollback: resume tries it again, abort too
		_ = save(PhaseRollback, "", "rollback failed: "+err.Error())
		return exitcode.NeedsPersonf("deployment %q: restoring revision %s failed: %w; the operation stays in flight in phase rollback: run 'kubectl zdd resume deployment/%s' to try again", t.Ref(), op.FromRevision, err, t.Name)
	}
	setHold(op, nil)
	if err := save(PhaseDone, result, reason); err != nil {
		return err
	}
	logf(env, "deployment %q is back on the pod template of revision %s (now revision %d), fully available", t.Ref(), op.FromRevision, rb.NewRevision)
	if result == state.ResultAborted {
		return nil
	}
	return exitcode.Failedf("release of deployment %q failed: %s; rolled back to revision %s", t.Ref(), reason, op.FromRevision)
}
