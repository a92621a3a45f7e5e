// Package rolling is the guarded rolling update behind `kubectl zdd
// rollout`: preflight lint, an optional migration Job, the change applied
// with a precondition, a watch of the Deployment and of its new pods, an
// optional metric analysis, and an automatic rollback to the previous
// revision when anything fails. Every step is over client-go interfaces; the
// caller prints.
package rolling

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
	"github.com/zdd-dev/kubectl-zdd/pkg/migration"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
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

// release is the state of one Run.
type release struct {
	cfg      Config
	ref      string
	op       *state.Operation
	live     *appsv1.Deployment // nil when -f creates the Deployment
	desired  *appsv1.Deployment
	rss      []appsv1.ReplicaSet
	patch    []byte
	patchTyp types.PatchType
	job      *batchv1.Job
	services []string
	// serviceObjs are the Services in services, for the preflight's
	// cross-object rules (a container without a readiness probe is an error
	// only when a Service sends it traffic).
	serviceObjs []corev1.Service
	res         *Result
	// w writes the record, with the guard that judges every change of the
	// Deployment by others; nil until there is a Deployment to write on.
	w *recordWriter
	// fence is the operation's lease, checked right before each write
	// (the Lock the run took, or resume's); nil in a dry run.
	fence state.Fence
}

// Run performs the release. The error carries the exit code: 1 when the
// release failed (rolled back or not), 2 for bad input (nothing changed), 3
// when the rollback itself failed.
func (r *Rollout) Run(ctx context.Context, cfg Config) (*Result, error) {
	start := r.now()
	rel, err := r.prepare(ctx, cfg, start)
	if err != nil {
		return nil, err
	}
	res := rel.res
	defer func() { res.DurationSeconds = r.now().Sub(start).Seconds() }()

	// 1. Preflight.
	if err := r.preflight(rel); err != nil {
		res.Result = state.ResultFailed
		res.Reason = err.Error()
		return res, err
	}
	if cfg.DryRun != DryRunNone {
		return res, r.dryRun(ctx, rel)
	}

	// The Lease for the whole operation.
	lock := &state.Lock{Client: r.Kube.CoordinationV1(), Namespace: cfg.Namespace, Name: state.LeaseName("deployment", cfg.Name), Holder: state.Identity(rel.op.ID),
		Duration: r.LeaseDuration, Clock: r.Clock,
		OnContact: func(ev state.ContactEvent) { r.logf("%s", ev) },
		OnWait:    func(ev state.WaitEvent) { r.logf("%s", ev) }}
	if err := lock.Acquire(ctx, cfg.ForceUnlock); err != nil {
		var held *state.HeldError
		if errors.As(err, &held) {
			return nil, exitcode.Failedf("deployment %q is being released by another run, nothing changed: %w", rel.ref, err)
		}
		return nil, exitcode.Failedf("deployment %q: %w", rel.ref, err)
	}
	defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
	if lock.Previous != "" {
		r.logf("took over the lease of deployment %q from %q", rel.ref, lock.Previous)
	}
	rel.op.Holder = lock.Holder
	rel.fence = lock
	// the context ends with the *state.LostError when the lease is lost
	ctx, cancel := lock.Context(ctx)
	defer cancel(nil)

	// Watch the Services' endpoints from before the first change.
	watchers := r.startDowntime(ctx, rel)
	finishDowntime := func() {
		for _, w := range watchers {
			rep := w.Stop()
			res.Downtime = append(res.Downtime, Downtime{Service: rep.Service, MinReady: rep.MinReady, ZeroForSeconds: rep.ZeroFor.Seconds(), ObservedSeconds: rep.Stopped.Sub(rep.Started).Seconds(),
				BlindForSeconds: rep.BlindFor().Seconds(), Lost: len(rep.Gaps)})
		}
		watchers = nil
	}
	defer finishDowntime()

	// 1b. Record what the release asks for, before anything changes, so
	// resume can finish it if this client dies (not when -f creates the
	// Deployment: there is nothing to record on yet). The write carries the
	// resourceVersion read, like every later one.
	if rel.live != nil {
		// the first record carries the resourceVersion read before the
		// Lease was taken: a record another run wrote meanwhile stops it
		rel.w = r.writerFor(rel, rel.live, "while the rollout prepared it")
		if err := r.recordFirst(ctx, rel); err != nil {
			if lost := state.LeaseLost(err); lost != nil {
				return res, r.stopLost(rel, lost)
			}
			res.Result = state.ResultFailed
			res.Reason = err.Error()
			if IsForeignChange(err) {
				return res, exitcode.Failedf("deployment %q: %w; nothing was changed, run again", rel.ref, err)
			}
			return res, exitcode.Failedf("deployment %q: %w; nothing was changed", rel.ref, err)
		}
	}

	// 2. Migration. The Deployment is not touched before it succeeds.
	if rel.job != nil {
		if rel.w != nil {
			if err := r.record(ctx, rel, PhaseMigrate, "", ""); err != nil {
				return r.stoppedBeforeApply(ctx, rel, err)
			}
		}
		if err := r.migrate(ctx, rel, false); err != nil {
			return res, err
		}
	}

	// 3. Apply.
	applied, err := r.applyRecorded(ctx, rel)
	if err != nil {
		return res, err
	}
	return r.carryOn(ctx, rel, applied, finishDowntime)
}

// recordFirst writes the first record (phase preflight, with the request
// in params), removing the params an earlier operation left.
func (r *Rollout) recordFirst(ctx context.Context, rel *release) error {
	rel.op.Phase = PhasePreflight
	return rel.w.save(context.WithoutCancel(ctx), rel.op, staleParams(rel.live.Annotations, rel.op)...)
}

// stopLost ends a release whose lease is lost without any further write:
// the record keeps the phase it holds (in flight), for resume or abort.
func (r *Rollout) stopLost(rel *release, lost *state.LostError) error {
	rel.res.Result = state.ResultFailed
	rel.res.Reason = lost.Error()
	phase := rel.op.Phase
	if rel.w != nil && rel.w.guard.base != nil {
		if p := rel.w.guard.base.Annotations[state.KeyPhase]; p != "" {
			// what the record on the Deployment holds, as last seen
			phase = p
		}
	}
	return exitcode.NeedsPersonf("deployment %q: %v; the release was left as it was, no further change was made: %s", rel.ref, lost, state.StoppedHint("deployment", rel.cfg.Namespace, rel.cfg.Name, phase))
}

// lostOf returns why the release's lease is lost (err, ctx or the fence
// say so), nil while it is held.
func (rel *release) lostOf(ctx context.Context, err error) *state.LostError {
	return state.Lost(ctx, err, rel.fence)
}

// fenced is the check right before each write of the release.
func (rel *release) fenced(ctx context.Context) error {
	if rel.fence == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return rel.fence.Check(ctx)
}

// migrate runs the migration Job (resumed: waits for the one the killed run
// created, or creates it when it was not). On failure the record says so
// and the Deployment is not changed.
func (r *Rollout) migrate(ctx context.Context, rel *release, resumed bool) error {
	cfg, res := rel.cfg, rel.res
	ref := cfg.Namespace + "/" + rel.job.Name
	mctx, mcancel := context.WithTimeout(ctx, cfg.Timeout)
	defer mcancel()
	var err error
	existing, gerr := r.Kube.BatchV1().Jobs(cfg.Namespace).Get(ctx, rel.job.Name, metav1.GetOptions{})
	switch {
	case resumed && gerr == nil && existing != nil:
		r.logf("migrate: waiting for job %q, created by the interrupted run", ref)
		if _, err = migration.Wait(mctx, r.Kube, cfg.Namespace, rel.job.Name); err != nil {
			err = exitcode.FailedError(fmt.Errorf("%w: %w\n%s", migration.ErrFailed, err, migration.Describe(context.WithoutCancel(ctx), r.Kube, cfg.Namespace, rel.job.Name)))
		}
	default:
		r.logf("migrate: running job %q", ref)
		if err = rel.fenced(ctx); err == nil {
			_, err = migration.Run(mctx, r.Kube, rel.job, nil, r.Log)
		}
	}
	if lost := rel.lostOf(ctx, err); lost != nil {
		return r.stopLost(rel, lost)
	}
	if err == nil {
		return nil
	}
	res.Result = state.ResultFailed
	res.Reason = fmt.Sprintf("migration job %q failed; deployment %q was not changed", ref, rel.ref)
	if rel.w != nil {
		_ = r.recordAnyway(ctx, rel, PhaseMigrate, state.ResultFailed, res.Reason)
	}
	return exitcode.Failedf("%s: %w", res.Reason, err)
}

// stoppedBeforeApply ends a release whose record could not be written
// before the apply: nothing was changed.
func (r *Rollout) stoppedBeforeApply(ctx context.Context, rel *release, err error) (*Result, error) {
	if lost := rel.lostOf(ctx, err); lost != nil {
		return rel.res, r.stopLost(rel, lost)
	}
	rel.res.Result = state.ResultFailed
	rel.res.Reason = err.Error()
	if IsForeignChange(err) {
		_ = r.recordAnyway(ctx, rel, rel.op.Phase, state.ResultFailed, err.Error()+"; nothing was changed")
	}
	return rel.res, exitcode.Failedf("deployment %q: %w; nothing was changed", rel.ref, err)
}

// applyRecorded records phase apply, then sends the change with the
// resourceVersion of the version last judged; on a conflict it re-reads the
// Deployment and retries when what changed is not what the rollout manages
// (a scale, a label), and stops naming the change otherwise.
func (r *Rollout) applyRecorded(ctx context.Context, rel *release) (*appsv1.Deployment, error) {
	res := rel.res
	if rel.w != nil {
		if err := r.record(ctx, rel, PhaseApply, "", ""); err != nil {
			_, err = r.stoppedBeforeApply(ctx, rel, err)
			return nil, err
		}
	}
	rel.op.Phase = PhaseApply
	var applied *appsv1.Deployment
	var err error
	for try := 0; ; try++ {
		if rel.w != nil {
			rel.live = rel.w.guard.base
			if rel.patch, rel.patchTyp, err = r.buildPatch(rel); err != nil {
				break
			}
		}
		applied, err = r.apply(ctx, rel, nil)
		if err == nil || !apierrors.IsConflict(err) || rel.w == nil || try >= 4 {
			break
		}
		fresh, gerr := r.Kube.AppsV1().Deployments(rel.cfg.Namespace).Get(ctx, rel.cfg.Name, metav1.GetOptions{})
		if gerr != nil {
			break
		}
		if ferr := rel.w.guard.observe(fresh); ferr != nil {
			err = ferr
			break
		}
	}
	if lost := rel.lostOf(ctx, err); err != nil && lost != nil {
		return nil, r.stopLost(rel, lost)
	}
	if err != nil {
		res.Result = state.ResultFailed
		res.Reason = err.Error()
		if rel.w != nil {
			_ = r.recordAnyway(ctx, rel, PhaseApply, state.ResultFailed, err.Error()+"; nothing was changed")
		}
		if IsForeignChange(err) {
			return nil, exitcode.Failedf("applying to deployment %q: %w; nothing was changed, run again", rel.ref, err)
		}
		return nil, err
	}
	r.logf("apply: deployment %q updated (generation %d)", rel.ref, applied.Generation)
	if rel.w == nil {
		rel.w = r.writerFor(rel, applied, "while the rollout watched it")
	}
	rel.w.guard.accept(applied)
	rel.w.guard.while = "while the rollout watched it"
	rel.op.Params[ParamTemplate] = templateFingerprint(&applied.Spec.Template)
	return applied, nil
}

// writerFor is the record writer of a release, judging from base.
func (r *Rollout) writerFor(rel *release, base *appsv1.Deployment, while string) *recordWriter {
	return &recordWriter{kube: r.Kube, ns: rel.cfg.Namespace, name: rel.cfg.Name, now: r.Now, fence: rel.fence,
		guard: &guard{ref: rel.ref, base: base.DeepCopy(), while: while, logf: r.logf}}
}

// record writes the record with its precondition; a failure other than a
// change by another writer is only a warning.
func (r *Rollout) record(ctx context.Context, rel *release, phase, result, msg string) error {
	rel.op.Phase, rel.op.Result, rel.op.Message = phase, result, msg
	err := rel.w.save(context.WithoutCancel(ctx), rel.op)
	if err != nil && !IsForeignChange(err) && state.LeaseLost(err) == nil {
		var changed *state.RecordChangedError
		if errors.As(err, &changed) {
			return err
		}
		r.logf("warning: %v", err)
		return nil
	}
	return err
}

// recordAnyway writes a final record even over another writer's change.
func (r *Rollout) recordAnyway(ctx context.Context, rel *release, phase, result, msg string) error {
	rel.op.Phase, rel.op.Result, rel.op.Message = phase, result, msg
	err := rel.w.saveAnyway(context.WithoutCancel(ctx), rel.op)
	if err != nil {
		r.logf("warning: %v", err)
	}
	return err
}

// carryOn watches the applied release (and its analysis) and ends it:
// done, paused, stopped because another writer changed it, or rolled back.
// resume joins here too.
func (r *Rollout) carryOn(ctx context.Context, rel *release, applied *appsv1.Deployment, finishDowntime func()) (*Result, error) {
	cfg, res := rel.cfg, rel.res
	// 4./5. Watch, and detect failure.
	rel.op.Phase = PhaseWatch
	final, failure := r.watch(ctx, rel, applied)
	if final != nil {
		p := kube.DeploymentProgress(final)
		res.Progress = &p
		if rev := kube.Revision(final); rev > 0 {
			res.ToRevision = strconv.FormatInt(rev, 10)
			rel.op.ToRevision = res.ToRevision
		}
	}
	if lost := rel.lostOf(ctx, failure); lost != nil {
		// the lease is gone (contact with the API server lost, another run
		// took it, deleted): the record keeps the phase, nothing is rolled
		// back, nothing more is written
		return res, r.stopLost(rel, lost)
	}
	if failure == nil {
		failure = r.record(ctx, rel, PhaseDone, state.ResultSucceeded, "")
		if lost := rel.lostOf(ctx, failure); lost != nil {
			return res, r.stopLost(rel, lost)
		}
		if failure == nil {
			finishDowntime()
			res.Result = state.ResultSucceeded
			return res, nil
		}
	}
	if IsForeignChange(failure) {
		return r.stoppedByOther(ctx, rel, failure, "", finishDowntime)
	}
	if ctx.Err() != nil {
		// Interrupted (Ctrl-C, SIGTERM): no automatic rollback. The phase
		// stays recorded with the operation in flight, the deferred Release
		// frees the Lease, and the user chooses resume or abort.
		res.Result = state.ResultInterrupted
		res.Reason = "interrupted"
		_ = r.record(ctx, rel, rel.op.Phase, "", "interrupted in phase "+rel.op.Phase)
		return res, exitcode.NeedsPersonf("deployment %q: interrupted in phase %s; the operation is recorded on the deployment and its lease released: run 'kubectl zdd resume deployment/%s' to carry it on, or 'kubectl zdd abort deployment/%s' to go back to revision %s", rel.ref, rel.op.Phase, cfg.Name, cfg.Name, rel.op.FromRevision)
	}
	if errors.Is(failure, errInconclusive) {
		res.Result = state.ResultPaused
		res.Reason = failure.Error()
		_ = r.recordAnyway(ctx, rel, PhaseAnalysis, state.ResultPaused, res.Reason)
		return res, exitcode.Failedf("deployment %q: %s; the new revision stays in place: run 'kubectl zdd rollout' again to re-check it, or 'kubectl zdd rollback deployment/%s' to go back", rel.ref, res.Reason, cfg.Name)
	}

	// 6. Roll back.
	res.Reason = failure.Error()
	if cfg.NoRollback || rel.op.FromRevision == "" {
		why := "--no-rollback was given"
		if !cfg.NoRollback {
			why = "there is no previous revision"
		}
		_ = r.recordAnyway(ctx, rel, PhaseWatch, state.ResultFailed, res.Reason)
		res.Result = state.ResultFailed
		return res, exitcode.Failedf("release of deployment %q failed: %s; not rolled back (%s)", rel.ref, res.Reason, why)
	}
	if err := r.record(ctx, rel, PhaseRollback, "", res.Reason); err != nil {
		if lost := rel.lostOf(ctx, err); lost != nil {
			return res, r.stopLost(rel, lost)
		}
		return r.stoppedByOther(ctx, rel, err, res.Reason, finishDowntime)
	}
	r.logf("rollback: release failed (%s); restoring revision %s", res.Reason, rel.op.FromRevision)
	from, _ := strconv.ParseInt(rel.op.FromRevision, 10, 64)
	rb, err := Rollback(context.WithoutCancel(ctx), r.Kube, RollbackConfig{Namespace: cfg.Namespace, Name: cfg.Name, ToRevision: from, Current: &rel.w.guard.base.Spec.Template, Timeout: cfg.Timeout, ChangeCause: "kubectl zdd rollout: automatic rollback to revision " + rel.op.FromRevision, OnProgress: r.OnProgress, Log: r.Log, Fence: rel.fence})
	if err != nil {
		if lost := rel.lostOf(ctx, err); lost != nil {
			return res, r.stopLost(rel, lost)
		}
		if IsForeignChange(err) {
			return r.stoppedByOther(ctx, rel, err, res.Reason, finishDowntime)
		}
		// the operation stays in flight in phase rollback: resume tries
		// the rollback again, abort accepts it; nothing else may start
		// over it meanwhile
		_ = r.recordAnyway(ctx, rel, PhaseRollback, "", "rollback failed: "+err.Error()+"; the release failed: "+res.Reason)
		res.Result = state.ResultFailed
		return res, exitcode.NeedsPersonf("release of deployment %q failed (%s) and the rollback to revision %s failed too: %w; the operation stays in flight in phase rollback: run 'kubectl zdd resume deployment/%s' to try the rollback again, or 'kubectl zdd abort deployment/%s'", rel.ref, res.Reason, rel.op.FromRevision, err, cfg.Name, cfg.Name)
	}
	res.RestoredRevision = strconv.FormatInt(rb.Restored, 10)
	if rb.Progress != nil {
		res.Progress = rb.Progress
	}
	if fresh, gerr := r.Kube.AppsV1().Deployments(cfg.Namespace).Get(ctx, cfg.Name, metav1.GetOptions{}); gerr == nil {
		// the rollback is the rollout's own change: judge from it
		rel.w.guard.accept(fresh)
	}
	_ = r.recordAnyway(ctx, rel, PhaseDone, state.ResultRolledBack, res.Reason)
	finishDowntime()
	res.Result = state.ResultRolledBack
	return res, exitcode.Failedf("release of deployment %q failed: %s; rolled back to revision %s (the pod template of revision %s, now revision %d)", rel.ref, res.Reason, rel.op.FromRevision, rel.op.FromRevision, rb.NewRevision)
}

// stoppedByOther ends a release that another writer changed: the record
// says what changed and who changed it, and nothing is rolled back over it.
func (r *Rollout) stoppedByOther(ctx context.Context, rel *release, err error, failed string, finishDowntime func()) (*Result, error) {
	res := rel.res
	res.Result = state.ResultFailed
	var fc *kube.ChangedError
	if errors.As(err, &fc) {
		// the change itself, not the wait it interrupted
		err = fc
		if d := changedDeployment(fc); d != nil {
			rel.w.guard.accept(d)
		}
	}
	res.Reason = err.Error() + "; the release is no longer the one requested: nothing was rolled back"
	if failed != "" {
		res.Reason = "the release failed (" + failed + ") but " + err.Error() + "; nothing was rolled back over that change"
	}
	_ = r.recordAnyway(ctx, rel, rel.op.Phase, state.ResultFailed, res.Reason)
	finishDowntime()
	return res, exitcode.Failedf("deployment %q: %s; see it with 'kubectl zdd status deployment/%s'", rel.ref, res.Reason, rel.cfg.Name)
}

var errInconclusive = errors.New("analysis inconclusive")

// prepare reads the live Deployment and builds what will be applied.
func (r *Rollout) prepare(ctx context.Context, cfg Config, start time.Time) (*release, error) {
	newID := state.NewID
	if r.NewID != nil {
		newID = r.NewID
	}
	op := state.NewOperation(Strategy, start)
	op.ID = newID(start)
	rel := &release{cfg: cfg, ref: cfg.Namespace + "/" + cfg.Name, op: op}
	rel.res = &Result{Deployment: rel.ref, OperationID: op.ID, DryRun: cfg.DryRun, Images: cfg.Images, Downtime: []Downtime{}}

	live, err := r.Kube.AppsV1().Deployments(cfg.Namespace).Get(ctx, cfg.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err) && cfg.Manifest != nil:
		live = nil
	case apierrors.IsNotFound(err):
		return nil, exitcode.Usagef("deployment %q not found", rel.ref)
	case err != nil:
		return nil, fmt.Errorf("reading deployment %q: %w", rel.ref, err)
	}
	rel.live = live
	if other, ok := state.FromAnnotations(annotationsOf(live)); ok && other.Strategy != Strategy && other.Unfinished() {
		return nil, exitcode.Usagef("deployment %q has an unfinished %s operation (%s, phase %s, %s): run 'kubectl zdd resume deployment/%s' or 'kubectl zdd abort deployment/%s' first", rel.ref, other.Strategy, other.ID, other.Phase, resultText(other), cfg.Name, cfg.Name)
	}

	if cfg.Manifest != nil {
		d := &appsv1.Deployment{}
		if err := kube.ToTyped(cfg.Manifest, d); err != nil {
			return nil, exitcode.Usagef("%s: %w", cfg.ManifestSource, err)
		}
		d.Namespace = cfg.Namespace
		rel.desired = d
	} else {
		rel.desired = live.DeepCopy()
		if err := kube.SetImages(&rel.desired.Spec.Template.Spec, cfg.Images); err != nil {
			return nil, exitcode.Usagef("deployment %q: %w", rel.ref, err)
		}
	}
	rel.desired.APIVersion, rel.desired.Kind = "apps/v1", "Deployment"
	if err := runnable(rel.ref, rel.desired, live, cfg.Manifest); err != nil {
		return nil, err
	}
	if cfg.FixStrategy {
		fixStrategy(rel.desired)
	}
	if live != nil {
		op.FromRevision = revString(kube.Revision(live))
		rel.res.FromRevision = op.FromRevision
		rel.rss, err = kube.ReplicaSetsOf(ctx, r.Kube, live)
		if err != nil {
			return nil, err
		}
	}
	if cfg.MigrationJob != nil {
		rel.job = migration.Prepare(cfg.MigrationJob, cfg.Namespace, cfg.Name, migration.PhaseExpand, op.ID)
		rel.res.MigrationJob = rel.job.Name
	}
	if op.Params, err = requestParams(cfg, rel.job); err != nil {
		return nil, err
	}
	if live != nil {
		op.Params[ParamFromTemplate] = templateFingerprint(&live.Spec.Template)
	}
	rel.services, rel.serviceObjs, err = r.servicesFor(ctx, rel)
	if err != nil {
		return nil, err
	}
	if cfg.Fix {
		if err := r.fixDesired(rel); err != nil {
			return nil, err
		}
	}
	if rel.patch, rel.patchTyp, err = r.buildPatch(rel); err != nil {
		return nil, err
	}
	return rel, nil
}

// fixDesired applies --fix to what will be applied, so that the preflight
// judges the fixed Deployment, and prints and records each change.
func (r *Rollout) fixDesired(rel *release) error {
	fixed, changes, err := fixTyped(rel.desired, rel.serviceObjs)
	if err != nil {
		return exitcode.Usagef("--fix of deployment %q: %w", rel.ref, err)
	}
	rel.desired = fixed
	rel.desired.APIVersion, rel.desired.Kind = "apps/v1", "Deployment"
	rel.res.Fixes = changes
	if len(changes) == 0 {
		r.logf("fix: deployment %q: nothing to fix", rel.ref)
		return nil
	}
	for _, c := range changes {
		r.logf("fix: deployment %q: %s", rel.ref, c)
	}
	b, err := json.Marshal(changes)
	if err != nil {
		return err
	}
	rel.op.Params[ParamFixes] = string(b)
	return nil
}

// runnable refuses a release that cannot be watched to its end: a paused
// Deployment never rolls out (the watch would wait for --timeout), and one
// of 0 replicas "succeeds" with nothing running. desired is what is
// applied, live what runs (nil when -f creates it); a manifest (-f) that
// leaves spec.paused or spec.replicas out keeps the live values.
func runnable(ref string, desired, live *appsv1.Deployment, manifest *unstructured.Unstructured) error {
	paused, replicas := desired.Spec.Paused, desired.Spec.Replicas
	if manifest != nil && live != nil {
		if _, found, _ := unstructured.NestedFieldNoCopy(manifest.Object, "spec", "paused"); !found {
			paused = live.Spec.Paused
		}
		if _, found, _ := unstructured.NestedFieldNoCopy(manifest.Object, "spec", "replicas"); !found {
			replicas = live.Spec.Replicas
		}
	}
	if paused {
		return exitcode.Usagef("deployment %q is paused (spec.paused: true): its rollout would never progress; run 'kubectl rollout resume deployment/%s' first", ref, desired.Name)
	}
	if replicas != nil && *replicas == 0 {
		return exitcode.Usagef("deployment %q has 0 replicas (spec.replicas: 0): a rollout of it would succeed with nothing running; scale it up first ('kubectl scale deployment/%s --replicas N')", ref, desired.Name)
	}
	return nil
}

func annotationsOf(d *appsv1.Deployment) map[string]string {
	if d == nil {
		return nil
	}
	return d.Annotations
}

func resultText(op *state.Operation) string {
	if op.Result == "" {
		return "in flight"
	}
	return op.Result
}

func revString(n int64) string {
	if n == 0 {
		return ""
	}
	return strconv.FormatInt(n, 10)
}

func fixStrategy(d *appsv1.Deployment) {
	zero, surge := intstr.FromInt32(0), intstr.FromString("25%")
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType, RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &surge}}
}

// recordAnnotations are the annotations the apply writes: the change cause
// and the operation record (phase apply).
func (rel *release) recordAnnotations() map[string]any {
	ann := map[string]any{}
	for k, v := range rel.op.Annotations() {
		if v != nil {
			ann[k] = *v
		}
	}
	if rel.cfg.ChangeCause != "" {
		ann[state.ChangeCauseKey] = rel.cfg.ChangeCause
	}
	return ann
}

// buildPatch renders the body of the apply: a strategic merge patch of the
// images (with a resourceVersion precondition), or the manifest for
// server-side apply (with the live resourceVersion when there is one).
func (r *Rollout) buildPatch(rel *release) ([]byte, types.PatchType, error) {
	rel.op.Phase = PhaseApply
	ann := rel.recordAnnotations()
	if rel.cfg.Manifest != nil {
		u := rel.cfg.Manifest.DeepCopy()
		if rel.cfg.Fix {
			fixed, _, err := fixObject(u.Object, rel.serviceObjs)
			if err != nil {
				return nil, "", exitcode.Usagef("--fix of deployment %q: %w", rel.ref, err)
			}
			u.Object = fixed
		}
		u.SetNamespace(rel.cfg.Namespace)
		a := u.GetAnnotations()
		if a == nil {
			a = map[string]string{}
		}
		for k, v := range ann {
			a[k] = v.(string)
		}
		u.SetAnnotations(a)
		if rel.live != nil {
			u.SetResourceVersion(rel.live.ResourceVersion)
		}
		if rel.cfg.FixStrategy {
			_ = unstructured.SetNestedMap(u.Object, map[string]any{
				"type":          "RollingUpdate",
				"rollingUpdate": map[string]any{"maxUnavailable": int64(0), "maxSurge": "25%"},
			}, "spec", "strategy")
		}
		unstructured.RemoveNestedField(u.Object, "status")
		b, err := json.Marshal(u.Object)
		return b, types.ApplyPatchType, err
	}
	if rel.cfg.Fix {
		// the images and the fixes, from the version read: a retry after
		// a conflict computes them again from the fresh one
		desired := rel.live.DeepCopy()
		if err := kube.SetImages(&desired.Spec.Template.Spec, rel.cfg.Images); err != nil {
			return nil, "", exitcode.Usagef("deployment %q: %w", rel.ref, err)
		}
		if rel.cfg.FixStrategy {
			fixStrategy(desired)
		}
		fixed, _, err := fixTyped(desired, rel.serviceObjs)
		if err != nil {
			return nil, "", exitcode.Usagef("--fix of deployment %q: %w", rel.ref, err)
		}
		body, err := fixPatch(rel.live, fixed)
		if err != nil {
			return nil, "", fmt.Errorf("deployment %q: %w", rel.ref, err)
		}
		body["metadata"] = map[string]any{"resourceVersion": rel.live.ResourceVersion, "annotations": ann}
		b, err := json.Marshal(body)
		return b, types.StrategicMergePatchType, err
	}
	var containers, inits []map[string]any
	names := make([]string, 0, len(rel.cfg.Images))
	for n := range rel.cfg.Images {
		names = append(names, n)
	}
	sort.Strings(names)
	isInit := map[string]bool{}
	for _, c := range rel.live.Spec.Template.Spec.InitContainers {
		isInit[c.Name] = true
	}
	for _, n := range names {
		c := map[string]any{"name": n, "image": rel.cfg.Images[n]}
		if isInit[n] {
			inits = append(inits, c)
		} else {
			containers = append(containers, c)
		}
	}
	podSpec := map[string]any{}
	if len(containers) > 0 {
		podSpec["containers"] = containers
	}
	if len(inits) > 0 {
		podSpec["initContainers"] = inits
	}
	spec := map[string]any{}
	if len(podSpec) > 0 {
		spec["template"] = map[string]any{"spec": podSpec}
	}
	if rel.cfg.FixStrategy {
		spec["strategy"] = map[string]any{"type": "RollingUpdate", "rollingUpdate": map[string]any{"maxUnavailable": 0, "maxSurge": "25%"}}
	}
	body := map[string]any{"metadata": map[string]any{"resourceVersion": rel.live.ResourceVersion, "annotations": ann}}
	if len(spec) > 0 {
		body["spec"] = spec
	}
	b, err := json.Marshal(body)
	return b, types.StrategicMergePatchType, err
}

func (r *Rollout) preflight(rel *release) error {
	rel.op.Phase = PhasePreflight
	audit := r.Lint
	if audit == nil {
		audit = func(d *appsv1.Deployment) ([]lint.Finding, error) { return lint.AuditDeployment(d, rel.serviceObjs) }
	}
	findings, err := audit(rel.desired)
	if err != nil {
		return exitcode.Usagef("preflight of deployment %q: %w", rel.ref, err)
	}
	rel.res.Findings = findings
	var errs, warns int
	for _, f := range findings {
		switch f.Severity {
		case lint.Error:
			errs++
		case lint.Warning:
			warns++
		}
	}
	r.logf("preflight: deployment %q as it will be applied: %d errors, %d warnings", rel.ref, errs, warns)
	for _, f := range findings {
		if f.Severity >= lint.Warning {
			field := f.Field
			if f.Container != "" {
				field = "container " + f.Container + ": " + field
			}
			r.logf("  %s %s %s: %s", f.Severity, f.Rule, field, f.Message)
		}
	}
	if errs > 0 && !rel.cfg.Force {
		return exitcode.UsageError(strategies.PreflightError("deployment", rel.ref, errs, rel.cfg.Fix))
	}
	if errs > 0 {
		r.logf("preflight: going on despite %d errors (--force)", errs)
	}
	return nil
}

// apply sends the patch (or server-side apply).
func (r *Rollout) apply(ctx context.Context, rel *release, dryRun []string) (*appsv1.Deployment, error) {
	deps := r.Kube.AppsV1().Deployments(rel.cfg.Namespace)
	if len(dryRun) == 0 {
		if err := rel.fenced(ctx); err != nil {
			return nil, err
		}
	}
	opts := metav1.PatchOptions{FieldManager: kube.FieldManager, DryRun: dryRun}
	if rel.patchTyp == types.ApplyPatchType {
		opts.Force = ptrTo(true)
	}
	d, err := deps.Patch(ctx, rel.cfg.Name, rel.patchTyp, rel.patch, opts)
	switch {
	case apierrors.IsConflict(err):
		return nil, exitcode.Failedf("applying to deployment %q: it changed since it was read (another writer?); nothing was changed, run again: %w", rel.ref, err)
	case apierrors.IsInvalid(err) || apierrors.IsBadRequest(err):
		return nil, exitcode.Usagef("applying to deployment %q: %w", rel.ref, err)
	case err != nil:
		return nil, exitcode.Failedf("applying to deployment %q: %w", rel.ref, err)
	}
	return d, nil
}

func ptrTo[T any](v T) *T { return &v }

// watch waits for the rollout (and the analysis), and returns the failure.
func (r *Rollout) watch(ctx context.Context, rel *release, applied *appsv1.Deployment) (*appsv1.Deployment, error) {
	cfg := rel.cfg
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// the probe's budget exceeded ends the watch and the analysis like a
	// failing analysis does
	strategies.CancelOnTrip(wctx, cfg.Tripwire, cancel)
	tctx, tcancel := context.WithTimeoutCause(wctx, cfg.Timeout, fmt.Errorf("new pods were not ready within --timeout %s", cfg.Timeout))
	defer tcancel()

	go func() {
		problems, err := kube.WatchNewPodProblems(tctx, r.Kube, applied, &applied.Spec.Template, cfg.MaxRestarts)
		if err == nil && len(problems) > 0 {
			cancel(fmt.Errorf("new pods are failing: %s", strings.Join(problems, "; ")))
		}
	}()

	var analysisDone chan struct{}
	var analysisRes *analysis.Result
	var analysisErr error
	runAnalysis := func(actx context.Context) {
		runner := &analysis.Runner{Kube: r.Kube, Out: r.AnalysisOut, EnvAllowed: r.AnalysisEnv, BeforeJob: rel.fenced}
		analysisRes, analysisErr = runner.Run(actx, cfg.Analysis, analysis.Vars{Namespace: cfg.Namespace, Name: cfg.Name, Version: rel.desired.Spec.Template.Labels["version"], Track: rel.desired.Spec.Template.Labels["track"], Revision: rel.op.ToRevision})
	}
	if cfg.Analysis != nil && cfg.AnalysisDuring {
		analysisDone = make(chan struct{})
		go func() {
			defer close(analysisDone)
			runAnalysis(wctx)
			if analysisErr == nil && analysisRes != nil && analysisRes.Verdict == analysis.Failed {
				cancel(fmt.Errorf("analysis failed: %s", analysisRes.Message))
			}
		}()
	}

	recorded := false
	rel.w.guard.while = "while the rollout watched it"
	final, err := kube.WaitForDeployment(tctx, r.Kube, cfg.Namespace, cfg.Name, nil, func(d *appsv1.Deployment, p kube.Progress) {
		if wctx.Err() != nil {
			return
		}
		// another writer's change of the template, selector or strategy
		// stops the watch; a scale carries on against the new count
		if ferr := rel.w.guard.observe(d); ferr != nil {
			cancel(ferr)
			return
		}
		if !recorded && p.Observed && kube.Revision(d) > 0 {
			recorded = true
			rel.op.ToRevision = strconv.FormatInt(kube.Revision(d), 10)
			if ferr := r.record(ctx, rel, PhaseWatch, "", ""); ferr != nil {
				cancel(ferr)
				return
			}
		}
		if r.OnProgress != nil {
			r.OnProgress(p)
		}
	})
	if err != nil {
		if cause := context.Cause(wctx); cause != nil && !errors.Is(err, cause) {
			err = cause
		}
		cancel(err)
		if analysisDone != nil {
			<-analysisDone
		}
		return final, err
	}
	r.logf("watch: deployment %q rolled out (revision %s)", rel.ref, rel.op.ToRevision)
	if cfg.Tripwire != nil && final != nil {
		// with a request probe the release is judged until the pods it
		// replaced have stopped (their preStop and drain are part of it,
		// and a new version's failures show in those seconds too): a trip
		// then still rolls back
		if sel, serr := metav1.LabelSelectorAsSelector(final.Spec.Selector); serr == nil {
			sctx, scancel := context.WithTimeout(wctx, settleLimit)
			if werr := kube.WaitNoTerminating(sctx, r.Kube, cfg.Namespace, sel); werr != nil && sctx.Err() == nil {
				r.logf("watch: could not watch the replaced pods of deployment %q stop: %v", rel.ref, werr)
			}
			scancel()
		}
	}
	if err := strategies.Tripped(cfg.Tripwire); err != nil {
		return final, err
	}
	if cfg.Analysis == nil {
		return final, nil
	}
	if analysisDone == nil {
		rel.w.guard.while = "while the rollout measured it"
		if ferr := r.record(ctx, rel, PhaseAnalysis, "", ""); ferr != nil {
			return final, ferr
		}
		r.logf("analysis: measuring the new revision")
		runAnalysis(wctx)
	} else {
		<-analysisDone
	}
	rel.res.Analysis = analysisRes
	if err := strategies.Tripped(cfg.Tripwire); err != nil {
		return final, err
	}
	if analysisErr != nil {
		if cause := context.Cause(wctx); cause != nil {
			return final, cause
		}
		return final, fmt.Errorf("analysis could not run: %w", analysisErr)
	}
	switch analysisRes.Verdict {
	case analysis.Passed:
		r.logf("analysis: passed: %s", analysisRes.Message)
		return final, nil
	case analysis.Inconclusive:
		return final, fmt.Errorf("%w: %s", errInconclusive, analysisRes.Message)
	default:
		return final, fmt.Errorf("analysis %s: %s", analysisRes.Verdict, analysisRes.Message)
	}
}

// servicesFor lists the Services whose selector picks the pods of the
// Deployment (before or after the change).
func (r *Rollout) servicesFor(ctx context.Context, rel *release) ([]string, []corev1.Service, error) {
	list, err := r.Kube.CoreV1().Services(rel.cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("listing services in %q: %w", rel.cfg.Namespace, err)
	}
	var out []string
	var objs []corev1.Service
	for _, s := range list.Items {
		if len(s.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(s.Spec.Selector)
		match := sel.Matches(labels.Set(rel.desired.Spec.Template.Labels))
		if rel.live != nil && sel.Matches(labels.Set(rel.live.Spec.Template.Labels)) {
			match = true
		}
		if match {
			out = append(out, s.Name)
			objs = append(objs, s)
		}
	}
	sort.Strings(out)
	return out, objs, nil
}

func (r *Rollout) startDowntime(ctx context.Context, rel *release) []*downtime.Watcher {
	if r.NoDowntimeWatch {
		return nil
	}
	var ws []*downtime.Watcher
	for _, s := range rel.services {
		w, err := downtime.Start(ctx, r.Kube, rel.cfg.Namespace, s)
		if err != nil {
			r.logf("warning: cannot watch the endpoints of service %q: %v", rel.cfg.Namespace+"/"+s, err)
			continue
		}
		ws = append(ws, w)
	}
	return ws
}
