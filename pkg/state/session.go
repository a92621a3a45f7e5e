package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/clock"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// SessionConfig says which operation a Session holds, and on what.
type SessionConfig struct {
	Leases    coordclient.LeasesGetter
	Namespace string
	// Kind ("deployment" or "service") and Name are the object that
	// carries the record; its Lease is LeaseName(Kind, Name).
	Kind, Name string
	// OperationID names the operation in the holder identity ("" for an
	// operation that keeps no record, e.g. rollback).
	OperationID string
	// Force takes the Lease even when another run holds it (--force-unlock).
	Force bool
	// Duration, Clock and Now are the Lock's (zero: its defaults).
	Duration time.Duration
	Clock    clock.Clock
	Now      func() time.Time
	// Logf is told when renewals fail and come back, when taking the Lease
	// waits, and whose Lease was taken over (nil: not told).
	Logf func(format string, a ...any)
}

// Session is one operation's hold on the object that carries its record,
// the one shape every strategy and resume, abort and rollback use:
//   - Begin takes the Lease (state.Lock) and renews it until End;
//   - Context is the run's context: it ends when the caller's context ends
//     (Ctrl-C, SIGTERM), and with the *LostError as its cause when the
//     Lease is lost (taken over, deleted, contact with the API server lost);
//   - Fence is the Lease as the Fence of the operation's RecordWriter (the
//     resourceVersion precondition, and this check right before each
//     write);
//   - Interrupted and Lost tell apart the two ways a run stops early: after
//     Ctrl-C the strategy records ResultInterrupted; after a lost Lease it
//     writes nothing more;
//   - End releases the Lease (after success, failure, Ctrl-C or a stop).
type Session struct {
	// Lock is the operation's Lease (nil in a session that runs under a
	// Lease its caller holds: Under).
	Lock *Lock
	// Kind and Ref ("namespace/name") name the object.
	Kind, Ref string

	fence  Fence
	logf   func(string, ...any)
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// Begin takes the operation's Lease (a Lease another run holds is a
// *HeldError, exit 1: nothing changed) and starts the Session.
func Begin(ctx context.Context, c SessionConfig) (*Session, error) {
	logf := c.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	ref := c.Namespace + "/" + c.Name
	l := &Lock{Client: c.Leases, Namespace: c.Namespace, Name: LeaseName(c.Kind, c.Name), Holder: Identity(c.OperationID),
		Duration: c.Duration, Clock: c.Clock, Now: c.Now,
		OnContact: func(ev ContactEvent) { logf("%s", ev) },
		OnWait:    func(ev WaitEvent) { logf("%s", ev) }}
	if err := l.Acquire(ctx, c.Force); err != nil {
		var held *HeldError
		if errors.As(err, &held) {
			return nil, exitcode.Failedf("%s %q: another run holds its operation, nothing changed: %w", c.Kind, ref, err)
		}
		return nil, exitcode.Failedf("%s %q: %w", c.Kind, ref, err)
	}
	if l.Previous != "" {
		logf("took over the lease %q from %q", l.Namespace+"/"+l.Name, l.Previous)
	}
	s := &Session{Lock: l, Kind: c.Kind, Ref: ref, fence: l, logf: logf, parent: ctx}
	s.ctx, s.cancel = l.Context(ctx)
	return s, nil
}

// Under is a Session that runs under a Lease its caller holds (resume and
// abort hand the strategy their Session's fence): it neither takes nor
// releases a Lease. fence may be nil (a dry run, a test).
func Under(ctx context.Context, kind, ref string, fence Fence) *Session {
	s := &Session{Kind: kind, Ref: ref, fence: fence, logf: func(string, ...any) {}, parent: ctx}
	s.ctx, s.cancel = context.WithCancelCause(ctx)
	return s
}

// Holder is the holder identity written in the Lease and the record.
func (s *Session) Holder() string {
	if s.Lock == nil {
		return ""
	}
	return s.Lock.Holder
}

// Context is the run's context: it ends when the caller's does (Ctrl-C),
// or with the *LostError as its cause when the Lease is lost.
func (s *Session) Context() context.Context { return s.ctx }

// Fence is checked right before each write (nil: none).
func (s *Session) Fence() Fence { return s.fence }

// Interrupted says whether the caller's context ended (Ctrl-C, SIGTERM),
// as opposed to a failure of the operation or a lost Lease.
func (s *Session) Interrupted() bool {
	return s.parent.Err() != nil && LostCause(s.parent) == nil
}

// Lost returns why the Lease is lost (err says so, the run's context ended
// for it, or the fence found it lost), nil while it is held: then nothing
// more is written, whatever the step.
func (s *Session) Lost(err error) *LostError {
	return Lost(s.ctx, err, s.fence)
}

// End releases the Lease (bounded, and not cancelled by Ctrl-C) and ends
// the run's context. It may be called more than once.
func (s *Session) End() {
	s.cancel(nil)
	if s.Lock == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.parent), 10*time.Second)
	defer cancel()
	if err := s.Lock.Release(ctx); err != nil {
		s.logf("warning: %v", err)
	}
}

// String names the Session's object, for messages.
func (s *Session) String() string { return fmt.Sprintf("%s %q", s.Kind, s.Ref) }
