package probe

import (
	"fmt"
	"time"
)

// BudgetError is why a release fails when its probe's failures exceed the
// budget (--max-failed-requests): the failures so far, by kind and in
// groups with their times.
type BudgetError struct {
	Failed    int
	Sent      int
	MaxFailed int
	Kinds     string
	// First is when the first failed request was sent (zero: none).
	First time.Time
	// Lines are the failure groups (Report.FailureLines) when it tripped.
	Lines []string
}

func (e *BudgetError) Error() string {
	s := fmt.Sprintf("requests failed: %d of %d sent to the probe URL failed, more than --max-failed-requests %d", e.Failed, e.Sent, e.MaxFailed)
	if e.Kinds != "" {
		s += " (" + e.Kinds + ")"
	}
	if !e.First.IsZero() {
		s += ", the first at " + e.First.Format("15:04:05")
	}
	return s
}

// Tripped is closed once the failures exceed the budget: the probe is a
// release's tripwire (strategies.Tripwire).
func (p *Probe) Tripped() <-chan struct{} { return p.exceeded }

// Cause is the *BudgetError once the budget is exceeded, nil before.
func (p *Probe) Cause() error {
	select {
	case <-p.exceeded:
	default:
		return nil
	}
	r := p.Snapshot()
	e := &BudgetError{Failed: r.Failed, Sent: r.Sent, MaxFailed: r.MaxFailed, Kinds: r.KindsText(), Lines: r.FailureLines()}
	if len(r.Failures) > 0 {
		e.First = r.Failures[0].Time
	}
	return e
}
