package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// session is one locked operation on the Service: its record, Lease and
// downtime watcher.
type session struct {
	r   *Runner
	op  *state.Operation
	rec *state.RecordWriter
	// sess holds the Lease (its own, or under resume the caller's) and
	// the run's context.
	sess  *state.Session
	watch *downtime.Watcher
	// applied is the new colour's Deployment as deploy wrote it: the guard
	// checks nobody changed its spec since (nil: no check).
	applied *appsv1.Deployment
	// inFlight makes end keep the operation in flight (no result): a
	// switch back that failed, which resume retries and abort accepts.
	inFlight bool
	// switchPhase is the phase the record written with a selector patch
	// says ("switched" when empty).
	switchPhase string
	// switchMark names the next switch on the picture's time axis (""
	// for "switch", or "switch back" when switchPhase says so)
	switchMark string
	// uncertain: a selector patch may or may not have been applied; end
	// writes nothing (the record may be the one the patch carried).
	uncertain bool
	// ctx is the session's context (state.Session.Context): cancelled by
	// Ctrl-C (SIGINT) or SIGTERM, and when the Lease is lost.
	ctx context.Context
}

// PhaseSwitchingBack is the phase of an operation whose switch back (after
// a failure that followed the switch) failed: it stays in flight, resume
// switches back again and abort goes back too.
const PhaseSwitchingBack = "switching-back"

// PhaseSwitchedBack is recorded with the selector patch of a switch back
// (after a failure that followed the switch), and kept when it ends.
const PhaseSwitchedBack = "switched-back"

// interrupted says whether the caller's context ended (Ctrl-C, SIGTERM),
// as opposed to a failure of the operation itself or the loss of the
// caller's lease.
func (s *session) interrupted() bool { return s.sess.Interrupted() }

// lost returns why the operation's lease is lost (err, the session's
// context or the fence say so), nil while it is held: then nothing more is
// written, whatever the step.
func (s *session) lost(err error) *state.LostError { return s.sess.Lost(err) }

// writeCtx is the context of one API write: it is not cancelled by Ctrl-C,
// so a write that has started is finished (an interrupted request could
// leave its effect unknown); the next wait sees the interruption.
func writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// fenced is the check made right before each write of the operation: the
// operation's lease is still this run's (state.Lock.Check).
func (r *Runner) fenced(ctx context.Context) error {
	if r.fence == nil {
		return nil
	}
	ctx, cancel := writeCtx(ctx)
	defer cancel()
	return r.fence.Check(ctx)
}

// recorder is the record writer on the Service.
func (r *Runner) recorder() *state.RecordWriter {
	w := &state.RecordWriter{Object: state.ServiceCarrier(r.Client, r.Namespace, r.Service), Now: r.Now}
	if r.fence != nil {
		w.Fence = r.fence
	}
	w.Judge = func(obj metav1.Object) error {
		// a change of the Service's selector by another writer is the
		// operation's business; anything else (a label, an annotation)
		// is written over
		cur, ok := obj.(*corev1.Service)
		base, _ := w.Base().(*corev1.Service)
		if !ok || base == nil || maps.Equal(cur.Spec.Selector, base.Spec.Selector) {
			return nil
		}
		return exitcode.FailedError(&kube.ChangedError{Object: fmt.Sprintf("service %q", r.key()), Fields: []string{kube.SpecSelector},
			Change: fmt.Sprintf("its selector %s (was %s)", formatSelector(cur.Spec.Selector), formatSelector(base.Spec.Selector)),
			Writer: kube.WriterOf(cur, kube.Path(kube.SpecSelector)), Err: errors.New("while the operation recorded its phase"), Seen: cur})
	}
	return w
}

// sameRecord says whether two reads of the record show the same state.
func sameRecord(a, b *state.Operation) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID && a.Phase == b.Phase && a.Result == b.Result && a.Holder == b.Holder && a.UpdateTime.Equal(b.UpdateTime)
}

// begin takes the Lease on the Service, starts the downtime watcher and
// returns the operation record: the one in flight on the Service when resume
// is true and there is one, else a new one. params (what the command was
// asked) are in the record from its first phase on. The record is read
// before the Lease is taken (to name the operation) and again after: a
// record that changed in between (another run) stops it, nothing changed;
// a record that cannot be read is an error.
func (r *Runner) begin(ctx context.Context, phase string, resume bool, params map[string]string) (*session, error) {
	s := &session{r: r}
	s.rec = r.recorder()
	prev, hasPrev, err := s.rec.Load(ctx)
	if err != nil {
		return nil, err
	}
	var seen state.Operation
	if hasPrev {
		seen = *prev
	}
	// the one rule (state.Operation.Unfinished), but a blue-green failure
	// is an end: a new operation starts over it
	if resume && hasPrev && prev.Strategy == Strategy && prev.Unfinished() && prev.Result != state.ResultFailed {
		s.op = prev
		s.op.Result = ""
		s.op.Message = ""
	}
	if s.op == nil {
		s.op = state.NewOperation(Strategy, r.now())
		if hasPrev {
			// an empty value removes the earlier operation's param from the
			// record, so resume never reads it as this operation's
			for k := range prev.Params {
				s.op.Params[k] = ""
			}
		}
	}
	maps.Copy(s.op.Params, params)
	s.op.Holder = state.Identity(s.op.ID)
	sess, err := state.Begin(ctx, state.SessionConfig{Leases: r.Client.CoordinationV1(), Namespace: r.Namespace, Kind: "service", Name: r.Service,
		OperationID: s.op.ID, Force: r.ForceUnlock, Duration: r.LeaseDuration, Clock: r.Clock, Now: r.Now, Logf: r.printf})
	if err != nil {
		return nil, err
	}
	r.fence = sess.Fence()
	s.rec = r.recorder()
	again, hasAgain, err := s.rec.Load(ctx)
	if err == nil && (hasAgain != hasPrev || hasAgain && !sameRecord(&seen, again)) {
		now := "it was removed"
		if hasAgain {
			now = fmt.Sprintf("now operation %s, phase %s, holder %q", again.ID, again.Phase, again.Holder)
		}
		err = exitcode.Failedf("service %q: its operation record changed while this run took the lease (%s): nothing was changed, run again", r.key(), now)
	}
	if err != nil {
		sess.End()
		return nil, err
	}
	s.sess, s.ctx = sess, sess.Context()
	if w, err := downtime.Start(s.ctx, r.Client, r.Namespace, r.Service); err == nil {
		s.watch = w
	} else {
		r.printf("warning: not measuring downtime of service %q: %v", r.key(), err)
	}
	s.op.Phase = phase
	if err := s.save(); err != nil {
		return nil, s.end(err)
	}
	r.last = s.op
	return s, nil
}

func (s *session) save() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 30*time.Second)
	defer cancel()
	return s.rec.Save(ctx, s.op)
}

// end records the result (from err), prints the downtime summary and
// releases the Lease. It returns err. When the lease is lost (contact with
// the API server lost, taken over by another run, deleted), nothing more is
// written: the phase recorded last stays, in flight, for resume or abort.
func (s *session) end(err error) error {
	if s.uncertain {
		if s.watch != nil {
			s.r.printf("%s", strategies.StopWatch(s.r.Events, s.watch).Capacity(0))
		}
		s.sess.End()
		return err
	}
	if lost := s.lost(err); lost != nil && !s.interrupted() {
		if s.watch != nil {
			s.r.printf("%s", strategies.StopWatch(s.r.Events, s.watch).Capacity(0))
		}
		s.sess.End()
		return exitcode.NeedsPersonf("service %q: %w; no further change was made; %s", s.r.key(), lost, state.StoppedHint("service", s.r.Namespace, s.r.Service, s.recordedPhase()))
	}
	if err != nil && s.interrupted() && s.op.Result == "" && !s.inFlight {
		// Ctrl-C (unless the operation already reached an end, e.g. a
		// switch back that finished after it): no undo. The write in progress was finished, the phase
		// stays recorded, the Lease is released, and a person chooses.
		s.op.Result = state.ResultInterrupted
		s.op.Message = "interrupted in phase " + s.op.Phase
		err = exitcode.NeedsPersonf("service %q: interrupted in phase %s (%v); the operation is recorded on the service and its lease released: run 'kubectl zdd resume service/%s' to carry it on, or 'kubectl zdd abort service/%s' to go back to %s",
			s.r.key(), s.op.Phase, context.Cause(s.ctx), s.r.Service, s.r.Service, s.safeColour())
	}
	if s.op.Result == "" && !s.inFlight {
		switch {
		case err == nil:
			s.op.Result = state.ResultSucceeded
		default:
			s.op.Result = state.ResultFailed
		}
	}
	if err != nil && s.op.Message == "" {
		s.op.Message = err.Error()
	}
	// the capacity line's share: the Service's selector and the replicas
	// are not what the record's write changes
	var desired <-chan int32
	if s.watch != nil {
		desired = s.r.desiredReplicasAsync()
	}
	if serr := s.save(); serr != nil {
		if lost := s.lost(serr); lost != nil {
			serr = exitcode.NeedsPersonf("service %q: %w; no further change was made; %s", s.r.key(), lost, state.StoppedHint("service", s.r.Namespace, s.r.Service, s.recordedPhase()))
		}
		if err == nil || s.lost(serr) != nil {
			err = serr
		}
	}
	if s.watch != nil {
		rep := strategies.StopWatch(s.r.Events, s.watch)
		s.r.printf("%s", rep.Capacity(<-desired))
	}
	// releases the Lease (not under resume and abort: the caller holds
	// and releases it)
	s.sess.End()
	return err
}

// recordedPhase is the phase the record on the Service holds, as this run
// last wrote or read it.
func (s *session) recordedPhase() string {
	if p := s.rec.RecordedPhase(); p != "" {
		return p
	}
	return s.op.Phase
}

// safeColour names the state 'kubectl zdd abort' returns to.
func (s *session) safeColour() string {
	if isInit(s.op) {
		return "the service as it was before init"
	}
	if c := origin(s.op); c != "" {
		return "colour " + c
	}
	return "the colour that was live"
}
