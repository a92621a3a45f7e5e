package rolling

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

func init() { strategies.Register(Strategy, resumer{}) }

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

func recorderFor(env strategies.Env, t strategies.Target) *state.Recorder {
	return &state.Recorder{Client: env.Dynamic, Resource: DeploymentsResource, Namespace: t.Namespace, Name: t.Name}
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

// Resume continues a rollout from its recorded phase: after apply (phases
// apply, watch, analysis) it watches the Deployment until the new revision is
// fully available, and rolls back to the from-revision if the new pods fail
// or do not become ready within the timeout; in phase rollback it finishes
// the rollback. An --analysis of the killed run is not run again (its file
// is not recorded): resume says so.
func (r resumer) Resume(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	if !op.InFlight() {
		logf(env, "resume: rollout %s of deployment %q already ended (phase %s, result %s): nothing to resume", op.ID, t.Ref(), op.Phase, op.Result)
		return nil
	}
	d, err := r.deployment(ctx, env, t)
	if err != nil {
		return err
	}
	rec := recorderFor(env, t)
	save := func(phase, result, msg string) error {
		op.Phase, op.Result, op.Message = phase, result, msg
		return rec.Save(context.WithoutCancel(ctx), op)
	}
	switch op.Phase {
	case PhaseRollback:
		return r.rollback(ctx, env, t, op, d, save, op.Message, state.ResultRolledBack)
	case PhasePreflight, PhaseMigrate:
		// the Deployment was not changed before the apply: there is
		// nothing to continue, and the record only says the run died
		if err := save(op.Phase, state.ResultFailed, "the client stopped before the Deployment was changed; run 'kubectl zdd rollout' again"); err != nil {
			return err
		}
		return exitcode.Usagef("rollout %s of deployment %q stopped in phase %s, before the Deployment was changed: nothing to resume, run 'kubectl zdd rollout' again", op.ID, t.Ref(), op.Phase)
	case PhaseApply, PhaseWatch, PhaseAnalysis:
	default:
		return exitcode.Usagef("rollout %s of deployment %q is in unknown phase %q: cannot resume it", op.ID, t.Ref(), op.Phase)
	}
	if op.Phase == PhaseAnalysis {
		logf(env, "resume: the analysis of the interrupted run is not run again; checking that the new revision is fully available")
	}
	logf(env, "resume: rollout %s of deployment %q from phase %s", op.ID, t.Ref(), op.Phase)
	if err := save(PhaseWatch, "", ""); err != nil {
		return err
	}
	final, failure := r.watchTemplate(ctx, env, t, d)
	if final != nil && kube.Revision(final) > 0 {
		op.ToRevision = strconv.FormatInt(kube.Revision(final), 10)
	}
	if failure == nil {
		if err := save(PhaseDone, state.ResultSucceeded, ""); err != nil {
			return err
		}
		logf(env, "resume: deployment %q rolled out: revision %s (from %s)", t.Ref(), op.ToRevision, op.FromRevision)
		return nil
	}
	if op.FromRevision == "" {
		_ = save(PhaseWatch, state.ResultFailed, failure.Error())
		return exitcode.Failedf("resumed release of deployment %q failed: %v; not rolled back (there is no previous revision)", t.Ref(), failure)
	}
	return r.rollback(ctx, env, t, op, d, save, failure.Error(), state.ResultRolledBack)
}

// Abort restores the from-revision's pod template and waits until the
// Deployment is fully available on it.
func (r resumer) Abort(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	if !op.InFlight() {
		return exitcode.Usagef("rollout %s of deployment %q already ended (phase %s, result %s): nothing to abort; 'kubectl zdd rollback deployment/%s' goes back a revision", op.ID, t.Ref(), op.Phase, op.Result, t.Name)
	}
	if op.FromRevision == "" {
		return exitcode.Usagef("rollout %s of deployment %q created it (no from-revision): nothing to go back to", op.ID, t.Ref())
	}
	d, err := r.deployment(ctx, env, t)
	if err != nil {
		return err
	}
	rec := recorderFor(env, t)
	save := func(phase, result, msg string) error {
		op.Phase, op.Result, op.Message = phase, result, msg
		return rec.Save(context.WithoutCancel(ctx), op)
	}
	logf(env, "abort: rollout %s of deployment %q (phase %s): restoring revision %s", op.ID, t.Ref(), op.Phase, op.FromRevision)
	if err := r.rollback(ctx, env, t, op, d, save, "aborted by 'kubectl zdd abort'", state.ResultAborted); err != nil {
		return err
	}
	return nil
}

// rollback restores op.FromRevision (or finds it already restored), waits
// until it is fully available, and records the result.
func (resumer) rollback(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation, d *appsv1.Deployment, save func(phase, result, msg string) error, reason, result string) error {
	if err := save(PhaseRollback, "", reason); err != nil {
		return err
	}
	from, err := strconv.ParseInt(op.FromRevision, 10, 64)
	if err != nil {
		return exitcode.Usagef("deployment %q: the record's from-revision %q is not a number", t.Ref(), op.FromRevision)
	}
	command := "resume"
	if result == state.ResultAborted {
		command = "abort"
	}
	rb, err := Rollback(ctx, env.Kube, RollbackConfig{
		Namespace: t.Namespace, Name: t.Name, ToRevision: from, Current: &d.Spec.Template, Timeout: env.Timeout,
		ChangeCause: "kubectl zdd " + command + ": back to revision " + op.FromRevision,
		Log:         env.Log,
	})
	if err != nil {
		_ = save(PhaseRollback, state.ResultFailed, "rollback failed: "+err.Error())
		return exitcode.NeedsPersonf("deployment %q: restoring revision %s failed: %w", t.Ref(), op.FromRevision, err)
	}
	if err := save(PhaseDone, result, reason); err != nil {
		return err
	}
	logf(env, "deployment %q is back on the pod template of revision %s (now revision %d), fully available", t.Ref(), op.FromRevision, rb.NewRevision)
	if result == state.ResultAborted {
		return nil
	}
	return exitcode.Failedf("release of deployment %q failed: %s; rolled back to revision %s", t.Ref(), reason, op.FromRevision)
}

// watchTemplate waits until d's current template is fully rolled out, or
// its pods fail, or env.Timeout passes.
func (resumer) watchTemplate(ctx context.Context, env strategies.Env, t strategies.Target, d *appsv1.Deployment) (*appsv1.Deployment, error) {
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	tctx, tcancel := context.WithTimeoutCause(wctx, env.Timeout, fmt.Errorf("new pods were not ready within --timeout %s", env.Timeout))
	defer tcancel()
	go func() {
		problems, err := kube.WatchNewPodProblems(tctx, env.Kube, d, &d.Spec.Template, resumeMaxRestarts)
		if err == nil && len(problems) > 0 {
			cancel(fmt.Errorf("new pods are failing: %s", strings.Join(problems, "; ")))
		}
	}()
	final, err := kube.WaitForDeployment(tctx, env.Kube, t.Namespace, t.Name, nil)
	if err != nil {
		if cause := context.Cause(tctx); cause != nil && !errors.Is(err, cause) {
			err = cause
		}
		return final, err
	}
	return final, nil
}
