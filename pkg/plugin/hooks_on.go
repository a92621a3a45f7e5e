//go:build zddtesthooks

package plugin

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// withTestHooks injects the kill-at-phase hook (state.KillAtPhaseEnv) into
// the context every command runs under, when the variable is set: right
// after a record whose phase is the variable's value (or
// "strategy:phase") is saved, the process kills itself with SIGKILL, as a
// client that dies at that phase boundary would.
func withTestHooks(ctx context.Context) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	want := os.Getenv(state.KillAtPhaseEnv)
	if want == "" {
		return ctx
	}
	return state.WithAfterSave(ctx, func(op *state.Operation) {
		if want != op.Phase && want != op.Strategy+":"+op.Phase {
			return
		}
		if p, err := os.FindProcess(os.Getpid()); err == nil {
			_ = p.Kill()
			select {} // the kill is asynchronous: never return into the caller
		}
	})
}

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
