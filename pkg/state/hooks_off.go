//go:build !zddtesthooks

package state

// TestHooks says whether this binary honours the test-only hooks
// (KillAtPhaseEnv): only when built with the tag zddtesthooks.
const TestHooks = false

func killAtPhaseForTests(*Operation) {}

func hostnameForTests() (string, bool) { return "", false }
