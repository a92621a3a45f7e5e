package state

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube/kubetest"
)

// machine is a LocalProcesses of host "laptop" whose processes are procs
// (pid -> start time); every other pid does not run.
func machine(procs map[int]string) LocalProcesses {
	return LocalProcesses{Host: "laptop", Boot: "boot-1", PIDNS: "pid:[4026531836]",
		Lookup: func(pid int) (string, bool, error) {
			start, ok := procs[pid]
			return start, ok, nil
		}}
}

func record(p HolderProcess) string {
	b, _ := json.Marshal(p)
	return string(b)
}

// TestHolderGone: a lease is taken at once only when its holder is, beyond
// doubt, a process of this machine that no longer runs; every other case
// waits for the lease to expire, as before.
func TestHolderGone(t *testing.T) {
	rec := HolderProcess{Host: "laptop", PID: 31945, Boot: "boot-1", PIDNS: "pid:[4026531836]", Start: "5000"}
	with := func(f func(*HolderProcess)) string { p := rec; f(&p); return record(p) }
	alive := machine(map[int]string{31945: "5000"})
	dead := machine(map[int]string{1: "1"})
	cases := []struct {
		name     string
		identity string
		record   string
		local    LocalProcesses
		want     bool
	}{
		{"this host, pid no longer runs: take over", "root@laptop pid 31945 op 20261203-101010-abcdef", record(rec), dead, true},
		{"this host, identity without op id", "root@laptop pid 31945", record(rec), dead, true},
		{"this host, pid reused by a newer process: take over", "root@laptop pid 31945 op x", record(rec), machine(map[int]string{31945: "9999"}), true},
		{"this host, zombie (killed, not reaped): take over", "root@laptop pid 31945 op x", record(rec), LocalProcesses{Host: "laptop", Boot: "boot-1", PIDNS: "pid:[4026531836]",
			Lookup: func(int) (string, bool, error) { return "5000", false, nil }}, true},
		{"this host, process alive: wait", "root@laptop pid 31945 op x", record(rec), alive, false},
		{"other host: wait", "root@ci-runner pid 31945 op x", with(func(p *HolderProcess) { p.Host = "ci-runner" }), dead, false},
		{"same host name, other boot (another machine or a reboot): wait", "root@laptop pid 31945 op x", with(func(p *HolderProcess) { p.Boot = "boot-0" }), dead, false},
		{"same host name, other pid namespace (another container): wait", "root@laptop pid 31945 op x", with(func(p *HolderProcess) { p.PIDNS = "pid:[4026532999]" }), dead, false},
		{"malformed identity: wait", "root@laptop pid x31945", record(rec), dead, false},
		{"identity without pid: wait", "root@laptop", record(rec), dead, false},
		{"identity without host: wait", "root pid 31945", record(rec), dead, false},
		{"identity of another pid than the record: wait", "root@laptop pid 31946 op x", record(rec), dead, false},
		{"identity of another host than the record: wait", "root@desk pid 31945 op x", record(rec), machine(nil), false},
		{"no process record (an older version's lease): wait", "root@laptop pid 31945 op x", "", dead, false},
		{"malformed process record: wait", "root@laptop pid 31945 op x", "{pid:", dead, false},
		{"record without start time: wait", "root@laptop pid 31945 op x", with(func(p *HolderProcess) { p.Start = "" }), dead, false},
		{"this machine cannot tell its boot: wait", "root@laptop pid 31945 op x", record(rec), LocalProcesses{Host: "laptop", Lookup: dead.Lookup}, false},
		{"lookup fails: wait", "root@laptop pid 31945 op x", record(rec), LocalProcesses{Host: "laptop", Boot: "boot-1", PIDNS: "pid:[4026531836]",
			Lookup: func(int) (string, bool, error) { return "", false, errors.New("permission denied") }}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g, got := HolderGone(tc.identity, tc.record, tc.local)
			if got != tc.want {
				t.Fatalf("HolderGone(%q, %q) = %v, want %v", tc.identity, tc.record, got, tc.want)
			}
			if got && (g.PID != 31945 || g.String() != "the run that held it (pid 31945 on this host) is gone") {
				t.Errorf("gone holder = %+v (%s)", g, g)
			}
		})
	}
}

func TestParseIdentityOfIdentity(t *testing.T) {
	id, ok := parseIdentity(Identity("20261203-101010-abcdef"))
	host, _ := os.Hostname()
	if !ok || id.PID != os.Getpid() || id.Host != host {
		t.Errorf("Identity does not parse back: %+v %v (host %q pid %d)", id, ok, host, os.Getpid())
	}
}

// TestAcquireGoneHolder drives Acquire over a lease left by a run of this
// machine: a gone holder's lease is taken at once (no wait on the clock),
// with its resourceVersion as precondition; a live one is waited for.
func TestAcquireGoneHolder(t *testing.T) {
	me := "me@laptop pid " + strconv.Itoa(os.Getpid()) + " op new"
	gonePID, livePID := 31945, 31946
	local := machine(map[int]string{os.Getpid(): "7000", livePID: "6000"})
	leaseHeldBy := func(pid int, start string, renewed time.Time) *coordinationv1.Lease {
		l := leaseOf("root@laptop pid "+strconv.Itoa(pid)+" op old", renewed)
		l.Annotations = map[string]string{HolderProcessAnnotation: record(HolderProcess{Host: "laptop", PID: pid, Boot: "boot-1", PIDNS: "pid:[4026531836]", Start: start})}
		return l
	}

	for _, renewed := range []time.Duration{-2 * time.Second, -time.Hour} {
		t.Run("gone holder, renewed "+(-renewed).String()+" ago: taken at once", func(t *testing.T) {
			cs := kubetest.NewStrict(leaseHeldBy(gonePID, "5000", base.Add(renewed)))
			clk := clocktesting.NewFakeClock(base)
			var events []WaitEvent
			l := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: me, Now: wall(base), Clock: clk, processes: &local,
				OnWait: func(ev WaitEvent) { events = append(events, ev) }}
			if err := l.Acquire(context.Background(), false); err != nil {
				t.Fatalf("Acquire: %v", err)
			}
			defer func() { _ = l.Release(context.Background()) }()
			if clk.Since(base) != 0 {
				t.Error("the clock moved: Acquire waited")
			}
			if l.Previous != "root@laptop pid 31945 op old" || l.PreviousGone == nil || l.PreviousGone.PID != gonePID {
				t.Errorf("Previous = %q, PreviousGone = %+v", l.Previous, l.PreviousGone)
			}
			if len(events) != 1 || events[0].Gone == nil {
				t.Fatalf("OnWait heard %+v, want one Gone event", events)
			}
			msg := events[0].String()
			for _, want := range []string{"the run that held it (pid 31945 on this host) is gone", "taking the lease over at once", `"root@laptop pid 31945 op old"`} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			got, err := cs.CoordinationV1().Leases("ns").Get(context.Background(), "zdd-deployment-web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if ptr.Deref(got.Spec.HolderIdentity, "") != me {
				t.Errorf("lease holder = %q, want %q", ptr.Deref(got.Spec.HolderIdentity, ""), me)
			}
			// the new holder's own process is recorded in place of the old one
			var p HolderProcess
			if err := json.Unmarshal([]byte(got.Annotations[HolderProcessAnnotation]), &p); err != nil {
				t.Fatalf("process record %q: %v", got.Annotations[HolderProcessAnnotation], err)
			}
			want := HolderProcess{Host: "laptop", PID: os.Getpid(), Boot: "boot-1", PIDNS: "pid:[4026531836]", Start: "7000"}
			if diff := cmp.Diff(want, p); diff != "" {
				t.Errorf("process record (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("live holder of this host, fresh lease: refused at once", func(t *testing.T) {
		cs := kubetest.NewStrict(leaseHeldBy(livePID, "6000", base.Add(-2*time.Second)))
		l := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: me, Now: wall(base), Clock: clocktesting.NewFakeClock(base), processes: &local}
		var held *HeldError
		if err := l.Acquire(context.Background(), false); !errors.As(err, &held) {
			t.Fatalf("want HeldError, got %v", err)
		}
	})

	t.Run("live holder of this host, lease looks expired: waited for", func(t *testing.T) {
		cs := kubetest.NewStrict(leaseHeldBy(livePID, "6000", base.Add(-time.Hour)))
		clk := clocktesting.NewFakeClock(base)
		l := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: me, Now: wall(base), Clock: clk, processes: &local}
		res, waiting := acquireAsync(l, false)
		<-waiting
		select {
		case err := <-res:
			t.Fatalf("Acquire returned %v without waiting", err)
		case <-time.After(50 * time.Millisecond):
		}
		stepWhenWaiting(t, clk, 30*time.Second)
		if err := <-res; err != nil {
			t.Fatal(err)
		}
		_ = l.Release(context.Background())
		if l.PreviousGone != nil {
			t.Errorf("PreviousGone = %+v for a live holder", l.PreviousGone)
		}
	})

	t.Run("two runs take a gone holder's lease at once: one wins", func(t *testing.T) {
		cs := kubetest.NewStrict(leaseHeldBy(gonePID, "5000", base.Add(-time.Second)))
		other := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: "you@laptop pid 424242 op new", Now: wall(base), Clock: clocktesting.NewFakeClock(base), processes: &local}
		var otherErr error
		l := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: me, Now: wall(base), Clock: clocktesting.NewFakeClock(base), processes: &local,
			// the other run takes the lease between this run's read and its update
			OnWait: func(WaitEvent) { otherErr = other.Acquire(context.Background(), false) }}
		err := l.Acquire(context.Background(), false)
		if otherErr != nil {
			t.Fatalf("the first taker failed: %v", otherErr)
		}
		defer func() { _ = other.Release(context.Background()) }()
		if err == nil || !strings.Contains(err.Error(), "another run took it at the same moment") {
			t.Fatalf("the second taker: want a conflict, got %v", err)
		}
		got, _ := cs.CoordinationV1().Leases("ns").Get(context.Background(), "zdd-deployment-web", metav1.GetOptions{})
		if h := ptr.Deref(got.Spec.HolderIdentity, ""); h != other.Holder {
			t.Errorf("lease holder = %q, want the first taker", h)
		}
	})

	t.Run("force on a live holder's lease: a forced takeover, not a gone holder", func(t *testing.T) {
		cs := kubetest.NewStrict(leaseHeldBy(livePID, "6000", base))
		l := &Lock{Client: cs.CoordinationV1(), Namespace: "ns", Name: "zdd-deployment-web", Holder: me, Now: wall(base), Clock: clocktesting.NewFakeClock(base), processes: &local}
		if err := l.Acquire(context.Background(), true); err != nil || l.PreviousGone != nil {
			t.Fatalf("forced: err=%v gone=%+v", err, l.PreviousGone)
		}
		_ = l.Release(context.Background())
	})
}
