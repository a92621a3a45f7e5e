package rolling

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

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
		strategies.Announce(r.Events, strategies.MarkAnalysis)
		defer func() { strategies.Measured(r.Events, analysisRes) }()
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
	strategies.Announce(r.Events, strategies.MarkRolledOut)
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
