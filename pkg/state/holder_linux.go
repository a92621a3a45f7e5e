package state

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// systemProcesses describes this Linux machine from /proc: its boot id,
// this process's pid namespace, and a lookup of a pid's state and start
// time in /proc/PID/stat.
func systemProcesses() LocalProcesses {
	l := LocalProcesses{Host: hostname(), Lookup: procStat}
	if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
		l.Boot = strings.TrimSpace(string(b))
	}
	if ns, err := os.Readlink("/proc/self/ns/pid"); err == nil {
		l.PIDNS = ns
	}
	return l
}

// procStat reads /proc/PID/stat: a process that exited, or is a zombie
// (killed and not yet reaped by its parent), is not running; start is
// field 22, the start time in clock ticks after boot.
func procStat(pid int) (start string, running bool, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return parseProcStat(string(b))
}

// parseProcStat reads the state (field 3) and start time (field 22) of a
// /proc/PID/stat line. The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself: fields are counted after its
// last ')'.
func parseProcStat(s string) (start string, running bool, err error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", false, fmt.Errorf("unexpected /proc stat line %q", s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return "", false, fmt.Errorf("unexpected /proc stat line %q", s)
	}
	switch f[0] {
	case "Z", "X", "x":
		return f[19], false, nil
	}
	return f[19], true, nil
}
