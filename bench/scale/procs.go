package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is the unit of /proc/PID/stat's CPU times (USER_HZ, 100 on
// Linux).
const clockTicks = 100

// clusterCPU reads the CPU time (user+system, seconds) each of the
// cluster's processes has used so far, from their pid files in dir (the
// simulated cluster's pids folder: kube-apiserver.pid, etcd.pid, ...). A
// measurement's share is the difference across it: with two cores, what a
// command makes the API server do is time the controllers do not get.
func clusterCPU(dir string) map[string]float64 {
	out := map[string]float64{}
	if dir == "" {
		return out
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.pid"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if s, ok := procCPU(strings.TrimSpace(string(b))); ok {
			out[strings.TrimSuffix(filepath.Base(f), ".pid")] = s
		}
	}
	return out
}

// procCPU is utime+stime of one process, in seconds.
func procCPU(pid string) (float64, bool) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, false
	}
	// the command name (field 2) is in parentheses and may hold spaces:
	// the fields counted are after its closing one
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	// after the name: state(3) ... utime(14) stime(15), so indexes 11, 12
	if len(f) < 13 {
		return 0, false
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (u + st) / clockTicks, true
}

// cpuSince is after minus before, process by process.
func cpuSince(before, after map[string]float64) map[string]float64 {
	d := map[string]float64{}
	for k, v := range after {
		if b, ok := before[k]; ok {
			d[k] = v - b
		}
	}
	return d
}
