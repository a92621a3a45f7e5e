package rolling

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// runHold carries the hold from where the Deployment is: while it still
// holds the old pods (minReadySeconds is the hold's), it waits for every new
// pod to be ready and in the Services' endpoints, narrows the Services to
// them, gives kube-proxy holdSettle, and lets the controller go on. Any
// failure is the release's (it rolls back as a failed watch does).
func (r *Rollout) runHold(ctx context.Context, rel *release, h *holdRecord) error {
	cfg := rel.cfg
	hctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	strategies.CancelOnTrip(hctx, cfg.Tripwire, cancel)
	tctx, tcancel := context.WithTimeoutCause(hctx, cfg.Timeout, fmt.Errorf("new pods were not ready within --timeout %s", cfg.Timeout))
	defer tcancel()

	// the controller has made the new ReplicaSet once it observed the
	// generation of the apply
	d, err := kube.WaitForDeployment(tctx, r.Kube, cfg.Namespace, cfg.Name, func(d *appsv1.Deployment, p kube.Progress) (bool, string) {
		return d.Status.ObservedGeneration >= d.Generation, "waiting for the deployment controller"
	}, nil)
	if err != nil {
		return holdErr(hctx, err)
	}
	if ferr := rel.w.guard.observe(d); ferr != nil {
		return ferr
	}
	if d.Spec.MinReadySeconds != h.Seconds {
		// the hold's own values are gone: the old pods are let go already
		return nil
	}
	go func() {
		problems, err := kube.WatchNewPodProblems(tctx, r.Kube, d, &d.Spec.Template, cfg.MaxRestarts)
		if err == nil && len(problems) > 0 {
			cancel(fmt.Errorf("new pods are failing: %s", strings.Join(problems, "; ")))
		}
	}()
	rss, err := kube.ReplicaSetsOf(tctx, r.Kube, d)
	if err != nil {
		return holdErr(hctx, err)
	}
	rs := kube.CurrentReplicaSet(d, rss)
	if rs == nil || rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == "" {
		return fmt.Errorf("deployment %q: the new ReplicaSet of the release is not found", rel.ref)
	}
	hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	if h.Hash != "" && h.Hash != hash {
		return fmt.Errorf("deployment %q: the new pods' pod-template-hash is %s, the record's hold says %s", rel.ref, hash, h.Hash)
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if h.Services == nil && len(rel.services) == 0 {
		// resumed: the Services that select the pods, as the run found them
		if rel.services, rel.serviceObjs, err = r.servicesFor(tctx, rel); err != nil {
			return holdErr(hctx, err)
		}
	}
	names := slices.Clone(rel.services)
	if h.Services != nil {
		names = slices.Sorted(maps.Keys(h.Services))
	}
	watches := map[string]*kube.EndpointWatch{}
	defer func() {
		for _, w := range watches {
			w.Stop()
		}
	}()
	var podSel map[string]string
	if d.Spec.Selector != nil && len(d.Spec.Selector.MatchExpressions) == 0 {
		podSel = d.Spec.Selector.MatchLabels
	}
	for _, s := range names {
		w, err := kube.WatchEndpoints(tctx, r.Kube, cfg.Namespace, s, kube.EndpointOptions{PodSelector: podSel})
		if err != nil {
			return holdErr(hctx, err)
		}
		watches[s] = w
	}
	r.logf("hold: holding the old pods of deployment %q (no preStop delay) until the new ones serve: %d new pods (pod-template-hash=%s) come up beside them, minReadySeconds %d keeps the old ones running", rel.ref, replicas, hash, h.Seconds)
	for _, s := range names {
		if err := watches[s].Wait(tctx, func() bool { return newServing(watches[s], hash) >= int(replicas) }); err != nil {
			return holdErr(hctx, fmt.Errorf("waiting for the new pods in the endpoints of service %q: %w", cfg.Namespace+"/"+s, err))
		}
	}

	// record the Services' selectors before they change
	if h.Services == nil {
		h.Services = map[string]map[string]string{}
		for _, s := range names {
			svc, err := r.Kube.CoreV1().Services(cfg.Namespace).Get(tctx, s, metav1.GetOptions{})
			if err != nil {
				return holdErr(hctx, fmt.Errorf("reading service %q: %w", cfg.Namespace+"/"+s, err))
			}
			if _, has := svc.Spec.Selector[appsv1.DefaultDeploymentUniqueLabelKey]; has || len(svc.Spec.Selector) == 0 {
				continue
			}
			h.Services[s] = svc.Spec.Selector
		}
	}
	h.Hash = hash
	setHold(rel.op, h)
	rel.w.guard.while = "while the rollout held the old pods"
	if err := r.record(ctx, rel, PhaseHold, "", ""); err != nil {
		return err
	}
	for _, s := range slices.Sorted(maps.Keys(h.Services)) {
		r.logf("hold: holding the old pods out of service/%s until they stop: its selector gets %s=%s", s, appsv1.DefaultDeploymentUniqueLabelKey, hash)
		if err := rel.fenced(ctx); err != nil {
			return err
		}
		if err := narrowService(tctx, r.Kube, cfg.Namespace, s, h.Services[s], hash); err != nil {
			return holdErr(hctx, err)
		}
	}
	for _, s := range slices.Sorted(maps.Keys(h.Services)) {
		if err := watches[s].Wait(tctx, func() bool { return onlyNew(watches[s], hash) }); err != nil {
			return holdErr(hctx, fmt.Errorf("waiting for the endpoints of service %q to hold only the new pods: %w", cfg.Namespace+"/"+s, err))
		}
	}
	r.logf("hold: the endpoints hold only the new pods; giving kube-proxy %s to stop sending to the old ones", holdSettle)
	select {
	case <-time.After(holdSettle):
	case <-tctx.Done():
		return holdErr(hctx, context.Cause(tctx))
	}
	if err := rel.fenced(ctx); err != nil {
		return err
	}
	restored, err := unholdDeployment(ctx, r.Kube, cfg.Namespace, cfg.Name, h)
	if err != nil {
		return err
	}
	if restored != nil {
		rel.w.guard.accept(restored)
	}
	r.logf("hold: minReadySeconds %d and maxSurge %s set back: the old pods stop now, out of service", h.MinReadySeconds, h.MaxSurge.String())
	return nil
}

// holdErr is the cause of the hold's context when it ended (a trip, new
// pods failing, the timeout), else err.
func holdErr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return err
}

// podHashes maps the watched pods' names to their pod-template-hash.
func podHashes(w *kube.EndpointWatch) map[string]string {
	out := map[string]string{}
	for _, p := range w.Pods() {
		out[p.Name] = p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
	}
	return out
}

// newServing counts the ready endpoints of pods of hash in w's slices.
func newServing(w *kube.EndpointWatch, hash string) int {
	hashes := podHashes(w)
	seen := map[string]bool{}
	for _, sl := range w.Slices() {
		for _, ep := range sl.Endpoints {
			if ep.TargetRef == nil || hashes[ep.TargetRef.Name] != hash {
				continue
			}
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				seen[ep.TargetRef.Name] = true
			}
		}
	}
	return len(seen)
}

// onlyNew says whether w's slices hold endpoints, all of pods of hash.
func onlyNew(w *kube.EndpointWatch, hash string) bool {
	hashes := podHashes(w)
	n := 0
	for _, sl := range w.Slices() {
		for _, ep := range sl.Endpoints {
			if ep.TargetRef == nil || hashes[ep.TargetRef.Name] != hash {
				return false
			}
			n++
		}
	}
	return n > 0
}
