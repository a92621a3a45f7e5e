package kube

// The one change detector: another writer changed what an operation
// manages since kubectl zdd last read or wrote the object. Every strategy
// compares the fields it manages (DeploymentChange for a Deployment; a
// router compares its object's spec), names the writer from managedFields
// (WriterOf) and stops with a *ChangedError instead of writing over the
// change.

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ChangedError says that another writer changed something kubectl zdd
// manages (a template it applied, replicas it set, a selector, a router's
// weights) since it last read or wrote the object: the operation stops
// instead of writing over that change.
type ChangedError struct {
	// Object names the object (`deployment "shop/web-canary"`); empty when
	// the sentence around the error names it (a rollout's own Deployment).
	Object string
	// Fields are the changed fields ("spec.replicas"), as found.
	Fields []string
	// From and To are the values before and after, when short.
	From, To string
	// Change says in words what changed, where the fields alone do not
	// ("its selector app=web (was app=web,version=blue)").
	Change string
	// Writer names the field manager that wrote it (WriterOf), "" when
	// none can be told.
	Writer string
	// While says when it was seen ("while the rollout watched it").
	While string
	// Err is what revealed it (a Conflict), if anything.
	Err error
	// Seen is the object as read with the change.
	Seen metav1.Object
}

// Error reads, by what is known: `spec.template changed by "kubectl-set"
// while the rollout watched it` (the object named around it);
// `deployment "shop/web-canary": spec.replicas was changed by another
// writer ("kubectl") from 2 to 3; not overwriting it` (a field); `service
// "shop/web" was changed by someone else: its selector ...; not
// overwriting it` (a change told in words).
func (e *ChangedError) Error() string {
	fields := strings.Join(e.Fields, ", ")
	switch {
	case e.Object == "":
		who := e.Writer
		if who == "" {
			who = "another writer (no field manager recorded)"
		}
		return strings.TrimSpace(fmt.Sprintf("%s changed by %s %s", fields, who, e.While))
	case e.Change != "":
		s := e.Object + " was changed by someone else"
		if e.Writer != "" {
			s += " (" + e.Writer + ")"
		}
		s += ": " + e.Change + "; not overwriting it"
		if e.Err != nil {
			s += ": " + e.Err.Error()
		}
		return s
	}
	who := "another writer"
	if e.Writer != "" {
		who = fmt.Sprintf("another writer (%s)", e.Writer)
	}
	s := fmt.Sprintf("%s: %s was changed by %s", e.Object, fields, who)
	if e.From != "" || e.To != "" {
		s += fmt.Sprintf(" from %s to %s", e.From, e.To)
	}
	return s + "; not overwriting it"
}

func (e *ChangedError) Unwrap() error { return e.Err }

// Fields of a Deployment's spec that an operation manages.
const (
	SpecTemplate = "spec.template"
	SpecSelector = "spec.selector"
	SpecStrategy = "spec.strategy"
	SpecReplicas = "spec.replicas"
	SpecPaused   = "spec.paused"
)

// DeploymentChange compares the fields (Spec* names) of two versions of a
// Deployment: nil when they agree, else a *ChangedError naming the changed
// ones (in the order given), their writer, and the values when one short
// field (replicas, paused) changed.
func DeploymentChange(was, now *appsv1.Deployment, fields ...string) *ChangedError {
	var changed []string
	for _, f := range fields {
		if !apiequality.Semantic.DeepEqual(deploymentField(was, f), deploymentField(now, f)) {
			changed = append(changed, f)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	paths := make([]FieldPath, len(changed))
	for i, f := range changed {
		paths[i] = Path(f)
	}
	e := &ChangedError{Fields: changed, Writer: WriterOf(now, paths...), Seen: now}
	if len(changed) == 1 {
		if from, ok := deploymentField(was, changed[0]).(string); ok {
			e.From, e.To = from, deploymentField(now, changed[0]).(string)
		}
	}
	return e
}

// deploymentField is a field of d's spec; replicas and paused as text.
func deploymentField(d *appsv1.Deployment, f string) any {
	switch f {
	case SpecTemplate:
		return d.Spec.Template
	case SpecSelector:
		return d.Spec.Selector
	case SpecStrategy:
		return d.Spec.Strategy
	case SpecReplicas:
		if d.Spec.Replicas == nil {
			return "unset"
		}
		return strconv.Itoa(int(*d.Spec.Replicas))
	case SpecPaused:
		return strconv.FormatBool(d.Spec.Paused)
	}
	panic("kube: unknown deployment field " + f)
}

// FieldPath is a field as managedFields key it, one segment each
// ({"metadata", "annotations", "example.com/key"}).
type FieldPath []string

// Path splits a dotted path ("spec.template") into a FieldPath.
func Path(dotted string) FieldPath { return strings.Split(dotted, ".") }

// WriterOf names the writer, other than kubectl zdd itself, that last
// wrote any of the fields at paths of obj, from its managedFields: the
// newest entry that owns one of them or something under it (on a tie of
// times, the later entry: the API server appends a manager's first entry),
// quoted, with its subresource when it wrote through one (`"kubectl" via
// the scale subresource`); "" when no entry of another writer owns them
// (a guess from an entry that does not would name the wrong writer).
func WriterOf(obj metav1.Object, paths ...FieldPath) string {
	type cand struct {
		i int
		e metav1.ManagedFieldsEntry
	}
	var cands []cand
	for i, e := range obj.GetManagedFields() {
		if e.Manager == FieldManager || e.Manager == "" {
			continue
		}
		for _, p := range paths {
			if owns(e, p) {
				cands = append(cands, cand{i: i, e: e})
				break
			}
		}
	}
	if len(cands) == 0 {
		return ""
	}
	sort.SliceStable(cands, func(a, b int) bool {
		ta, tb := entryTime(cands[a].e), entryTime(cands[b].e)
		if !ta.Equal(&tb) {
			return tb.Before(&ta)
		}
		return cands[a].i > cands[b].i
	})
	e := cands[0].e
	name := strconv.Quote(e.Manager)
	if e.Subresource != "" {
		name += " via the " + e.Subresource + " subresource"
	}
	return name
}

func entryTime(e metav1.ManagedFieldsEntry) metav1.Time {
	if e.Time == nil {
		return metav1.Time{}
	}
	return *e.Time
}

// owns reports whether the entry's fieldsV1 holds path (or something
// under it).
func owns(e metav1.ManagedFieldsEntry, path FieldPath) bool {
	if e.FieldsV1 == nil || len(path) == 0 {
		return false
	}
	var cur map[string]any
	if err := json.Unmarshal(e.FieldsV1.Raw, &cur); err != nil {
		return false
	}
	for _, k := range path {
		next, ok := cur["f:"+k].(map[string]any)
		if !ok {
			return false
		}
		cur = next
	}
	return true
}
