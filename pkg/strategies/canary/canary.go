// Package canary runs canary releases of a Deployment: a copy of it named
// NAME-canary with the new pod template and a track label, whose share of the
// traffic grows step by step, split by replica ratio behind the Service both
// are selected by, or by exact weights through a router (Gateway API
// HTTPRoute, Istio VirtualService, SMI TrafficSplit, NGINX ingress canary).
//
// Capacity never drops below the N replicas the stable Deployment had at the
// start: whichever side grows is scaled up and Ready before the other side is
// scaled down, and the router's weights move in between.
//
// The stable Deployment is never given a track label: its selector is
// immutable and adding a label to its pod template would restart every stable
// pod before the release even begins. The stable pods are told apart from the
// canary's instead by the pod-template-hash of the stable's current
// ReplicaSet, which the NAME-stable Service of a weighted router selects in
// addition to the stable's matchLabels; the canary's pods carry
// track=canary (--track-label) and the NAME-canary Service selects that.
// When the release ends the hash is dropped from the NAME-stable selector, so
// that later rollouts of the stable keep being served through it.
//
// The record of the operation lives in zdd.dev/ annotations on the stable
// Deployment (strategy "canary", phase step-N), and a Lease named
// state.LeaseName("deployment", NAME) keeps two runs apart.
package canary

import (
	"context"
	"fmt"
	"io"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// Strategy is the strategy name in the operation record.
const Strategy = "canary"

// Param keys of the operation record (zdd.dev/param.KEY).
const (
	ParamWeight   = "weight"
	ParamSteps    = "steps"
	ParamRouter   = "router"
	ParamReplicas = "replicas"
	ParamService  = "service"
	ParamCanary   = "canary"
	ParamTrack    = "track"
	ParamPauses   = "pauses"
	ParamManual   = "manual"
	ParamAnalysis = "analysis"
	// ParamAnalysisSpec is the analysis (analysis.EncodeParam) that resume
	// and promote run again.
	ParamAnalysisSpec = "analysis-spec"
	ParamStrategy     = "stable-strategy"
	// ParamTemplate is the canary's pod template (JSON), recorded at phase
	// start so that resume can create the canary of a run killed before it.
	ParamTemplate = "template"
)

// CanaryOfAnnotation marks a canary Deployment with the stable it belongs to.
const CanaryOfAnnotation = "zdd.dev/canary-of"

// Config is one canary operation: `kubectl zdd canary` (Run), `canary
// promote` (Promote: Namespace, Name, Full, ForceUnlock, Timeout) or `canary
// abort` (Abort: Namespace, Name, ForceUnlock, Timeout).
type Config struct {
	Namespace string
	Name      string // the stable Deployment
	// Timeout bounds each wait (a Deployment settling, the Service's
	// endpoints reaching a step's split); 0: only ctx bounds them.
	Timeout time.Duration
	// Full (promote) finishes the release whatever step it holds at.
	Full bool
	// Images (container -> image) are set in the canary's copy of the
	// stable's pod template; Template, when set (-f), replaces the template.
	Images   map[string]string
	Template *corev1.PodTemplateSpec
	// Steps are canary weights in percent, increasing; Pauses has one
	// duration for every step, or one for all.
	Steps  []int
	Pauses []time.Duration
	// Manual holds after each step until `kubectl zdd canary promote`.
	// Hold holds after the last step (a single --weight) instead of finishing.
	Manual bool
	Hold   bool
	// TrackKey=TrackValue labels the canary's pods.
	TrackKey, TrackValue string
	// Service users reach; found from the stable's pod labels when empty.
	Service string
	// RouterKind is traffic.RouterReplicaRatio (or empty) or a weighted router
	// of RouterObject.
	RouterKind, RouterObject string
	// AnalysisFile is recorded for display; AnalysisSpec (the analysis
	// itself, with its Job files) is recorded so that promote and resume run
	// the same analysis without the file.
	AnalysisFile string
	AnalysisSpec *analysis.Spec
	ForceUnlock  bool
	// Params are recorded beside the release's own, as they are (the
	// probe's settings, for resume).
	Params map[string]string
	// DryRun, when set (strategies.DryRunClient or DryRunServer), is for
	// DryRun: the plan of the release, with the writes checked by the API
	// server (dryRun=All) for server. Run refuses a Config with it set.
	DryRun string
}

// AnalyzerFor runs spec with an analysis.Runner whose headers read what
// AnalysisEnv allows and whose Jobs are created after the fencing check
// (nil spec: no analysis).
func (c *Canary) AnalyzerFor(spec *analysis.Spec) analysis.Analyzer {
	return analysis.Runner{Kube: c.Client, Out: c.Out, EnvAllowed: c.AnalysisEnv, BeforeJob: c.fenced}.For(spec)
}

// RecordedAnalysis decodes the analysis recorded in op (nil when none). A
// record that cannot be read is a usage error naming the deployment.
func RecordedAnalysis(op *state.Operation, ref string) (*analysis.Spec, error) {
	if op == nil || op.Params[ParamAnalysisSpec] == "" {
		return nil, nil
	}
	spec, err := analysis.DecodeParam(op.Params[ParamAnalysisSpec])
	if err != nil {
		return nil, exitcode.Usagef("deployment %q: canary record: %w", ref, err)
	}
	return spec, nil
}

// Canary runs canary operations against a cluster.
type Canary struct {
	Client    kubernetes.Interface
	Dynamic   dynamic.Interface
	Discovery discovery.DiscoveryInterface
	Out       io.Writer
	// Analysis is run during each pause (nil: no analysis).
	Analysis analysis.Analyzer
	// Interrupt is closed when the user asks the run to stop (Ctrl-C,
	// SIGTERM): the step in progress is finished to a consistent state, the
	// phase is recorded with the result "interrupted" and the run returns an
	// exit-3 error naming resume and abort. nil: never interrupted. The
	// context passed to Run is the run's --deadline, not the signal: its end
	// aborts the release.
	Interrupt <-chan struct{}
	// Now and After are swapped by tests.
	Now   func() time.Time
	After func(time.Duration) <-chan time.Time
	// LeaseDuration and Clock are the Lease's (tests); the defaults when
	// unset.
	LeaseDuration time.Duration
	Clock         clock.Clock
	// AnalysisEnv says which variables the headers of a recorded analysis
	// may read (analysis.RecordedEnv(--allow-env)); nil: the default for
	// a recorded spec, ZDD_ ones only.
	AnalysisEnv func(string) bool
	// Tripwire fails the release from outside, as a failing analysis does
	// (the canary is pulled back): the request probe's budget (nil: none).
	Tripwire strategies.Tripwire
	// Events hears the phases, the analyses and the endpoint watch (nil:
	// nothing).
	Events strategies.Events

	// timeout is the Config's Timeout of the operation in progress.
	timeout time.Duration
	// fence is the operation's Lease, checked right before each write: the
	// Lock this run took, or the caller's under resume and abort.
	fence state.Fence
}

// Result is what a canary operation ends with: the operation recorded on
// the stable Deployment as the operation left it (empty when it never got
// that far).
type Result struct {
	Deployment  string `json:"deployment"`
	OperationID string `json:"operationId,omitempty"`
	Phase       string `json:"phase,omitempty"`
	Result      string `json:"result,omitempty"`
	Message     string `json:"message,omitempty"`
}

// resultOf fills res from p's operation (p nil: only the Deployment).
func resultOf(res *Result, cfg Config, p *plan) {
	res.Deployment = cfg.Namespace + "/" + cfg.Name
	if p == nil || p.op == nil {
		return
	}
	res.OperationID, res.Phase, res.Result, res.Message = p.op.ID, p.op.Phase, p.op.Result, p.op.Message
}

// waitLimit bounds one wait by the operation's Timeout.
func (c *Canary) waitLimit(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

func (c *Canary) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Canary) after(d time.Duration) <-chan time.Time {
	if c.After != nil {
		return c.After(d)
	}
	return time.After(d)
}

func (c *Canary) printf(format string, a ...any) {
	if c.Out != nil {
		fmt.Fprintf(c.Out, format+"\n", a...)
	}
}
