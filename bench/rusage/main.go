// Command rusage runs a command and prints its wall time in seconds and its
// peak resident memory in KiB (from the child's rusage), for machines
// without /usr/bin/time. The command's own output is discarded.
//
//	rusage kubectl zdd lint -f corpus.yaml   ->   "1.23 104512"
package main

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rusage COMMAND [ARGS...]")
		os.Exit(2)
	}
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if cmd.ProcessState == nil {
		fmt.Fprintln(os.Stderr, "rusage:", err)
		os.Exit(2)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	var maxrss int64
	if ru != nil {
		maxrss = ru.Maxrss // KiB on Linux
	}
	fmt.Printf("%.2f %d\n", wall.Seconds(), maxrss)
}
