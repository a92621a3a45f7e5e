package lint

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fuzzMinimizeDefault bounds how long a fuzz worker spends minimizing an
// input when the command line does not say (-fuzzminimizetime). Go's own
// default is 60s per input, and it minimizes not only crashers but every
// input that reaches new code. Both fuzz targets of this package start from
// manifests of 0.5-4.7 KB, and almost every mutation of a manifest reaches
// a new branch of the YAML and JSON decoders, so almost every mutation is
// queued for minimization; minimizing a string costs one run of the target
// per byte removed and then one per removable range (quadratic in its
// length), so each took the whole 60s and both workers spent the whole
// -fuzztime minimizing: `go test -fuzz FuzzFromTypedAudit -fuzztime 10s
// ./pkg/lint` reported 47 execs, then 0/s. A budget of 100 runs per input
// keeps minimization (of crashers too) but leaves the workers fuzzing.
const fuzzMinimizeDefault = "100x"

// TestMain applies fuzzMinimizeDefault when -fuzz is given without
// -fuzzminimizetime; every other run (plain `go test`, the seed corpus) is
// unchanged.
func TestMain(m *testing.M) {
	flag.Parse()
	fuzzing, minimizeSet := false, false
	flag.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "test.fuzz":
			fuzzing = f.Value.String() != ""
		case "test.fuzzminimizetime":
			minimizeSet = true
		}
	})
	if fuzzing && !minimizeSet {
		if err := flag.Set("test.fuzzminimizetime", fuzzMinimizeDefault); err != nil {
			fmt.Fprintf(os.Stderr, "setting -test.fuzzminimizetime: %v\n", err)
			os.Exit(2)
		}
	}
	os.Exit(m.Run())
}

// fuzzFlagChildEnv makes TestFuzzMinimizeFlagChild print the minimization
// budget it runs with; TestFuzzMinimizeDefault starts the test binary again
// with it set.
const fuzzFlagChildEnv = "ZDD_LINT_FUZZ_FLAG_CHILD"

func TestFuzzMinimizeFlagChild(t *testing.T) {
	if os.Getenv(fuzzFlagChildEnv) != "1" {
		return // only meaningful as TestFuzzMinimizeDefault's child
	}
	fmt.Printf("fuzzminimizetime=%s\n", flag.Lookup("test.fuzzminimizetime").Value)
}

// TestFuzzMinimizeDefault runs this test binary as go test -fuzz would and
// checks the budget TestMain leaves in place: bounded when fuzzing with no
// -fuzzminimizetime, the user's value when one is given, Go's default (60s)
// when not fuzzing. The child fuzzes no target (the -fuzz pattern matches
// none), so it ends at once.
func TestFuzzMinimizeDefault(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "fuzzing without the flag", args: []string{"-test.fuzz", "^FuzzNoSuchTarget$"}, want: "fuzzminimizetime=100x"},
		{name: "fuzzing with the flag", args: []string{"-test.fuzz", "^FuzzNoSuchTarget$", "-test.fuzzminimizetime", "5s"}, want: "fuzzminimizetime=5s"},
		{name: "not fuzzing", want: "fuzzminimizetime=1m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-test.run", "^TestFuzzMinimizeFlagChild$", "-test.fuzzcachedir", t.TempDir()}, tt.args...)
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), fuzzFlagChildEnv+"=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
			}
			var got string
			for _, line := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(line, "fuzzminimizetime=") {
					got = line
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("budget (-want +got):\n%s\nchild output:\n%s", diff, out)
			}
		})
	}
}
