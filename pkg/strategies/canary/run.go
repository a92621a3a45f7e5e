package canary

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

func intOrString(s string) intstr.IntOrString { return intstr.Parse(s) }

// Run starts (or continues) a canary release and walks its steps.
func (c *Canary) Run(ctx context.Context, cfg Config) (*Result, error) {
	res := &Result{}
	var p *plan
	defer func() { resultOf(res, cfg, p) }()
	return res, c.run(ctx, cfg, &p)
}

func (c *Canary) run(ctx context.Context, cfg Config, pp **plan) error {
	if cfg.DryRun != "" {
		return fmt.Errorf("canary of deployment %s/%s: a dry run (%s) is planned with DryRun, not run", cfg.Namespace, cfg.Name, cfg.DryRun)
	}
	c.timeout = cfg.Timeout
	p, err := c.prepare(ctx, cfg)
	if err != nil {
		return err
	}
	*pp = p
	if p.op == nil {
		p.op = state.NewOperation(Strategy, c.now())
		p.op.FromRevision = strconv.FormatInt(kube.Revision(p.stable), 10)
		strat, _ := json.Marshal(p.stable.Spec.Strategy)
		p.op.Params[ParamStrategy] = string(strat)
	}
	p.op.Result, p.op.Message = "", ""
	router := traffic.RouterReplicaRatio
	if p.router != nil {
		router = p.router.Kind() + "/" + cfg.RouterObject
		if cfg.RouterObject == "" {
			_, obj, _ := strings.Cut(p.op.Params[ParamRouter], "/")
			router = p.router.Kind() + "/" + obj
		}
	}
	analysisFile := cfg.AnalysisFile
	if analysisFile != "" {
		if abs, err := filepath.Abs(analysisFile); err == nil {
			analysisFile = abs
		}
	}
	analysisSpec := ""
	if cfg.AnalysisSpec != nil {
		enc, err := analysis.EncodeParam(cfg.AnalysisSpec)
		if err != nil {
			return exitcode.UsageError(err)
		}
		analysisSpec = enc
	}
	p.op.Params[ParamAnalysisSpec] = analysisSpec
	for k, v := range cfg.Params {
		if _, own := p.op.Params[k]; !own {
			p.op.Params[k] = v
		}
	}
	if p.canary != nil {
		// what was asked, so that a resume of a run killed before its canary
		// deployment existed can create it
		tmpl, err := encodeTemplate(&p.canary.Spec.Template)
		if err != nil {
			return err
		}
		p.op.Params[ParamTemplate] = tmpl
	}
	maps.Copy(p.op.Params, map[string]string{
		ParamSteps: formatSteps(p.steps), ParamRouter: router, ParamReplicas: strconv.Itoa(int(p.replicas)),
		ParamService: p.service.Name, ParamCanary: p.canaryName(), ParamTrack: p.trackKey + "=" + p.trackVal,
		ParamPauses: formatPauses(p.pauses), ParamManual: strconv.FormatBool(p.manual || p.hold), ParamAnalysis: analysisFile,
	})
	if p.autoscaled() {
		p.op.Params[ParamAutoscalers] = autoscalerKeys(p.autoscalers)
		c.printf("preflight: deployment %q is sized by %s: the canary leaves its replicas to it and sizes the canary from its current replicas at each step", p.ref(), kube.Describe(p.autoscalers))
	}
	if w := c.serviceProfileWarning(ctx, p); w != "" {
		c.printf("preflight: %s", w)
	}
	ctx, release, err := c.lock(ctx, p, cfg.ForceUnlock)
	if err != nil {
		return err
	}
	defer release()
	defer c.watchDowntime(ctx, p)()

	p.op.Phase = "start"
	if err := c.save(ctx, p); err != nil {
		return err
	}
	c.printf("canary release %s of deployment %q: %d replicas, steps %s%%, traffic split by %s", p.op.ID, p.ref(), p.replicas, formatSteps(p.steps), routerText(p))
	if p.router != nil {
		if err := c.ensureServices(ctx, p); err != nil {
			return c.fail(ctx, p, err)
		}
	}
	return c.walk(ctx, p, 0)
}

// encodeTemplate renders the canary's pod template for ParamTemplate.
func encodeTemplate(t *corev1.PodTemplateSpec) (string, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("recording the canary's pod template: %w", err)
	}
	return string(data), nil
}

// decodeTemplate reads ParamTemplate back.
func decodeTemplate(s string) (*corev1.PodTemplateSpec, error) {
	if s == "" {
		return nil, errors.New("no pod template recorded (" + state.ParamPrefix + ParamTemplate + ")")
	}
	t := &corev1.PodTemplateSpec{}
	if err := json.Unmarshal([]byte(s), t); err != nil {
		return nil, fmt.Errorf("the recorded pod template (%s%s): %w", state.ParamPrefix, ParamTemplate, err)
	}
	if len(t.Spec.Containers) == 0 {
		return nil, fmt.Errorf("the recorded pod template (%s%s) has no containers", state.ParamPrefix, ParamTemplate)
	}
	return t, nil
}

func routerText(p *plan) string {
	if p.router == nil {
		return fmt.Sprintf("replica ratio behind service %q", p.service.Namespace+"/"+p.service.Name)
	}
	return p.router.Describe()
}

// walk applies the steps from index from on, pausing (and analysing) after
// each, then holds or finishes. An interrupt (Ctrl-C) lets the step in
// progress finish (the side that grows Ready, the router, the side that
// shrinks) and stops at the next boundary: before a step, during a pause or
// an analysis, or before the promotion.
func (c *Canary) walk(ctx context.Context, p *plan, from int) error {
	for i := from; i < len(p.steps); i++ {
		if c.interrupted() {
			return c.stopInterrupted(ctx, p)
		}
		if err := c.checkWriters(ctx, p); err != nil {
			return c.fail(ctx, p, err)
		}
		w := p.steps[i]
		strategies.Announce(c.Events, strategies.StepMark(w))
		if err := c.applyWeight(ctx, p, w); err != nil {
			// The new version did not become ready (or the cluster refused a
			// change): pull it back, the stable first.
			return c.abortAfter(ctx, p, fmt.Errorf("step %d (weight %d%%): %w", i+1, w, err))
		}
		p.op.Phase = fmt.Sprintf("step-%d", i+1)
		p.op.Params[ParamWeight] = strconv.Itoa(w)
		if err := c.save(ctx, p); err != nil {
			return err
		}
		if err := c.report(ctx, p, i); err != nil {
			return c.abortAfter(ctx, p, fmt.Errorf("step %d (weight %d%%): %w", i+1, w, err))
		}
		last := i == len(p.steps)-1
		pause := pauseAt(p.pauses, i)
		if p.manual || (last && p.hold) {
			pause = 0
		}
		if err := c.analyse(ctx, p, i, pause); err != nil {
			if errors.Is(err, errInterrupted) {
				return c.stopInterrupted(ctx, p)
			}
			return c.abortAfter(ctx, p, err)
		}
		if p.manual || (last && p.hold) || (last && w < 100) {
			return c.holdHere(ctx, p, i)
		}
	}
	if c.interrupted() {
		return c.stopInterrupted(ctx, p)
	}
	if err := c.checkWriters(ctx, p); err != nil {
		return c.fail(ctx, p, err)
	}
	if terr := strategies.Tripped(c.Tripwire); terr != nil {
		return c.abortAfter(ctx, p, terr)
	}
	return c.finish(ctx, p)
}

// errInterrupted ends a pause or an analysis that Ctrl-C stopped.
var errInterrupted = errors.New("interrupted")

// interrupted reports whether the user asked the run to stop.
func (c *Canary) interrupted() bool {
	if c.Interrupt == nil {
		return false
	}
	select {
	case <-c.Interrupt:
		return true
	default:
		return false
	}
}

// stopInterrupted records that Ctrl-C stopped the release at its recorded
// phase, which is a consistent state: every step the record names was
// applied whole. The deferred release frees the Lease.
func (c *Canary) stopInterrupted(ctx context.Context, p *plan) error {
	where := "before its first step"
	if n := StepOf(p.op.Phase); n > 0 {
		where = fmt.Sprintf("at step %d of %d (weight %d%%)", n, len(p.steps), p.steps[n-1])
	}
	p.op.Result = state.ResultInterrupted
	p.op.Message = "interrupted " + where + " (phase " + p.op.Phase + ")"
	if err := c.save(context.WithoutCancel(ctx), p); err != nil {
		return err
	}
	c.printf("interrupted: canary of deployment %q stopped %s; deployment %q and %q are as that step left them", p.ref(), where, p.ref(), p.canaryRef())
	return exitcode.NeedsPersonf("canary of deployment %q: interrupted %s (phase %s); the operation is recorded on the deployment and its lease released: run 'kubectl zdd resume deployment/%s' to carry it on, or 'kubectl zdd abort deployment/%s' to return to the stable at full size",
		p.ref(), where, p.op.Phase, p.stable.Name, p.stable.Name)
}

func (c *Canary) holdHere(ctx context.Context, p *plan, i int) error {
	p.op.Result = state.ResultPaused
	next := "'kubectl zdd canary promote deployment/" + p.stable.Name + "' for the next step"
	if i == len(p.steps)-1 {
		next = "'kubectl zdd canary promote deployment/" + p.stable.Name + " --full' to finish"
	}
	p.op.Message = fmt.Sprintf("holding at step %d of %d (weight %d%%)", i+1, len(p.steps), p.steps[i])
	if err := c.save(ctx, p); err != nil {
		return err
	}
	c.printf("%s: run %s, or 'kubectl zdd canary abort deployment/%s'", p.op.Message, next, p.stable.Name)
	return nil
}

// analyse waits the pause of step i while the analysis (if any) runs; a
// verdict other than Passed is an error. An interrupt ends the analysis and
// the pause with errInterrupted.
func (c *Canary) analyse(ctx context.Context, p *plan, i int, pause time.Duration) error {
	timer := c.after(pause)
	if c.Analysis != nil {
		vars := analysis.VarsFor(p.stable)
		vars.Track = p.trackVal
		vars.Name = p.stable.Name
		c.printf("step %d/%d: running the analysis", i+1, len(p.steps))
		actx, cancel := context.WithCancelCause(ctx)
		if c.Interrupt != nil {
			go func() {
				select {
				case <-c.Interrupt:
					cancel(nil)
				case <-actx.Done():
				}
			}()
		}
		// the probe's budget exceeded ends the analysis as its failure
		strategies.CancelOnTrip(actx, c.Tripwire, cancel)
		strategies.Announce(c.Events, strategies.MarkAnalysis)
		res, err := c.Analysis(actx, vars)
		strategies.Measured(c.Events, res)
		cancel(nil)
		if c.interrupted() {
			return errInterrupted
		}
		if terr := strategies.Tripped(c.Tripwire); terr != nil {
			return fmt.Errorf("step %d (weight %d%%): %w", i+1, p.steps[i], terr)
		}
		if err != nil {
			return fmt.Errorf("analysis at step %d: %w", i+1, err)
		}
		if res.Verdict != analysis.Passed {
			return fmt.Errorf("analysis at step %d (weight %d%%) %s: %s", i+1, p.steps[i], res.Verdict, res.Message)
		}
		c.printf("step %d/%d: analysis passed", i+1, len(p.steps))
	}
	if pause > 0 {
		c.printf("step %d/%d: pausing %s", i+1, len(p.steps), pause)
	}
	if terr := strategies.Tripped(c.Tripwire); terr != nil {
		return fmt.Errorf("step %d (weight %d%%): %w", i+1, p.steps[i], terr)
	}
	var tripped <-chan struct{}
	if c.Tripwire != nil {
		tripped = c.Tripwire.Tripped()
	}
	select {
	case <-timer:
		return nil
	case <-tripped:
		return fmt.Errorf("step %d (weight %d%%): %w", i+1, p.steps[i], c.Tripwire.Cause())
	case <-c.Interrupt: // nil: never
		return errInterrupted
	case <-ctx.Done():
		return fmt.Errorf("pausing at step %d: %w", i+1, ctx.Err())
	}
}

// fail records a failure that left the canary where it was.
func (c *Canary) fail(ctx context.Context, p *plan, err error) error {
	if exitcode.Of(err) == exitcode.Usage {
		return err
	}
	if stop := c.stopLost(ctx, p, err); stop != nil {
		return stop
	}
	if stop := c.stopForWriter(ctx, p, err); stop != nil {
		return stop
	}
	p.op.Result = state.ResultFailed
	p.op.Message = err.Error()
	if serr := c.save(context.WithoutCancel(ctx), p); exitcode.Of(serr) == exitcode.NeedsPerson {
		return serr
	}
	return exitcode.NeedsPersonError(fmt.Errorf("canary of deployment %q: %w (the canary is left where it was: run 'kubectl zdd canary abort deployment/%s')", p.ref(), err, p.stable.Name))
}

// abortAfter aborts because of err and returns err as a failure (exit 1).
func (c *Canary) abortAfter(ctx context.Context, p *plan, cause error) error {
	if exitcode.Of(cause) == exitcode.Usage {
		return cause
	}
	if stop := c.stopLost(ctx, p, cause); stop != nil {
		return stop
	}
	if stop := c.stopForWriter(ctx, p, cause); stop != nil {
		return stop
	}
	c.printf("aborting: %v", cause)
	// The abort runs to its end even when --deadline or Ctrl-C ended ctx, within
	// a bound of its own.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), AbortTimeout)
	defer cancel()
	p.op.Message = cause.Error()
	if err := c.abort(ctx, p); err != nil {
		if stop := c.stopLost(ctx, p, err); stop != nil {
			return stop
		}
		return exitcode.NeedsPersonError(fmt.Errorf("aborting the canary of deployment %q after %v: %w; %s", p.ref(), cause, err, abortHint(p)))
	}
	p.op.Result = state.ResultAborted
	p.op.Message = cause.Error()
	if err := c.save(ctx, p); err != nil {
		return err
	}
	return exitcode.FailedError(fmt.Errorf("canary of deployment %q aborted: %w", p.ref(), cause))
}
