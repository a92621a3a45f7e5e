package state

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

type lostFence struct{ err error }

func (f lostFence) Check(context.Context) error { return f.err }
func (f lostFence) Err() error                  { return f.err }

// TestLost: the one rule every strategy asks before it records anything:
// the lease is lost when the error, the context's cause or the fence says
// so, and only then.
func TestLost(t *testing.T) {
	byErr := &LostError{Lease: "shop/a", TakenBy: "other"}
	byCtx := &LostError{Lease: "shop/b", Deleted: true}
	byFence := &LostError{Lease: "shop/c", Contact: true}
	lostCtx, cancel := context.WithCancelCause(context.Background())
	cancel(byCtx)
	interrupted, stop := context.WithCancel(context.Background())
	stop()
	tests := []struct {
		name  string
		ctx   context.Context
		err   error
		fence Fence
		want  *LostError
	}{
		{"held", context.Background(), errors.New("a wait failed"), lostFence{}, nil},
		{"Ctrl-C is not a lost lease", interrupted, context.Canceled, nil, nil},
		{"the error wraps it", context.Background(), fmt.Errorf("patching: %w", byErr), lostFence{err: byFence}, byErr},
		{"the context's cause", lostCtx, nil, nil, byCtx},
		{"the fence found it", context.Background(), nil, lostFence{err: byFence}, byFence},
	}
	for _, tc := range tests {
		if got := Lost(tc.ctx, tc.err, tc.fence); got != tc.want {
			t.Errorf("%s: Lost = %v, want %v", tc.name, got, tc.want)
		}
	}
}
