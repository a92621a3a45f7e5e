package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/clock"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
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

// session is one locked operation on the Service: its record, Lease and
// downtime watcher.
type session struct {
	r     *Runner
	op    *state.Operation
	rec   *state.RecordWriter
	lock  *state.Lock
	watch *downtime.Watcher
	// applied is the new colour's Deployment as deploy wrote it: the guard
	// checks nobody changed its spec since (nil: no check).
	applied *appsv1.Deployment
	// inFlight makes end keep the operation in flight (no result): a
	// switch back that failed, which resume retries and abort accepts.
	inFlight bool
	// switchPhase is the phase the record written with a selector patch
	// says ("switched" when empty).
	switchPhase string
	// uncertain: a selector patch may or may not have been applied; end
	// writes nothing (the record may be the one the patch carried).
	uncertain bool
	// parent is the caller's context: cancelled by Ctrl-C (SIGINT) or
	// SIGTERM (or, under resume, with a *state.LostError cause when the
	// caller's lease is lost). ctx is also cancelled when the Lease is lost.
	parent context.Context
	ctx    context.Context
	cancel context.CancelCauseFunc
}

// PhaseSwitchingBack is the phase of an operation whose switch back (after
// a failure that followed the switch) failed: it stays in flight, resume
// switches back again and abort goes back too.
const PhaseSwitchingBack = "switching-back"

// PhaseSwitchedBack is recorded with the selector patch of a switch back
// (after a failure that followed the switch), and kept when it ends.
const PhaseSwitchedBack = "switched-back"

// resumable says whether op can be taken on by resume or abort: in flight,
// interrupted, or a deploy paused before the switch (--manual-promote).
func resumable(op *state.Operation) bool {
	return op.InFlight() || op.Result == state.ResultInterrupted || (op.Result == state.ResultPaused && op.Phase == "ready-to-promote")
}

// interrupted says whether the caller's context ended (Ctrl-C, SIGTERM),
// as opposed to a failure of the operation itself or the loss of the
// caller's lease.
func (s *session) interrupted() bool {
	return s.parent != nil && s.parent.Err() != nil && state.LostCause(s.parent) == nil
}

// lost returns why the operation's lease is lost (err, the session's
// context or the fence say so), nil while it is held: then nothing more is
// written, whatever the step.
func (s *session) lost(err error) *state.LostError {
	if l := state.LeaseLost(err); l != nil {
		return l
	}
	if s.lock != nil {
		if l := state.LeaseLost(s.lock.Err()); l != nil {
			return l
		}
	}
	return state.Lost(s.ctx, nil, s.r.fence)
}

// writeCtx is the context of one API write: it is not cancelled by Ctrl-C,
// so a write that has started is finished (an interrupted request could
// leave its effect unknown); the next wait sees the interruption.
func writeCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}

// fenced is the check made right before each write of the operation: the
// operation's lease is still this run's (state.Lock.Check).
func (r *Runner) fenced(ctx context.Context) error {
	if r.fence == nil {
		return nil
	}
	ctx, cancel := writeCtx(ctx)
	defer cancel()
	return r.fence.Check(ctx)
}

// recorder is the record writer on the Service.
func (r *Runner) recorder() *state.RecordWriter {
	w := &state.RecordWriter{Object: state.ServiceCarrier(r.Client, r.Namespace, r.Service), Now: r.Now}
	if r.fence != nil {
		w.Fence = r.fence
	}
	w.Judge = func(obj metav1.Object) error {
		// a change of the Service's selector by another writer is the
		// operation's business; anything else (a label, an annotation)
		// is written over
		cur, ok := obj.(*corev1.Service)
		base, _ := w.Base().(*corev1.Service)
		if !ok || base == nil || maps.Equal(cur.Spec.Selector, base.Spec.Selector) {
			return nil
		}
		return exitcode.FailedError(&kube.ChangedError{Object: fmt.Sprintf("service %q", r.key()), Fields: []string{kube.SpecSelector},
			Change: fmt.Sprintf("its selector %s (was %s)", formatSelector(cur.Spec.Selector), formatSelector(base.Spec.Selector)),
			Writer: kube.WriterOf(cur, kube.Path(kube.SpecSelector)), Err: errors.New("while the operation recorded its phase"), Seen: cur})
	}
	return w
}

// sameRecord says whether two reads of the record show the same state.
func sameRecord(a, b *state.Operation) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.ID == b.ID && a.Phase == b.Phase && a.Result == b.Result && a.Holder == b.Holder && a.UpdateTime.Equal(b.UpdateTime)
}

// begin takes the Lease on the Service, starts the downtime watcher and
// returns the operation record: the one in flight on the Service when resume
// is true and there is one, else a new one. params (what the command was
// asked) are in the record from its first phase on. The record is read
// before the Lease is taken (to name the operation) and again after: a
// record that changed in between (another run) stops it, nothing changed;
// a record that cannot be read is an error.
func (r *Runner) begin(ctx context.Context, phase string, resume bool, params map[string]string) (*session, error) {
	s := &session{r: r}
	s.rec = r.recorder()
	prev, hasPrev, err := s.rec.Load(ctx)
	if err != nil {
		return nil, err
	}
	var seen state.Operation
	if hasPrev {
		seen = *prev
	}
	if resume && hasPrev && prev.Strategy == Strategy && resumable(prev) {
		s.op = prev
		s.op.Result = ""
		s.op.Message = ""
	}
	if s.op == nil {
		s.op = state.NewOperation(Strategy, r.now())
		if hasPrev {
			// an empty value removes the earlier operation's param from the
			// record, so resume never reads it as this operation's
			for k := range prev.Params {
				s.op.Params[k] = ""
			}
		}
	}
	maps.Copy(s.op.Params, params)
	s.op.Holder = state.Identity(s.op.ID)
	s.lock = &state.Lock{Client: r.Client.CoordinationV1(), Namespace: r.Namespace, Name: state.LeaseName("service", r.Service), Holder: s.op.Holder, Now: r.Now,
		Duration: r.LeaseDuration, Clock: r.Clock,
		OnContact: func(ev state.ContactEvent) { r.printf("%s", ev) },
		OnWait:    func(ev state.WaitEvent) { r.printf("%s", ev) }}
	if err := s.lock.Acquire(ctx, r.ForceUnlock); err != nil {
		var held *state.HeldError
		if errors.As(err, &held) {
			return nil, exitcode.Failedf("service %q: %w", r.key(), err)
		}
		return nil, err
	}
	if s.lock.Previous != "" {
		r.printf("took over the lease of service %q from %s", r.key(), s.lock.Previous)
	}
	r.fence = s.lock
	s.rec = r.recorder()
	again, hasAgain, err := s.rec.Load(ctx)
	if err == nil && (hasAgain != hasPrev || hasAgain && !sameRecord(&seen, again)) {
		now := "it was removed"
		if hasAgain {
			now = fmt.Sprintf("now operation %s, phase %s, holder %q", again.ID, again.Phase, again.Holder)
		}
		err = exitcode.Failedf("service %q: its operation record changed while this run took the lease (%s): nothing was changed, run again", r.key(), now)
	}
	if err != nil {
		_ = s.lock.Release(context.WithoutCancel(ctx))
		return nil, err
	}
	s.parent = ctx
	s.ctx, s.cancel = s.lock.Context(ctx)
	if w, err := downtime.Start(s.ctx, r.Client, r.Namespace, r.Service); err == nil {
		s.watch = w
	} else {
		r.printf("warning: not measuring downtime of service %q: %v", r.key(), err)
	}
	s.op.Phase = phase
	if err := s.save(); err != nil {
		return nil, s.end(err)
	}
	return s, nil
}

func (s *session) save() error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 30*time.Second)
	defer cancel()
	return s.rec.Save(ctx, s.op)
}

// end records the result (from err), prints the downtime summary and
// releases the Lease. It returns err. When the lease is lost (contact with
// the API server lost, taken over by another run, deleted), nothing more is
// written: the phase recorded last stays, in flight, for resume or abort.
func (s *session) end(err error) error {
	if s.uncertain {
		if s.watch != nil {
			s.r.printf("%s", s.watch.Stop().Summary())
		}
		s.cancel(nil)
		if s.lock != nil {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.lock.Release(rctx)
			cancel()
		}
		return err
	}
	if lost := s.lost(err); lost != nil && !s.interrupted() {
		if s.watch != nil {
			s.r.printf("%s", s.watch.Stop().Summary())
		}
		s.cancel(nil)
		if s.lock != nil {
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_ = s.lock.Release(rctx)
			cancel()
		}
		return exitcode.NeedsPersonf("service %q: %v; no further change was made; %s", s.r.key(), lost, state.StoppedHint("service", s.r.Namespace, s.r.Service, s.recordedPhase()))
	}
	if err != nil && s.interrupted() && s.op.Result == "" && !s.inFlight {
		// Ctrl-C (unless the operation already reached an end, e.g. a
		// switch back that finished after it): no undo. The write in progress was finished, the phase
		// stays recorded, the Lease is released, and a person chooses.
		s.op.Result = state.ResultInterrupted
		s.op.Message = "interrupted in phase " + s.op.Phase
		err = exitcode.NeedsPersonf("service %q: interrupted in phase %s (%v); the operation is recorded on the service and its lease released: run 'kubectl zdd resume service/%s' to carry it on, or 'kubectl zdd abort service/%s' to go back to %s",
			s.r.key(), s.op.Phase, context.Cause(s.parent), s.r.Service, s.r.Service, s.safeColour())
	}
	if s.op.Result == "" && !s.inFlight {
		switch {
		case err == nil:
			s.op.Result = state.ResultSucceeded
		default:
			s.op.Result = state.ResultFailed
		}
	}
	if err != nil && s.op.Message == "" {
		s.op.Message = err.Error()
	}
	if serr := s.save(); serr != nil {
		if lost := s.lost(serr); lost != nil {
			serr = exitcode.NeedsPersonf("service %q: %v; no further change was made; %s", s.r.key(), lost, state.StoppedHint("service", s.r.Namespace, s.r.Service, s.recordedPhase()))
		}
		if err == nil || s.lost(serr) != nil {
			err = serr
		}
	}
	if s.watch != nil {
		rep := s.watch.Stop()
		s.r.printf("%s", rep.Summary())
	}
	s.cancel(nil)
	if s.lock == nil {
		// resume and abort: the caller holds (and releases) the Lease
		return err
	}
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if rerr := s.lock.Release(rctx); rerr != nil {
		s.r.printf("warning: %v", rerr)
	}
	return err
}

// recordedPhase is the phase the record on the Service holds, as this run
// last wrote or read it.
func (s *session) recordedPhase() string {
	if p := s.rec.RecordedPhase(); p != "" {
		return p
	}
	return s.op.Phase
}

// safeColour names the state 'kubectl zdd abort' returns to.
func (s *session) safeColour() string {
	if isInit(s.op) {
		return "the service as it was before init"
	}
	if c := origin(s.op); c != "" {
		return "colour " + c
	}
	return "the colour that was live"
}

// waitReady waits until Deployment name is fully rolled out and available.
func (r *Runner) waitReady(ctx context.Context, name, colour string) (*appsv1.Deployment, error) {
	wctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	last := ""
	d, err := kube.WaitForDeployment(wctx, r.Client, r.Namespace, name, nil, func(_ *appsv1.Deployment, p kube.Progress) {
		if s := p.String(); s != last {
			last = s
			r.printf("colour %s (deployment %q): %s", colour, r.Namespace+"/"+name, s)
		}
	})
	if err != nil {
		return d, err
	}
	return d, nil
}

// readyPods counts the ready, not terminating pods matching sel.
func (r *Runner) readyPods(ctx context.Context, sel map[string]string) (int32, error) {
	pods, err := r.Client.CoreV1().Pods(r.Namespace).List(ctx, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(sel).String()})
	if err != nil {
		return 0, err
	}
	var n int32
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				n++
			}
		}
	}
	return n, nil
}

// guard is the check made right before each selector patch: the target
// colour's Deployment is fully rolled out and it has at least need ready pods.
func (r *Runner) guard(dep, colour string, sel map[string]string, need int32, why string, applied *appsv1.Deployment) traffic.Guard {
	// only the Deployment deploy wrote is compared with what it wrote; the
	// colour a switch back returns to is whatever it is (before, a switch
	// back compared it with the new colour and refused it as changed by
	// someone else once their generations differed)
	if applied != nil && applied.Name != dep {
		applied = nil
	}
	return func(ctx context.Context) error {
		d, err := r.Client.AppsV1().Deployments(r.Namespace).Get(ctx, dep, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("guard: reading deployment %q of colour %s: %w", r.Namespace+"/"+dep, colour, err)
		}
		if changed := specChange(applied, d); changed != nil {
			changed.Object = fmt.Sprintf("deployment %q", r.Namespace+"/"+dep)
			changed.Change += " since deploy applied it"
			changed.Err = fmt.Errorf("generation %d, deploy wrote %d", d.Generation, applied.Generation)
			return exitcode.FailedError(changed)
		}
		if p := kube.DeploymentProgress(d); !p.Done {
			return fmt.Errorf("guard: colour %s (deployment %q) is not fully rolled out: %s", colour, r.Namespace+"/"+dep, p.Reason)
		}
		n, err := r.readyPods(ctx, sel)
		if err != nil {
			return fmt.Errorf("guard: listing pods of colour %s: %w", colour, err)
		}
		if n < need {
			return fmt.Errorf("guard: colour %s has %d ready pods, needs %d (%s)", colour, n, need, why)
		}
		return nil
	}
}

// need is how many ready pods the target colour must have: --min-ready, or
// as many as the live colour has ready now (at least 1).
func (r *Runner) need(liveReady int32) (int32, string) {
	if r.MinReady > 0 {
		return r.MinReady, "--min-ready"
	}
	if liveReady < 1 {
		return 1, "at least one"
	}
	return liveReady, "as many as the live colour has ready"
}

// switchTo patches every Service of snap from colour `from` to `to` and waits
// until their endpoints list only `to`'s pods, all ready. switched says
// whether the selectors were patched (false: nothing changed).
func (s *session) switchTo(ctx context.Context, snap *Snapshot, from, to, toDep string, need int32, why string, hook func(context.Context, string) error) (switched bool, err error) {
	r := s.r
	sel := snap.Selector(r.Colours.Label, to)
	phase := s.switchPhase
	if phase == "" {
		phase = "switched"
	}
	sw := &traffic.SelectorSwitch{
		Client: r.Client, Namespace: r.Namespace, Label: r.Colours.Label,
		Annotations: func(svc string) map[string]*string {
			if svc != r.Service {
				return nil
			}
			// the record of the switch changes with the selector, atomically
			op := *s.op
			op.Params = maps.Clone(s.op.Params)
			op.Phase = phase
			op.Params[ParamActive] = to
			op.Params[ParamPrevious] = from
			op.UpdateTime = r.now().UTC().Truncate(time.Second)
			return op.Annotations()
		},
		// the fencing check right before each patch (a revert's too): a
		// lost lease switches nothing more
		Fence: r.fenced,
		// the primary Service's patch carries the record: the record
		// writer goes on from the version it left
		OnPatched: func(svc *corev1.Service) {
			if svc.Name == r.Service {
				s.rec.Observe(svc)
			}
		},
	}
	r.printf("switching %s of service %q from %s to %s (guard: %d ready, %s)", r.Colours.Label, r.key(), orNone(from), to, need, why)
	// the endpoint watches start before the patch, so the wait after it
	// costs no list round trips
	wctx, cancel := context.WithTimeout(ctx, r.timeout())
	defer cancel()
	watches := map[string]*traffic.ConvergenceWatch{}
	for _, name := range snap.Services {
		w, err := traffic.WatchConvergence(wctx, r.Client, r.Namespace, name, sel, int(need))
		if err != nil {
			return false, err
		}
		defer w.Stop()
		watches[name] = w
	}
	// Ctrl-C before the first patch switches nothing; once a patch is sent
	// the switch of every Service is finished (or, if one fails, all are
	// switched back), so no Service is left half-switched
	var patched, first bool
	guard := r.guard(toDep, to, sel, need, why, s.applied)
	sw.BeforePatch = func(c context.Context, svc string) error {
		if !patched {
			if hook != nil {
				if err := hook(ctx, svc); err != nil {
					return err
				}
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("not switched: %w", context.Cause(ctx))
			}
			patched = true
			return nil
		}
		if hook != nil {
			return hook(c, svc)
		}
		return nil
	}
	firstGuard := func(c context.Context) error {
		if first {
			first = false
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("not switched: %w", context.Cause(ctx))
			}
			return guard(ctx)
		}
		return guard(c)
	}
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout())
	defer scancel()
	var done []traffic.Switched
	for attempt := 1; ; attempt++ {
		patched, first = false, true
		var err error
		if done, err = sw.Switch(sctx, snap.Services, from, to, firstGuard); err == nil {
			break
		}
		// a Service changed between its read and its patch: switch again
		// when the change leaves its selector as it was (an annotation, a
		// label, a port), stop naming it when the selector moved
		var uncertain *traffic.UncertainError
		if errors.As(err, &uncertain) {
			// whether the patch was applied is unknown: neither "switched"
			// nor "no switch" may be recorded
			s.uncertain = true
			return false, exitcode.NeedsPersonf("%w; the record is left as it is: run 'kubectl zdd status service/%s -n %s' to see which colour the service selects, then 'kubectl zdd resume' or 'kubectl zdd abort'", err, r.Service, r.Namespace)
		}
		var conflict *traffic.ConflictError
		if !errors.As(err, &conflict) || attempt == maxSwitchAttempts {
			return false, err
		}
		name := strings.TrimPrefix(conflict.Service, r.Namespace+"/")
		cur, gerr := r.Client.CoreV1().Services(r.Namespace).Get(ctx, name, metav1.GetOptions{})
		if gerr != nil {
			return false, fmt.Errorf("%w; and reading it again: %v", err, gerr)
		}
		if want := snap.Selector(r.Colours.Label, from); !maps.Equal(cur.Spec.Selector, want) {
			return false, &kube.ChangedError{Object: fmt.Sprintf("service %q", conflict.Service), Fields: []string{kube.SpecSelector},
				Change: fmt.Sprintf("its selector %s (was %s)", formatSelector(cur.Spec.Selector), formatSelector(want)),
				Writer: kube.WriterOf(cur, kube.Path(kube.SpecSelector)), Err: err, Seen: cur}
		}
		r.printf("service %q was changed by someone else during the switch, not its selector: switching again", conflict.Service)
	}
	s.op.Phase = phase
	s.op.Params[ParamActive] = to
	s.op.Params[ParamPrevious] = from
	for _, name := range snap.Services {
		at, err := watches[name].Wait(wctx)
		if err != nil {
			return true, err
		}
		msg := fmt.Sprintf("service %q: endpoints list only %s pods", r.Namespace+"/"+name, to)
		for _, d := range done {
			if d.Service == name {
				msg += fmt.Sprintf(", %s after the patch", at.Sub(d.PatchedAt).Round(time.Millisecond))
			}
		}
		r.printf("%s", msg)
	}
	return true, nil
}

// maxSwitchAttempts bounds the retries of a switch that conflicted with
// changes that leave the selector alone.
const maxSwitchAttempts = 5

// specChange says what another writer changed in the parts of the new
// colour's Deployment that deploy set (pod template, replicas, paused),
// comparing cur with applied (kube.DeploymentChange, told in words in
// Change); nil when nothing (a generation bump for another field, e.g.
// revisionHistoryLimit, is not blue-green's).
func specChange(applied, cur *appsv1.Deployment) *kube.ChangedError {
	if applied == nil || cur.Generation == applied.Generation {
		return nil
	}
	changed := kube.DeploymentChange(applied, cur, kube.SpecTemplate, kube.SpecReplicas, kube.SpecPaused)
	if changed == nil {
		return nil
	}
	var what []string
	for _, f := range changed.Fields {
		switch f {
		case kube.SpecTemplate:
			w := "its pod template"
			if a, c := Images(&applied.Spec.Template), Images(&cur.Spec.Template); a != c {
				w += fmt.Sprintf(" (images %s, deploy set %s)", c, a)
			}
			what = append(what, w)
		case kube.SpecReplicas:
			what = append(what, fmt.Sprintf("its replicas (%d, deploy set %d)", replicasOf(cur), replicasOf(applied)))
		case kube.SpecPaused:
			what = append(what, "paused")
		}
	}
	changed.Change = strings.Join(what, " and ")
	changed.From, changed.To = "", ""
	return changed
}

func orNone(s string) string {
	if s == "" {
		return "(no colour)"
	}
	return s
}

// switchBack undoes a switch after a failure, with its own deadline (the
// operation's may be spent, or cancelled by Ctrl-C). It returns nil when the
// Services are back on colour to with endpoints converged.
func (s *session) switchBack(snap *Snapshot, from, to, toDep string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), s.r.timeout())
	defer cancel()
	s.switchPhase = PhaseSwitchedBack
	defer func() { s.switchPhase = "" }()
	return s.switchTo(ctx, snap, from, to, toDep, 1, "the colour that was live before", nil)
}

// ensurePreview creates or updates the preview Service selecting colour.
func (r *Runner) ensurePreview(ctx context.Context, snap *Snapshot, colour string) error {
	ctx, cancel := writeCtx(ctx)
	defer cancel()
	name := PreviewName(r.Service)
	sel := snap.Selector(r.Colours.Label, colour)
	svcs := r.Client.CoreV1().Services(r.Namespace)
	cur, err := svcs.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		ports := make([]corev1.ServicePort, 0, len(snap.Service.Spec.Ports))
		for _, p := range snap.Service.Spec.Ports {
			p.NodePort = 0
			ports = append(ports, p)
		}
		pv := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.Namespace,
				Labels: map[string]string{PreviewLabel: r.Service, kube.ManagedByLabel: kube.FieldManager}},
			Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Selector: sel, Ports: ports},
		}
		if err := r.fenced(ctx); err != nil {
			return err
		}
		if _, err := svcs.Create(ctx, pv, metav1.CreateOptions{FieldManager: kube.FieldManager}); err != nil {
			return fmt.Errorf("creating preview service %q: %w", r.Namespace+"/"+name, err)
		}
		r.printf("preview service %q selects %s", r.Namespace+"/"+name, formatSelector(sel))
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading preview service %q: %w", r.Namespace+"/"+name, err)
	}
	if cur.Labels[PreviewLabel] != r.Service {
		return exitcode.Usagef("service %q exists and is not the preview of service %q (no %s=%s label); not touching it", r.Namespace+"/"+name, r.key(), PreviewLabel, r.Service)
	}
	if maps.Equal(cur.Spec.Selector, sel) {
		return nil
	}
	patch, err := traffic.SelectorPatch(r.Colours.Label, colour, "", nil)
	if err != nil {
		return err
	}
	if err := r.fenced(ctx); err != nil {
		return err
	}
	if _, err := svcs.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kube.FieldManager}); err != nil {
		return fmt.Errorf("pointing preview service %q at %s: %w", r.Namespace+"/"+name, colour, err)
	}
	r.printf("preview service %q selects %s", r.Namespace+"/"+name, formatSelector(sel))
	return nil
}

// scale sets the replicas of Deployment name.
func (r *Runner) scale(ctx context.Context, name string, n int32) error {
	patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, n)
	ctx, cancel := writeCtx(ctx)
	defer cancel()
	if err := r.fenced(ctx); err != nil {
		return err
	}
	_, err := r.Client.AppsV1().Deployments(r.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kube.FieldManager})
	if err != nil {
		return fmt.Errorf("scaling deployment %q to %d: %w", r.Namespace+"/"+name, n, err)
	}
	return nil
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

func (r *Runner) vars(colour, service string) analysis.Vars {
	return analysis.Vars{Namespace: r.Namespace, Name: service, Color: colour, Version: colour}
}

// runAnalysis runs a and returns nil when it passed.
func (r *Runner) runAnalysis(ctx context.Context, what string, a analysis.Analyzer, vars analysis.Vars) error {
	r.printf("%s analysis of colour %s: started", what, vars.Color)
	res, err := a(ctx, vars)
	if err != nil {
		return fmt.Errorf("%s analysis of colour %s of service %q: %w", what, vars.Color, r.key(), err)
	}
	r.printf("%s analysis of colour %s: %s %s", what, vars.Color, res.Verdict, res.Message)
	if res.Verdict != analysis.Passed {
		return fmt.Errorf("%s analysis of colour %s of service %q: %s: %s", what, vars.Color, r.key(), res.Verdict, res.Message)
	}
	return nil
}
