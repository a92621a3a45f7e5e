package rolling

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// managedFields are the fields of a Deployment's spec that a rollout
// manages: a change of any of them by another writer means the release is
// no longer the one requested, so the rollout stops instead of carrying on
// or undoing it.
var managedFields = []string{kube.SpecTemplate, kube.SpecSelector, kube.SpecStrategy}

// foreignChange is the *kube.ChangedError of another writer's change of
// what the rollout manages, seen on now (nil when there is none).
func foreignChange(was, now *appsv1.Deployment, while string) *kube.ChangedError {
	fc := kube.DeploymentChange(was, now, managedFields...)
	if fc != nil {
		fc.While = while
	}
	return fc
}

// templateChangedBy is the *kube.ChangedError of d's template, changed by
// another writer while (or since) what while says.
func templateChangedBy(d *appsv1.Deployment, while string) *kube.ChangedError {
	return &kube.ChangedError{Fields: []string{kube.SpecTemplate}, Writer: kube.WriterOf(d, kube.Path(kube.SpecTemplate)), While: while, Seen: d}
}

// IsForeignChange reports whether err is (or wraps) another writer's change.
func IsForeignChange(err error) bool {
	var fc *kube.ChangedError
	return errors.As(err, &fc)
}

// changedDeployment is the Deployment as read with the change of err, nil
// when err carries none.
func changedDeployment(err error) *appsv1.Deployment {
	var fc *kube.ChangedError
	if errors.As(err, &fc) {
		d, _ := fc.Seen.(*appsv1.Deployment)
		return d
	}
	return nil
}

// otherChanges describes the changes of the spec outside what the rollout
// manages ("spec.replicas 3 -> 5", ...).
func otherChanges(was, now *appsv1.Deployment) []string {
	var out []string
	r := func(p *int32) int32 {
		if p == nil {
			return 1
		}
		return *p
	}
	if r(was.Spec.Replicas) != r(now.Spec.Replicas) {
		out = append(out, fmt.Sprintf("spec.replicas %d -> %d", r(was.Spec.Replicas), r(now.Spec.Replicas)))
	}
	if was.Spec.Paused != now.Spec.Paused {
		out = append(out, fmt.Sprintf("spec.paused %t -> %t", was.Spec.Paused, now.Spec.Paused))
	}
	if was.Spec.MinReadySeconds != now.Spec.MinReadySeconds {
		out = append(out, fmt.Sprintf("spec.minReadySeconds %d -> %d", was.Spec.MinReadySeconds, now.Spec.MinReadySeconds))
	}
	if !apiequality.Semantic.DeepEqual(was.Spec.ProgressDeadlineSeconds, now.Spec.ProgressDeadlineSeconds) {
		out = append(out, "spec.progressDeadlineSeconds")
	}
	if !apiequality.Semantic.DeepEqual(was.Spec.RevisionHistoryLimit, now.Spec.RevisionHistoryLimit) {
		out = append(out, "spec.revisionHistoryLimit")
	}
	// the API server bumps a Deployment's generation for annotation
	// changes too; the rollout's own record (zdd.dev/) is not news
	var keys []string
	for k, v := range now.Annotations {
		if w, ok := was.Annotations[k]; (!ok || w != v) && !strings.HasPrefix(k, state.Prefix) && k != state.ChangeCauseKey {
			keys = append(keys, k)
		}
	}
	for k := range was.Annotations {
		if _, ok := now.Annotations[k]; !ok && !strings.HasPrefix(k, state.Prefix) && k != state.ChangeCauseKey {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, "annotation "+k)
	}
	return out
}

// templateFingerprint identifies a pod template (without the
// pod-template-hash label): the first 16 hex digits of the SHA-256 of its
// JSON. It is recorded after the apply, so resume and abort can tell the
// template the rollout applied from one another writer put there.
func templateFingerprint(t *corev1.PodTemplateSpec) string {
	b, _ := json.Marshal(stripHash(t))
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:16]
}

func stripHash(t *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	c := t.DeepCopy()
	delete(c.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if len(c.Labels) == 0 {
		c.Labels = nil
	}
	return c
}

func writerName(w string) string {
	if w == "" {
		return "another writer (no field manager recorded)"
	}
	return w
}

// guard holds the Deployment as the rollout last left it, and judges every
// later version against it: a change of what the rollout manages by
// someone else is a *kube.ChangedError; any other change of the spec (a
// scale by `kubectl scale` or an HPA, another setting) is accepted, said
// once in the log, and becomes the new base.
type guard struct {
	ref   string
	base  *appsv1.Deployment
	while string
	logf  func(format string, a ...any)
}

// observe judges d against the base.
func (g *guard) observe(d *appsv1.Deployment) error {
	switch {
	case g.base == nil:
		g.accept(d)
		return nil
	case d.Generation < g.base.Generation:
		// an event older than what the rollout last wrote
		return nil
	case d.Generation == g.base.Generation:
		g.accept(d)
		return nil
	}
	if fc := foreignChange(g.base, d, g.while); fc != nil {
		return fc
	}
	other := otherChanges(g.base, d)
	if len(other) == 0 {
		// only the record, or nothing that can be told
		g.accept(d)
		return nil
	}
	paths := []kube.FieldPath{kube.Path("spec"), kube.Path("metadata.annotations")}
	if strings.HasPrefix(other[0], "spec.replicas") {
		paths = []kube.FieldPath{kube.Path(kube.SpecReplicas)}
	}
	what := strings.Join(other, ", ")
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if g.logf != nil {
		g.logf("deployment %q: %s by %s %s; the template, selector and strategy are as the rollout set them, so it carries on and judges completion against %d replicas", g.ref, what, writerName(kube.WriterOf(d, paths...)), g.while, replicas)
	}
	g.accept(d)
	return nil
}

// accept makes d the base (its spec is taken as the rollout's own).
func (g *guard) accept(d *appsv1.Deployment) {
	g.base = d.DeepCopy()
}

// recordWriter writes the operation record on the Deployment through the
// shared state.RecordWriter: a merge patch of its zdd.dev/ annotations that
// carries the resourceVersion of the version the guard last judged, so a
// record is never written over a change the rollout has not looked at, and
// the fencing check of the operation's lease before each write. On a
// conflict the Deployment is read again: a record written by someone else
// stops it (state.RecordChangedError); anything else is judged by the
// guard, and a change of what the rollout manages stops it with the
// *kube.ChangedError.
type recordWriter struct {
	kube  kubernetes.Interface
	ns    string
	name  string
	guard *guard
	now   func() time.Time
	// fence is the operation's lease (nil: none, e.g. in unit tests).
	fence state.Fence
}

// save records op; removeParams are params of an earlier operation to drop.
func (w *recordWriter) save(ctx context.Context, op *state.Operation, removeParams ...string) error {
	return w.write(ctx, op, false, removeParams...)
}

// saveAnyway records op even after a change by another writer (the record
// of a release stopped because of it): the new version is accepted first,
// and the write still carries its resourceVersion.
func (w *recordWriter) saveAnyway(ctx context.Context, op *state.Operation) error {
	return w.write(ctx, op, true)
}

func (w *recordWriter) write(ctx context.Context, op *state.Operation, anyway bool, removeParams ...string) error {
	rw := &state.RecordWriter{Object: state.DeploymentCarrier(w.kube, w.ns, w.name), Fence: w.fence, Now: w.now}
	if w.guard.base != nil {
		rw.Observe(w.guard.base)
	}
	rw.Judge = func(obj metav1.Object) error {
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			return nil
		}
		err := w.guard.observe(d)
		if err != nil && anyway {
			w.guard.accept(d)
		}
		return err
	}
	var err error
	if anyway {
		err = rw.SaveAnyway(ctx, op)
	} else {
		err = rw.Save(ctx, op, removeParams...)
	}
	if err != nil {
		return err
	}
	if d, ok := rw.Base().(*appsv1.Deployment); ok {
		// status updates of the controllers move the resourceVersion too:
		// the next write carries the version just written
		w.guard.accept(d)
	}
	return nil
}
