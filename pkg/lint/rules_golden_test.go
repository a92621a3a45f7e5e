package lint

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The -update flag rewrites golden files. It is defined here only when no
// other test file of the package defines it first (package-level variables
// are initialised before init functions run).
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite the golden files in testdata/")
	}
}

func rulesGoldenUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// TestRuleMessagesGolden keeps the full text of every finding of every
// bad.yaml (message and hint, as users read them) in bad.golden beside it.
// Run `go test ./pkg/lint -run TestRuleMessagesGolden -update` after a
// deliberate wording change, and review the diff.
func TestRuleMessagesGolden(t *testing.T) {
	for _, r := range Rules() {
		t.Run(r.ID, func(t *testing.T) {
			dir := filepath.Join("testdata", "rules", r.ID)
			var b strings.Builder
			for _, f := range ofRule(Audit(loadFixture(t, filepath.Join(dir, "bad.yaml")), Options{}), r.ID) {
				fmt.Fprintf(&b, "%s:%d %s %s %s/%s container=%q %s\n  message: %s\n  hint: %s\n",
					filepath.Base(f.File), f.Line, f.Severity, f.Rule, f.Kind, f.Name, f.Container, f.Field, f.Message, f.Hint)
			}
			golden := filepath.Join(dir, "bad.golden")
			if rulesGoldenUpdate() {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
