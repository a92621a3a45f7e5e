package rolling

// The hold of a --fix release whose replaced pods lack the drain the fix
// adds (no preStop delay): a running pod's hooks cannot change, so the
// Deployment controller would stop those pods while kube-proxy still sends
// them requests. The release takes them out of the Services first:
//
//  1. the apply sets, beside the image and the fixes, a high
//     spec.minReadySeconds and maxSurge 100% / maxUnavailable 0: every new
//     pod comes up and becomes Ready (so it joins the Services' endpoints)
//     but not Available, so the controller removes no old pod;
//  2. once every new pod is ready and in every Service's EndpointSlices,
//     each Service's selector is narrowed to the new pods
//     (pod-template-hash=<new>), the slices are waited for until they hold
//     only new pods, and then kube-proxy is given holdSettle;
//  3. minReadySeconds and the surge are set back to the fixed values: the
//     controller scales the old ReplicaSet down, and its pods stop with no
//     traffic;
//  4. when the old pods are gone, each Service's selector is restored.
//
// Every temporary change is in the record (param hold) before it is made,
// so resume finishes the hold and abort, rollback and the automatic
// rollback undo it (the Services' selectors first, so the old pods serve
// again before the new ones leave).

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// ParamHold is the record of the hold (holdRecord as JSON); it is removed
// when the Services' selectors are restored.
const ParamHold = "hold"

// PhaseHold is recorded right before the Services are narrowed to the new
// pods.
const PhaseHold = "hold"

// holdSettle is how long kube-proxy is given, after the EndpointSlices
// hold only the new pods, before the old pods may stop: the sync lag of
// kube-proxy cannot be seen from the client. Measured on the real node of
// the e2e suite (iptables mode, 2 cores at a load average of 8): a deleted
// pod's endpoint left the node's rules 0.0-0.85 s after it left the ready
// endpoints (8 pods), and kube-proxy's own network-programming latency
// (kubeproxy_network_programming_duration_seconds, from a change to its
// rules) was under 2 s for 77 of 80 changes, under 3 s for 79, and 7-8 s
// once. 10 s covers that outlier; it is paid once, by the release that
// fixes the Deployment.
var holdSettle = 10 * time.Second

// holdMaxSeconds bounds the minReadySeconds of the hold (it must also stay
// below progressDeadlineSeconds, which the API server checks).
const holdMaxSeconds = 600

// holdRecord is what a hold changed, and what to put back.
type holdRecord struct {
	// Seconds is the minReadySeconds set while holding.
	Seconds int32 `json:"seconds"`
	// MinReadySeconds, MaxSurge and MaxUnavailable are the values the
	// release leaves when the hold ends.
	MinReadySeconds int32              `json:"minReadySeconds"`
	MaxSurge        intstr.IntOrString `json:"maxSurge"`
	MaxUnavailable  intstr.IntOrString `json:"maxUnavailable"`
	// Hash is the pod-template-hash of the new pods, and Services the
	// selectors of the Services narrowed to them, as they were before.
	Hash     string                       `json:"hash,omitempty"`
	Services map[string]map[string]string `json:"services,omitempty"`
}

// planHold says whether a --fix release of fixed over live needs the hold,
// and with what values: when the fixed template adds a preStop delay to a
// container that has none in live, live has pods, and Services send them
// traffic. nil: no hold.
func planHold(live, fixed *appsv1.Deployment, services []corev1.Service) *holdRecord {
	if live == nil || len(services) == 0 || live.Status.Replicas == 0 {
		return nil
	}
	if fixed.Spec.Strategy.Type != "" && fixed.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		return nil
	}
	old := map[string]bool{}
	for i := range live.Spec.Template.Spec.Containers {
		c := &live.Spec.Template.Spec.Containers[i]
		old[c.Name] = lint.PreStopWaits(c)
	}
	adds := false
	for i := range fixed.Spec.Template.Spec.Containers {
		c := &fixed.Spec.Template.Spec.Containers[i]
		if waits, ok := old[c.Name]; ok && !waits && lint.PreStopWaits(c) {
			adds = true
		}
	}
	if !adds {
		return nil
	}
	h := &holdRecord{MinReadySeconds: fixed.Spec.MinReadySeconds, MaxSurge: intstr.FromString("25%"), MaxUnavailable: intstr.FromString("25%")}
	if ru := fixed.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			h.MaxSurge = *ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			h.MaxUnavailable = *ru.MaxUnavailable
		}
	}
	h.Seconds = holdMaxSeconds
	if pds := fixed.Spec.ProgressDeadlineSeconds; pds != nil && *pds-1 < h.Seconds {
		h.Seconds = *pds - 1
	}
	if h.Seconds <= h.MinReadySeconds || h.Seconds < 60 {
		// too short a progress deadline to hold through
		return nil
	}
	return h
}

// holdOf reads the hold of the record (nil: none).
func holdOf(op *state.Operation) (*holdRecord, error) {
	v := op.Params[ParamHold]
	if v == "" {
		return nil, nil
	}
	h := &holdRecord{}
	if err := json.Unmarshal([]byte(v), h); err != nil {
		return nil, fmt.Errorf("the record's param %s cannot be read: %w", state.ParamPrefix+ParamHold, err)
	}
	return h, nil
}

// setHold puts h in the record's params (nil removes it).
func setHold(op *state.Operation, h *holdRecord) {
	if h == nil {
		op.Params[ParamHold] = ""
		return
	}
	b, _ := json.Marshal(h)
	op.Params[ParamHold] = string(b)
}

// holdTyped puts the hold's values into the Deployment to apply.
func holdTyped(d *appsv1.Deployment, h *holdRecord) {
	d.Spec.MinReadySeconds = h.Seconds
	all, zero := intstr.FromString("100%"), intstr.FromInt32(0)
	d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &all, MaxUnavailable: &zero}
}

// holdObject puts the hold's values into a manifest to apply.
func holdObject(obj map[string]any, h *holdRecord) {
	_ = unstructured.SetNestedField(obj, int64(h.Seconds), "spec", "minReadySeconds")
	_ = unstructured.SetNestedMap(obj, map[string]any{
		"type":          "RollingUpdate",
		"rollingUpdate": map[string]any{"maxUnavailable": int64(0), "maxSurge": "100%"},
	}, "spec", "strategy")
}

// intstrJSON renders v for a JSON patch.
func intstrJSON(v intstr.IntOrString) any {
	if v.Type == intstr.String {
		return v.StrVal
	}
	return v.IntVal
}

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

// narrowService adds pod-template-hash=hash to the selector of Service
// ns/name, if it is still was (it is already narrowed: nothing to do).
func narrowService(ctx context.Context, client kubernetes.Interface, ns, name string, was map[string]string, hash string) error {
	ref := ns + "/" + name
	svc, err := client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading service %q: %w", ref, err)
	}
	want := maps.Clone(was)
	want[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	if maps.Equal(svc.Spec.Selector, want) {
		return nil
	}
	if !maps.Equal(svc.Spec.Selector, was) {
		return fmt.Errorf("service %q: its selector is %v, not %v as recorded: another writer changed it; it is left as it is", ref, svc.Spec.Selector, was)
	}
	return patchSelector(ctx, client, ns, name, was, want)
}

// widenService restores the selector was of Service ns/name, when it is
// the one narrowed to hash (otherwise it is left: restored already, or
// changed by another writer, which is said).
func widenService(ctx context.Context, client kubernetes.Interface, ns, name string, was map[string]string, hash string, logf func(string, ...any)) error {
	ref := ns + "/" + name
	svc, err := client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		logf("hold: service %q is gone: no selector to restore", ref)
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading service %q: %w", ref, err)
	}
	narrowed := maps.Clone(was)
	narrowed[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	switch {
	case maps.Equal(svc.Spec.Selector, was):
		return nil
	case !maps.Equal(svc.Spec.Selector, narrowed):
		logf("warning: hold: service %q has selector %v, neither the one recorded (%v) nor the narrowed one: another writer changed it; it is left as it is", ref, svc.Spec.Selector, was)
		return nil
	}
	if err := patchSelector(ctx, client, ns, name, narrowed, was); err != nil {
		return err
	}
	logf("hold: service/%s selects every pod of its selector again (%s)", name, labels.SelectorFromSet(was))
	return nil
}

// patchSelector replaces the selector of Service ns/name with to, if it is
// still from (a JSON patch test).
func patchSelector(ctx context.Context, client kubernetes.Interface, ns, name string, from, to map[string]string) error {
	p, _ := json.Marshal([]map[string]any{
		{"op": "test", "path": "/spec/selector", "value": from},
		{"op": "replace", "path": "/spec/selector", "value": to},
	})
	if _, err := client.CoreV1().Services(ns).Patch(ctx, name, types.JSONPatchType, p, metav1.PatchOptions{FieldManager: kube.FieldManager}); err != nil {
		return fmt.Errorf("changing the selector of service %q: %w", ns+"/"+name, err)
	}
	return nil
}

// unholdDeployment sets the fixed minReadySeconds and surge back on
// Deployment ns/name while it still has the hold's minReadySeconds; the
// Deployment as patched, or nil when there was nothing to do.
func unholdDeployment(ctx context.Context, client kubernetes.Interface, ns, name string, h *holdRecord) (*appsv1.Deployment, error) {
	ref := ns + "/" + name
	deps := client.AppsV1().Deployments(ns)
	d, err := deps.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading deployment %q: %w", ref, err)
	}
	ops := holdRollbackOps(d, h)
	if ops == nil {
		return nil, nil
	}
	p, _ := json.Marshal(ops)
	out, err := deps.Patch(ctx, name, types.JSONPatchType, p, metav1.PatchOptions{FieldManager: kube.FieldManager})
	if err != nil {
		return nil, fmt.Errorf("deployment %q: setting minReadySeconds and maxSurge back after holding the old pods: %w", ref, err)
	}
	return out, nil
}

// releaseHold undoes the hold's change of the Services, for a rollback or
// an abort: they select the old pods again, so those serve before the new
// ones leave. The Deployment's hold values go back in the rollback's own
// patch (holdRollbackOps): set back alone, before the template, they
// would let the controller stop the old pods at once.
func releaseHold(ctx context.Context, client kubernetes.Interface, ns string, h *holdRecord, fence state.Fence, logf func(string, ...any)) error {
	if h == nil {
		return nil
	}
	ctx = context.WithoutCancel(ctx)
	for _, s := range slices.Sorted(maps.Keys(h.Services)) {
		if fence != nil {
			cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			err := fence.Check(cctx)
			cancel()
			if err != nil {
				return err
			}
		}
		if err := widenService(ctx, client, ns, s, h.Services[s], h.Hash, logf); err != nil {
			return err
		}
	}
	return nil
}

// holdRollbackOps are the JSON patch operations that set the fixed
// minReadySeconds and surge back, sent with a rollback's template while
// the Deployment d (as read) still has the hold's minReadySeconds; nil
// otherwise.
func holdRollbackOps(d *appsv1.Deployment, h *holdRecord) []map[string]any {
	if h == nil || d == nil || d.Spec.MinReadySeconds != h.Seconds {
		return nil
	}
	ops := []map[string]any{
		{"op": "test", "path": "/spec/minReadySeconds", "value": h.Seconds},
		{"op": "replace", "path": "/spec/minReadySeconds", "value": h.MinReadySeconds},
	}
	if d.Spec.Strategy.RollingUpdate != nil {
		ops = append(ops, map[string]any{"op": "add", "path": "/spec/strategy/rollingUpdate/maxSurge", "value": intstrJSON(h.MaxSurge)},
			map[string]any{"op": "add", "path": "/spec/strategy/rollingUpdate/maxUnavailable", "value": intstrJSON(h.MaxUnavailable)})
	}
	return ops
}

// finishHold ends the hold of a release that rolled out: once the old pods
// are gone, each Service gets its selector back, and the record drops the
// hold.
func (r *Rollout) finishHold(ctx context.Context, rel *release, h *holdRecord) error {
	cfg := rel.cfg
	if len(h.Services) > 0 {
		if d := rel.w.guard.base; d != nil && d.Spec.Selector != nil {
			if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
				sctx, cancel := context.WithTimeout(ctx, settleLimit)
				if werr := kube.WaitNoTerminating(sctx, r.Kube, cfg.Namespace, sel); werr != nil && sctx.Err() == nil {
					r.logf("hold: could not watch the old pods of deployment %q stop: %v", rel.ref, werr)
				}
				cancel()
			}
		}
		for _, s := range sortedKeys(h.Services) {
			if err := rel.fenced(ctx); err != nil {
				return err
			}
			if err := widenService(ctx, r.Kube, cfg.Namespace, s, h.Services[s], h.Hash, r.logf); err != nil {
				return err
			}
		}
	}
	setHold(rel.op, nil)
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
