package state

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// LostError is why a Lock was lost (Lock.Err): the API server could not be
// reached to renew it before the renewal deadline (Contact), another run
// took it over (TakenBy), or it was deleted (Deleted).
type LostError struct {
	// Lease is "namespace/name".
	Lease string
	// LastRenewed is when the last renewal succeeded.
	LastRenewed time.Time
	Contact     bool
	TakenBy     string
	Deleted     bool
	// Stale: this run had not renewed the lease for longer than its
	// renewal deadline (a suspended machine, a clock jump) and could not
	// renew it before its next write.
	Stale bool
	// Err is the error of the last renewal.
	Err error
}

func (e *LostError) Error() string {
	switch {
	case e.Contact:
		return fmt.Sprintf("lost contact with the API server: lease %q could not be renewed since %s: %v",
			e.Lease, e.LastRenewed.UTC().Format(time.RFC3339), e.Err)
	case e.TakenBy != "":
		return fmt.Sprintf("lease %q was taken over by %q: another run is working on this object", e.Lease, e.TakenBy)
	case e.Deleted:
		return fmt.Sprintf("lease %q was deleted while this run held it", e.Lease)
	case e.Stale:
		return fmt.Sprintf("lease %q was not renewed since %s (was this machine suspended?) and could not be renewed before the next write: %v", e.Lease, e.LastRenewed.UTC().Format(time.RFC3339), e.Err)
	}
	return fmt.Sprintf("lease %q was lost: %v", e.Lease, e.Err)
}

func (e *LostError) Unwrap() error { return e.Err }

// LeaseLost returns the *LostError that err is or wraps, nil if none.
func LeaseLost(err error) *LostError {
	var l *LostError
	if errors.As(err, &l) {
		return l
	}
	return nil
}

// LostCause returns why ctx ended when it ended because the operation's
// lease was lost (contact with the API server lost, taken over, deleted,
// stale): the one rule by which every strategy stops without any further
// write. nil while ctx is live, or when it ended otherwise (Ctrl-C, a
// deadline).
func LostCause(ctx context.Context) *LostError {
	if ctx == nil || ctx.Err() == nil {
		return nil
	}
	return LeaseLost(context.Cause(ctx))
}

// Lost returns why the operation's lease is lost: err says so, ctx ended
// for it (LostCause), or the fence (a *Lock) found it lost; nil while it
// is held. Every strategy asks it before deciding what to record: a lost
// lease means no further write.
func Lost(ctx context.Context, err error, fence Fence) *LostError {
	if l := LeaseLost(err); l != nil {
		return l
	}
	if l := LostCause(ctx); l != nil {
		return l
	}
	if e, ok := fence.(interface{ Err() error }); ok && fence != nil {
		return LeaseLost(e.Err())
	}
	return nil
}

// ContactLost reports whether err (or what it wraps) is a lock lost because
// the API server could not be reached.
func ContactLost(err error) bool {
	var l *LostError
	return errors.As(err, &l) && l.Contact
}

// ContactEvent tells a Lock's OnContact that renewals started failing
// (Restored false: Err is the first failure, Deadline when the lock will be
// given up) or that they succeed again (Restored true, after failing since
// Since).
type ContactEvent struct {
	Lease    string
	Restored bool
	Since    time.Time
	At       time.Time
	Deadline time.Time
	Err      error
}

func (e ContactEvent) String() string {
	if e.Restored {
		return fmt.Sprintf("contact with the API server restored: lease %q renewed again after %s", e.Lease, e.At.Sub(e.Since).Round(100*time.Millisecond))
	}
	return fmt.Sprintf("the API server does not answer (%v): still waiting; this run stops at %s unless it is back by then", e.Err, e.Deadline.UTC().Format(time.TimeOnly))
}

// StoppedHint is the end of the message of an operation that stopped while
// in flight (contact lost, lease lost): the phase its record holds, and the
// commands that carry it on or undo it. kind is "deployment" or "service".
func StoppedHint(kind, namespace, name, phase string) string {
	return fmt.Sprintf("phase %s recorded on %s %q; once the API server answers, run 'kubectl zdd status %s/%s -n %s' and 'kubectl zdd resume %s/%s -n %s' to finish it, or 'kubectl zdd abort %s/%s -n %s' to go back (add --force-unlock if they find the lease of this stopped run still held)",
		phase, kind, namespace+"/"+name, kind, name, namespace, kind, name, namespace, kind, name, namespace)
}
