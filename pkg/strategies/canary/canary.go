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
	"errors"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
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

// resumable reports whether resume (or a new run of the same release) may
// carry op on: in flight, stopped by Ctrl-C, or stopped by a failure that
// left the canary where it was.
func resumable(op *state.Operation) bool {
	return op.InFlight() || op.Result == state.ResultInterrupted || op.Result == state.ResultFailed
}

// CanaryOfAnnotation marks a canary Deployment with the stable it belongs to.
const CanaryOfAnnotation = "zdd.dev/canary-of"

// Config is one `kubectl zdd canary` run.
type Config struct {
	Namespace string
	Name      string // the stable Deployment
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
	// context passed to Run is the run's --timeout, not the signal: its end
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

	// fence is the operation's Lease, checked right before each write: the
	// Lock this run took, or the caller's under resume and abort.
	fence state.Fence
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

// plan is everything a run needs, read from the cluster before any change.
type plan struct {
	stable   *appsv1.Deployment
	canary   *appsv1.Deployment // desired canary (nil: keep the existing one)
	existing *appsv1.Deployment // the canary Deployment in the cluster, if any
	service  *corev1.Service
	router   traffic.WeightRouter // nil: replica ratio
	op       *state.Operation
	replicas int32
	trackKey string
	trackVal string
	steps    []int
	pauses   []time.Duration
	manual   bool
	hold     bool
	rec      *state.RecordWriter
	// record is the record on the stable as prepare read it: after the
	// Lease is taken it is read again, and must not have changed
	record    *state.Operation
	stableSel map[string]string // the stable's matchLabels
	// seen holds the version of each Deployment (stable, canary) this run
	// last read or wrote; splitSel the selectors it last set on
	// SERVICE-stable and SERVICE-canary (see writers.go).
	seen     map[string]*appsv1.Deployment
	splitSel map[string]map[string]string
}

func (p *plan) ref() string        { return p.stable.Namespace + "/" + p.stable.Name }
func (p *plan) canaryName() string { return p.stable.Name + "-canary" }
func (p *plan) canaryRef() string  { return p.stable.Namespace + "/" + p.canaryName() }

// CanaryName is the name of the canary Deployment of stable.
func CanaryName(stable string) string { return stable + "-canary" }

func (c *Canary) getStable(ctx context.Context, ns, name string) (*appsv1.Deployment, error) {
	d, err := c.Client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, exitcode.Usagef("deployment %q not found", ns+"/"+name)
	}
	if err != nil {
		return nil, fmt.Errorf("reading deployment %q: %w", ns+"/"+name, err)
	}
	if strings.HasSuffix(name, "-canary") && d.Annotations[CanaryOfAnnotation] != "" {
		return nil, exitcode.Usagef("deployment %q is the canary of %q: name the stable deployment", ns+"/"+name, d.Annotations[CanaryOfAnnotation])
	}
	return d, nil
}

// Prepare reads the cluster and checks cfg against it without changing
// anything: every problem of input is a usage error.
func (c *Canary) prepare(ctx context.Context, cfg Config) (*plan, error) {
	stable, err := c.getStable(ctx, cfg.Namespace, cfg.Name)
	if err != nil {
		return nil, err
	}
	p := &plan{stable: stable, steps: cfg.Steps, pauses: cfg.Pauses, manual: cfg.Manual, hold: cfg.Hold,
		trackKey: cfg.TrackKey, trackVal: cfg.TrackValue}
	if p.trackKey == "" {
		p.trackKey, p.trackVal = "track", "canary"
	}
	ref := p.ref()
	p.rec = c.recordWriter(p)
	p.rec.Observe(stable)
	p.remember(stable)
	op, ok := state.FromAnnotations(stable.Annotations)
	if ok {
		rec := *op
		p.record = &rec
	}
	if ok && op.Unfinished() && op.Strategy != Strategy {
		// the same rule as rollout: in flight, interrupted, paused or
		// failed part-way, another strategy's operation is finished first
		return nil, exitcode.Usagef("deployment %q has an unfinished %s operation (%s, phase %s, %s): run 'kubectl zdd resume deployment/%s' or 'kubectl zdd abort deployment/%s' first",
			ref, op.Strategy, op.ID, op.Phase, resultText(op), stable.Name, stable.Name)
	}
	if ok && op.Strategy == Strategy && (op.InFlight() || op.Result == state.ResultPaused || op.Result == state.ResultInterrupted) {
		p.op = op
		n, err := strconv.Atoi(op.Params[ParamReplicas])
		if err != nil {
			return nil, exitcode.Usagef("deployment %q: canary record has no replica count (%s%s=%q)", ref, state.ParamPrefix, ParamReplicas, op.Params[ParamReplicas])
		}
		p.replicas = int32(n)
	} else {
		p.replicas = 1
		if stable.Spec.Replicas != nil {
			p.replicas = *stable.Spec.Replicas
		}
	}
	if p.replicas < 1 {
		return nil, exitcode.Usagef("deployment %q has no replicas (spec.replicas: 0): a canary needs at least one stable pod to compare with; scale it up first", ref)
	}
	if stable.Spec.Paused && p.op == nil {
		return nil, exitcode.Usagef("deployment %q is paused (spec.paused: true): its rollout to the canary's pod template would never progress; run 'kubectl rollout resume deployment/%s' first", ref, stable.Name)
	}
	if stable.Spec.Selector == nil || len(stable.Spec.Selector.MatchLabels) == 0 {
		return nil, exitcode.Usagef("deployment %q: its selector has no matchLabels, which the canary's Services need", ref)
	}
	p.stableSel = maps.Clone(stable.Spec.Selector.MatchLabels)
	if _, used := stable.Spec.Selector.MatchLabels[p.trackKey]; used {
		return nil, exitcode.Usagef("deployment %q selects on label %q, the canary track label: choose another --track-label", ref, p.trackKey)
	}
	for _, e := range stable.Spec.Selector.MatchExpressions {
		if e.Key == p.trackKey {
			return nil, exitcode.Usagef("deployment %q selects on label %q, the canary track label: choose another --track-label", ref, p.trackKey)
		}
	}

	existing, err := c.Client.AppsV1().Deployments(stable.Namespace).Get(ctx, p.canaryName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return nil, fmt.Errorf("reading deployment %q: %w", p.canaryRef(), err)
	default:
		if existing.Annotations[CanaryOfAnnotation] != stable.Name {
			return nil, exitcode.Usagef("deployment %q exists and is not the canary of %q (no %s annotation): rename one of them", p.canaryRef(), ref, CanaryOfAnnotation)
		}
		p.existing = existing
		p.remember(existing)
	}

	if cfg.Template != nil || len(cfg.Images) > 0 || p.existing == nil {
		canary, err := buildCanary(stable, cfg, p)
		if err != nil {
			return nil, err
		}
		p.canary = canary
	}

	svcName := cfg.Service
	if svcName == "" && p.op != nil {
		svcName = p.op.Params[ParamService]
	}
	svc, err := c.findService(ctx, stable, svcName)
	if err != nil {
		return nil, err
	}
	p.service = svc
	tmpl := stable.Spec.Template
	if p.canary != nil {
		tmpl = p.canary.Spec.Template
	} else if p.existing != nil {
		tmpl = p.existing.Spec.Template
	}
	if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(tmpl.Labels)) {
		return nil, exitcode.Usagef("service %q (selector %s) would not select the canary's pods (labels %s)", svc.Namespace+"/"+svc.Name, labels.Set(svc.Spec.Selector), labels.Set(tmpl.Labels))
	}

	kind, object := cfg.RouterKind, cfg.RouterObject
	if kind == "" && p.op != nil {
		kind, object, _ = strings.Cut(p.op.Params[ParamRouter], "/")
	}
	if kind != "" && kind != traffic.RouterReplicaRatio {
		r, err := traffic.NewWeightRouter(traffic.RouterConfig{Kind: kind, Name: object, Namespace: stable.Namespace, Service: svc.Name}, c.Dynamic, c.Discovery)
		if err != nil {
			return nil, err
		}
		if err := r.Check(ctx); err != nil {
			return nil, err
		}
		p.router = r
	}
	return p, nil
}

// buildCanary makes the desired canary Deployment from the stable one.
func buildCanary(stable *appsv1.Deployment, cfg Config, p *plan) (*appsv1.Deployment, error) {
	ref := p.ref()
	tmpl := stable.Spec.Template.DeepCopy()
	if cfg.Template != nil {
		tmpl = cfg.Template.DeepCopy()
		if tmpl.Labels == nil {
			tmpl.Labels = map[string]string{}
		}
	}
	if len(cfg.Images) > 0 {
		if err := kube.SetImages(&tmpl.Spec, cfg.Images); err != nil {
			return nil, exitcode.UsageError(fmt.Errorf("deployment %q: %w", ref, err))
		}
	}
	sel, err := metav1.LabelSelectorAsSelector(stable.Spec.Selector)
	if err != nil {
		return nil, exitcode.Usagef("deployment %q has an invalid selector: %w", ref, err)
	}
	if !sel.Matches(labels.Set(tmpl.Labels)) {
		return nil, exitcode.Usagef("the canary's pod labels %s do not match the selector %s of deployment %q", labels.Set(tmpl.Labels), sel, ref)
	}
	if kube.EqualIgnoreHash(tmpl, &stable.Spec.Template) && p.existing == nil {
		return nil, exitcode.Usagef("deployment %q: the canary's pod template would be the same as the stable's: give --image or -f with the new version", ref)
	}
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	tmpl.Labels[p.trackKey] = p.trackVal

	selector := stable.Spec.Selector.DeepCopy()
	selector.MatchLabels[p.trackKey] = p.trackVal

	lbls := gitops.UntrackedLabels(stable) // not claimed by the stable's Argo CD application
	lbls[p.trackKey] = p.trackVal
	one := intOrString("1")
	zero := intOrString("0")
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:        p.canaryName(),
			Namespace:   stable.Namespace,
			Labels:      lbls,
			Annotations: map[string]string{CanaryOfAnnotation: stable.Name},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas:                int32Ptr(0),
			Selector:                selector,
			Template:                *tmpl,
			MinReadySeconds:         stable.Spec.MinReadySeconds,
			ProgressDeadlineSeconds: stable.Spec.ProgressDeadlineSeconds,
			RevisionHistoryLimit:    stable.Spec.RevisionHistoryLimit,
			// The canary's own updates never take a ready canary pod away.
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &zero}},
		},
	}
	return d, nil
}

// findService returns the named Service, or the one Service whose selector
// selects the stable's pods.
func (c *Canary) findService(ctx context.Context, stable *appsv1.Deployment, name string) (*corev1.Service, error) {
	ns := stable.Namespace
	if name != "" {
		svc, err := c.Client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, exitcode.Usagef("service %q not found", ns+"/"+name)
		}
		if err != nil {
			return nil, fmt.Errorf("reading service %q: %w", ns+"/"+name, err)
		}
		return svc, nil
	}
	list, err := c.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing services in namespace %q: %w", ns, err)
	}
	var found []*corev1.Service
	for i := range list.Items {
		s := &list.Items[i]
		if len(s.Spec.Selector) == 0 || s.Labels[kube.ManagedByLabel] == kube.FieldManager {
			continue
		}
		if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(stable.Spec.Template.Labels)) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 0:
		return nil, exitcode.Usagef("no service in namespace %q selects the pods of deployment %q: a canary is reached through one (give --service)", ns, stable.Name)
	case 1:
		return found[0], nil
	}
	names := make([]string, len(found))
	for i, s := range found {
		names[i] = s.Name
	}
	return nil, exitcode.Usagef("services %s all select the pods of deployment %q: choose one with --service", strings.Join(names, ", "), ns+"/"+stable.Name)
}

// recordWriter is the writer of the record on the stable Deployment: a
// conflict with a change of what the canary manages (replicas, template,
// selector) stops it, any other change is taken as the new version seen.
func (c *Canary) recordWriter(p *plan) *state.RecordWriter {
	w := &state.RecordWriter{Object: state.DeploymentCarrier(c.Client, p.stable.Namespace, p.stable.Name), Now: c.Now}
	if c.fence != nil {
		w.Fence = c.fence
	}
	w.Judge = func(obj metav1.Object) error {
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			return nil
		}
		if seen := p.seen[d.Name]; seen != nil {
			if changed := deploymentChange(seen, d); changed != nil {
				return changed
			}
		}
		p.remember(d)
		return nil
	}
	return w
}

func resultText(op *state.Operation) string {
	if op.Result == "" {
		return "in flight"
	}
	return op.Result
}

// lock takes the operation's Lease; the returned context ends, with the
// *state.LostError as its cause, if it is lost. Once it holds the Lease it
// reads the stable again: a record that changed since prepare read it
// (another run moved it on) stops it, nothing changed, and so does a change
// of what the canary manages.
func (c *Canary) lock(ctx context.Context, p *plan, force bool) (context.Context, func(), error) {
	l := &state.Lock{Client: c.Client.CoordinationV1(), Namespace: p.stable.Namespace, Name: state.LeaseName("deployment", p.stable.Name), Holder: state.Identity(p.op.ID),
		Duration: c.LeaseDuration, Clock: c.Clock,
		OnContact: func(ev state.ContactEvent) { c.printf("%s", ev) },
		OnWait:    func(ev state.WaitEvent) { c.printf("%s", ev) }}
	if err := l.Acquire(ctx, force); err != nil {
		var held *state.HeldError
		if errors.As(err, &held) {
			return nil, nil, exitcode.Failedf("deployment %q is being released by another run, nothing changed: %w", p.ref(), err)
		}
		return nil, nil, err
	}
	if l.Previous != "" {
		c.printf("took over lease %q from %q", l.Namespace+"/"+l.Name, l.Previous)
	}
	c.fence = l
	p.rec = c.recordWriter(p)
	release := func() { _ = l.Release(context.Background()) }
	again, has, err := p.rec.Load(ctx)
	if err == nil && (has != (p.record != nil) || has && !sameRecord(p.record, again)) {
		now := "it was removed"
		if has {
			now = fmt.Sprintf("now operation %s (%s), phase %s, holder %q", again.ID, again.Strategy, again.Phase, again.Holder)
		}
		err = exitcode.Failedf("deployment %q: its operation record changed while this run took the lease (%s): nothing was changed, run again", p.ref(), now)
	}
	if err == nil {
		if d, ok := p.rec.Base().(*appsv1.Deployment); ok {
			if changed := deploymentChange(p.seen[d.Name], d); changed != nil {
				err = exitcode.Failedf("deployment %q changed while this run took the lease: %w; nothing was changed, run again", p.ref(), changed)
			} else {
				p.remember(d)
				p.stable = d
			}
		}
	}
	if err != nil {
		release()
		return nil, nil, err
	}
	lctx, cancel := l.Context(ctx)
	return lctx, func() {
		cancel(nil)
		release()
	}, nil
}

// sameRecord says whether two reads of the record show the same state.
func sameRecord(a, b *state.Operation) bool {
	return a.ID == b.ID && a.Strategy == b.Strategy && a.Phase == b.Phase && a.Result == b.Result && a.Holder == b.Holder && a.UpdateTime.Equal(b.UpdateTime)
}

// lost returns why the run's Lease is lost (err, ctx or the fence say so),
// nil while it is held: the one rule by which the canary stops without any
// further write.
func (c *Canary) lost(ctx context.Context, err error) *state.LostError {
	return state.Lost(ctx, err, c.fence)
}

// stopLost ends a run that lost its Lease without one more write: the record
// keeps the phase (in flight) for resume or abort, and the error (exit 3)
// says so. nil when the Lease is not lost.
func (c *Canary) stopLost(ctx context.Context, p *plan, err error) error {
	lost := c.lost(ctx, err)
	if lost == nil {
		return nil
	}
	phase := p.op.Phase
	if p.rec != nil && p.rec.RecordedPhase() != "" {
		phase = p.rec.RecordedPhase()
	}
	return exitcode.NeedsPersonf("canary of deployment %q: %v; no further change was made; %s", p.ref(), lost, state.StoppedHint("deployment", p.stable.Namespace, p.stable.Name, phase))
}

// fenced is the check made right before each write of the release: the
// Lease is still this run's (state.Lock.Check).
func (c *Canary) fenced(ctx context.Context) error {
	if c.fence == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return c.fence.Check(ctx)
}

// save writes the record; a lost Lease is the exit-3 stop.
func (c *Canary) save(ctx context.Context, p *plan) error {
	if p.rec == nil {
		p.rec = c.recordWriter(p)
	}
	err := p.rec.Save(ctx, p.op)
	if err != nil {
		if stop := c.stopLost(ctx, p, err); stop != nil {
			return stop
		}
		return err
	}
	if d, ok := p.rec.Base().(*appsv1.Deployment); ok {
		p.remember(d)
	}
	return nil
}

// watchDowntime starts the endpoint watcher of the Service; it returns a
// function that prints its summary.
func (c *Canary) watchDowntime(ctx context.Context, p *plan) func() {
	w, err := downtime.Start(ctx, c.Client, p.service.Namespace, p.service.Name)
	if err != nil {
		c.printf("warning: not watching the endpoints of service %q: %v", p.service.Namespace+"/"+p.service.Name, err)
		return func() {}
	}
	return func() { c.printf("%s", w.Stop().Summary()) }
}

func int32Ptr(v int32) *int32 { return &v }

func formatSteps(steps []int) string {
	s := make([]string, len(steps))
	for i, w := range steps {
		s[i] = strconv.Itoa(w)
	}
	return strings.Join(s, ",")
}

// ParseSteps reads "10,30,50,100": weights in 0..100, strictly increasing.
func ParseSteps(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		w, err := strconv.Atoi(strings.TrimSuffix(f, "%"))
		if err != nil {
			return nil, fmt.Errorf("step %q is not a whole number of percent", f)
		}
		if err := traffic.ValidateWeight(w); err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && w <= out[n-1] {
			return nil, fmt.Errorf("steps must increase: %d comes after %d", w, out[n-1])
		}
		out = append(out, w)
	}
	return out, nil
}

// ParsePauses reads "1h" or "5s,10s,0" (one per step).
func ParsePauses(s string, steps int) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, fmt.Errorf("pause %q is not a duration (like 30s or 1h)", f)
		}
		if d < 0 {
			return nil, fmt.Errorf("pause %q is negative", f)
		}
		out = append(out, d)
	}
	if len(out) != 1 && len(out) != steps {
		return nil, fmt.Errorf("%d pauses for %d steps: give one pause, or one per step", len(out), steps)
	}
	return out, nil
}

func formatPauses(p []time.Duration) string {
	s := make([]string, len(p))
	for i, d := range p {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
}

func pauseAt(p []time.Duration, i int) time.Duration {
	switch {
	case len(p) == 0:
		return 0
	case len(p) == 1:
		return p[0]
	case i < len(p):
		return p[i]
	}
	return 0
}
