package bluegreen

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// NewResumer is the strategy's Resumer, for the plugin's registry.
func NewResumer() strategies.Resumer { return resumer{} }

// ParamOperation records which command started the operation when resume
// must know it: OperationRollback (a rollback keeps the colour it leaves up).
const (
	ParamOperation    = "operation"
	OperationRollback = "rollback"
)

// ParamManualPromote records deploy --manual-promote: a deploy resumed
// before the switch stops when the new colour is ready, as the run would.
const ParamManualPromote = "manual-promote"

// PhaseAborted is the phase recorded when 'kubectl zdd abort' has brought a
// blue-green operation back to the colour that was live before it.
const PhaseAborted = "aborted"

// resumer continues or undoes a blue-green operation from its record on the
// Service. The caller (kubectl zdd resume|abort) holds the Lease.
type resumer struct{}

// origin is the colour that was live before the operation: the record's
// "active" until the switch, its "previous" once the switch is recorded
// (the switch writes active=target, previous=origin with the selector).
func origin(op *state.Operation) string {
	active, prev, target := op.Params[ParamActive], op.Params[ParamPrevious], op.Params[ParamTarget]
	if prev != "" && active != "" && active == target {
		return prev
	}
	return active
}

// isInit says whether the record is of 'bluegreen init' (no live colour
// before it: the Service had no colour label).
func isInit(op *state.Operation) bool {
	if o := op.Params[ParamOperation]; o != "" {
		return o == OperationInit
	}
	return op.Phase == "init" || (op.Params[ParamActive] == "" && op.Params[ParamPrevious] == "" && op.Params[ParamTarget] != "")
}

// runnerFor builds a Runner for the Service of t. The colour label is the
// key of the Service selector whose value is one of the recorded colours.
func runnerFor(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) (*Runner, error) {
	if t.Kind != "service" {
		return nil, exitcode.Usagef("blue-green operation %s is recorded on a service: use service/NAME, not %s/%s", op.ID, t.Kind, t.Name)
	}
	svc, err := env.Kube.CoreV1().Services(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, exitcode.Usagef("service %q not found", t.Ref())
	}
	if err != nil {
		return nil, fmt.Errorf("reading service %q: %w", t.Ref(), err)
	}
	colours := DefaultColours()
	from, to := origin(op), op.Params[ParamTarget]
	if from != "" && to != "" && from != to {
		for k, v := range svc.Spec.Selector {
			if v == from || v == to {
				colours = Colours{Label: k, Names: [2]string{from, to}}
				break
			}
		}
	}
	if cur, ok := state.FromAnnotations(svc.Annotations); !ok || !sameRecord(cur, op) {
		return nil, exitcode.Failedf("service %q: its operation record changed since it was read (another run?): nothing was changed, run again", t.Ref())
	}
	r := &Runner{Client: env.Kube, Dynamic: env.Dynamic, Out: env.Log,
		config: Config{Namespace: t.Namespace, Service: t.Name, Colours: colours, Timeout: env.Timeout}, Tripwire: env.Tripwire, Events: env.Events, fence: env.Fence, recordBase: svc,
		analysisEnv: analysis.RecordedEnv(env.AllowEnv)}
	// what the command was asked: colours, services, analyses, delays
	if err := r.applyParams(op); err != nil {
		return nil, err
	}
	return r, nil
}

// resumeRecorder is the record writer of resume and abort, from the
// version of the Service read once the caller held the Lease.
func (r *Runner) resumeRecorder() *state.RecordWriter {
	w := r.recorder()
	if r.recordBase != nil {
		w.Observe(r.recordBase)
	}
	return w
}

// session returns a session on op without taking the Lease (the caller
// holds it): end records the result and stops the downtime watcher.
func (r *Runner) resumeSession(ctx context.Context, op *state.Operation) *session {
	s := &session{r: r, op: op}
	s.rec = r.resumeRecorder()
	if s.op.Params == nil {
		s.op.Params = map[string]string{}
	}
	s.op.Holder = state.Identity(op.ID)
	s.op.Result, s.op.Message = "", ""
	s.sess = state.Under(ctx, "service", r.key(), r.fence)
	s.ctx = s.sess.Context()
	if w, err := downtime.Start(s.ctx, r.Client, r.Namespace, r.Service); err == nil {
		s.watch = w
	} else {
		r.printf("warning: not measuring downtime of service %q: %v", r.key(), err)
	}
	return s
}

// stopped records that the operation cannot be continued and returns a
// usage error (exit 2: nothing was changed by this run).
func stopped(ctx context.Context, r *Runner, op *state.Operation, result, msg string) error {
	op.Result, op.Message = result, msg
	rec := r.resumeRecorder()
	if err := rec.Save(context.WithoutCancel(ctx), op); err != nil {
		return err
	}
	return exitcode.Usagef("%s", msg)
}

// Resume continues a blue-green init, deploy, promote or rollback (killed,
// interrupted, or a deploy paused by --manual-promote) from its recorded
// phase, with the options the command recorded at its first phase. Before
// the switch, a deploy applies the recorded pod template and replicas again
// if the new colour was not finished, waits until it is fully ready, runs
// the pre-switch analysis again and makes the guarded switch; after it, it
// waits until the new colour is ready and the endpoints list only its pods,
// runs the post-switch analysis again (a failure switches back, exit 1),
// waits what is left of --scale-down-delay and retires the old colour.
func (resumer) Resume(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	r, err := runnerFor(ctx, env, t, op)
	if err != nil {
		return err
	}
	// Unfinished is the one rule (state.Operation); within it, a
	// blue-green failure is an end: it leaves the Service wholly on one
	// colour (a switch back that failed stays in flight instead).
	if op.Result == state.ResultFailed {
		// a failure is not a success: it says so, with exit 2
		return exitcode.Usagef("blue-green operation %s of service %q ended failed in phase %s (%s): nothing to resume; 'kubectl zdd bluegreen status service/%s' shows where the service is", op.ID, t.Ref(), op.Phase, op.Message, t.Name)
	}
	if !op.Unfinished() {
		r.printf("resume: blue-green operation %s of service %q already ended (phase %s, result %s): nothing to resume", op.ID, t.Ref(), op.Phase, op.Result)
		return nil
	}
	if op.Phase != "aborting" {
		// the analyses the record holds are shown and confirmed before
		// anything runs
		if err := strategies.ConfirmRecorded(env, "service "+t.Ref(), []*analysis.Spec{r.PreAnalysisSpec, r.AnalysisSpec}, nil); err != nil {
			return err
		}
	}
	if op.Phase == "aborting" {
		// an abort was stopped: resume finishes it, never the release
		r.printf("resume: blue-green operation %s of service %q was being aborted: finishing the abort", op.ID, t.Ref())
		return resumer{}.Abort(ctx, env, t, op)
	}
	if isInit(op) {
		if op.Params[ParamOriginal] == "" || op.Params[ParamTarget] == "" {
			return stopped(ctx, r, op, state.ResultFailed, fmt.Sprintf("blue-green init %s of service %q stopped in phase %s and recorded no original deployment; run 'kubectl zdd bluegreen init service/%s' again", op.ID, t.Ref(), op.Phase, t.Name))
		}
		s := r.resumeSession(ctx, op)
		return s.end(r.resumeInit(s))
	}
	from, to := origin(op), op.Params[ParamTarget]
	if from == "" || to == "" {
		return stopped(ctx, r, op, state.ResultFailed, fmt.Sprintf("blue-green operation %s of service %q stopped in phase %s, before it changed anything: nothing to resume, run the 'kubectl zdd bluegreen' command again", op.ID, t.Ref(), op.Phase))
	}
	snap, err := Discover(ctx, r.Client, r.Namespace, r.Service, r.Services, r.Colours)
	if err != nil {
		return err
	}
	r.printf("resume: blue-green operation %s of service %q from phase %s (%s -> %s)", op.ID, t.Ref(), op.Phase, from, to)
	tmpl, replicas, err := recordedTemplate(op)
	if err != nil {
		return err
	}
	rollback := op.Params[ParamOperation] == OperationRollback
	if op.Phase == PhaseSwitchingBack || op.Phase == PhaseSwitchedBack {
		// a failure after the switch was switching back: switch back
		if snap.Active != from && snap.Active != to {
			return exitcode.NeedsPersonf("service %q selects %s=%s, neither %s (live before operation %s) nor %s (its target)", t.Ref(), r.Colours.Label, snap.Active, from, op.ID, to)
		}
		s := r.resumeSession(ctx, op)
		return s.end(r.resumeSwitchBack(s, snap, from, to))
	}
	switch {
	case rollback && (snap.Active == from || snap.Active == to):
		s := r.resumeSession(ctx, op)
		return s.end(r.resumeRollback(s, snap, from, to))
	case snap.Active == from && tmpl != nil && (snap.IdleDep == nil || op.Phase == "deploying" || op.Phase == "pre-analysis"):
		// deploy had not finished bringing up the new colour: do it again
		// from the recorded template (the apply is idempotent)
		r.Replicas = &replicas
		s := r.resumeSession(ctx, op)
		s.op.Phase = "deploying"
		return s.end(r.deploy(s, snap, tmpl))
	case snap.Active == from:
		if snap.IdleDep == nil {
			return stopped(ctx, r, op, state.ResultFailed, fmt.Sprintf("service %q is still on %s and colour %s has no deployment: nothing to resume, run 'kubectl zdd bluegreen deploy' again", t.Ref(), from, to))
		}
		s := r.resumeSession(ctx, op)
		return s.end(r.resumeBeforeSwitch(s, snap))
	case snap.Active == to:
		s := r.resumeSession(ctx, op)
		return s.end(r.resumeAfterSwitch(s, snap, from, to))
	}
	return exitcode.NeedsPersonf("service %q selects %s=%s, neither %s (live before operation %s) nor %s (its target)", t.Ref(), r.Colours.Label, snap.Active, from, op.ID, to)
}

// resumeSwitchBack finishes the switch back of an operation that failed
// after its switch (phase switching-back or switched-back): the colour
// `from` that was live before is brought up if needed, the Services switch
// back to it, and their endpoints converge; colour `to` stays up, as a
// switch back leaves it. The release failed: exit 1.
func (r *Runner) resumeSwitchBack(s *session, snap *Snapshot, from, to string) error {
	r.printf("resume: blue-green operation %s of service %q was switching back to %s after a failure (%s)", s.op.ID, r.key(), from, s.op.Message)
	cause := s.op.Message
	if snap.Active == to {
		if snap.IdleDep == nil {
			return exitcode.NeedsPersonf("service %q is on %s and colour %s has no deployment to switch back to", r.key(), to, from)
		}
		s.op.Phase = PhaseSwitchingBack
		if err := s.save(); err != nil {
			return err
		}
		if _, err := r.bringUpIdle(s, snap, ""); err != nil {
			s.inFlight = true
			return exitcode.NeedsPersonError(err)
		}
		s.switchPhase = PhaseSwitchedBack
		switched, err := s.switchTo(s.ctx, snap, to, from, snap.IdleName, 1, "the colour that was live before", nil)
		s.switchPhase = ""
		if err != nil {
			if s.lost(err) != nil || s.uncertain {
				return err
			}
			if !switched {
				s.inFlight = true
				return exitcode.NeedsPersonf("switching service %q back to %s failed again: %w; the operation stays in flight in phase %s", r.key(), from, err, PhaseSwitchingBack)
			}
			return exitcode.NeedsPersonf("service %q now selects %s=%s but its endpoints did not converge: %w", r.key(), r.Colours.Label, from, err)
		}
	} else {
		if _, err := r.waitReady(s.ctx, snap.ActiveDep.Name, from); err != nil {
			return exitcode.NeedsPersonf("service %q is back on %s, which is not fully ready: %w", r.key(), from, err)
		}
		if err := r.waitConverged(s.ctx, snap, from); err != nil {
			return err
		}
	}
	s.op.Phase = PhaseSwitchedBack
	s.op.Result = state.ResultRolledBack
	s.op.Params[ParamActive], s.op.Params[ParamPrevious] = from, to
	s.op.Message = cause
	return exitcode.Failedf("operation %s of service %q failed after its switch (%s); service %q switched back to %s", s.op.ID, r.key(), cause, r.key(), from)
}

// resumeRollback finishes a 'bluegreen rollback' from colour `from` back to
// `to`: before the switch it scales `to` up if needed, waits until it is
// ready and makes the guarded switch; after it, it waits until the endpoints
// list only `to`'s pods. Colour `from` stays up, as rollback leaves it.
func (r *Runner) resumeRollback(s *session, snap *Snapshot, from, to string) error {
	if snap.Active == from {
		if snap.IdleDep == nil {
			return exitcode.NeedsPersonf("service %q is on %s and colour %s has no deployment to roll back to", r.key(), from, to)
		}
		if err := r.rollback(s, snap); err != nil {
			return err
		}
	} else {
		s.op.Phase = "switched"
		if err := s.save(); err != nil {
			return err
		}
		if _, err := r.waitReady(s.ctx, snap.ActiveDep.Name, to); err != nil {
			return exitcode.NeedsPersonf("service %q is on %s, which is not fully ready: %w", r.key(), to, err)
		}
		if err := r.waitConverged(s.ctx, snap, to); err != nil {
			return err
		}
		s.op.Phase = "done"
		r.printf("service %q rolled back to %s; colour %s is still up (it is now the idle colour)", r.key(), to, from)
	}
	s.op.Result = state.ResultRolledBack
	s.op.Message = fmt.Sprintf("rolled back from %s to %s", from, to)
	return nil
}

// resumeBeforeSwitch: the Service is still on the old colour.
func (r *Runner) resumeBeforeSwitch(s *session, snap *Snapshot) error {
	idle, phase := snap.Idle, s.op.Phase
	s.op.Phase = "deploying"
	if err := s.save(); err != nil {
		return err
	}
	if _, err := r.waitReady(s.ctx, snap.IdleName, idle); err != nil {
		return exitcode.Failedf("colour %s of service %q did not become ready; no switch, service still on %s: %w", idle, r.key(), snap.Active, err)
	}
	if err := r.ensurePreview(s.ctx, snap, idle); err != nil {
		return err
	}
	if s.op.Params[ParamManualPromote] == "true" && (phase == "deploying" || phase == "pre-analysis") {
		s.op.Phase = "ready-to-promote"
		s.op.Result = state.ResultPaused
		s.op.Message = fmt.Sprintf("colour %s is ready; run 'kubectl zdd bluegreen promote service/%s' to switch", idle, r.Service)
		r.printf("%s", s.op.Message)
		return nil
	}
	return r.promote(s, snap)
}

// resumeAfterSwitch: the Service already selects the new colour `to`. The
// old colour `from` is retired once `to` is fully ready and the endpoints of
// every Service list only its pods.
func (r *Runner) resumeAfterSwitch(s *session, cur *Snapshot, from, to string) error {
	// the snapshot as the operation saw it: from live, to idle
	snap := *cur
	snap.Active, snap.Idle = from, to
	snap.ActiveDep, snap.IdleDep = cur.IdleDep, cur.ActiveDep
	snap.IdleName = cur.ActiveDep.Name
	s.op.Params[ParamActive], s.op.Params[ParamPrevious] = to, from
	phase := s.op.Phase
	s.op.Phase = "switched"
	if err := s.save(); err != nil {
		return err
	}
	if _, err := r.waitReady(s.ctx, snap.IdleName, to); err != nil {
		if snap.ActiveDep == nil {
			return exitcode.NeedsPersonf("service %q is on %s, which is not ready, and colour %s has no deployment to go back to: %w", r.key(), to, from, err)
		}
		return r.recover(s, &snap, from, to, err)
	}
	sel := snap.Selector(r.Colours.Label, to)
	d, err := r.Client.AppsV1().Deployments(r.Namespace).Get(s.ctx, snap.IdleName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %q of colour %s: %w", r.Namespace+"/"+snap.IdleName, to, err)
	}
	wctx, cancel := context.WithTimeout(s.ctx, r.timeout())
	defer cancel()
	for _, name := range snap.Services {
		if _, err := traffic.WaitConverged(wctx, r.Client, r.Namespace, name, sel, int(replicasOf(d))); err != nil {
			return exitcode.NeedsPersonf("service %q selects %s=%s but its endpoints did not converge: %w", r.Namespace+"/"+name, r.Colours.Label, to, err)
		}
		r.printf("service %q: endpoints list only %s pods", r.Namespace+"/"+name, to)
	}
	if snap.ActiveDep == nil {
		s.op.Phase = "done"
		r.printf("colour %s has no deployment left; service %q is live on %s", from, r.key(), to)
		return nil
	}
	// the analysis (run again in full: its earlier measurements are not
	// recorded), what is left of the scale-down delay, the retirement
	return r.afterSwitch(s, &snap, from, to, phase)
}
