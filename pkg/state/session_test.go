package state

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// TestSessionLifecycle: Begin takes the Lease, Ctrl-C (the caller's
// context) is an interruption and not a lost Lease, and End releases the
// Lease.
func TestSessionLifecycle(t *testing.T) {
	cs := fake.NewClientset()
	parent, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	s, err := Begin(parent, SessionConfig{Leases: cs.CoordinationV1(), Namespace: "shop", Kind: "deployment", Name: "web", OperationID: "op-1"})
	if err != nil {
		t.Fatal(err)
	}
	lease, err := cs.CoordinationV1().Leases("shop").Get(context.Background(), LeaseName("deployment", "web"), metav1.GetOptions{})
	if err != nil {
		t.Fatalf("no lease after Begin: %v", err)
	}
	if h := ptr.Deref(lease.Spec.HolderIdentity, ""); h != s.Holder() || !strings.HasSuffix(h, " op op-1") {
		t.Errorf("lease holder %q, session holder %q: want the same, naming op-1", h, s.Holder())
	}
	if s.Interrupted() || s.Lost(nil) != nil || s.Context().Err() != nil {
		t.Fatal("a fresh session is interrupted, lost or ended")
	}
	if s.Fence() == nil || s.Fence() != Fence(s.Lock) {
		t.Error("the session's fence is not its lease")
	}
	interrupt()
	if !s.Interrupted() || s.Lost(context.Canceled) != nil || s.Context().Err() == nil {
		t.Errorf("after Ctrl-C: interrupted %v, lost %v, context %v; want interrupted, not lost, ended", s.Interrupted(), s.Lost(context.Canceled), s.Context().Err())
	}
	s.End()
	s.End() // twice is harmless
	if _, err := cs.CoordinationV1().Leases("shop").Get(context.Background(), LeaseName("deployment", "web"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the lease is still there after End (err %v)", err)
	}
}

// TestSessionHeld: a Lease another run holds is exit 1, nothing changed;
// Force takes it and says whose it was.
func TestSessionHeld(t *testing.T) {
	now := metav1.NewMicroTime(time.Now())
	held := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: LeaseName("service", "front"), Namespace: "shop"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("someone@elsewhere pid 7"), LeaseDurationSeconds: ptr.To(int32(30)), RenewTime: &now, AcquireTime: &now}}
	cs := fake.NewClientset(held)
	_, err := Begin(context.Background(), SessionConfig{Leases: cs.CoordinationV1(), Namespace: "shop", Kind: "service", Name: "front"})
	var he *HeldError
	if exitcode.Of(err) != exitcode.Failed || !errors.As(err, &he) || !strings.Contains(err.Error(), `service "shop/front"`) {
		t.Fatalf("Begin on a held lease: %v (exit %d), want exit 1 with a *HeldError naming the service", err, exitcode.Of(err))
	}
	var logged []string
	s, err := Begin(context.Background(), SessionConfig{Leases: cs.CoordinationV1(), Namespace: "shop", Kind: "service", Name: "front", Force: true,
		Logf: func(f string, a ...any) { logged = append(logged, strings.TrimSpace(fmt.Sprintf(f, a...))) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.End()
	if len(logged) == 0 || !strings.Contains(logged[len(logged)-1], `took over the lease "shop/zdd-service-front" from "someone@elsewhere pid 7"`) {
		t.Errorf("log %q does not say whose lease was taken over", logged)
	}
}

// TestSessionLost: when the Lease is lost, the run's context ends with the
// *LostError as its cause, and the session is lost, not interrupted.
func TestSessionLost(t *testing.T) {
	cs := fake.NewClientset()
	s, err := Begin(context.Background(), SessionConfig{Leases: cs.CoordinationV1(), Namespace: "shop", Kind: "deployment", Name: "web", Duration: 600 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.End()
	if err := cs.CoordinationV1().Leases("shop").Delete(context.Background(), LeaseName("deployment", "web"), metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Context().Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the run's context did not end when its lease was deleted")
	}
	lost := LeaseLost(context.Cause(s.Context()))
	if lost == nil || s.Lost(nil) == nil || s.Interrupted() {
		t.Errorf("cause %v, lost %v, interrupted %v: want a *LostError, lost, not interrupted", context.Cause(s.Context()), s.Lost(nil), s.Interrupted())
	}
}

// TestUnderHoldsNoLease: a session under its caller's lease takes and
// releases none, and is fenced by the caller's.
func TestUnderHoldsNoLease(t *testing.T) {
	cs := fake.NewClientset()
	fence := &Lock{Client: cs.CoordinationV1(), Namespace: "shop", Name: "x", Holder: "me"}
	s := Under(context.Background(), "service", "shop/web", fence)
	if s.Lock != nil || s.Fence() != fence {
		t.Error("Under took a lock of its own, or lost its caller's fence")
	}
	s.End()
	if len(cs.Actions()) != 0 {
		t.Errorf("Under made API calls: %v", cs.Actions())
	}
	if s.Context().Err() == nil {
		t.Error("End did not end the session's context")
	}
}
