package traffic

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// ChangedError says that another writer changed a field kubectl zdd manages
// (replicas it set, a pod template, a selector, a router's weights) since
// kubectl zdd last read or wrote the object: the operation stops instead of
// overwriting that change.
type ChangedError struct {
	// Object names the object: `deployment "shop/web-canary"`.
	Object string
	// Field is the changed field: "spec.replicas".
	Field string
	// From and To are the values before and after, when short.
	From, To string
	// Manager is the managedFields manager that owns the field now ("" when
	// the object does not say).
	Manager string
}

func (e *ChangedError) Error() string {
	who := "another writer"
	if e.Manager != "" {
		who = fmt.Sprintf("another writer (%s)", e.Manager)
	}
	s := fmt.Sprintf("%s: %s was changed by %s", e.Object, e.Field, who)
	if e.From != "" || e.To != "" {
		s += fmt.Sprintf(" from %s to %s", e.From, e.To)
	}
	return s + "; not overwriting it"
}

// FieldManagerOf names the writer that owns the field at path (managedFields
// keys, e.g. "f:spec", "f:replicas") of obj, leaving out the manager
// exclude (kubectl zdd itself): the newest such entry, with its subresource
// when it wrote through one ("kubectl via the scale subresource"). When no
// entry owns the field, the newest entry of another manager is named; ""
// when there is none.
func FieldManagerOf(obj metav1.Object, exclude string, path ...string) string {
	entries := obj.GetManagedFields()
	type cand struct {
		i    int
		e    metav1.ManagedFieldsEntry
		owns bool
	}
	var cands []cand
	for i, e := range entries {
		if e.Manager == exclude || e.Manager == "" {
			continue
		}
		cands = append(cands, cand{i: i, e: e, owns: ownsPath(e, path)})
	}
	if len(cands) == 0 {
		return ""
	}
	sort.SliceStable(cands, func(a, b int) bool {
		ca, cb := cands[a], cands[b]
		if ca.owns != cb.owns {
			return ca.owns
		}
		ta, tb := entryTime(ca.e), entryTime(cb.e)
		if !ta.Equal(&tb) {
			return tb.Before(&ta)
		}
		return ca.i > cb.i
	})
	e := cands[0].e
	name := fmt.Sprintf("%q", e.Manager)
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

// ownsPath reports whether the entry's fieldsV1 holds path.
func ownsPath(e metav1.ManagedFieldsEntry, path []string) bool {
	if e.FieldsV1 == nil || len(path) == 0 {
		return false
	}
	var set map[string]any
	if err := json.Unmarshal(e.FieldsV1.Raw, &set); err != nil {
		return false
	}
	cur := set
	for _, k := range path {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return false
		}
		cur = next
	}
	return true
}

// firstDifference returns the first key (sorted) whose value differs
// between a and b, "" when they are equal.
func firstDifference(a, b map[string]any) string {
	keys := map[string]bool{}
	for k := range a {
		keys[k] = true
	}
	for k := range b {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		av, aok := a[k]
		bv, bok := b[k]
		if aok != bok || !equalJSON(map[string]any{"v": av}, map[string]any{"v": bv}) {
			return k
		}
	}
	return ""
}

// specChange compares the spec of two versions of a routed object: a
// ChangedError naming the first changed spec field and its writer, or nil.
func specChange(object string, seen, cur map[string]any, managedBy metav1.Object) *ChangedError {
	a, _ := seen["spec"].(map[string]any)
	b, _ := cur["spec"].(map[string]any)
	k := firstDifference(a, b)
	if k == "" {
		return nil
	}
	return &ChangedError{Object: object, Field: "spec." + k, From: short(a[k]), To: short(b[k]), Manager: FieldManagerOf(managedBy, kube.FieldManager, "f:spec", "f:"+k)}
}

// short renders a value for a ChangedError, "" when it is long.
func short(v any) string {
	data, err := json.Marshal(v)
	if err != nil || len(data) > 80 {
		return ""
	}
	return strings.Trim(string(data), `"`)
}
