package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
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

// maxAcquireAttempts bounds the rounds of Acquire that find the lease
// created or deleted by someone else meanwhile.
const maxAcquireAttempts = 5

// Acquire takes the lease, or returns *HeldError when another holder's lease
// has not expired. force takes it regardless (and Previous names whose it
// was). A lease whose renew time says it expired is watched for its
// duration first (see Lock): renewed meanwhile, it is held. On success a
// goroutine renews the lease until Release.
func (l *Lock) Acquire(ctx context.Context, force bool) error {
	for attempt := 1; ; attempt++ {
		err := l.acquire(ctx, force)
		if errors.Is(err, errAcquireAgain) && attempt < maxAcquireAttempts {
			continue
		}
		return err
	}
}

// errAcquireAgain: the lease was created or deleted during the attempt.
var errAcquireAgain = errors.New("the lease changed during the attempt")

func (l *Lock) acquire(ctx context.Context, force bool) error {
	leases := l.Client.Leases(l.Namespace)
	now := metav1.NewMicroTime(l.now())
	secs := int32(l.duration() / time.Second)
	cur, err := leases.Get(ctx, l.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.Name, Namespace: l.Namespace, Labels: map[string]string{kube.ManagedByLabel: kube.FieldManager}},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(l.Holder),
				LeaseDurationSeconds: ptr.To(secs),
				AcquireTime:          &now,
				RenewTime:            &now,
			},
		}
		l.setHolderProcess(lease)
		created, err := leases.Create(ctx, lease, metav1.CreateOptions{FieldManager: kube.FieldManager})
		if apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("taking lease %q: %w", l.ref(), errAcquireAgain)
		}
		if err != nil {
			return fmt.Errorf("taking lease %q: %w", l.ref(), err)
		}
		l.started(created)
		return nil
	case err != nil:
		return fmt.Errorf("reading lease %q: %w", l.ref(), err)
	}

	holder := ptr.Deref(cur.Spec.HolderIdentity, "")
	var gone *GoneHolder
	if holder != "" && holder != l.Holder && !force {
		if g, ok := holderGone(cur, l.local()); ok {
			gone = &g
		}
	}
	if gone != nil {
		// the holder was a process of this machine and it no longer runs:
		// nobody will renew this lease, take it now; the update below carries
		// cur's resourceVersion, so of two runs taking it at once one wins
		if l.OnWait != nil {
			l.OnWait(WaitEvent{Lease: l.ref(), Holder: holder, RenewTime: renewTime(cur), Gone: gone})
		}
	} else if holder != "" && holder != l.Holder && !force {
		if exp, held := expiry(cur); held && l.looksFresh(cur) {
			return &HeldError{Lease: l.ref(), Holder: holder, RenewTime: renewTime(cur), Expires: exp}
		}
		changed, gone, err := l.observe(ctx, cur)
		switch {
		case err != nil:
			return fmt.Errorf("watching lease %q: %w", l.ref(), err)
		case gone:
			return fmt.Errorf("taking lease %q: %w", l.ref(), errAcquireAgain)
		case changed != nil:
			exp, _ := expiry(changed)
			return &HeldError{Lease: l.ref(), Holder: ptr.Deref(changed.Spec.HolderIdentity, holder), RenewTime: renewTime(changed), Expires: exp, Renewed: true}
		}
		// unchanged for a whole duration on this machine's clock: expired;
		// the update below carries cur's resourceVersion, so a renewal in
		// the last moment still wins
	}
	if holder != l.Holder {
		l.Previous, l.PreviousGone = holder, gone
	}
	next := cur.DeepCopy()
	l.setHolderProcess(next)
	next.Spec.HolderIdentity = ptr.To(l.Holder)
	next.Spec.LeaseDurationSeconds = ptr.To(secs)
	next.Spec.AcquireTime = &now
	next.Spec.RenewTime = &now
	if holder != l.Holder {
		next.Spec.LeaseTransitions = ptr.To(ptr.Deref(cur.Spec.LeaseTransitions, 0) + 1)
	}
	// The update carries cur's resourceVersion: if another run took the lease
	// in between, this fails with a Conflict instead of stealing it.
	updated, err := leases.Update(ctx, next, metav1.UpdateOptions{FieldManager: kube.FieldManager})
	if apierrors.IsConflict(err) {
		return fmt.Errorf("taking lease %q: another run took it at the same moment: %w", l.ref(), err)
	}
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("taking lease %q: %w", l.ref(), errAcquireAgain)
	}
	if err != nil {
		return fmt.Errorf("taking lease %q: %w", l.ref(), err)
	}
	l.started(updated)
	return nil
}

// looksFresh says whether the lease's renew time, by the holder's clock,
// says it has not expired yet and is not implausibly far in this machine's
// future. Only a refusal is based on it, never a takeover.
func (l *Lock) looksFresh(cur *coordinationv1.Lease) bool {
	exp, held := expiry(cur)
	if !held {
		return false
	}
	now := l.now()
	return exp.After(now) && !renewTime(cur).After(now.Add(leaseDuration(cur)))
}

// observe watches the lease cur for its duration on this machine's clock.
// It returns the newer version when its record changed (a renewal, another
// holder), gone when it was deleted, and neither when it stayed unchanged.
func (l *Lock) observe(ctx context.Context, cur *coordinationv1.Lease) (changed *coordinationv1.Lease, gone bool, err error) {
	d := leaseDuration(cur)
	timer := l.clock().NewTimer(d)
	defer timer.Stop()
	if l.OnWait != nil {
		l.OnWait(WaitEvent{Lease: l.ref(), Holder: ptr.Deref(cur.Spec.HolderIdentity, ""), RenewTime: renewTime(cur), For: d})
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type seen struct {
		lease *coordinationv1.Lease
		gone  bool
	}
	events := make(chan seen, 1)
	go func() {
		// a watch only ends the wait early; without one the takeover's
		// precondition still refuses a lease renewed meanwhile
		w, err := l.Client.Leases(l.Namespace).Watch(wctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", l.Name).String(),
			ResourceVersion: cur.ResourceVersion,
		})
		if err != nil {
			return
		}
		defer w.Stop()
		for ev := range w.ResultChan() {
			lease, ok := ev.Object.(*coordinationv1.Lease)
			if !ok || lease.Name != l.Name {
				continue
			}
			var s seen
			switch {
			case ev.Type == watch.Deleted:
				s.gone = true
			case lease.ResourceVersion != cur.ResourceVersion:
				s.lease = lease
			default:
				continue
			}
			select {
			case events <- s:
			case <-wctx.Done():
			}
			return
		}
	}()
	select {
	case <-timer.C():
		return nil, false, nil
	case s := <-events:
		return s.lease, s.gone, nil
	case <-ctx.Done():
		return nil, false, context.Cause(ctx)
	}
}

func leaseDuration(l *coordinationv1.Lease) time.Duration {
	return time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, int32(DefaultLeaseDuration/time.Second))) * time.Second
}

func renewTime(l *coordinationv1.Lease) time.Time {
	if l.Spec.RenewTime != nil {
		return l.Spec.RenewTime.Time
	}
	if l.Spec.AcquireTime != nil {
		return l.Spec.AcquireTime.Time
	}
	return time.Time{}
}

// expiry returns when the lease expires; held is false for a lease with no
// holder or no renew time.
func expiry(l *coordinationv1.Lease) (time.Time, bool) {
	rt := renewTime(l)
	if rt.IsZero() || ptr.Deref(l.Spec.HolderIdentity, "") == "" {
		return time.Time{}, false
	}
	return rt.Add(leaseDuration(l)), true
}

// LeaseInfo describes a lease for status output.
type LeaseInfo struct {
	Holder    string    `json:"holder"`
	RenewTime time.Time `json:"renewTime"`
	Expires   time.Time `json:"expires"`
	Renewing  bool      `json:"renewing"`
}

// Describe reads the lease; ok is false when there is none or nobody holds it.
func Describe(ctx context.Context, c coordclient.LeasesGetter, namespace, name string, now time.Time) (LeaseInfo, bool, error) {
	cur, err := c.Leases(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return LeaseInfo{}, false, nil
	}
	if err != nil {
		return LeaseInfo{}, false, err
	}
	exp, held := expiry(cur)
	if !held {
		return LeaseInfo{}, false, nil
	}
	return LeaseInfo{Holder: ptr.Deref(cur.Spec.HolderIdentity, ""), RenewTime: renewTime(cur), Expires: exp, Renewing: exp.After(now)}, true, nil
}

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

func (l *Lock) ref() string { return l.Namespace + "/" + l.Name }

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
