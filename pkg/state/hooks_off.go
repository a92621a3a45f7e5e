//go:build !zddtesthooks

package state

// TestHooks says whether this binary honours the test-only hooks
// (KillAtPhaseEnv, HostnameEnv): only when built with the tag zddtesthooks.
const TestHooks = false

func hostnameForTests() (string, bool) { return "", false }
