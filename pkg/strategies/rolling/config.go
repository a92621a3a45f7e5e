// Package rolling is the guarded rolling update behind `kubectl zdd
// rollout`: preflight lint, an optional migration Job, the change applied
// with a precondition, a watch of the Deployment and of its new pods, an
// optional metric analysis, and an automatic rollback to the previous
// revision when anything fails. Every step is over client-go interfaces; the
// caller prints.
package rolling

import (
	"fmt"
	"io"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// Strategy is the name recorded in zdd.dev/strategy.
const Strategy = "rollout"

// Phases recorded in zdd.dev/phase.
const (
	PhasePreflight = "preflight"
	PhaseMigrate   = "migrate"
	PhaseApply     = "apply"
	PhaseWatch     = "watch"
	PhaseAnalysis  = "analysis"
	PhaseRollback  = "rollback"
	PhaseDone      = "done"
)

// Dry-run modes (--dry-run).
const (
	DryRunNone   = ""
	DryRunClient = "client"
	DryRunServer = "server"
)

// DeploymentsResource is what the operation record is written on.
var DeploymentsResource = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}

// Config is one release, as the user asked for it.
type Config struct {
	Namespace string
	// Name of the Deployment (from deployment/NAME or the manifest).
	Name string
	// Images to set (--image C=IMG); or Manifest (-f) to apply.
	Images         map[string]string
	Manifest       *unstructured.Unstructured
	ManifestSource string
	// MigrationJob (--migration-job), already checked by migration.Validate.
	MigrationJob    *batchv1.Job
	MigrationSource string
	Timeout         time.Duration
	MaxRestarts     int32
	NoRollback      bool
	// Force goes on despite error-level lint findings.
	Force bool
	// FixStrategy sets maxUnavailable 0 and maxSurge 25% in what is applied.
	FixStrategy bool
	// ForceUnlock takes the Lease even when another run holds it.
	ForceUnlock bool
	DryRun      string
	ChangeCause string
	// Analysis (--analysis) runs after the rollout completes, or alongside
	// it with AnalysisDuring (--analysis-during).
	Analysis       *analysis.Spec
	AnalysisDuring bool
	// Fix applies lint's mechanical fixes (preStop sleep, grace period,
	// maxUnavailable 0 / maxSurge 1, readiness from liveness) to what is
	// applied, in the same rollout (--fix).
	Fix bool
	// Tripwire fails the release from outside, as a failing analysis
	// does: the request probe's budget (nil: none).
	Tripwire strategies.Tripwire
	// Params are recorded beside the release's own (zdd.dev/param.<key>),
	// as they are: the probe's settings, for resume.
	Params map[string]string
}

// Rollout runs releases. Fields other than Kube and Dynamic are optional.
type Rollout struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Log gets one line per step (and lint findings, migration output).
	Log io.Writer
	// OnProgress is called on every change of the Deployment while watching.
	OnProgress func(kube.Progress)
	// Lint audits the Deployment as it will be applied; lint.AuditDeployment
	// (with the Services that select it) by default.
	Lint func(d *appsv1.Deployment) ([]lint.Finding, error)
	// AnalysisOut gets one line per measurement (may be nil).
	AnalysisOut io.Writer
	// Now and NewID are swapped by tests.
	Now   func() time.Time
	NewID func(time.Time) string
	// NoDowntimeWatch turns off the endpoint watch (unit tests).
	NoDowntimeWatch bool
	// LeaseDuration and Clock are the Lease's (tests); the defaults when
	// unset.
	LeaseDuration time.Duration
	Clock         clock.Clock
	// AnalysisEnv says which variables the analysis' headers may read
	// (resume: analysis.RecordedEnv(--allow-env)); nil: any.
	AnalysisEnv func(string) bool
	// Events hears the phases, the analysis and the endpoint watch (nil:
	// nothing).
	Events strategies.Events

	logMu sync.Mutex
}

// Step is one line of a plan.
type Step struct {
	Name   string `json:"name"`
	Detail string `json:"detail"`
	// Patch is the exact body sent for a write step, when there is one.
	Patch string `json:"patch,omitempty"`
}

// Downtime is the figure printed at the end for one Service.
type Downtime struct {
	Service         string  `json:"service"`
	MinReady        int     `json:"minReady"`
	ZeroForSeconds  float64 `json:"zeroForSeconds"`
	ObservedSeconds float64 `json:"observedSeconds"`
	// BlindForSeconds is how long the watch was cut off from the API
	// server (Lost times): what the Service looked like then is unknown,
	// and not counted in MinReady or ZeroForSeconds.
	BlindForSeconds float64 `json:"blindForSeconds,omitempty"`
	Lost            int     `json:"lost,omitempty"`
}

// Result is what a release did; -o json prints it.
type Result struct {
	Deployment       string            `json:"deployment"`
	OperationID      string            `json:"operationId"`
	Result           string            `json:"result"`
	Reason           string            `json:"reason,omitempty"`
	DryRun           string            `json:"dryRun,omitempty"`
	FromRevision     string            `json:"fromRevision,omitempty"`
	ToRevision       string            `json:"toRevision,omitempty"`
	RestoredRevision string            `json:"restoredRevision,omitempty"`
	Images           map[string]string `json:"images,omitempty"`
	MigrationJob     string            `json:"migrationJob,omitempty"`
	Findings         []lint.Finding    `json:"findings,omitempty"`
	// Fixes are the changes --fix made to what was applied.
	Fixes           []string         `json:"fixes,omitempty"`
	Progress        *kube.Progress   `json:"progress,omitempty"`
	Analysis        *analysis.Result `json:"analysis,omitempty"`
	Downtime        []Downtime       `json:"downtime"`
	Plan            []Step           `json:"plan,omitempty"`
	DurationSeconds float64          `json:"durationSeconds"`
}

// settleLimit bounds the wait, with a request probe, for the pods a
// rollout replaced to stop.
const settleLimit = 2 * time.Minute

// ResultDryRun is Result.Result for a dry run.
const ResultDryRun = "dry-run"

func (r *Rollout) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Rollout) logf(format string, a ...any) {
	if r.Log != nil {
		// the lease's renew goroutine logs too (OnContact)
		r.logMu.Lock()
		defer r.logMu.Unlock()
		fmt.Fprintf(r.Log, format+"\n", a...)
	}
}
