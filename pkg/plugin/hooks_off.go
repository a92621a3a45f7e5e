//go:build !zddtesthooks

package plugin

import "context"

// withTestHooks injects the test-only hooks: none in this build.
func withTestHooks(ctx context.Context) context.Context { return ctx }

// switchPauseHook is the SwitchPauseEnv hook: none in this build.
func switchPauseHook() func(context.Context, string) error { return nil }
