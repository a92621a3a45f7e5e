package bluegreen

import (
	"context"
	"fmt"
	"strconv"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

// Abort returns a blue-green operation to the colour that was live before
// it: that colour scaled back up if it was retired, fully ready, selected by
// every Service (a guarded switch back when the Service had moved), and the
// operation's new colour scaled to 0.
func (resumer) Abort(ctx context.Context, env strategies.Env, t strategies.Target, op *state.Operation) error {
	r, err := runnerFor(ctx, env, t, op)
	if err != nil {
		return err
	}
	// the one rule (state.Operation.Unfinished); a blue-green failure
	// already left the Service wholly on one colour
	if !op.Unfinished() || op.Result == state.ResultFailed {
		return exitcode.Usagef("blue-green operation %s of service %q already ended (phase %s, result %s): nothing to abort; 'kubectl zdd bluegreen rollback service/%s' switches back", op.ID, t.Ref(), op.Phase, op.Result, t.Name)
	}
	if isInit(op) {
		if op.Params[ParamOriginal] == "" || op.Params[ParamTarget] == "" {
			return exitcode.Usagef("blue-green init %s of service %q stopped in phase %s; init cannot be aborted: run 'kubectl zdd bluegreen init service/%s' again to finish it", op.ID, t.Ref(), op.Phase, t.Name)
		}
		s := r.resumeSession(ctx, op)
		err := r.abortInit(s)
		if err == nil {
			s.op.Phase, s.op.Result, s.op.Message = PhaseAborted, state.ResultAborted, "aborted by 'kubectl zdd abort'"
		}
		return s.end(err)
	}
	from, to := origin(op), op.Params[ParamTarget]
	if from == "" || to == "" {
		// killed before anything but the record was written
		op.Phase, op.Result, op.Message = PhaseAborted, state.ResultAborted, "aborted by 'kubectl zdd abort' before the new colour was created"
		op.Holder = state.Identity(op.ID)
		rec := r.resumeRecorder()
		if err := rec.Save(context.WithoutCancel(ctx), op); err != nil {
			return err
		}
		r.printf("abort: operation %s of service %q had not changed anything; nothing to undo", op.ID, t.Ref())
		return nil
	}
	snap, err := Discover(ctx, r.Client, r.Namespace, r.Service, nil, r.Colours)
	if err != nil {
		return err
	}
	if snap.Active != from && snap.Active != to {
		return exitcode.NeedsPersonf("service %q selects %s=%s, neither %s (live before operation %s) nor %s (its target)", t.Ref(), r.Colours.Label, snap.Active, from, op.ID, to)
	}
	r.printf("abort: blue-green operation %s of service %q (phase %s): back to %s", op.ID, t.Ref(), op.Phase, from)
	s := r.resumeSession(ctx, op)
	err = r.abort(s, snap, from, to)
	if err == nil {
		s.op.Phase, s.op.Result, s.op.Message = PhaseAborted, state.ResultAborted, "aborted by 'kubectl zdd abort'"
	}
	return s.end(err)
}

func (r *Runner) abort(s *session, snap *Snapshot, from, to string) error {
	s.op.Phase = "aborting"
	if err := s.save(); err != nil {
		return err
	}
	strategies.Announce(r.Events, strategies.MarkAbort)
	if snap.Active == to {
		// switched: bring the old colour back, then switch back to it
		if snap.IdleDep == nil {
			return exitcode.NeedsPersonf("service %q is on %s and colour %s has no deployment to go back to", r.key(), to, from)
		}
		want, err := r.bringUpIdle(s, snap, "")
		if err != nil {
			return err
		}
		live, err := r.readyPods(s.ctx, snap.Selector(r.Colours.Label, to))
		if err != nil {
			return fmt.Errorf("counting ready pods of colour %s: %w", to, err)
		}
		need, why := r.need(min(live, want))
		// the record written with the patch says aborting, not switched
		s.switchPhase = "aborting"
		switched, err := s.switchTo(s.ctx, snap, to, from, snap.IdleName, need, why, nil)
		s.switchPhase = ""
		switch {
		case err != nil && !switched:
			return exitcode.FailedError(fmt.Errorf("no switch back, service %q still on %s: %w", r.key(), to, err))
		case err != nil:
			return exitcode.NeedsPersonf("service %q now selects %s=%s but its endpoints did not converge: %w", r.key(), r.Colours.Label, from, err)
		}
		newDep := snap.ActiveDep.Name
		if n := targetReplicasBefore(s.op); replicasOf(snap.ActiveDep) != n {
			if err := r.scale(s.ctx, newDep, n); err != nil {
				return err
			}
			r.printf("colour %s: deployment %q scaled to %d", to, r.Namespace+"/"+newDep, n)
		}
		if err := r.ensurePreview(s.ctx, snap, to); err != nil {
			r.printf("warning: %v", err)
		}
		r.printf("service %q is back on %s", r.key(), from)
		return nil
	}
	// not switched: the old colour is still live; check it is fully ready
	// and scale the new one down
	if _, err := r.waitReady(s.ctx, snap.ActiveDep.Name, from); err != nil {
		return exitcode.NeedsPersonf("service %q is on %s, but that colour is not fully ready: %w", r.key(), from, err)
	}
	sel := snap.Selector(r.Colours.Label, from)
	wctx, cancel := context.WithTimeout(s.ctx, r.timeout())
	defer cancel()
	for _, name := range snap.Services {
		if _, err := traffic.WaitConverged(wctx, r.Client, r.Namespace, name, sel, int(replicasOf(snap.ActiveDep))); err != nil {
			return exitcode.NeedsPersonf("service %q selects %s=%s but its endpoints did not converge: %w", r.Namespace+"/"+name, r.Colours.Label, from, err)
		}
	}
	if n := targetReplicasBefore(s.op); snap.IdleDep != nil && replicasOf(snap.IdleDep) != n {
		if err := r.scale(s.ctx, snap.IdleName, n); err != nil {
			return err
		}
		r.printf("colour %s: deployment %q scaled to %d", to, r.Namespace+"/"+snap.IdleName, n)
	}
	r.printf("service %q is on %s, as before operation %s", r.key(), from, s.op.ID)
	return nil
}

// targetReplicasBefore is the size abort gives the operation's target
// colour: what a rolled-back-to colour had before the rollback, 0 for the
// new colour of a deploy or promote.
func targetReplicasBefore(op *state.Operation) int32 {
	if op.Params[ParamOperation] != OperationRollback {
		return 0
	}
	n, err := strconv.ParseInt(op.Params[ParamIdleReplicas], 10, 32)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}
