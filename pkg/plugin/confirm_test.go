package plugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// TestRecordConfirmer: what a record reaches is printed; without --yes and
// without a terminal it is refused (exit 2); with --yes it runs.
func TestRecordConfirmer(t *testing.T) {
	c := strategies.Confirmation{Object: "deployment shop/web", URLs: []string{"metric m: GET https://metrics.example/q"},
		Jobs: []string{"migration job migrate-1 running m=shop-migrate:v3"}, Env: []string{"ZDD_TOKEN"}}
	want := `the operation record on deployment shop/web makes this run reach:
  url: metric m: GET https://metrics.example/q
  migration job migrate-1 running m=shop-migrate:v3
  headers read the environment variables ZDD_TOKEN
`
	for _, yes := range []bool{false, true} {
		var out, errOut bytes.Buffer
		streams := genericiooptions.IOStreams{In: strings.NewReader("y\n"), Out: &out, ErrOut: &errOut}
		err := (&RecordFlags{Yes: yes}).confirmer(streams)(c)
		if diff := cmp.Diff(want, out.String()); diff != "" {
			t.Errorf("yes=%v: printed (-want +got):\n%s", yes, diff)
		}
		switch {
		case yes && err != nil:
			t.Errorf("--yes: %v", err)
		case !yes && (exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), "run again with --yes")):
			t.Errorf("no --yes, not a terminal (an answer on a pipe does not count): want exit 2 naming --yes, got %v", err)
		}
	}
}
