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

// The fields of a Deployment's spec that a rollout manages: a change of any
// of them by another writer means the release is no longer the one
// requested, so the rollout stops instead of carrying on or undoing it.
const (
	fieldTemplate = "spec.template"
	fieldSelector = "spec.selector"
	fieldStrategy = "spec.strategy"
)

// ForeignChangeError says another writer changed what the rollout manages.
type ForeignChangeError struct {
	// Deployment is "namespace/name".
	Deployment string
	// Fields are the managed fields that changed (spec.template, ...).
	Fields []string
	// Manager is the field manager that last wrote them, from managedFields
	// ("" when none can be told).
	Manager string
	// While says when ("while the rollout watched it", ...).
	While string
	// Object is the Deployment as read with the change.
	Object *appsv1.Deployment
}

func (e *ForeignChangeError) Error() string {
	return fmt.Sprintf("%s changed by %s %s", strings.Join(e.Fields, ", "), managerName(e.Manager), e.While)
}

func managerName(m string) string {
	if m == "" {
		return "another writer (no field manager recorded)"
	}
	return fmt.Sprintf("%q", m)
}

// IsForeignChange reports whether err is (or wraps) a ForeignChangeError.
func IsForeignChange(err error) bool {
	var fc *ForeignChangeError
	return errors.As(err, &fc)
}

// managedChanges lists the managed fields whose value differs between the
// Deployment as the rollout left it (was) and as it is now.
func managedChanges(was, now *appsv1.Deployment) []string {
	var out []string
	if !apiequality.Semantic.DeepEqual(was.Spec.Template, now.Spec.Template) {
		out = append(out, fieldTemplate)
	}
	if !apiequality.Semantic.DeepEqual(was.Spec.Selector, now.Spec.Selector) {
		out = append(out, fieldSelector)
	}
	if !apiequality.Semantic.DeepEqual(was.Spec.Strategy, now.Spec.Strategy) {
		out = append(out, fieldStrategy)
	}
	return out
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

// writerOf names the field manager that last wrote any of fields (paths
// such as "spec.template") on d, other than kubectl-zdd itself: the entry of
// managedFields that owns something under one of them with the latest time.
// "" when no entry does.
func writerOf(d *appsv1.Deployment, fields []string) string {
	type cand struct {
		manager string
		at      time.Time
		idx     int
	}
	var found []cand
	for i, mf := range d.ManagedFields {
		if mf.Manager == kube.FieldManager || mf.FieldsV1 == nil {
			continue
		}
		var set map[string]any
		if err := json.Unmarshal(mf.FieldsV1.Raw, &set); err != nil {
			continue
		}
		for _, f := range fields {
			if ownsPath(set, strings.Split(f, ".")) {
				var at time.Time
				if mf.Time != nil {
					at = mf.Time.Time
				}
				found = append(found, cand{manager: mf.Manager, at: at, idx: i})
				break
			}
		}
	}
	if len(found) == 0 {
		return ""
	}
	// latest time first; on a tie the later entry (the API server appends
	// a manager's first entry at the end)
	sort.SliceStable(found, func(a, b int) bool {
		if !found[a].at.Equal(found[b].at) {
			return found[a].at.After(found[b].at)
		}
		return found[a].idx > found[b].idx
	})
	return found[0].manager
}

// ownsPath reports whether a FieldsV1 set holds the path (or something
// under it).
func ownsPath(set map[string]any, path []string) bool {
	cur := set
	for _, p := range path {
		next, ok := cur["f:"+p].(map[string]any)
		if !ok {
			return false
		}
		cur = next
	}
	return true
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

// guard holds the Deployment as the rollout last left it, and judges every
// later version against it: a change of what the rollout manages by
// someone else is a ForeignChangeError; any other change of the spec (a
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
	if ch := managedChanges(g.base, d); len(ch) > 0 {
		return &ForeignChangeError{Deployment: g.ref, Fields: ch, Manager: writerOf(d, ch), While: g.while, Object: d}
	}
	other := otherChanges(g.base, d)
	if len(other) == 0 {
		// only the record, or nothing that can be told
		g.accept(d)
		return nil
	}
	paths := []string{"spec", "metadata.annotations"}
	if strings.HasPrefix(other[0], "spec.replicas") {
		paths = []string{"spec.replicas"}
	}
	what := strings.Join(other, ", ")
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	if g.logf != nil {
		g.logf("deployment %q: %s by %s %s; the template, selector and strategy are as the rollout set them, so it carries on and judges completion against %d replicas", g.ref, what, managerName(writerOf(d, paths)), g.while, replicas)
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
// ForeignChangeError.
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
