package rolling

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// RollbackConfig is one rollback (`kubectl zdd rollback`, or the automatic
// one at the end of a failed release).
type RollbackConfig struct {
	Namespace string
	Name      string
	// ToRevision 0 means the previous revision.
	ToRevision int64
	// Current, when set, is the pod template the Deployment must still have
	// (the one the failed release applied); nil: the one read.
	Current     *corev1.PodTemplateSpec
	Timeout     time.Duration
	ChangeCause string
	DryRun      string
	OnProgress  func(kube.Progress)
	Log         io.Writer
	// Fence, when set, is checked right before the write (the lease of the
	// operation that rolls back).
	Fence state.Fence
	// ExtraOps are JSON patch operations sent in the same patch as the
	// template (a --fix release's hold undone with it: holdRollbackOps);
	// when the template is restored already, they are sent alone.
	ExtraOps []map[string]any
}

// RollbackResult says what a rollback did.
type RollbackResult struct {
	Deployment string `json:"deployment"`
	// Restored is the revision whose pod template was restored.
	Restored int64 `json:"restoredRevision"`
	// ReplicaSet holds that template.
	ReplicaSet string `json:"replicaSet"`
	// NewRevision is the number the controller gave the restored template.
	NewRevision int64          `json:"newRevision,omitempty"`
	Patch       string         `json:"patch,omitempty"`
	Progress    *kube.Progress `json:"progress,omitempty"`
	// Unchanged is set when the Deployment already runs that template.
	Unchanged bool   `json:"unchanged,omitempty"`
	DryRun    string `json:"dryRun,omitempty"`
}

// jsonPointerEscape escapes a key for a JSON patch path.
func jsonPointerEscape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// RollbackPatch is the JSON patch that restores a ReplicaSet's pod template
// tmpl (without its pod-template-hash label) on a Deployment whose template
// is now current: a test that the template is still current first, so the
// patch applies only if nobody changed it since it was read (the
// resourceVersion and even the generation move during a rollout, with status
// updates and annotation writes, so neither is a useful precondition here),
// then the template replaced whole (so fields the failed revision added are
// removed too), and the change cause.
func RollbackPatch(current, tmpl any, hasAnnotations bool, changeCause string, extra ...map[string]any) ([]byte, error) {
	ops := []map[string]any{
		{"op": "test", "path": "/spec/template", "value": current},
		{"op": "replace", "path": "/spec/template", "value": tmpl},
	}
	ops = append(ops, extra...)
	if changeCause != "" {
		if hasAnnotations {
			ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations/" + jsonPointerEscape(state.ChangeCauseKey), "value": changeCause})
		} else {
			ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations", "value": map[string]string{state.ChangeCauseKey: changeCause}})
		}
	}
	return json.Marshal(ops)
}

// Rollback restores an earlier revision's pod template the way `kubectl
// rollout undo` does, and waits until the Deployment is fully available.
// Errors: a missing Deployment or revision is bad input (exit 2); a failed
// patch or wait is exit 1 (the automatic rollback turns it into exit 3).
func Rollback(ctx context.Context, client kubernetes.Interface, cfg RollbackConfig) (*RollbackResult, error) {
	ref := cfg.Namespace + "/" + cfg.Name
	res := &RollbackResult{Deployment: ref, DryRun: cfg.DryRun}
	deps := client.AppsV1().Deployments(cfg.Namespace)
	d, err := deps.Get(ctx, cfg.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, exitcode.Usagef("deployment %q not found", ref)
	}
	if err != nil {
		return nil, fmt.Errorf("reading deployment %q: %w", ref, err)
	}
	rss, err := kube.ReplicaSetsOf(ctx, client, d)
	if err != nil {
		return nil, err
	}
	target, err := kube.RollbackTarget(d, rss, cfg.ToRevision)
	if err != nil {
		return nil, exitcode.UsageError(err)
	}
	if cfg.ExtraOps == nil && cfg.DryRun == DryRunNone {
		// a rollout --fix that held its old pods out of the Services and
		// did not finish (`kubectl zdd rollback` over it): the Services
		// select the old pods again first, and the Deployment's hold
		// values go back with the template
		if op, ok := state.FromAnnotations(d.Annotations); ok && op.Strategy == Strategy {
			if h, herr := holdOf(op); herr == nil && h != nil {
				logf := func(format string, a ...any) {
					if cfg.Log != nil {
						fmt.Fprintf(cfg.Log, format+"\n", a...)
					}
				}
				if err := releaseHold(ctx, client, cfg.Namespace, h, cfg.Fence, logf); err != nil {
					return nil, exitcode.Failedf("deployment %q: %w", ref, err)
				}
				cfg.ExtraOps = holdRollbackOps(d, h)
			}
		}
	}
	res.Restored = kube.Revision(target)
	res.ReplicaSet = target.Name
	if kube.EqualIgnoreHash(&target.Spec.Template, &d.Spec.Template) {
		res.Unchanged = true
		res.NewRevision = kube.Revision(d)
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "rollback: deployment %q already runs the pod template of revision %d\n", ref, res.Restored)
		}
		if cfg.DryRun != DryRunNone {
			return res, nil
		}
		if len(cfg.ExtraOps) > 0 {
			p, err := json.Marshal(cfg.ExtraOps)
			if err != nil {
				return nil, err
			}
			if cfg.Fence != nil {
				if err := cfg.Fence.Check(ctx); err != nil {
					return nil, err
				}
			}
			if _, err := deps.Patch(ctx, cfg.Name, types.JSONPatchType, p, metav1.PatchOptions{FieldManager: kube.FieldManager}); err != nil {
				return nil, exitcode.Failedf("deployment %q: %w", ref, err)
			}
		}
	} else {
		current := &d.Spec.Template
		if cfg.Current != nil {
			current = cfg.Current
		}
		patch, err := RollbackPatch(current, kube.WithoutHash(&target.Spec.Template), d.Annotations != nil, cfg.ChangeCause, cfg.ExtraOps...)
		if err != nil {
			return nil, err
		}
		res.Patch = string(patch)
		if cfg.DryRun == DryRunClient {
			return res, nil
		}
		var dry []string
		if cfg.DryRun == DryRunServer {
			dry = []string{metav1.DryRunAll}
		}
		if cfg.Fence != nil && len(dry) == 0 {
			if err := cfg.Fence.Check(ctx); err != nil {
				return nil, err
			}
		}
		if _, err := deps.Patch(ctx, cfg.Name, types.JSONPatchType, patch, metav1.PatchOptions{FieldManager: kube.FieldManager, DryRun: dry}); err != nil {
			if apierrors.IsConflict(err) || apierrors.IsInvalid(err) || strings.Contains(err.Error(), "testing value") {
				// the test of the template failed: say what changed, and
				// who changed it; nothing is written over it
				if fresh, gerr := deps.Get(ctx, cfg.Name, metav1.GetOptions{}); gerr == nil && !apiequality.Semantic.DeepEqual(fresh.Spec.Template, *current) {
					fc := templateChangedBy(fresh, fmt.Sprintf("since it was read to restore revision %d", res.Restored))
					return nil, exitcode.Failedf("restoring revision %d of deployment %q: %w; nothing was rolled back over that change", res.Restored, ref, fc)
				}
				return nil, exitcode.Failedf("restoring revision %d of deployment %q: it changed since it was read, run again: %w", res.Restored, ref, err)
			}
			return nil, exitcode.Failedf("restoring revision %d of deployment %q: %w", res.Restored, ref, err)
		}
		if cfg.DryRun == DryRunServer {
			return res, nil
		}
		if cfg.Log != nil {
			fmt.Fprintf(cfg.Log, "rollback: deployment %q: restored the pod template of revision %d (replicaset %q), waiting until it is fully available\n", ref, res.Restored, target.Name)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	final, err := kube.WaitForDeployment(wctx, client, cfg.Namespace, cfg.Name, nil, func(_ *appsv1.Deployment, p kube.Progress) {
		if cfg.OnProgress != nil {
			cfg.OnProgress(p)
		}
	})
	if final != nil {
		p := kube.DeploymentProgress(final)
		res.Progress = &p
		res.NewRevision = kube.Revision(final)
	}
	if err != nil {
		return res, exitcode.Failedf("rolling back deployment %q to revision %d: %w", ref, res.Restored, err)
	}
	return res, nil
}
