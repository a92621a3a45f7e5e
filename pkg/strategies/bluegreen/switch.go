package bluegreen

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

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
	mark := strategies.MarkSwitch
	switch {
	case s.switchMark != "":
		mark = s.switchMark
	case phase == PhaseSwitchedBack:
		mark = strategies.MarkSwitchBack
	}
	strategies.Announce(r.Events, mark+" to "+to)
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
	// the autoscalers follow the traffic (autoscale.go)
	if err := s.followAutoscalers(sctx, snap, toDep); err != nil {
		return true, fmt.Errorf("service %q switched to %s: %w", r.key(), to, err)
	}
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
