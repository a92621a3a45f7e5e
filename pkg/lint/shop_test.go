package lint

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// TestShopRelease: a multi-service release manifest in the style of the
// popular demos (testdata/shop: probes everywhere, no preStop hook, the
// default rolling update, a grace period of 5 s on most services) fails lint
// with an error for every container behind a Service without a preStop
// hook, and for every pod whose grace period (5 s) is shorter than the
// drain budget; the load generator, behind no Service, gets none.
// test/cli's TestLintPublicManifest checks a public manifest the same way.
func TestShopRelease(t *testing.T) {
	const path = "testdata/shop/release.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []Object
	for i, doc := range bytes.Split(data, []byte("\n---\n")) {
		m := map[string]any{}
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("%s document %d: %v", path, i, err)
		}
		if len(m) == 0 {
			continue
		}
		o, err := FromTyped(&unstructured.Unstructured{Object: m})
		if errors.Is(err, ErrUnsupportedKind) {
			continue // the ServiceAccounts
		}
		if err != nil {
			t.Fatalf("%s document %d: %v", path, i, err)
		}
		objs = append(objs, o)
	}
	var errs []string
	for _, f := range Audit(objs, Options{}) {
		if f.Severity == Error {
			errs = append(errs, fmt.Sprintf("%s %s %s", f.Name, f.Rule, f.Container))
		}
	}
	sort.Strings(errs)
	want := []string{
		"cache prestop-missing redis",
		"cart grace-period-too-short ",
		"cart prestop-missing server",
		"catalog grace-period-too-short ",
		"catalog prestop-missing server",
		"checkout prestop-missing server",
		"email grace-period-too-short ",
		"email prestop-missing server",
		"frontend prestop-missing server",
		"payment grace-period-too-short ",
		"payment prestop-missing server",
		"shipping grace-period-too-short ",
		"shipping prestop-missing server",
	}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("error findings (-want +got):\n%s", diff)
	}
}
