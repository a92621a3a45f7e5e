package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
)

// DefaultLeaseDuration is how long a lease stays valid without renewal; a
// run that dies leaves a lease that another run may take over after this.
const DefaultLeaseDuration = 30 * time.Second

// LeaseName is the name of the Lease that guards kind/name, e.g.
// "zdd-deployment-web". Long names are shortened with a hash.
func LeaseName(kind, name string) string {
	n := "zdd-" + strings.ToLower(kind) + "-" + name
	if len(n) <= 63 {
		return n
	}
	h := sha256.Sum256([]byte(n))
	return n[:50] + "-" + hex.EncodeToString(h[:])[:12]
}

// Identity names this process as a lease holder: user@host, pid and operation id.
func Identity(opID string) string {
	host := hostname()
	name := "unknown"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	id := fmt.Sprintf("%s@%s pid %d", name, host, os.Getpid())
	if opID != "" {
		id += " op " + opID
	}
	return id
}

// HeldError says another run holds the lease.
type HeldError struct {
	Lease     string
	Holder    string
	RenewTime time.Time
	Expires   time.Time
	// Renewed says this run saw the holder renew the lease while it waited
	// (its clock said the lease had expired).
	Renewed bool
}

func (e *HeldError) Error() string {
	if e.Renewed {
		return fmt.Sprintf("lease %q is held by %q, which renewed it while this run waited (its renew time, %s, is by its own clock); wait for it to finish, run 'kubectl zdd status', or take it with --force-unlock",
			e.Lease, e.Holder, e.RenewTime.UTC().Format(time.RFC3339))
	}
	return fmt.Sprintf("lease %q is held by %q (last renewed %s, expires %s); wait for it to finish, run 'kubectl zdd status', or take it with --force-unlock",
		e.Lease, e.Holder, e.RenewTime.UTC().Format(time.RFC3339), e.Expires.UTC().Format(time.RFC3339))
}

// WaitEvent tells a Lock's OnWait that Acquire watches a lease whose
// holder's renew time says it expired: a renew time is written by the
// holder's clock, which this machine cannot trust, so the lease counts as
// expired only once its record stays unchanged for For on this machine's
// monotonic clock. Or, with Gone set, that Acquire does not wait at all:
// the holder was a process of this machine that no longer runs
// (HolderGone), and its lease is taken at once.
type WaitEvent struct {
	Lease     string
	Holder    string
	RenewTime time.Time
	For       time.Duration
	Gone      *GoneHolder
}

func (e WaitEvent) String() string {
	if e.Gone != nil {
		return fmt.Sprintf("lease %q is held by %q, but %s: taking the lease over at once", e.Lease, e.Holder, e.Gone)
	}
	return fmt.Sprintf("lease %q is held by %q, last renewed at %s by its own clock: waiting up to %s to see whether it is still renewed (--force-unlock takes it at once)",
		e.Lease, e.Holder, e.RenewTime.UTC().Format(time.RFC3339), e.For)
}

// Lock takes and keeps a Lease for the length of an operation.
//
// Time: the renew and acquire times written in the Lease come from Now (the
// wall clock), for people and other runs to read; they are never trusted to
// decide anything, since another machine's clock may be skewed or its
// laptop suspended. Expiry is judged as client-go's leader election judges
// it: a lease held by another holder has expired once its record (its
// resourceVersion) stayed unchanged for its duration, measured on this
// machine's monotonic Clock. A lease whose renew time still looks fresh is
// refused at once (the conservative answer).
type Lock struct {
	Client    coordclient.LeasesGetter
	Namespace string
	Name      string
	Holder    string
	Duration  time.Duration
	// Now gives the wall-clock times written in the Lease; time.Now by
	// default.
	Now func() time.Time
	// Clock measures time on this machine: how long a lease was seen
	// unchanged, when a renewal is due, how long renewals have failed.
	// clock.RealClock by default; tests use a fake one.
	Clock clock.Clock
	// OnContact, when set, is told when renewals start failing (the API
	// server does not answer) and when they succeed again. It is called from
	// the renewing goroutine.
	OnContact func(ContactEvent)
	// OnWait, when set, is told when Acquire waits to see whether a lease
	// that looks expired is still renewed, and when it takes at once the
	// lease of a holder that is gone (WaitEvent.Gone).
	OnWait func(WaitEvent)
	// processes describes this machine's processes for HolderGone;
	// localProcesses() when nil (tests set it).
	processes *LocalProcesses

	mu    sync.Mutex
	lease *coordinationv1.Lease
	// lastOK and lastOKWall are when the lease was last written by this
	// lock, on Clock and on the wall clock (a suspended machine's monotonic
	// clock stops; its wall clock does not).
	lastOK, lastOKWall time.Time
	stop               chan struct{}
	done               chan struct{}
	lost               chan struct{}
	lostOnce           sync.Once
	lostErr            *LostError
	// Previous is the holder whose lease this lock took over (expired, gone,
	// or forced), empty when the lease was free.
	Previous string
	// PreviousGone is set when Previous was a process of this machine that
	// no longer ran, so the lease was taken at once.
	PreviousGone *GoneHolder
}

func (l *Lock) local() LocalProcesses {
	if l.processes != nil {
		return *l.processes
	}
	return localProcesses()
}

// setHolderProcess records this process beside the holder identity
// (HolderProcessAnnotation), or removes what a previous holder recorded
// when this machine cannot describe it.
func (l *Lock) setHolderProcess(lease *coordinationv1.Lease) {
	v := holderProcessValue(l.Holder, l.local())
	if v == "" {
		delete(lease.Annotations, HolderProcessAnnotation)
		return
	}
	if lease.Annotations == nil {
		lease.Annotations = map[string]string{}
	}
	lease.Annotations[HolderProcessAnnotation] = v
}

func (l *Lock) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Lock) clock() clock.Clock {
	if l.Clock != nil {
		return l.Clock
	}
	return clock.RealClock{}
}

func (l *Lock) duration() time.Duration {
	if l.Duration > 0 {
		return l.Duration
	}
	return DefaultLeaseDuration
}

// Lost is closed when the lock could not be renewed in time (the API server
// did not answer for DefaultLeaseDuration minus one renewal period, so
// before the lease expires on the server), or another run took it, or it was
// deleted: the caller must stop changing the cluster. Err says which.
func (l *Lock) Lost() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil {
		l.lost = make(chan struct{})
	}
	return l.lost
}

// Err returns why the lock was lost, a *LostError, once Lost is closed; nil
// before.
func (l *Lock) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lostErr == nil {
		return nil
	}
	return l.lostErr
}

// lose records why the lock is lost (the first reason wins) and closes Lost.
func (l *Lock) lose(e *LostError) {
	l.mu.Lock()
	if l.lostErr == nil {
		l.lostErr = e
	}
	if l.lost == nil {
		l.lost = make(chan struct{})
	}
	lost := l.lost
	l.mu.Unlock()
	l.lostOnce.Do(func() { close(lost) })
}

// Context returns a context derived from parent that is cancelled, with the
// *LostError as its cause, when the lock is lost; cancel releases it.
func (l *Lock) Context(parent context.Context) (context.Context, context.CancelCauseFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	lost := l.Lost()
	go func() {
		select {
		case <-lost:
			cancel(l.Err())
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (l *Lock) ref() string { return l.Namespace + "/" + l.Name }

// Release stops renewing and deletes the lease if this lock still holds it.
func (l *Lock) Release(ctx context.Context) error {
	l.mu.Lock()
	stop, done := l.stop, l.done
	l.mu.Unlock()
	if stop == nil {
		return nil
	}
	select {
	case <-stop:
	default:
		close(stop)
	}
	<-done
	l.mu.Lock()
	lease, lost := l.lease, l.lostErr != nil
	l.mu.Unlock()
	if lost {
		// not this run's any more: no write at all
		return nil
	}
	// bounded: an API server that does not answer must not hold the exit up
	ctx, cancel := context.WithTimeout(ctx, max(l.renewEvery(), time.Second))
	defer cancel()
	err := l.Client.Leases(l.Namespace).Delete(ctx, l.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &lease.UID, ResourceVersion: &lease.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("releasing lease %q: %w", l.ref(), err)
	}
	return nil
}

// Fence is checked right before each write an operation makes: it returns
// an error when the operation may no longer write.
type Fence interface {
	Check(ctx context.Context) error
}

// Check is the fencing check made right before each write of the
// operation: it reads the lease and returns a *LostError (and marks the
// lock lost) when another run took it or it was deleted, however recently
// the renewal loop last succeeded. When this run has not written the lease
// for longer than the renewal deadline (its machine was suspended, or its
// clock jumped), the lease is renewed first: the renewal carries the
// resourceVersion this run wrote, so it succeeds only if nobody took the
// lease meanwhile. A lock already lost returns why; an API error reading
// the lease is returned as it is (the write would not get through either).
func (l *Lock) Check(ctx context.Context) error {
	if err := l.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	held := l.lease != nil
	l.mu.Unlock()
	if !held {
		return fmt.Errorf("lease %q is not held by this run", l.ref())
	}
	cur, err := l.Client.Leases(l.Namespace).Get(ctx, l.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l.lose(&LostError{Lease: l.ref(), LastRenewed: l.lastRenewedWall(), Deleted: true, Err: err})
		return l.Err()
	}
	if err != nil {
		return fmt.Errorf("checking lease %q before writing: %w", l.ref(), err)
	}
	if h := ptr.Deref(cur.Spec.HolderIdentity, ""); h != l.Holder {
		l.lose(&LostError{Lease: l.ref(), LastRenewed: l.lastRenewedWall(), TakenBy: h, Err: &takenError{holder: h}})
		return l.Err()
	}
	if l.sinceRenewed() >= l.renewDeadline() {
		if err := l.renew(ctx); err != nil {
			lost := &LostError{Lease: l.ref(), LastRenewed: l.lastRenewedWall(), Err: err}
			switch {
			case apierrors.IsNotFound(err):
				lost.Deleted = true
			case isTakenBy(err) != "":
				lost.TakenBy = isTakenBy(err)
			default:
				lost.Stale = true
			}
			l.lose(lost)
			return l.Err()
		}
	}
	return l.Err()
}

func (l *Lock) lastRenewedWall() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastOKWall
}
