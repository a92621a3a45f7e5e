//go:build zddtesthooks

package state

import "os"

// TestHooks says whether this binary honours the test-only hooks
// (KillAtPhaseEnv): only when built with the tag zddtesthooks.
const TestHooks = true

func killAtPhaseForTests(op *Operation) {
	want := os.Getenv(KillAtPhaseEnv)
	if want == "" || (want != op.Phase && want != op.Strategy+":"+op.Phase) {
		return
	}
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Kill()
		select {} // the kill is asynchronous: never return into the caller
	}
}

func hostnameForTests() (string, bool) {
	h := os.Getenv(HostnameEnv)
	return h, h != ""
}
