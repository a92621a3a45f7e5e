//go:build !linux

package state

// systemProcesses: on this system kubectl zdd cannot tell a process that
// exited from one that runs in terms another run can trust (boot, pid
// namespace, start time), so it records nothing and a later run waits for
// the lease to expire (or --force-unlock).
func systemProcesses() LocalProcesses {
	return LocalProcesses{Host: hostname()}
}
