package state

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube/kubetest"
)

// base is "now" on this machine's wall clock in these tests.
var base = time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)

func wall(t time.Time) func() time.Time { return func() time.Time { return t } }

// leaseOf returns a Lease held by holder, renewed at renewed by its clock.
func leaseOf(holder string, renewed time.Time) *coordinationv1.Lease {
	rt := metav1.NewMicroTime(renewed)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "zdd-deployment-web", Namespace: "ns"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(int32(30)),
			AcquireTime: &rt, RenewTime: &rt},
	}
}

// acquireAsync runs l.Acquire in a goroutine; the returned channel gets its
// error. waiting is closed when Acquire starts watching the lease (OnWait).
func acquireAsync(l *Lock, force bool) (result <-chan error, waiting <-chan struct{}) {
	res, wait := make(chan error, 1), make(chan struct{})
	l.OnWait = func(WaitEvent) { close(wait) }
	go func() { res <- l.Acquire(context.Background(), force) }()
	return res, wait
}

// stepWhenWaiting steps c by d once something waits on it.
func stepWhenWaiting(t *testing.T, c *clocktesting.FakeClock, d time.Duration) {
	t.Helper()
	for !c.HasWaiters() {
		runtime.Gosched() // the goroutine under test is about to arm its timer
	}
	c.Step(d)
}

// TestAcquireSkewedClocks: whether a lease held by another run has expired
// is judged as client-go's leader election judges it, by the time its
// record stays unchanged on this machine's monotonic clock, never by the
// holder's renew time (written by a clock that may be skewed). Before, a
// live holder whose clock ran an hour behind lost its lease at once, and a
// dead holder whose clock ran two hours ahead blocked the object for two
// hours.
func TestAcquireSkewedClocks(t *testing.T) {
	t.Run("live holder whose clock is an hour behind keeps its lease", func(t *testing.T) {
		cs := kubetest.NewStrict()
		holderClock := clocktesting.NewFakeClock(base)
		a := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "a", Duration: 30 * time.Second,
			Now: wall(base.Add(-time.Hour)), Clock: holderClock}
		if err := a.Acquire(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = a.Release(context.Background()) }()

		myClock := clocktesting.NewFakeClock(base)
		b := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "b", Duration: 30 * time.Second,
			Now: wall(base), Clock: myClock}
		res, waiting := acquireAsync(b, false)
		<-waiting
		// a renews on its own schedule (every 10s of its clock) while b watches
		stepWhenWaiting(t, holderClock, 10*time.Second)
		err := <-res
		var held *HeldError
		if !errors.As(err, &held) || held.Holder != "a" || !held.Renewed {
			t.Fatalf("want a HeldError naming a, renewed while b waited; got %v", err)
		}
		if myClock.Since(base) != 0 {
			t.Errorf("b's clock moved: the answer came from the renewal, not a timeout")
		}
		if err := a.Check(context.Background()); err != nil {
			t.Errorf("a lost its lease: %v", err)
		}
	})

	t.Run("dead holder whose clock is two hours ahead: taken after one duration unchanged", func(t *testing.T) {
		cs := kubetest.NewStrict(leaseOf("dead", base.Add(2*time.Hour)))
		myClock := clocktesting.NewFakeClock(base)
		b := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "b", Duration: 30 * time.Second,
			Now: wall(base), Clock: myClock}
		res, waiting := acquireAsync(b, false)
		<-waiting
		stepWhenWaiting(t, myClock, 29*time.Second)
		select {
		case err := <-res:
			t.Fatalf("Acquire returned %v after 29s of the lease's 30s", err)
		default:
		}
		stepWhenWaiting(t, myClock, time.Second)
		if err := <-res; err != nil {
			t.Fatalf("Acquire after the lease stayed unchanged for 30s: %v", err)
		}
		defer func() { _ = b.Release(context.Background()) }()
		if b.Previous != "dead" {
			t.Errorf("Previous = %q, want dead", b.Previous)
		}
	})

	t.Run("lease that looks fresh by its renew time is refused at once", func(t *testing.T) {
		cs := kubetest.NewStrict(leaseOf("a", base.Add(-5*time.Second)))
		b := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "b", Now: wall(base), Clock: clocktesting.NewFakeClock(base)}
		err := b.Acquire(context.Background(), false)
		var held *HeldError
		if !errors.As(err, &held) || held.Holder != "a" || held.Renewed {
			t.Fatalf("want a HeldError naming a at once, got %v", err)
		}
	})

	t.Run("force takes a live lease at once", func(t *testing.T) {
		cs := kubetest.NewStrict(leaseOf("a", base))
		d := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "d", Now: wall(base), Clock: clocktesting.NewFakeClock(base)}
		if err := d.Acquire(context.Background(), true); err != nil || d.Previous != "a" {
			t.Fatalf("forced acquire: err=%v previous=%q", err, d.Previous)
		}
		_ = d.Release(context.Background())
		if _, err := cs.CoordinationV1().Leases("ns").Get(context.Background(), "zdd-deployment-web", metav1.GetOptions{}); err == nil {
			t.Error("lease still exists after release")
		}
	})
}

// TestCheckFence: the fencing check before each write reads the lease, so a
// run whose lease was taken over or deleted stops at its next write, not at
// its next renewal; and a run whose machine was suspended (its wall clock
// jumped, its monotonic clock did not) renews before writing, which works
// only if nobody took the lease meanwhile.
func TestCheckFence(t *testing.T) {
	newHolder := func(t *testing.T, cs *kubetest.Strict, wallNow *time.Time) *Lock {
		a := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "a", Duration: 30 * time.Second,
			Now: func() time.Time { return *wallNow }, Clock: clocktesting.NewFakeClock(base)}
		if err := a.Acquire(context.Background(), false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = a.Release(context.Background()) })
		return a
	}
	ctx := context.Background()

	t.Run("taken over with --force-unlock", func(t *testing.T) {
		cs := kubetest.NewStrict()
		now := base
		a := newHolder(t, cs, &now)
		b := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "b", Now: wall(base), Clock: clocktesting.NewFakeClock(base)}
		if err := b.Acquire(ctx, true); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = b.Release(ctx) }()
		err := a.Check(ctx)
		if l := LeaseLost(err); l == nil || l.TakenBy != "b" {
			t.Fatalf("Check: want a LostError taken by b, got %v", err)
		}
		select {
		case <-a.Lost():
		default:
			t.Error("Lost is not closed after the fence found the lease taken")
		}
		writes := len(cs.Writes())
		_ = a.Release(ctx)
		if n := len(cs.Writes()); n != writes {
			t.Errorf("Release of a lost lock wrote: %v", cs.Writes()[writes:])
		}
	})

	t.Run("deleted", func(t *testing.T) {
		cs := kubetest.NewStrict()
		now := base
		a := newHolder(t, cs, &now)
		if err := cs.CoordinationV1().Leases("ns").Delete(ctx, "zdd-deployment-web", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		if l := LeaseLost(a.Check(ctx)); l == nil || !l.Deleted {
			t.Fatalf("Check: want a LostError for a deleted lease, got %v", a.Check(ctx))
		}
	})

	t.Run("suspended an hour, nobody took it: renewed before the write", func(t *testing.T) {
		cs := kubetest.NewStrict()
		now := base
		a := newHolder(t, cs, &now)
		before, _ := cs.CoordinationV1().Leases("ns").Get(ctx, "zdd-deployment-web", metav1.GetOptions{})
		now = base.Add(time.Hour) // the wall clock jumps; the fake monotonic clock stays
		if err := a.Check(ctx); err != nil {
			t.Fatalf("Check: %v", err)
		}
		after, _ := cs.CoordinationV1().Leases("ns").Get(ctx, "zdd-deployment-web", metav1.GetOptions{})
		if after.ResourceVersion == before.ResourceVersion || !after.Spec.RenewTime.Time.Equal(now) {
			t.Errorf("the stale lease was not renewed before the write: renew time %s", after.Spec.RenewTime)
		}
	})

	t.Run("suspended an hour, taken meanwhile", func(t *testing.T) {
		cs := kubetest.NewStrict()
		now := base
		a := newHolder(t, cs, &now)
		// b saw the lease unchanged for 30s on its clock and took it
		bClock := clocktesting.NewFakeClock(base)
		b := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "b", Duration: 30 * time.Second,
			Now: wall(base.Add(time.Hour)), Clock: bClock}
		res, waiting := acquireAsync(b, false)
		<-waiting
		stepWhenWaiting(t, bClock, 30*time.Second)
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		defer func() { _ = b.Release(ctx) }()
		now = base.Add(time.Hour)
		if l := LeaseLost(a.Check(ctx)); l == nil || l.TakenBy != "b" {
			t.Fatalf("Check: want a LostError taken by b, got %v", a.Check(ctx))
		}
	})
}

// TestLockContext: the context of a lock ends with the *LostError as its
// cause, which LostCause finds.
func TestLockContext(t *testing.T) {
	cs := kubetest.NewStrict()
	now := base
	a := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "a", Now: func() time.Time { return now }, Clock: clocktesting.NewFakeClock(base)}
	if err := a.Acquire(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := a.Context(context.Background())
	defer cancel(nil)
	if LostCause(ctx) != nil {
		t.Fatal("LostCause of a live context")
	}
	if err := cs.CoordinationV1().Leases("ns").Delete(context.Background(), a.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = a.Check(context.Background())
	<-ctx.Done()
	if l := LostCause(ctx); l == nil || !l.Deleted {
		t.Errorf("LostCause = %v, want the deleted lease", l)
	}
	plain, stop := context.WithCancel(context.Background())
	stop()
	if LostCause(plain) != nil {
		t.Error("LostCause of a context cancelled by Ctrl-C")
	}
}
