package bluegreen

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// Options of a blue-green operation.
type Options struct {
	Namespace string
	Service   string
	// Services are more Services to switch with Service (--service).
	Services []string
	Colours  Colours
	// MinReady, when > 0, replaces "as many ready as the live colour had"
	// in the switch guard.
	MinReady int32
	// Replicas, when set, sizes the new colour (default: the live colour's).
	Replicas *int32
	// Images to set in the new colour (deploy), or Template to use as its
	// pod template (deploy -f).
	Images   map[string]string
	Template *corev1.PodTemplateSpec
	// PreAnalysis runs against the idle colour before the switch;
	// Analysis after it. Either may be nil.
	PreAnalysis analysis.Analyzer
	Analysis    analysis.Analyzer
	// PreAnalysisSpec and AnalysisSpec are the analyses as loaded from
	// their files: recorded in the operation so resume runs them again,
	// and run when PreAnalysis or Analysis is nil.
	PreAnalysisSpec *analysis.Spec
	AnalysisSpec    *analysis.Spec
	ManualPromote   bool
	// ScaleDownDelay is waited after a passing post-switch analysis before
	// the old colour is retired.
	ScaleDownDelay time.Duration
	// MaxRestarts of a new pod's containers above which the new colour is
	// judged broken.
	MaxRestarts int32
	// DeleteOld deletes the old colour's Deployment instead of scaling it to 0.
	DeleteOld bool
	// Timeout bounds each wait: a colour becoming ready, endpoints converging.
	Timeout     time.Duration
	ForceUnlock bool
	// BeforePatch runs right before each selector patch (test hook).
	BeforePatch func(ctx context.Context, service string) error
	// LeaseDuration and Clock are the Lease's (tests shorten it and use a
	// fake clock); DefaultLeaseDuration and the real clock when unset.
	LeaseDuration time.Duration
	Clock         clock.Clock
	// Tripwire fails the operation from outside after the switch, as a
	// failing post-switch analysis does (switch back), until the old
	// colour is retired: the request probe's budget (nil: none).
	Tripwire strategies.Tripwire
	// Params are recorded beside the operation's own, as they are (the
	// probe's settings, for resume).
	Params map[string]string
}

// Runner performs blue-green operations against a cluster.
type Runner struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	Out     io.Writer
	Options
	// Now is swapped by tests.
	Now func() time.Time

	// fence is the operation's lease, checked right before each write:
	// the Lock the session took, or the caller's under resume and abort.
	fence state.Fence
	// recordBase is the Service as resume or abort read it, the base of
	// their first record write.
	recordBase *corev1.Service
	// analysisEnv says which variables the analyses' headers may read
	// (resume: analysis.RecordedEnv(--allow-env)); nil: any.
	analysisEnv func(string) bool
}

func (r *Runner) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Runner) printf(format string, a ...any) {
	if r.Out != nil {
		fmt.Fprintf(r.Out, format+"\n", a...)
	}
}

func (r *Runner) key() string { return r.Namespace + "/" + r.Service }

func (r *Runner) timeout() time.Duration {
	if r.Timeout > 0 {
		return r.Timeout
	}
	return 10 * time.Minute
}
