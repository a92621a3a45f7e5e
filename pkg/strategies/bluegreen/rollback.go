package bluegreen

import (
	"context"
	"fmt"
	"strconv"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// rollbackOp switches the Services back to the idle colour (the one live
// before the last switch). If it was scaled down, it is scaled up to the
// live colour's replica count and waited for first.
func (r *Runner) rollbackOp(ctx context.Context) error {
	snap, err := r.discover(ctx)
	if err != nil {
		return err
	}
	if snap.IdleDep == nil {
		return exitcode.Usagef("service %q is on %s and there is no deployment of colour %s to roll back to", r.key(), snap.Active, snap.Idle)
	}
	params, err := r.requestParams(OperationRollback)
	if err != nil {
		return err
	}
	params[ParamActive], params[ParamTarget] = snap.Active, snap.Idle
	params[ParamIdleReplicas] = strconv.Itoa(int(replicasOf(snap.IdleDep)))
	s, err := r.begin(ctx, "rolling-back", false, params)
	if err != nil {
		return err
	}
	err = r.rollback(s, snap)
	if err == nil {
		s.op.Result = state.ResultRolledBack
		s.op.Message = fmt.Sprintf("rolled back from %s to %s", snap.Active, snap.Idle)
	}
	return s.end(err)
}

func (r *Runner) rollback(s *session, snap *Snapshot) error {
	from, to := snap.Active, snap.Idle
	s.op.Params[ParamActive] = from
	s.op.Params[ParamTarget] = to
	// resume finishes a rollback without retiring the colour it left
	s.op.Params[ParamOperation] = OperationRollback
	want, err := r.bringUpIdle(s, snap, "scaling-up")
	if err != nil {
		return err
	}
	live, err := r.readyPods(s.ctx, snap.Selector(r.Colours.Label, from))
	if err != nil {
		return fmt.Errorf("counting ready pods of colour %s: %w", from, err)
	}
	need, why := r.need(min(live, want))
	s.op.Phase = "switching"
	if err := s.save(); err != nil {
		return err
	}
	// the picture marks it "rollback to <colour>"
	s.switchMark = strategies.MarkRollback
	switched, err := s.switchTo(s.ctx, snap, from, to, snap.IdleName, need, why, r.BeforePatch)
	s.switchMark = ""
	switch {
	case err != nil && !switched:
		return exitcode.FailedError(fmt.Errorf("no rollback, service %q still on %s: %w", r.key(), from, err))
	case err != nil:
		return exitcode.NeedsPersonf("service %q now selects %s=%s but its endpoints did not converge: %w", r.key(), r.Colours.Label, to, err)
	}
	s.op.Phase = "done"
	if err := r.ensurePreview(s.ctx, snap, from); err != nil {
		r.printf("warning: %v", err)
	}
	r.printf("service %q rolled back to %s; colour %s is still up (it is now the idle colour)", r.key(), to, from)
	return nil
}

// bringUpIdle makes the idle colour (the one a rollback or an abort goes
// back to) fully ready: scaled, if it was retired, to the live colour's
// replicas (phase, when not "", is recorded first), then waited for. It
// returns its replica count.
func (r *Runner) bringUpIdle(s *session, snap *Snapshot, phase string) (int32, error) {
	want := replicasOf(snap.ActiveDep)
	if cur := replicasOf(snap.IdleDep); cur > 0 {
		want = cur
	} else {
		r.printf("colour %s was scaled down: scaling deployment %q to %d", snap.Idle, r.Namespace+"/"+snap.IdleName, want)
		if phase != "" {
			s.op.Phase = phase
			if err := s.save(); err != nil {
				return 0, err
			}
		}
		if err := r.scale(s.ctx, snap.IdleName, want); err != nil {
			return 0, err
		}
	}
	if _, err := r.waitReady(s.ctx, snap.IdleName, snap.Idle); err != nil {
		return 0, exitcode.Failedf("colour %s of service %q did not become ready; no switch, service still on %s: %w", snap.Idle, r.key(), snap.Active, err)
	}
	return want, nil
}

func (r *Runner) maxRestarts() int32 { return max(r.MaxRestarts, 0) }
