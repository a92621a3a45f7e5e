package rolling

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

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

// widen gives the Services of the release's hold their selectors back, so
// the old pods serve again before a rollback stops the new ones; the
// Deployment's hold values go back in the rollback's patch
// (holdRollbackOps).
func (r *Rollout) widen(ctx context.Context, rel *release) error {
	if rel.hold == nil {
		return nil
	}
	return releaseHold(ctx, r.Kube, rel.cfg.Namespace, rel.hold, rel.fence, r.logf)
}

// unhold undoes the whole hold of a release that another writer took
// over: the Services' selectors, then the Deployment's values (while it
// still has the hold's).
func (r *Rollout) unhold(ctx context.Context, rel *release) error {
	if err := r.widen(ctx, rel); err != nil {
		return err
	}
	if rel.hold == nil {
		return nil
	}
	if err := rel.fenced(ctx); err != nil {
		return err
	}
	d, err := unholdDeployment(context.WithoutCancel(ctx), r.Kube, rel.cfg.Namespace, rel.cfg.Name, rel.hold)
	if err != nil {
		return err
	}
	if d != nil {
		rel.w.guard.accept(d)
	}
	rel.hold = nil
	return nil
}
