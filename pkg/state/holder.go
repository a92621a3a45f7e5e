package state

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	coordinationv1 "k8s.io/api/coordination/v1"
	"k8s.io/utils/ptr"
)

// HolderProcessAnnotation, on a Lease, says which process holds it, in
// terms only the same machine can check (HolderProcess as JSON). It is
// written with the holder identity, in the same update, so the two always
// agree.
const HolderProcessAnnotation = Prefix + "holder-process"

// HolderProcess is what a run records of its own process beside its holder
// identity, so that a later run on the same machine can tell that the
// holder is gone (killed with SIGKILL, its laptop lid closed and the job
// cancelled) and take its lease at once instead of waiting for it to expire.
//
// A pid alone says nothing across machines, reboots, containers or time: Boot
// names the running kernel (Linux: /proc/sys/kernel/random/boot_id), PIDNS
// the pid namespace the pid is counted in (two containers sharing a host
// name count pids apart), and Start the process's start time (clock ticks
// after boot), so a pid reused by a newer process is not taken for the
// holder.
type HolderProcess struct {
	Host  string `json:"host"`
	PID   int    `json:"pid"`
	Boot  string `json:"boot"`
	PIDNS string `json:"pidns"`
	Start string `json:"start"`
}

// LocalProcesses answers, for this machine, the questions HolderGone asks.
type LocalProcesses struct {
	Host  string
	Boot  string // empty when this machine cannot tell: nothing is ever found gone
	PIDNS string
	// Lookup says whether pid runs now in this pid namespace and when it
	// started; err when that cannot be told.
	Lookup func(pid int) (start string, running bool, err error)
}

// localProcesses describes this machine; tests replace it.
var localProcesses = sync.OnceValue(systemProcesses)

// hostname is this machine's name (a test build may be told another one:
// HostnameEnv).
func hostname() string {
	if h, ok := hostnameForTests(); ok {
		return h
	}
	h, _ := os.Hostname()
	return h
}

// identity is Identity parsed: "user@host pid N[ op ID]".
type identity struct {
	User, Host string
	PID        int
}

func parseIdentity(s string) (identity, bool) {
	userHost, rest, ok := strings.Cut(s, " pid ")
	if !ok {
		return identity{}, false
	}
	user, host, ok := strings.Cut(userHost, "@")
	if !ok || host == "" || strings.ContainsAny(host, " @") {
		return identity{}, false
	}
	pidText, _, _ := strings.Cut(rest, " ")
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || strconv.Itoa(pid) != pidText {
		return identity{}, false
	}
	return identity{User: user, Host: host, PID: pid}, true
}

// ownProcess is this process's HolderProcess; ok is false when this
// machine cannot describe it (then nothing is recorded and a later run
// waits for the lease as before).
func ownProcess(local LocalProcesses) (HolderProcess, bool) {
	if local.Boot == "" || local.PIDNS == "" || local.Lookup == nil {
		return HolderProcess{}, false
	}
	pid := os.Getpid()
	start, running, err := local.Lookup(pid)
	if err != nil || !running || start == "" {
		return HolderProcess{}, false
	}
	return HolderProcess{Host: local.Host, PID: pid, Boot: local.Boot, PIDNS: local.PIDNS, Start: start}, true
}

// holderProcessValue is the annotation this run writes beside its holder
// identity, or "" when holder is not this process (a test's holder) or this
// machine cannot describe it.
func holderProcessValue(holder string, local LocalProcesses) string {
	id, ok := parseIdentity(holder)
	if !ok {
		return ""
	}
	p, ok := ownProcess(local)
	if !ok || id.Host != p.Host || id.PID != p.PID {
		return ""
	}
	b, err := json.Marshal(p)
	if err != nil {
		return ""
	}
	return string(b)
}

// GoneHolder names the process of a lease's holder that no longer exists.
type GoneHolder struct {
	PID  int
	Host string
}

func (g GoneHolder) String() string {
	return fmt.Sprintf("the run that held it (pid %d on this host) is gone", g.PID)
}

// HolderGone decides whether the holder of a lease is a process of this
// machine that no longer runs, from the lease's holder identity and its
// HolderProcessAnnotation: only then may its lease be taken at once. Every
// doubt answers no (wait for the lease to expire, as for a holder on
// another machine): an identity or record that does not parse or does not
// agree, another host name, another boot, another pid namespace, a process
// that cannot be looked up, and a process with that pid that runs and
// started when the holder did (the holder itself, alive).
func HolderGone(holderIdentity, record string, local LocalProcesses) (GoneHolder, bool) {
	id, ok := parseIdentity(holderIdentity)
	if !ok || record == "" {
		return GoneHolder{}, false
	}
	var p HolderProcess
	if err := json.Unmarshal([]byte(record), &p); err != nil {
		return GoneHolder{}, false
	}
	switch {
	case p.Host != id.Host || p.PID != id.PID || p.Start == "":
		return GoneHolder{}, false // the record is not of this holder
	case local.Host == "" || p.Host != local.Host:
		return GoneHolder{}, false // another machine
	case local.Boot == "" || p.Boot != local.Boot || local.PIDNS == "" || p.PIDNS != local.PIDNS:
		return GoneHolder{}, false // another boot, another container: its pids are not ours to look up
	case local.Lookup == nil:
		return GoneHolder{}, false
	}
	start, running, err := local.Lookup(p.PID)
	if err != nil {
		return GoneHolder{}, false
	}
	if running && start == p.Start {
		return GoneHolder{}, false // alive
	}
	// not running, or its pid now belongs to a process started later
	return GoneHolder{PID: p.PID, Host: p.Host}, true
}

// holderGone applies HolderGone to a lease read from the API server.
func holderGone(cur *coordinationv1.Lease, local LocalProcesses) (GoneHolder, bool) {
	return HolderGone(ptr.Deref(cur.Spec.HolderIdentity, ""), cur.Annotations[HolderProcessAnnotation], local)
}
