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
	coordclient "k8s.io/client-go/kubernetes/typed/coordination/v1"
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
	host, _ := os.Hostname()
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
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lease %q is held by %q (last renewed %s, expires %s); wait for it to finish, run 'kubectl zdd status', or take it with --force-unlock",
		e.Lease, e.Holder, e.RenewTime.UTC().Format(time.RFC3339), e.Expires.UTC().Format(time.RFC3339))
}

// Lock takes and keeps a Lease for the length of an operation.
type Lock struct {
	Client    coordclient.LeasesGetter
	Namespace string
	Name      string
	Holder    string
	Duration  time.Duration
	// Now is swapped by tests.
	Now func() time.Time
	// OnContact, when set, is told when renewals start failing (the API
	// server does not answer) and when they succeed again. It is called from
	// the renewing goroutine.
	OnContact func(ContactEvent)

	mu       sync.Mutex
	lease    *coordinationv1.Lease
	stop     chan struct{}
	done     chan struct{}
	lost     chan struct{}
	lostOnce sync.Once
	lostErr  *LostError
	// Previous is the holder whose lease this lock took over (expired, or
	// forced), empty when the lease was free.
	Previous string
}

func (l *Lock) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
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

// Acquire takes the lease, or returns *HeldError when another holder's lease
// has not expired. force takes it regardless (and Previous names whose it was).
// On success a goroutine renews the lease until Release.
func (l *Lock) Acquire(ctx context.Context, force bool) error {
	leases := l.Client.Leases(l.Namespace)
	now := metav1.NewMicroTime(l.now())
	secs := int32(l.duration() / time.Second)
	cur, err := leases.Get(ctx, l.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		lease := &coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Name: l.Name, Namespace: l.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": "kubectl-zdd"}},
			Spec: coordinationv1.LeaseSpec{
				HolderIdentity:       ptr.To(l.Holder),
				LeaseDurationSeconds: ptr.To(secs),
				AcquireTime:          &now,
				RenewTime:            &now,
			},
		}
		created, err := leases.Create(ctx, lease, metav1.CreateOptions{FieldManager: FieldManager})
		if apierrors.IsAlreadyExists(err) {
			return l.Acquire(ctx, force)
		}
		if err != nil {
			return fmt.Errorf("taking lease %q: %w", l.Namespace+"/"+l.Name, err)
		}
		l.started(created)
		return nil
	case err != nil:
		return fmt.Errorf("reading lease %q: %w", l.Namespace+"/"+l.Name, err)
	}

	holder := ptr.Deref(cur.Spec.HolderIdentity, "")
	if holder != "" && holder != l.Holder && !force {
		if exp, held := expiry(cur); held && exp.After(l.now()) {
			return &HeldError{Lease: l.Namespace + "/" + l.Name, Holder: holder, RenewTime: renewTime(cur), Expires: exp}
		}
	}
	if holder != l.Holder {
		l.Previous = holder
	}
	next := cur.DeepCopy()
	next.Spec.HolderIdentity = ptr.To(l.Holder)
	next.Spec.LeaseDurationSeconds = ptr.To(secs)
	next.Spec.AcquireTime = &now
	next.Spec.RenewTime = &now
	if holder != l.Holder {
		next.Spec.LeaseTransitions = ptr.To(ptr.Deref(cur.Spec.LeaseTransitions, 0) + 1)
	}
	// The update carries cur's resourceVersion: if another run took the lease
	// in between, this fails with a Conflict instead of stealing it.
	updated, err := leases.Update(ctx, next, metav1.UpdateOptions{FieldManager: FieldManager})
	if apierrors.IsConflict(err) {
		return fmt.Errorf("taking lease %q: another run took it at the same moment: %w", l.Namespace+"/"+l.Name, err)
	}
	if err != nil {
		return fmt.Errorf("taking lease %q: %w", l.Namespace+"/"+l.Name, err)
	}
	l.started(updated)
	return nil
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
	d := time.Duration(ptr.Deref(l.Spec.LeaseDurationSeconds, int32(DefaultLeaseDuration/time.Second))) * time.Second
	return rt.Add(d), true
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

func (l *Lock) renewLoop() {
	defer close(l.done)
	t := time.NewTimer(l.renewEvery())
	defer t.Stop()
	lastOK := l.now()
	var failing time.Time // when renewals started failing; zero while they succeed
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		// a renewal may take no longer than what is left before the deadline
		left := l.renewDeadline() - l.now().Sub(lastOK)
		ctx, cancel := context.WithTimeout(context.Background(), max(min(l.renewEvery(), left), 10*time.Millisecond))
		err := l.renew(ctx)
		cancel()
		if err == nil {
			lastOK = l.now()
			if !failing.IsZero() {
				l.notify(ContactEvent{Lease: l.ref(), Restored: true, Since: failing, At: lastOK})
				failing = time.Time{}
			}
			t.Reset(l.renewEvery())
			continue
		}
		lost := &LostError{Lease: l.ref(), LastRenewed: lastOK, Err: err}
		switch {
		case apierrors.IsNotFound(err):
			lost.Deleted = true
		case isTakenBy(err) != "":
			lost.TakenBy = isTakenBy(err)
		case l.now().Sub(lastOK) >= l.renewDeadline():
			lost.Contact = true
		default:
			// the API server did not answer, or answered with an error that
			// may pass: keep trying until the deadline
			if failing.IsZero() {
				failing = l.now()
				l.notify(ContactEvent{Lease: l.ref(), Since: failing, At: failing, Deadline: lastOK.Add(l.renewDeadline()), Err: err})
			}
			t.Reset(l.retryEvery())
			continue
		}
		l.mu.Lock()
		l.lostErr = lost
		l.mu.Unlock()
		l.lostOnce.Do(func() { close(l.lost) })
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
		updated, err := l.Client.Leases(l.Namespace).Update(ctx, next, metav1.UpdateOptions{FieldManager: FieldManager})
		if err == nil {
			l.mu.Lock()
			l.lease = updated
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
	lease := l.lease
	l.mu.Unlock()
	// bounded: an API server that does not answer must not hold the exit up
	ctx, cancel := context.WithTimeout(ctx, max(l.renewEvery(), time.Second))
	defer cancel()
	err := l.Client.Leases(l.Namespace).Delete(ctx, l.Name, metav1.DeleteOptions{
		Preconditions: &metav1.Preconditions{UID: &lease.UID, ResourceVersion: &lease.ResourceVersion},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("releasing lease %q: %w", l.Namespace+"/"+l.Name, err)
	}
	return nil
}
