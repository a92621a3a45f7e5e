//go:build !zddtesthooks

package plugin

import "context"

// switchPauseHook is the SwitchPauseEnv hook: none in this build.
func switchPauseHook() func(context.Context, string) error { return nil }
