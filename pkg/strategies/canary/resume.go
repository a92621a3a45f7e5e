package canary

import (
	"context"
	"errors"
	"fmt"
	"strconv"

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

// resumer continues or undoes a canary release from its record on the
// stable Deployment. The caller (kubectl zdd resume/abort) holds the
// operation's Lease, so nothing here takes it again.
type resumer struct{}

// Actions a resume or abort takes for a record.
const (
	actNothing  = "nothing"   // the operation already ended
	actRestart  = "restart"   // stopped before the canary existed
	actWalk     = "walk"      // continue the steps from an index
	actPromote  = "promote"   // finish the promotion
	actAbort    = "abort"     // stable back to N, canary to 0
	actNoCanary = "no-canary" // abort with no canary deployment: stable only
	actRestore  = "restore"   // abort a promotion that already changed the stable
	actPullBack = "pull-back" // an abort that failed or was killed: do it again
)

// resumeAction decides what resume does with op; from is the 0-based index
// of the step to walk from. canaryExists says whether NAME-canary exists.
// A record that cannot be resumed is a usage error.
func resumeAction(op *state.Operation, canaryExists bool) (action string, from int, err error) {
	// the one rule (state.Operation.Unfinished); a paused canary waits
	// for 'kubectl zdd canary promote' rather than resume, and a failure
	// that left the canary where it was is carried on
	if !op.Unfinished() || op.Result == state.ResultPaused {
		return actNothing, 0, nil
	}
	steps, err := ParseSteps(op.Params[ParamSteps])
	if err != nil {
		return "", 0, exitcode.Usagef("canary %s: the record's steps %q: %w", op.ID, op.Params[ParamSteps], err)
	}
	switch {
	case op.Phase == "start":
		if !canaryExists {
			return actRestart, 0, nil
		}
		return actWalk, 0, nil
	case StepOf(op.Phase) > 0:
		n := StepOf(op.Phase)
		if n > len(steps) {
			return "", 0, exitcode.Usagef("canary %s: phase %s is beyond the %d recorded steps", op.ID, op.Phase, len(steps))
		}
		if !canaryExists {
			return "", 0, exitcode.Usagef("canary %s: phase %s but the canary deployment is gone: nothing to resume; run 'kubectl zdd abort' to restore the stable", op.ID, op.Phase)
		}
		// step n was applied and recorded: apply it again (a no-op when it
		// is in place), then its pause, then the rest
		return actWalk, n - 1, nil
	case op.Phase == "promote":
		return actPromote, 0, nil
	case op.Phase == PhaseAborting || op.Phase == "aborted":
		// the release was being pulled back (a failure, or abort): resume
		// pulls it back, never walks on
		return actPullBack, 0, nil
	}
	return "", 0, exitcode.Usagef("canary %s is in unknown phase %q: cannot resume it", op.ID, op.Phase)
}

// abortAction decides what abort does with op. stableChanged says whether
// the stable's revision moved past the record's from-revision (a promotion
// already rolling it).
func abortAction(op *state.Operation, canaryExists, stableChanged bool) (string, error) {
	if !op.Unfinished() {
		return actNothing, exitcode.Usagef("canary %s already ended (phase %s, result %s): nothing to abort; 'kubectl zdd rollback' goes back a revision", op.ID, op.Phase, op.Result)
	}
	if op.Phase == "promote" && stableChanged {
		// the stable goes back to its from-revision template first; when
		// the promotion had removed the canary too (killed just before it
		// recorded done), the canary comes back at 0 from the recorded
		// template, as after any abort
		return actRestore, nil
	}
	if !canaryExists {
		return actNoCanary, nil
	}
	return actAbort, nil
}

func (resumer) canary(env strategies.Env) *Canary {
	// --timeout bounds each wait, as in a canary run (waitLimit); the
	// resumed walk's pauses are the recorded steps'
	return &Canary{Client: env.Kube, Dynamic: env.Dynamic, Discovery: env.Kube.Discovery(), Out: env.Log, fence: env.Fence, Tripwire: env.Tripwire, Events: env.Events, timeout: env.Timeout}
}

// saveRecord writes op on the stable Deployment t (read again now) for a
// resume or abort that ends before it plans anything: the write carries the
// precondition and the caller's fence, and fails if the record changed.
func (r resumer) saveRecord(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	w := &state.RecordWriter{Object: state.DeploymentCarrier(env.Kube, t.Namespace, t.Name), Fence: env.Fence}
	ctx = context.WithoutCancel(ctx)
	cur, _, err := w.Load(ctx)
	if err != nil {
		return err
	}
	if cur == nil || cur.ID != op.ID {
		return exitcode.Failedf("deployment %q: its operation record changed (another run?): not writing over it", t.Ref())
	}
	return w.Save(ctx, op)
}

func (resumer) canaryExists(ctx context.Context, env strategies.Env, t strategies.Target) (bool, error) {
	_, err := env.Kube.AppsV1().Deployments(t.Namespace).Get(ctx, CanaryName(t.Name), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading deployment %q: %w", t.Namespace+"/"+CanaryName(t.Name), err)
	}
	return true, nil
}

func checkTarget(t strategies.Target) error {
	if t.Kind != "deployment" {
		return exitcode.Usagef("a canary release is recorded on its stable deployment, not on %s %q", t.Kind, t.Ref())
	}
	return nil
}

// splitInterrupt separates the two ways the caller's ctx ends: a signal
// (Ctrl-C, SIGTERM: its cause is context.Canceled) closes the returned
// channel so the canary stops at its next consistent point, anything else
// (the Lease lost, a deadline) ends the returned context at once.
func splitInterrupt(ctx context.Context) (context.Context, <-chan struct{}, context.CancelFunc) {
	work, cancel := context.WithCancelCause(context.WithoutCancel(ctx))
	interrupt := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			if cause := context.Cause(ctx); errors.Is(cause, context.Canceled) {
				close(interrupt)
			} else {
				cancel(cause)
			}
		case <-work.Done():
		}
	}()
	return work, interrupt, func() { cancel(nil) }
}

// Resume continues a canary release from its recorded phase: from step-N it
// applies step N again (nothing moves when it is in place), waits its pause
// and walks the remaining steps, then promotes (or holds, as the release
// would have); from promote it finishes the promotion. A release killed in
// phase start, before its canary deployment existed, is started again from
// what it recorded there (the canary's pod template, the steps, pauses and
// router). A record of an older version without the pod template cannot be:
// it is closed as failed and resume exits 2. Ctrl-C stops a resume as it
// stops a run: at a consistent point, recorded "interrupted".
func (r resumer) Resume(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	if err := checkTarget(t); err != nil {
		return err
	}
	exists, err := r.canaryExists(ctx, env, t)
	if err != nil {
		return err
	}
	action, from, err := resumeAction(op, exists)
	if err != nil {
		return err
	}
	c := r.canary(env)
	switch action {
	case actNothing:
		c.printf("resume: canary %s of deployment %q already ended (phase %s, result %s): nothing to resume", op.ID, t.Ref(), op.Phase, op.Result)
		return nil
	case actRestart:
		if op.Params[ParamTemplate] == "" {
			// a record without the pod template (an older version): the new
			// version was only in the killed run's flags
			op.Result = state.ResultFailed
			op.Message = "the client stopped before the canary deployment was created; run 'kubectl zdd canary' again"
			if err := r.saveRecord(ctx, env, t, op); err != nil {
				return err
			}
			return exitcode.Usagef("canary %s of deployment %q stopped in phase start, before the canary deployment was created, and recorded no pod template: nothing to resume, run 'kubectl zdd canary' again", op.ID, t.Ref())
		}
	}
	ctx, interrupt, stop := splitInterrupt(ctx)
	defer stop()
	c.Interrupt = interrupt
	if action == actPromote && !exists {
		// the promotion had rolled the stable and removed the canary: only
		// the end of the stable's rollout and the record are left
		c.printf("resume: canary %s of deployment %q: the canary is already removed; waiting for the stable", op.ID, t.Ref())
		d, err := c.waitSettled(ctx, t.Namespace, t.Name)
		if err != nil {
			return exitcode.NeedsPersonf("finishing the canary of deployment %q: %w", t.Ref(), err)
		}
		op.ToRevision = strconv.FormatInt(kube.Revision(d), 10)
		op.Phase, op.Result = "done", state.ResultSucceeded
		op.Message = "the stable runs the canary's pod template; the canary is removed"
		op.Params[ParamWeight] = "100"
		return r.saveRecord(ctx, env, t, op)
	}
	p, err := c.loadWith(ctx, t.Namespace, t.Name, op.Phase == "start")
	if err != nil {
		return err
	}
	p.op = op
	op.Result, op.Message = "", ""
	defer c.watchDowntime(ctx, p)()
	spec, err := RecordedAnalysis(op, t.Ref())
	if err != nil {
		return err
	}
	if action != actPromote && action != actPullBack {
		// the recorded analysis is shown and confirmed before it runs
		if err := strategies.ConfirmRecorded(env, "deployment "+t.Ref(), []*analysis.Spec{spec}, nil); err != nil {
			return err
		}
	}
	if spec != nil && action != actPromote && action != actPullBack {
		c.AnalysisEnv = analysis.RecordedEnv(env.AllowEnv)
		c.Analysis = c.AnalyzerFor(spec)
		c.printf("resume: the recorded analysis %s runs again at the current step", op.Params[ParamAnalysis])
	} else if op.Params[ParamAnalysis] != "" {
		c.printf("resume: the analysis %s of the interrupted run was not recorded by this version and is not run again", op.Params[ParamAnalysis])
	}
	c.printf("resume: canary %s of deployment %q from phase %s", op.ID, t.Ref(), op.Phase)
	switch action {
	case actPromote:
		return c.finish(ctx, p)
	case actPullBack:
		c.printf("resume: canary %s of deployment %q was being pulled back (%s): pulling it back", op.ID, t.Ref(), op.Message)
		cause := op.Message
		if err := c.abort(ctx, p); err != nil {
			if stop := c.stopLost(ctx, p, err); stop != nil {
				return stop
			}
			return exitcode.NeedsPersonError(fmt.Errorf("aborting the canary of deployment %q: %w; %s", p.ref(), err, abortHint(p)))
		}
		p.op.Result, p.op.Message = state.ResultAborted, cause
		if err := c.save(context.WithoutCancel(ctx), p); err != nil {
			return err
		}
		return exitcode.Failedf("canary of deployment %q was pulled back (%s)", p.ref(), cause)
	case actRestart:
		c.printf("resume: creating deployment %q from the pod template the interrupted run recorded", p.canaryRef())
		if p.router != nil {
			if err := c.ensureServices(ctx, p); err != nil {
				return c.fail(ctx, p, err)
			}
		}
	}
	return c.walk(ctx, p, from)
}

// Abort brings the stable back to the N replicas it had, Ready, then the
// canary to 0, the router's weights to 100% stable, and records the result
// "aborted".
func (r resumer) Abort(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	if err := checkTarget(t); err != nil {
		return err
	}
	exists, err := r.canaryExists(ctx, env, t)
	if err != nil {
		return err
	}
	stable, err := env.Kube.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %q: %w", t.Ref(), err)
	}
	changed := op.FromRevision != "" && strconv.FormatInt(kube.Revision(stable), 10) != op.FromRevision
	action, err := abortAction(op, exists, changed)
	if err != nil {
		return err
	}
	c := r.canary(env)
	if action == actNoCanary {
		// nothing but the record was written: the stable must still be whole
		c.printf("abort: canary %s of deployment %q stopped before its canary deployment existed; checking the stable", op.ID, t.Ref())
		if _, err := c.waitSettled(ctx, t.Namespace, t.Name); err != nil {
			return exitcode.NeedsPersonf("aborting the canary of deployment %q: %w", t.Ref(), err)
		}
		op.Phase, op.Result, op.Message = "aborted", state.ResultAborted, "aborted by 'kubectl zdd abort'"
		op.Params[ParamWeight] = "0"
		return r.saveRecord(ctx, env, t, op)
	}
	p, err := c.loadWith(ctx, t.Namespace, t.Name, action == actRestore && !exists)
	if err != nil {
		return err
	}
	p.op = op
	defer c.watchDowntime(ctx, p)()
	if action == actRestore {
		if err := c.restoreStable(ctx, p); err != nil {
			if stop := c.stopLost(ctx, p, err); stop != nil {
				return stop
			}
			return exitcode.NeedsPersonError(fmt.Errorf("aborting the canary of deployment %q: %w", p.ref(), err))
		}
	}
	return c.abortRecorded(ctx, context.WithoutCancel(ctx), p, "aborted by 'kubectl zdd abort'")
}
