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

// TestMicroservicesDemo: the release manifests of GoogleCloudPlatform's
// microservices-demo (testdata/microservices-demo, Apache-2.0) fail lint
// with an error for every container behind a Service without a preStop
// hook, and for every pod whose grace period (5 s) is shorter than the
// drain budget; the load generator, behind no Service, gets none.
func TestMicroservicesDemo(t *testing.T) {
	const path = "testdata/microservices-demo/kubernetes-manifests.yaml"
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
		"adservice grace-period-too-short ",
		"adservice prestop-missing server",
		"cartservice grace-period-too-short ",
		"cartservice prestop-missing server",
		"checkoutservice prestop-missing server",
		"currencyservice grace-period-too-short ",
		"currencyservice prestop-missing server",
		"emailservice grace-period-too-short ",
		"emailservice prestop-missing server",
		"frontend prestop-missing server",
		"paymentservice grace-period-too-short ",
		"paymentservice prestop-missing server",
		"productcatalogservice grace-period-too-short ",
		"productcatalogservice prestop-missing server",
		"recommendationservice grace-period-too-short ",
		"recommendationservice prestop-missing server",
		"redis-cart prestop-missing redis",
		"shippingservice prestop-missing server",
	}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("error findings (-want +got):\n%s", diff)
	}
}
