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

// Config is one blue-green operation, built by the plugin and passed to the
// Runner's method of that operation: Init, Deploy, Promote or Rollback (each
// (ctx, Config) (*Result, error)), or GetStatus.
type Config struct {
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
	// PreAnalysisSpec and AnalysisSpec are the analyses as loaded from
	// their files: recorded in the operation so resume runs them again,
	// and run when the Runner's PreAnalysis or Analysis is nil.
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
	// Params are recorded beside the operation's own, as they are (the
	// probe's settings, for resume).
	Params map[string]string
	// DryRun, when set (strategies.DryRunClient or DryRunServer), is for
	// Plan: the operation's plan, its writes checked by the API server
	// (dryRun=All) under server. Init, Deploy, Promote and Rollback refuse
	// a Config with it set.
	DryRun string
}

// config is the Config of the operation in progress, embedded in the
// Runner under a name of the package's own.
type config = Config

// Runner performs blue-green operations against a cluster: its fields are
// the clients, the output and the hooks; what an operation does is the
// Config given to its method.
type Runner struct {
	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	Out     io.Writer
	// PreAnalysis runs against the idle colour before the switch;
	// Analysis after it. Either may be nil (the Config's specs are run).
	PreAnalysis analysis.Analyzer
	Analysis    analysis.Analyzer
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
	// Events hears the phases, the analyses and the endpoint watch (nil:
	// nothing).
	Events strategies.Events
	// Now is swapped by tests.
	Now func() time.Time
	// Prefetched is the caller's Discover of the operation's Service, made
	// just before the operation (for its preflight): the operation's first
	// read of the Service and its colours is this one instead of a second
	// round of requests. It is used once, then cleared.
	Prefetched *Snapshot

	config
	// last is the operation the session of the operation in progress
	// began (nil: none yet), for its Result.
	last *state.Operation

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

// Result is what a blue-green operation ends with: the operation recorded
// on the Service as the operation left it (empty when it never began one).
type Result struct {
	Service     string `json:"service"`
	OperationID string `json:"operationId,omitempty"`
	Phase       string `json:"phase,omitempty"`
	Result      string `json:"result,omitempty"`
	Message     string `json:"message,omitempty"`
}

// Init turns a Service and the one Deployment it selects into blue-green
// (see initOp).
func (r *Runner) Init(ctx context.Context, cfg Config) (*Result, error) {
	return r.run(ctx, cfg, r.initOp)
}

// Deploy brings up the idle colour and switches to it (see deployOp).
func (r *Runner) Deploy(ctx context.Context, cfg Config) (*Result, error) {
	return r.run(ctx, cfg, r.deployOp)
}

// Promote switches to the idle colour (see promoteOp).
func (r *Runner) Promote(ctx context.Context, cfg Config) (*Result, error) {
	return r.run(ctx, cfg, r.promoteOp)
}

// Rollback switches back to the colour live before (see rollbackOp).
func (r *Runner) Rollback(ctx context.Context, cfg Config) (*Result, error) {
	return r.run(ctx, cfg, r.rollbackOp)
}

// run runs op with cfg as the Runner's operation.
func (r *Runner) run(ctx context.Context, cfg Config, op func(context.Context) error) (*Result, error) {
	r.config, r.last = cfg, nil
	var err error
	if cfg.DryRun != "" {
		err = fmt.Errorf("blue-green of service %s: a dry run (%s) is planned with Plan, not run", r.key(), cfg.DryRun)
	} else {
		err = op(ctx)
	}
	res := &Result{Service: r.key()}
	if r.last != nil {
		res.OperationID, res.Phase, res.Result, res.Message = r.last.ID, r.last.Phase, r.last.Result, r.last.Message
	}
	return res, err
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

// discover checks the colours of the Config and reads the Service, its
// colours and their Deployments: the first step of every operation.
func (r *Runner) discover(ctx context.Context) (*Snapshot, error) {
	if err := r.Colours.Validate(); err != nil {
		return nil, err
	}
	if snap := r.Prefetched; snap != nil {
		r.Prefetched = nil
		if snap.Key() == r.key() {
			return snap, nil
		}
	}
	return Discover(ctx, r.Client, r.Namespace, r.Service, r.Services, r.Colours)
}
