//go:build zddtesthooks

package plugin

import (
	"context"
	"fmt"
	"os"
	"time"
)

// switchPauseHook is the SwitchPauseEnv hook, when the variable is set. It
// checks for the file on a ticker because the standard library has no
// file-watch API; it is test-only.
func switchPauseHook() func(context.Context, string) error {
	path := os.Getenv(SwitchPauseEnv)
	if path == "" {
		return nil
	}
	return func(ctx context.Context, service string) error {
		if err := os.WriteFile(path+".waiting", []byte(service), 0o644); err != nil {
			return fmt.Errorf("test hook %s: %w", SwitchPauseEnv, err)
		}
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if _, err := os.Stat(path); err == nil {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-t.C:
			}
		}
	}
}
