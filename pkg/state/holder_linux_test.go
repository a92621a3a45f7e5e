package state

import (
	"os"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	line := func(comm, state string) string {
		return "31945 (" + comm + ") " + state + " 1 31945 31945 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 7 0 123456 1234567 890 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
	}
	cases := []struct {
		name, in, start string
		running, err    bool
	}{
		{"running", line("kubectl-zdd", "S"), "123456", true, false},
		{"command name with spaces and parentheses", line("a) b (c", "R"), "123456", true, false},
		{"zombie", line("kubectl-zdd", "Z"), "123456", false, false},
		{"dead", line("kubectl-zdd", "X"), "123456", false, false},
		{"truncated", "31945 (x) S 1 2", "", false, true},
		{"no command", "garbage", "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start, running, err := parseProcStat(tc.in)
			if (err != nil) != tc.err || start != tc.start || running != tc.running {
				t.Errorf("parseProcStat = %q, %v, %v; want %q, %v, err %v", start, running, err, tc.start, tc.running, tc.err)
			}
		})
	}
}

// TestSystemProcesses: on Linux this process describes itself (boot id,
// pid namespace, start time) and finds itself running, and a pid that
// does not exist is not running.
func TestSystemProcesses(t *testing.T) {
	l := systemProcesses()
	if l.Boot == "" || l.PIDNS == "" {
		t.Skipf("this machine does not show its boot id or pid namespace: %+v", l)
	}
	p, ok := ownProcess(l)
	if !ok || p.PID != os.Getpid() || p.Start == "" {
		t.Fatalf("ownProcess = %+v, %v", p, ok)
	}
	if _, running, err := l.Lookup(p.PID); err != nil || !running {
		t.Errorf("this process: running=%v err=%v", running, err)
	}
	if _, running, err := l.Lookup(1 << 30); err != nil || running {
		t.Errorf("pid 2^30: running=%v err=%v", running, err)
	}
}
