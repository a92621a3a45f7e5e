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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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
func (c *Canary) Run(ctx context.Context, cfg Config) error {
	p, err := c.prepare(ctx, cfg)
	if err != nil {
		return err
	}
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
		res, err := c.Analysis(actx, vars)
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
	// The abort runs to its end even when --timeout or Ctrl-C ended ctx, within
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

// ensureServices creates or updates SERVICE-stable and SERVICE-canary.
func (c *Canary) ensureServices(ctx context.Context, p *plan) error {
	hash, err := c.stableHash(ctx, p)
	if err != nil {
		return err
	}
	stableSel := maps.Clone(p.stableSel)
	if hash != "" {
		stableSel[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	}
	canarySel := maps.Clone(p.stableSel)
	canarySel[p.trackKey] = p.trackVal
	for _, s := range []traffic.SplitService{
		{Name: traffic.StableServiceName(p.service.Name), Selector: stableSel},
		{Name: traffic.CanaryServiceName(p.service.Name), Selector: canarySel},
	} {
		if err := c.fenced(ctx); err != nil {
			return err
		}
		created, err := traffic.EnsureSplitService(ctx, c.Client, p.service, s)
		if err != nil {
			return err
		}
		if err := c.rememberSelector(ctx, p, s.Name); err != nil {
			return err
		}
		if created {
			c.printf("created service %q (selector %s)", p.service.Namespace+"/"+s.Name, labels.Set(s.Selector))
		}
	}
	return nil
}

// stableHash is the pod-template-hash of the stable's current ReplicaSet.
func (c *Canary) stableHash(ctx context.Context, p *plan) (string, error) {
	d, err := c.Client.AppsV1().Deployments(p.stable.Namespace).Get(ctx, p.stable.Name, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("reading deployment %q: %w", p.ref(), err)
	}
	rss, err := kube.ReplicaSetsOf(ctx, c.Client, d)
	if err != nil {
		return "", err
	}
	if rs := kube.CurrentReplicaSet(d, rss); rs != nil {
		return rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey], nil
	}
	return "", fmt.Errorf("deployment %q has no current replica set yet", p.ref())
}

// applyWeight moves to weight w: the side that grows first, Ready, then the
// router, then the side that shrinks.
func (c *Canary) applyWeight(ctx context.Context, p *plan, w int) error {
	cTarget, sTarget := traffic.ReplicaSplit(p.replicas, w)
	var c0 int32
	if p.existing != nil && p.existing.Spec.Replicas != nil {
		c0 = *p.existing.Spec.Replicas
	}
	growCanary := func() error {
		d, err := c.upsertCanary(ctx, p, cTarget)
		if err != nil {
			return err
		}
		p.existing = d
		_, err = c.waitSettled(ctx, d.Namespace, d.Name)
		return err
	}
	scaleStable := func() error {
		if _, err := c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) { d.Spec.Replicas = &sTarget }); err != nil {
			return err
		}
		_, err := c.waitSettled(ctx, p.stable.Namespace, p.stable.Name)
		return err
	}
	route := func() error {
		if p.router == nil {
			return nil
		}
		if err := c.fenced(ctx); err != nil {
			return err
		}
		return p.router.SetWeight(ctx, w)
	}
	order := []func() error{growCanary, route, scaleStable}
	if cTarget < c0 {
		order = []func() error{scaleStable, route, growCanary}
	}
	for _, f := range order {
		if err := f(); err != nil {
			return err
		}
	}
	return nil
}

// upsertCanary creates the canary Deployment or updates its template and
// replicas.
func (c *Canary) upsertCanary(ctx context.Context, p *plan, replicas int32) (*appsv1.Deployment, error) {
	deps := c.Client.AppsV1().Deployments(p.stable.Namespace)
	if p.existing == nil {
		d := p.canary.DeepCopy()
		d.Spec.Replicas = &replicas
		if err := c.fenced(ctx); err != nil {
			return nil, err
		}
		created, err := deps.Create(ctx, d, metav1.CreateOptions{FieldManager: kube.FieldManager})
		if err != nil {
			return nil, fmt.Errorf("creating deployment %q: %w", p.canaryRef(), err)
		}
		c.printf("created deployment %q", p.canaryRef())
		p.remember(created)
		return created, nil
	}
	return c.writeDeployment(ctx, p, p.canaryName(), func(d *appsv1.Deployment) {
		d.Spec.Replicas = &replicas
		if p.canary != nil {
			d.Spec.Template = p.canary.Spec.Template
			d.Spec.Strategy = p.canary.Spec.Strategy
		}
	})
}

// report prints the effective weight at step i: ready canary pods over all
// ready pods behind the Service, once the endpoints show the expected split.
func (c *Canary) report(ctx context.Context, p *plan, i int) error {
	w := p.steps[i]
	cWant, _ := traffic.ReplicaSplit(p.replicas, w)
	readyCanary, readyAll, err := c.waitEndpoints(ctx, p, int(cWant), int(p.replicas))
	if err != nil {
		return err
	}
	line := fmt.Sprintf("step %d/%d: weight %d%%: effective weight %d%% (%d of %d ready pods behind service %q are the canary's)",
		i+1, len(p.steps), w, traffic.EffectiveWeight(readyCanary, readyAll), readyCanary, readyAll, p.service.Namespace+"/"+p.service.Name)
	if p.router != nil {
		rw, err := p.router.Weight(ctx)
		if err != nil {
			return err
		}
		line += fmt.Sprintf("; %s routes %d%% to the canary", p.router.Describe(), rw)
	}
	c.printf("%s", line)
	return nil
}

// waitEndpoints watches the Service's EndpointSlices and its pods (a
// kube.EndpointWatch) until wantCanary of the ready endpoints are canary
// pods and wantAll are ready in all.
func (c *Canary) waitEndpoints(ctx context.Context, p *plan, wantCanary, wantAll int) (int, int, error) {
	ns := p.service.Namespace
	canarySel := labels.Set(p.stableSel).String() + "," + p.trackKey + "=" + p.trackVal
	isCanary, err := labels.Parse(canarySel)
	if err != nil {
		return 0, 0, fmt.Errorf("the canary's pod selector %q: %w", canarySel, err)
	}
	var gotCanary, gotAll int
	fail := func(err error) (int, int, error) {
		return gotCanary, gotAll, fmt.Errorf("waiting for service %q to have %d ready endpoints, %d of them canary pods (last seen %d, %d): %w",
			ns+"/"+p.service.Name, wantAll, wantCanary, gotAll, gotCanary, err)
	}
	w, err := kube.WatchEndpoints(ctx, c.Client, ns, p.service.Name, kube.EndpointOptions{PodSelector: p.service.Spec.Selector})
	if err != nil {
		return fail(err)
	}
	defer w.Stop()
	count := func() bool {
		// only endpoints of pods that exist count: after an API server
		// outage the EndpointSlice controller can list deleted pods as
		// ready for minutes
		canary := map[string]bool{}
		for _, pod := range w.Pods() {
			canary[pod.Name] = isCanary.Matches(labels.Set(pod.Labels))
		}
		gotCanary, gotAll = 0, 0
		for _, es := range w.Slices() {
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready == nil || !*ep.Conditions.Ready || ep.TargetRef == nil {
					continue
				}
				isCanary, exists := canary[ep.TargetRef.Name]
				if !exists {
					continue
				}
				gotAll++
				if isCanary {
					gotCanary++
				}
			}
		}
		return gotCanary == wantCanary && gotAll == wantAll
	}
	if err := w.Wait(ctx, count); err != nil {
		return fail(err)
	}
	return gotCanary, gotAll, nil
}

// load reads the record of an operation for promote and abort.
func (c *Canary) load(ctx context.Context, ns, name string) (*plan, error) {
	return c.loadWith(ctx, ns, name, false)
}

// loadWith is load; fromStart (a record at phase start) builds the canary
// from the pod template recorded there, whether the canary deployment does
// not exist yet or is left from an earlier release with another template:
// its first step then sets that template.
func (c *Canary) loadWith(ctx context.Context, ns, name string, fromStart bool) (*plan, error) {
	stable, err := c.getStable(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	ref := ns + "/" + name
	op, ok := state.FromAnnotations(stable.Annotations)
	if !ok || op.Strategy != Strategy || !(resumable(op) || op.Result == state.ResultPaused) {
		return nil, exitcode.Usagef("deployment %q has no canary release in flight", ref)
	}
	steps, err := ParseSteps(op.Params[ParamSteps])
	if err != nil {
		return nil, exitcode.Usagef("deployment %q: canary record: %w", ref, err)
	}
	pauses, _ := ParsePauses(op.Params[ParamPauses], len(steps))
	key, val, _ := strings.Cut(op.Params[ParamTrack], "=")
	kind, object, _ := strings.Cut(op.Params[ParamRouter], "/")
	cfg := Config{Namespace: ns, Name: name, Steps: steps, Pauses: pauses, Manual: op.Params[ParamManual] == "true",
		TrackKey: key, TrackValue: val, Service: op.Params[ParamService], RouterKind: kind, RouterObject: object}
	if fromStart && op.Params[ParamTemplate] != "" {
		tmpl, err := decodeTemplate(op.Params[ParamTemplate])
		if err != nil {
			return nil, exitcode.Usagef("deployment %q: canary record: %w", ref, err)
		}
		cfg.Template = tmpl
	}
	p, err := c.prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if fromStart && cfg.Template != nil {
		return p, nil
	}
	if p.existing == nil {
		return nil, exitcode.Usagef("deployment %q has no canary deployment %q", ref, p.canaryRef())
	}
	p.canary = nil
	return p, nil
}

// StepOf returns the 1-based step of a phase "step-N", 0 otherwise.
func StepOf(phase string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(phase, "step-"))
	if err != nil || !strings.HasPrefix(phase, "step-") {
		return 0
	}
	return n
}

// AnalysisOf returns the analysis recorded on the stable (the spec itself,
// with its Job files' text); nil when the release has none. A path in the
// record is never read: a record whose analysis is only a file name (an
// older version) has none to run again, and says so.
func (c *Canary) AnalysisOf(ctx context.Context, ns, name string) (*analysis.Spec, error) {
	d, err := c.getStable(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	op, _ := state.FromAnnotations(d.Annotations)
	spec, err := RecordedAnalysis(op, ns+"/"+name)
	if spec == nil && err == nil && op != nil && op.Params[ParamAnalysis] != "" {
		c.printf("the analysis %s of this release is recorded by its file name only (an older version): files named in a record are not read, so it is not run", op.Params[ParamAnalysis])
	}
	return spec, err
}

// Promote moves a held canary to its next step, or (full, or after the last
// step) finishes it.
func (c *Canary) Promote(ctx context.Context, ns, name string, full, force bool) error {
	p, err := c.load(ctx, ns, name)
	if err != nil {
		return err
	}
	ctx, release, err := c.lock(ctx, p, force)
	if err != nil {
		return err
	}
	defer release()
	defer c.watchDowntime(ctx, p)()
	p.op.Result, p.op.Message = "", ""
	step := StepOf(p.op.Phase)
	if full || step >= len(p.steps) {
		return c.finish(ctx, p)
	}
	p.hold = true
	return c.walk(ctx, p, step)
}

// Abort brings the stable back to its N replicas, Ready, then the canary to 0.
func (c *Canary) Abort(ctx context.Context, ns, name string, force bool) error {
	p, err := c.load(ctx, ns, name)
	if err != nil {
		return err
	}
	ctx, release, err := c.lock(ctx, p, force)
	if err != nil {
		return err
	}
	defer release()
	defer c.watchDowntime(ctx, p)()
	if err := c.abort(ctx, p); err != nil {
		if stop := c.stopLost(ctx, p, err); stop != nil {
			return stop
		}
		return exitcode.NeedsPersonError(fmt.Errorf("aborting the canary of deployment %q: %w; %s", p.ref(), err, abortHint(p)))
	}
	p.op.Result = state.ResultAborted
	p.op.Message = "aborted by request"
	return c.save(ctx, p)
}

// AbortTimeout bounds an abort that follows a failure.
var AbortTimeout = 5 * time.Minute

// PhaseAborting is recorded, in flight, before an abort moves anything: an
// abort that fails (or is killed) stays there, resume and abort do it
// again.
const PhaseAborting = "aborting"

// abortHint says how to go on after a failed abort.
func abortHint(p *plan) string {
	return fmt.Sprintf("the release stays in flight in phase %s: run 'kubectl zdd resume deployment/%s' or 'kubectl zdd canary abort deployment/%s' to pull it back again", PhaseAborting, p.stable.Name, p.stable.Name)
}

func (c *Canary) abort(ctx context.Context, p *plan) error {
	p.op.Phase, p.op.Result = PhaseAborting, ""
	if err := c.save(ctx, p); err != nil {
		return err
	}
	c.printf("aborting: scaling deployment %q back to %d replicas, then the canary to 0", p.ref(), p.replicas)
	if err := c.applyWeight(ctx, p, 0); err != nil {
		return err
	}
	p.op.Phase = "aborted"
	p.op.Params[ParamWeight] = "0"
	if err := c.releaseStableService(ctx, p); err != nil {
		return err
	}
	c.printf("aborted: deployment %q at %d replicas, deployment %q at 0", p.ref(), p.replicas, p.canaryRef())
	return nil
}

// restoreStable rolls the stable back to the pod template of the record's
// from-revision (maxUnavailable 0), at its N replicas, waits until they are
// all ready, and puts its own strategy back: the first move of an abort of a
// promotion that had already rolled the stable to the canary's template.
func (c *Canary) restoreStable(ctx context.Context, p *plan) error {
	d, err := c.Client.AppsV1().Deployments(p.stable.Namespace).Get(ctx, p.stable.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %q: %w", p.ref(), err)
	}
	rss, err := kube.ReplicaSetsOf(ctx, c.Client, d)
	if err != nil {
		return err
	}
	var from *appsv1.ReplicaSet
	for i := range rss {
		if rss[i].Annotations[kube.RevisionAnnotation] == p.op.FromRevision {
			from = &rss[i]
		}
	}
	if from == nil {
		return fmt.Errorf("the replica set of revision %s of deployment %q is gone, so its pod template cannot be restored: run 'kubectl zdd resume deployment/%s' to finish the promotion instead", p.op.FromRevision, p.ref(), p.stable.Name)
	}
	tmpl := from.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	var orig appsv1.DeploymentStrategy
	if s := p.op.Params[ParamStrategy]; s != "" {
		_ = json.Unmarshal([]byte(s), &orig)
	} else {
		orig = d.Spec.Strategy
	}
	zero, one := intOrString("0"), intOrString("1")
	c.printf("aborting: rolling deployment %q back to the pod template of revision %s (maxUnavailable 0)", p.ref(), p.op.FromRevision)
	if _, err := c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) {
		d.Spec.Template = *tmpl
		d.Spec.Replicas = &p.replicas
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}}
	}); err != nil {
		return err
	}
	if _, err := c.waitSettled(ctx, p.stable.Namespace, p.stable.Name); err != nil {
		return err
	}
	_, err = c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) { d.Spec.Strategy = orig })
	return err
}

// releaseStableService drops the pod-template-hash from SERVICE-stable.
func (c *Canary) releaseStableService(ctx context.Context, p *plan) error {
	if p.router == nil {
		return nil
	}
	name := traffic.StableServiceName(p.service.Name)
	if err := c.fenced(ctx); err != nil {
		return err
	}
	if _, err := traffic.EnsureSplitService(ctx, c.Client, p.service, traffic.SplitService{Name: name, Selector: p.stableSel}); err != nil {
		return err
	}
	return c.rememberSelector(ctx, p, name)
}

// rememberSelector records the selector of Service name as this run last
// saw it, for checkWriters.
func (c *Canary) rememberSelector(ctx context.Context, p *plan, name string) error {
	svc, err := c.Client.CoreV1().Services(p.stable.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading service %q: %w", p.stable.Namespace+"/"+name, err)
	}
	if p.splitSel == nil {
		p.splitSel = map[string]map[string]string{}
	}
	p.splitSel[name] = maps.Clone(svc.Spec.Selector)
	return nil
}

// finish rolls the stable to the canary's pod template (maxUnavailable 0),
// waits, and removes the canary.
func (c *Canary) finish(ctx context.Context, p *plan) error {
	canary, err := c.Client.AppsV1().Deployments(p.stable.Namespace).Get(ctx, p.canaryName(), metav1.GetOptions{})
	if err != nil {
		return c.fail(ctx, p, fmt.Errorf("reading deployment %q: %w", p.canaryRef(), err))
	}
	if seen := p.seen[canary.Name]; seen != nil {
		if changed := deploymentChange(seen, canary); changed != nil {
			return c.fail(ctx, p, changed)
		}
	}
	p.existing = canary
	if p.router != nil {
		// Before the stable's pods change, the whole traffic goes to the canary,
		// which has all N replicas.
		c.printf("promoting: all traffic to the canary before deployment %q is rolled", p.ref())
		if err := c.applyWeight(ctx, p, 100); err != nil {
			return c.fail(ctx, p, err)
		}
	}
	p.op.Phase = "promote"
	if err := c.save(ctx, p); err != nil {
		return err
	}
	var orig appsv1.DeploymentStrategy
	if s := p.op.Params[ParamStrategy]; s != "" {
		_ = json.Unmarshal([]byte(s), &orig)
	} else {
		orig = p.stable.Spec.Strategy
	}
	tmpl := canary.Spec.Template.DeepCopy()
	tmpl.Labels = maps.Clone(p.stable.Spec.Template.Labels)
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	zero, one := intOrString("0"), intOrString("1")
	c.printf("promoting: rolling deployment %q to the canary's pod template (maxUnavailable 0)", p.ref())
	if _, err := c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) {
		d.Spec.Template = *tmpl
		d.Spec.Replicas = &p.replicas
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxUnavailable: &zero, MaxSurge: &one}}
	}); err != nil {
		return c.fail(ctx, p, err)
	}
	if _, err := c.waitSettled(ctx, p.stable.Namespace, p.stable.Name); err != nil {
		return c.fail(ctx, p, err)
	}
	if p.router != nil {
		if err := c.ensureServices(ctx, p); err != nil { // SERVICE-stable follows the new hash
			return c.fail(ctx, p, err)
		}
		if err := c.fenced(ctx); err != nil {
			return c.fail(ctx, p, err)
		}
		if err := p.router.SetWeight(ctx, 0); err != nil {
			return c.fail(ctx, p, err)
		}
	}
	if _, err := c.writeDeployment(ctx, p, p.stable.Name, func(d *appsv1.Deployment) {
		d.Spec.Strategy = orig
	}); err != nil {
		return c.fail(ctx, p, err)
	}
	if err := c.fenced(ctx); err != nil {
		return c.fail(ctx, p, err)
	}
	err = c.Client.AppsV1().Deployments(p.stable.Namespace).Delete(ctx, p.canaryName(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return c.fail(ctx, p, fmt.Errorf("removing deployment %q: %w", p.canaryRef(), err))
	}
	if err := c.releaseStableService(ctx, p); err != nil {
		return c.fail(ctx, p, err)
	}
	d, err := c.Client.AppsV1().Deployments(p.stable.Namespace).Get(ctx, p.stable.Name, metav1.GetOptions{})
	if err == nil {
		p.op.ToRevision = strconv.FormatInt(kube.Revision(d), 10)
	}
	p.op.Phase = "done"
	p.op.Params[ParamWeight] = "100"
	p.op.Result = state.ResultSucceeded
	p.op.Message = "the stable runs the canary's pod template; the canary is removed"
	if err := c.save(ctx, p); err != nil {
		return err
	}
	c.printf("promoted: deployment %q runs the canary's pod template on %d replicas; deployment %q removed", p.ref(), p.replicas, p.canaryRef())
	return nil
}
