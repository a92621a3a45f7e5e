//go:build zddtesthooks

package state

import "os"

// TestHooks says whether this binary honours the test-only hooks
// (KillAtPhaseEnv, HostnameEnv): only when built with the tag zddtesthooks.
const TestHooks = true

func hostnameForTests() (string, bool) {
	h := os.Getenv(HostnameEnv)
	return h, h != ""
}
