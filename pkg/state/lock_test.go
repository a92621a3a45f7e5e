package state

import (
	"context"
	"errors"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

// refused is the error a client gets while nothing listens on the API
// server's port.
var refused = &net0{syscall.ECONNREFUSED}

type net0 struct{ err error }

func (e *net0) Error() string { return "dial tcp 127.0.0.1:6443: connect: connection refused" }
func (e *net0) Unwrap() error { return e.err }

// TestLockRenewal drives a held Lock through the answers an API server
// gives to its renewals (each lease update answers with the function of the
// case, by update number) and checks whether the lock is lost, why, and
// what OnContact heard. The lease lasts 1.2s: renewed every 400ms, given
// up after 800ms without a renewal, failures retried every 40ms.
func TestLockRenewal(t *testing.T) {
	leaseGR := schema.GroupResource{Group: "coordination.k8s.io", Resource: "leases"}
	conflict := apierrors.NewConflict(leaseGR, "zdd-deployment-web", errors.New("the object has been modified"))
	type want struct {
		Lost       bool
		Contact    bool
		TakenBy    string
		Deleted    bool
		Events     []bool // OnContact's Restored, in order
		MinRenewed int    // successful renewals at least
	}
	cases := []struct {
		name string
		// update answers the n-th renewal (from 1); nil lets it through
		update func(n int, since time.Duration) error
		// holderOnGet, when set, is the holder a Get after a Conflict reads
		holderOnGet string
		wait        time.Duration
		want        want
	}{
		{
			name:   "renewals succeed",
			update: func(int, time.Duration) error { return nil },
			wait:   1400 * time.Millisecond,
			want:   want{MinRenewed: 3},
		},
		{
			name: "short outage (300ms) is ridden out and the lease renewed after it",
			update: func(n int, since time.Duration) error {
				if since > 300*time.Millisecond && since < 600*time.Millisecond {
					return refused
				}
				return nil
			},
			wait: 1800 * time.Millisecond,
			want: want{Events: []bool{false, true}, MinRenewed: 3},
		},
		{
			name:   "long outage loses the lock before the lease expires",
			update: func(n int, since time.Duration) error { return refused },
			wait:   1400 * time.Millisecond,
			want:   want{Lost: true, Contact: true, Events: []bool{false}},
		},
		{
			name: "a renewal whose answer was lost (conflict, lease still ours) goes on",
			update: func(n int, _ time.Duration) error {
				if n == 1 {
					return conflict
				}
				return nil
			},
			holderOnGet: "me",
			wait:        1400 * time.Millisecond,
			want:        want{MinRenewed: 3},
		},
		{
			name:        "taken over by another run",
			update:      func(int, time.Duration) error { return conflict },
			holderOnGet: "other run",
			wait:        800 * time.Millisecond,
			want:        want{Lost: true, TakenBy: "other run"},
		},
		{
			name:   "deleted",
			update: func(int, time.Duration) error { return apierrors.NewNotFound(leaseGR, "zdd-deployment-web") },
			wait:   800 * time.Millisecond,
			want:   want{Lost: true, Deleted: true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cs := fake.NewClientset()
			var mu sync.Mutex
			var start time.Time
			updates, renewed := 0, 0
			cs.PrependReactor("update", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
				mu.Lock()
				defer mu.Unlock()
				updates++
				if err := tc.update(updates, time.Since(start)); err != nil {
					return true, nil, err
				}
				renewed++
				return false, nil, nil
			})
			acquired := false
			if tc.holderOnGet != "" {
				cs.PrependReactor("get", "leases", func(k8stesting.Action) (bool, runtime.Object, error) {
					mu.Lock()
					defer mu.Unlock()
					if !acquired {
						return false, nil, nil
					}
					return true, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "zdd-deployment-web", Namespace: "ns"}, Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(tc.holderOnGet)}}, nil
				})
			}
			var events []ContactEvent
			l := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "me", Duration: 1200 * time.Millisecond,
				OnContact: func(ev ContactEvent) { mu.Lock(); events = append(events, ev); mu.Unlock() }}
			mu.Lock()
			start = time.Now()
			mu.Unlock()
			if err := l.Acquire(context.Background(), false); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			acquired = true
			mu.Unlock()
			select {
			case <-l.Lost():
			case <-time.After(tc.wait):
			}
			_ = l.Release(context.Background())
			mu.Lock()
			defer mu.Unlock()
			got := want{MinRenewed: min(renewed, tc.want.MinRenewed)}
			var lost *LostError
			select {
			case <-l.Lost():
				got.Lost = true
				if !errors.As(l.Err(), &lost) {
					t.Fatalf("Lost is closed but Err is %v", l.Err())
				}
				got.Contact, got.TakenBy, got.Deleted = lost.Contact, lost.TakenBy, lost.Deleted
			default:
				if l.Err() != nil {
					t.Errorf("Err is %v while the lock is held", l.Err())
				}
			}
			for _, ev := range events {
				got.Events = append(got.Events, ev.Restored)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Contact {
				if !ContactLost(l.Err()) || !errors.Is(l.Err(), syscall.ECONNREFUSED) {
					t.Errorf("ContactLost(%v) is false or the cause is not kept", l.Err())
				}
				if msg := l.Err().Error(); !strings.HasPrefix(msg, `lost contact with the API server: lease "ns/zdd-deployment-web" could not be renewed since `) || !strings.Contains(msg, "connection refused") {
					t.Errorf("message %q", msg)
				}
				// given up before the lease expires on the server
				if late := time.Since(lost.LastRenewed); late >= 1200*time.Millisecond {
					t.Errorf("lost only %s after the last renewal: the lease had expired", late)
				}
			}
		})
	}
}

func TestContactEventAndHint(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	cases := []struct {
		name string
		got  string
		want string
	}{
		{
			name: "failing",
			got:  ContactEvent{Lease: "ns/l", Since: at, At: at, Deadline: at.Add(20 * time.Second), Err: refused}.String(),
			want: "the API server does not answer (dial tcp 127.0.0.1:6443: connect: connection refused): still waiting; this run stops at 10:00:20 unless it is back by then",
		},
		{
			name: "restored",
			got:  ContactEvent{Lease: "ns/l", Restored: true, Since: at, At: at.Add(4260 * time.Millisecond)}.String(),
			want: `contact with the API server restored: lease "ns/l" renewed again after 4.3s`,
		},
		{
			name: "hint",
			got:  StoppedHint("deployment", "shop", "web", "watch"),
			want: `phase watch recorded on deployment "shop/web"; once the API server answers, run 'kubectl zdd status deployment/web -n shop' and 'kubectl zdd resume deployment/web -n shop' to finish it, or 'kubectl zdd abort deployment/web -n shop' to go back (add --force-unlock if they find the lease of this stopped run still held)`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}
