package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// FuzzFromTypedAudit feeds arbitrary YAML documents through FromTyped and
// Audit: whatever the objects hold, neither may panic, and every finding
// must name a rule of Rules() and the object it was found on. Seeds are the
// rule fixtures, so `go test` runs them every time; `go test -fuzz
// FuzzFromTypedAudit -fuzztime 30s ./pkg/lint` explores further.
func FuzzFromTypedAudit(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "rules", "*", "*.yaml"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(data))
	}
	f.Add("apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: x}\nspec: {template: {spec: {containers: [{}]}}}\n")
	f.Add("apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: x}\nspec: {selector: {matchExpressions: [{key: a, operator: Bogus}]}}\n")
	f.Fuzz(func(t *testing.T, text string) {
		var objs []Object
		for _, doc := range strings.Split(text, "\n---") {
			m := map[string]interface{}{}
			if err := yaml.Unmarshal([]byte(doc), &m); err != nil || len(m) == 0 {
				continue
			}
			o, err := FromTyped(&unstructured.Unstructured{Object: m})
			if err != nil {
				continue
			}
			if o.Typed == nil {
				t.Fatalf("FromTyped returned no error and no typed object for %v", m)
			}
			objs = append(objs, o)
		}
		for _, live := range []bool{false, true} {
			for _, fd := range Audit(objs, Options{Live: live}) {
				if _, ok := ruleByID[fd.Rule]; !ok {
					t.Fatalf("finding of unknown rule %q", fd.Rule)
				}
				if fd.Kind == "" || fd.Field == "" || fd.Message == "" || fd.Hint == "" {
					t.Fatalf("incomplete finding %+v", fd)
				}
			}
		}
	})
}
