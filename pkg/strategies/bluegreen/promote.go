package bluegreen

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// promoteOp switches the Services to the idle colour: the guarded switch, the
// wait for endpoints, the post-switch analysis, the scale-down delay and the
// retirement of the old colour.
func (r *Runner) promoteOp(ctx context.Context) error {
	snap, err := r.discover(ctx)
	if err != nil {
		return err
	}
	if snap.IdleDep == nil {
		return exitcode.Usagef("service %q is on %s and there is no deployment of colour %s to promote; run 'kubectl zdd bluegreen deploy' first", r.key(), snap.Active, snap.Idle)
	}
	params, err := r.requestParams(OperationPromote)
	if err != nil {
		return err
	}
	params[ParamActive], params[ParamTarget] = snap.Active, snap.Idle
	s, err := r.begin(ctx, "promoting", true, params)
	if err != nil {
		return err
	}
	return s.end(r.promote(s, snap))
}

func (r *Runner) promote(s *session, snap *Snapshot) error {
	from, to := snap.Active, snap.Idle
	live, err := r.readyPods(s.ctx, snap.Selector(r.Colours.Label, from))
	if err != nil {
		return fmt.Errorf("counting ready pods of colour %s: %w", from, err)
	}
	need, why := r.need(live)
	s.op.Params[ParamActive] = from
	s.op.Params[ParamTarget] = to
	s.op.Phase = "switching"
	if err := s.save(); err != nil {
		return err
	}
	switched, err := s.switchTo(s.ctx, snap, from, to, snap.IdleName, need, why, r.BeforePatch)
	if err != nil && !switched {
		return exitcode.FailedError(fmt.Errorf("no switch, service %q still on %s: %w", r.key(), from, err))
	}
	if err != nil && s.interrupted() {
		// switched, and the guard saw the new colour ready: resume waits
		// for the endpoints, abort switches back
		return err
	}
	if err != nil {
		return r.recover(s, snap, from, to, err)
	}
	if err := s.save(); err != nil {
		return err
	}
	return r.afterSwitch(s, snap, from, to, "switched")
}

// afterSwitch runs what follows the switch, from phase on (resume starts
// it later): the post-switch analysis (a failure switches back), the
// scale-down delay, the retirement of the old colour.
func (r *Runner) afterSwitch(s *session, snap *Snapshot, from, to, phase string) error {
	post := r.analyzer(r.Analysis, r.AnalysisSpec)
	if post != nil && (phase == "switching" || phase == "switched" || phase == "analysis") {
		s.op.Phase = "analysis"
		if err := s.save(); err != nil {
			return err
		}
		// the probe's budget exceeded ends the analysis as its failure
		actx, acancel := context.WithCancelCause(s.ctx)
		strategies.CancelOnTrip(actx, r.Tripwire, acancel)
		err := r.runAnalysis(actx, "post-switch", post, r.vars(to, r.Service))
		acancel(nil)
		if terr := strategies.Tripped(r.Tripwire); terr != nil && !s.interrupted() {
			return r.recover(s, snap, from, to, terr)
		}
		if err != nil {
			if s.interrupted() {
				return err
			}
			return r.recover(s, snap, from, to, err)
		}
	}
	if terr := strategies.Tripped(r.Tripwire); terr != nil && phase != "retiring" && phase != "done" {
		return r.recover(s, snap, from, to, terr)
	}
	if r.ScaleDownDelay > 0 && phase != "retiring" && phase != "done" {
		wait := r.ScaleDownDelay
		end, perr := time.Parse(time.RFC3339, s.op.Params[ParamScaleDownAt])
		if phase == "scale-down-delay" && perr == nil {
			// resumed: only what is left of the delay
			wait = max(time.Until(end), 0)
		} else {
			s.op.Params[ParamScaleDownAt] = r.now().Add(wait).UTC().Format(time.RFC3339)
		}
		s.op.Phase = "scale-down-delay"
		if err := s.save(); err != nil {
			return err
		}
		r.printf("keeping colour %s up for %s (--scale-down-delay)", from, wait.Round(time.Second))
		t := time.NewTimer(wait)
		var tripped <-chan struct{}
		if r.Tripwire != nil {
			tripped = r.Tripwire.Tripped()
		}
		select {
		case <-t.C:
		case <-tripped:
			t.Stop()
			return r.recover(s, snap, from, to, r.Tripwire.Cause())
		case <-s.ctx.Done():
			t.Stop()
			return exitcode.Failedf("service %q is on %s; colour %s was not retired: %w", r.key(), to, from, context.Cause(s.ctx))
		}
	}
	if terr := strategies.Tripped(r.Tripwire); terr != nil && phase != "retiring" && phase != "done" {
		return r.recover(s, snap, from, to, terr)
	}
	return r.retire(s, snap, from, to)
}

// recover switches back to `from` after a failure following the switch.
// A lost lease switches nothing (another run is in charge now). A switch
// back that fails leaves the operation in flight in phase switching-back:
// resume switches back again, abort goes back too.
func (r *Runner) recover(s *session, snap *Snapshot, from, to string, cause error) error {
	if lost := s.lost(cause); lost != nil {
		return lost
	}
	r.printf("switching service %q back to %s: %v", r.key(), from, cause)
	s.op.Phase = PhaseSwitchingBack
	if err := s.save(); err != nil {
		return err
	}
	_, err := s.switchBack(snap, to, from, snap.ActiveDep.Name)
	if err != nil {
		if s.lost(err) != nil || s.uncertain {
			return err
		}
		s.inFlight = true
		s.op.Message = fmt.Sprintf("%v; and switching back to %s failed: %v", cause, from, err)
		return exitcode.NeedsPersonf("%v; and switching service %q back to %s failed: %w; the operation stays in flight in phase %s: run 'kubectl zdd resume service/%s' to switch back again, or 'kubectl zdd abort service/%s'",
			cause, r.key(), from, err, PhaseSwitchingBack, r.Service, r.Service)
	}
	s.op.Result = state.ResultRolledBack
	s.op.Phase = PhaseSwitchedBack
	s.op.Params[ParamActive] = from
	s.op.Params[ParamPrevious] = to
	return exitcode.Failedf("%w; service %q switched back to %s", cause, r.key(), from)
}

// retire scales the old colour to 0 (or deletes it), after checking that no
// Service has been pointed back at it meanwhile.
func (r *Runner) retire(s *session, snap *Snapshot, from, to string) error {
	for _, name := range snap.Services {
		svc, err := r.Client.CoreV1().Services(r.Namespace).Get(s.ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading service %q before retiring colour %s: %w", r.Namespace+"/"+name, from, err)
		}
		if got := svc.Spec.Selector[r.Colours.Label]; got != to {
			return exitcode.NeedsPersonf("service %q selects %s=%s, not %s, since the switch: someone changed it; colour %s not retired", r.Namespace+"/"+name, r.Colours.Label, got, to, from)
		}
	}
	s.op.Phase = "retiring"
	if err := s.save(); err != nil {
		return err
	}
	strategies.Announce(r.Events, strategies.MarkRetire)
	old := snap.ActiveDep.Name
	if r.DeleteOld {
		if err := r.fenced(s.ctx); err != nil {
			return err
		}
		wctx, cancel := writeCtx(s.ctx)
		err := r.Client.AppsV1().Deployments(r.Namespace).Delete(wctx, old, metav1.DeleteOptions{})
		cancel()
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting deployment %q of colour %s: %w", r.Namespace+"/"+old, from, err)
		}
		r.printf("colour %s retired: deployment %q deleted", from, r.Namespace+"/"+old)
	} else {
		if err := r.scale(s.ctx, old, 0); err != nil {
			return err
		}
		r.printf("colour %s retired: deployment %q scaled to 0", from, r.Namespace+"/"+old)
	}
	// the retired colour has no pods to preview: the preview selects the
	// live colour until the next deploy's colour is ready
	if err := r.ensurePreview(s.ctx, snap, to); err != nil {
		r.printf("warning: %v", err)
	}
	s.op.Phase = "done"
	r.printf("service %q is live on %s", r.key(), to)
	return nil
}
