package strategies

import (
	"fmt"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
)

// Events hears an operation as it goes, for the picture of the release
// that the caller draws at its end (pkg/report). Every engine, and every
// Resumer through Env.Events, announces its phase changes with Phase, hands
// over each analysis result with Measured, and what the endpoint watch of
// its Service saw with Watched when that watch stops. The engines call it
// through Announce, Measured and StopWatch, which do nothing for a nil
// Events. It is called from the engine's goroutines: an Events is safe for
// concurrent use.
type Events interface {
	// Phase marks the operation's time axis now: one of the Mark names,
	// or StepMark(weight).
	Phase(name string)
	// Measured is an analysis' result, as it ends.
	Measured(res *analysis.Result)
	// Watched is what an endpoint watch saw, from its start to its stop.
	Watched(rep downtime.Report)
}

// The phase marks the engines announce.
const (
	// MarkApply: the new version's first write (the rollout's apply, the
	// new colour's Deployment).
	MarkApply = "apply"
	// MarkRolledOut: a rolling update's new pods are all available.
	MarkRolledOut = "rolled out"
	// MarkAnalysis: an analysis starts.
	MarkAnalysis = "analysis"
	// MarkSwitch: a blue-green selector switch.
	MarkSwitch = "switch"
	// MarkSwitchBack: the switch back after a failure.
	MarkSwitchBack = "switch back"
	// MarkPromote: a canary's stable starts taking the canary's template.
	MarkPromote = "promote"
	// MarkRetire: the old version goes (the old colour scaled down or
	// deleted, the canary Deployment removed).
	MarkRetire = "retire"
	// MarkRollback: the previous version is restored.
	MarkRollback = "rollback"
	// MarkAbort: an operation is pulled back (canary abort, kubectl zdd
	// abort).
	MarkAbort = "abort"
)

// StepMark is the mark of a canary step to weight percent.
func StepMark(weight int) string { return fmt.Sprintf("step %d%%", weight) }

// Announce marks the time axis of ev (nil: nothing).
func Announce(ev Events, phase string) {
	if ev != nil {
		ev.Phase(phase)
	}
}

// Measured hands an analysis result to ev (nil ev or res: nothing).
func Measured(ev Events, res *analysis.Result) {
	if ev != nil && res != nil {
		ev.Measured(res)
	}
}

// StopWatch stops an endpoint watch, hands its report to ev and returns it.
func StopWatch(ev Events, w *downtime.Watcher) downtime.Report {
	rep := w.Stop()
	if ev != nil {
		ev.Watched(rep)
	}
	return rep
}
