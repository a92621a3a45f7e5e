package strategies

import (
	"context"
	"fmt"
)

// Tripwire fails a release from outside its strategy: once Tripped is
// closed, the release fails with Cause as a failing analysis fails it (a
// rollout rolls back, a blue-green switch switches back, a canary is
// pulled back). The request probe's failure budget
// (--max-failed-requests) is one.
type Tripwire interface {
	// Tripped is closed once the release must fail.
	Tripped() <-chan struct{}
	// Cause says why (nil while not tripped).
	Cause() error
}

// Tripped is t's cause when t has tripped, nil otherwise (and for a nil t).
func Tripped(t Tripwire) error {
	if t == nil {
		return nil
	}
	select {
	case <-t.Tripped():
		return t.Cause()
	default:
		return nil
	}
}

// CancelOnTrip calls cancel with t's cause as soon as t trips, until ctx
// ends; a nil t does nothing. It is how a strategy's wait (its watch, its
// analysis) ends with the cause it already handles as a failure.
func CancelOnTrip(ctx context.Context, t Tripwire, cancel context.CancelCauseFunc) {
	if t == nil {
		return
	}
	go func() {
		select {
		case <-t.Tripped():
			cancel(t.Cause())
		case <-ctx.Done():
		}
	}()
}

// PreflightError is the refusal of a release whose preflight found
// error-level findings (each printed before): nothing was changed, and it
// names the ways on, --fix and --force. kind and ref name the object
// ("deployment", "shop/web"); fixed says --fix was given already.
func PreflightError(kind, ref string, errs int, fixed bool) error {
	if fixed {
		return fmt.Errorf("preflight of %s %q found %d error-level problems that --fix cannot fix (listed above); nothing was changed: change the manifest, or add --force to release anyway", kind, ref, errs)
	}
	return fmt.Errorf("preflight of %s %q found %d error-level problems (listed above); nothing was changed: add --fix to apply lint's mechanical fixes in this release, change the manifest, or add --force to release anyway", kind, ref, errs)
}
