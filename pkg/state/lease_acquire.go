package state

import (
	"context"
	"errors"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

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
