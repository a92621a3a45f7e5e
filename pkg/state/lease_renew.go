package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

func (l *Lock) started(lease *coordinationv1.Lease) {
	l.mu.Lock()
	l.lease = lease
	l.lastOK, l.lastOKWall = l.clock().Now(), l.now().Round(0)
	l.stop = make(chan struct{})
	l.done = make(chan struct{})
	if l.lost == nil {
		l.lost = make(chan struct{})
	}
	l.mu.Unlock()
	go l.renewLoop()
}

// renewEvery is how often a held lease is renewed: three times per duration.
func (l *Lock) renewEvery() time.Duration { return l.duration() / 3 }

// renewDeadline is how long renewals may fail before the lock counts as
// lost: one renewal period before the lease expires on the server, so that
// this run stops before another run can take the lease over.
func (l *Lock) renewDeadline() time.Duration { return l.duration() - l.renewEvery() }

// retryEvery is how soon a failed renewal is tried again: often enough that
// the lease is renewed within a second of the API server coming back.
func (l *Lock) retryEvery() time.Duration {
	return min(max(l.renewEvery()/10, 10*time.Millisecond), time.Second)
}

// sinceRenewed is how long ago this lock last wrote the lease: the longer
// of the time on this machine's monotonic clock and on its wall clock, so a
// suspended machine (whose monotonic clock stopped) counts the time it
// slept.
func (l *Lock) sinceRenewed() time.Duration {
	l.mu.Lock()
	lastOK, lastOKWall := l.lastOK, l.lastOKWall
	l.mu.Unlock()
	return max(l.clock().Since(lastOK), l.now().Round(0).Sub(lastOKWall))
}

func (l *Lock) renewLoop() {
	defer close(l.done)
	c := l.clock()
	t := c.NewTimer(l.renewEvery())
	defer t.Stop()
	var failing time.Time // when renewals started failing; zero while they succeed
	for {
		select {
		case <-l.stop:
			return
		case <-l.lost:
			return
		case <-t.C():
		}
		// a renewal may take no longer than what is left before the deadline
		left := l.renewDeadline() - l.sinceRenewed()
		ctx, cancel := context.WithTimeout(context.Background(), max(min(l.renewEvery(), left), 10*time.Millisecond))
		err := l.renew(ctx)
		cancel()
		if err == nil {
			if !failing.IsZero() {
				l.notify(ContactEvent{Lease: l.ref(), Restored: true, Since: failing, At: l.now()})
				failing = time.Time{}
			}
			t.Reset(l.renewEvery())
			continue
		}
		l.mu.Lock()
		lastOKWall := l.lastOKWall
		l.mu.Unlock()
		lost := &LostError{Lease: l.ref(), LastRenewed: lastOKWall, Err: err}
		switch {
		case apierrors.IsNotFound(err):
			lost.Deleted = true
		case isTakenBy(err) != "":
			lost.TakenBy = isTakenBy(err)
		case l.sinceRenewed() >= l.renewDeadline():
			lost.Contact = true
		default:
			// the API server did not answer, or answered with an error that
			// may pass: keep trying until the deadline
			if failing.IsZero() {
				failing = l.now()
				l.notify(ContactEvent{Lease: l.ref(), Since: failing, At: failing, Deadline: failing.Add(l.renewDeadline() - l.sinceRenewed()), Err: err})
			}
			t.Reset(l.retryEvery())
			continue
		}
		l.lose(lost)
		return
	}
}

func (l *Lock) notify(ev ContactEvent) {
	if l.OnContact != nil {
		l.OnContact(ev)
	}
}

// takenError is renew's error when the lease names another holder.
type takenError struct{ holder string }

func (e *takenError) Error() string { return fmt.Sprintf("the lease is now held by %q", e.holder) }

func isTakenBy(err error) string {
	var t *takenError
	if errors.As(err, &t) {
		return t.holder
	}
	return ""
}

// renew writes a new renew time. A Conflict is not taken as a loss at once:
// a renewal whose answer was lost (the connection dropped after the API
// server had saved it) leaves this lock with an old resourceVersion. The
// lease is read again, and while it still names this holder the renewal is
// retried on the version read.
func (l *Lock) renew(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		l.mu.Lock()
		next := l.lease.DeepCopy()
		l.mu.Unlock()
		now := metav1.NewMicroTime(l.now())
		next.Spec.RenewTime = &now
		sent := l.clock().Now()
		updated, err := l.Client.Leases(l.Namespace).Update(ctx, next, metav1.UpdateOptions{FieldManager: kube.FieldManager})
		if err == nil {
			l.mu.Lock()
			l.lease = updated
			// the renewal counts from when it was sent: the server may have
			// saved it any time after
			l.lastOK, l.lastOKWall = sent, now.Time.Round(0)
			l.mu.Unlock()
			return nil
		}
		if !apierrors.IsConflict(err) || attempt > 0 {
			return err
		}
		cur, gerr := l.Client.Leases(l.Namespace).Get(ctx, l.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		if h := ptr.Deref(cur.Spec.HolderIdentity, ""); h != l.Holder {
			return &takenError{holder: h}
		}
		l.mu.Lock()
		l.lease = cur
		l.mu.Unlock()
	}
}
