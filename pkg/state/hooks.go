package state

import "context"

// KillAtPhaseEnv names a test-only environment variable, honoured only by
// a binary built with the build tag zddtesthooks (the e2e suite builds it
// so; `make build` and release builds do not): when it equals the phase
// just recorded (or "strategy:phase"), the process kills itself with
// SIGKILL right after the record is saved, as a client that dies at that
// phase boundary would. The crash-safety e2e tests use it. The state
// package does not read it: the plugin reads it (pkg/plugin/hooks_on.go)
// and injects the kill as an AfterSave hook (WithAfterSave).
const KillAtPhaseEnv = "ZDD_TEST_KILL_AT_PHASE"

// HostnameEnv names a test-only environment variable, honoured only by a
// binary built with the build tag zddtesthooks: the host name this process
// gives as its own (in its holder identity and when it judges whether a
// lease's holder ran on this machine), so that an e2e test can make a run
// look as if it ran on another machine.
const HostnameEnv = "ZDD_TEST_HOSTNAME"

type afterSaveKey struct{}

// WithAfterSave returns a context whose record writes (RecordWriter.Save
// and SaveAnyway, whichever strategy or command makes them) call fn with
// the operation right after it was saved: the one test hook at a phase
// boundary (the kill-at-phase hook of the crash-safety tests).
func WithAfterSave(ctx context.Context, fn func(*Operation)) context.Context {
	return context.WithValue(ctx, afterSaveKey{}, fn)
}

// afterSave calls the hook of ctx, if any, with op.
func afterSave(ctx context.Context, op *Operation) {
	if fn, ok := ctx.Value(afterSaveKey{}).(func(*Operation)); ok && fn != nil {
		fn(op)
	}
}
