package traffic

import (
	"encoding/json"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

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
// *kube.ChangedError naming the first changed spec field and its writer,
// or nil.
func specChange(object string, seen, cur map[string]any, managedBy metav1.Object) *kube.ChangedError {
	a, _ := seen["spec"].(map[string]any)
	b, _ := cur["spec"].(map[string]any)
	k := firstDifference(a, b)
	if k == "" {
		return nil
	}
	return &kube.ChangedError{Object: object, Fields: []string{"spec." + k}, From: short(a[k]), To: short(b[k]),
		Writer: kube.WriterOf(managedBy, kube.FieldPath{"spec", k}), Seen: managedBy}
}

// short renders a value for a *kube.ChangedError, "" when it is long.
func short(v any) string {
	data, err := json.Marshal(v)
	if err != nil || len(data) > 80 {
		return ""
	}
	return strings.Trim(string(data), `"`)
}
