package plugin

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// RecordFlags are the flags of the commands that run what an operation
// record holds (resume, canary promote): a record is written by anyone who
// can patch the object's annotations, so its URLs and Jobs run only once
// the person agrees, and its headers read only the variables they name.
type RecordFlags struct {
	// Yes runs the recorded URLs and Jobs without asking.
	Yes bool
	// AllowEnv names variables a recorded analysis' headers may read
	// besides those prefixed ZDD_.
	AllowEnv []string
}

func (f *RecordFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&f.Yes, "yes", f.Yes, "Run the analysis URLs and Jobs the operation's record holds without asking (they are printed first; without --yes they are run only when confirmed on a terminal)")
	cmd.Flags().StringArrayVar(&f.AllowEnv, "allow-env", f.AllowEnv, "An environment variable the headers of the recorded analysis may read, besides those prefixed ZDD_ (repeatable)")
}

func (f *RecordFlags) validate(cmd *cobra.Command) error {
	for _, n := range f.AllowEnv {
		if n == "" || strings.ContainsAny(n, "=${} ") {
			return usageErrorf(cmd, "--allow-env %q: want the name of an environment variable, e.g. METRICS_TOKEN", n)
		}
	}
	return nil
}

// confirmer prints what a record makes this run reach and asks for it:
// --yes, or "y" typed on a terminal; anything else refuses with exit 2,
// nothing run.
func (f *RecordFlags) confirmer(streams genericiooptions.IOStreams) func(strategies.Confirmation) error {
	return func(c strategies.Confirmation) error {
		fmt.Fprintf(streams.Out, "the operation record on %s makes this run reach:\n", c.Object)
		for _, u := range c.URLs {
			fmt.Fprintf(streams.Out, "  url: %s\n", u)
		}
		for _, j := range c.Jobs {
			fmt.Fprintf(streams.Out, "  %s\n", j)
		}
		if len(c.Env) > 0 {
			fmt.Fprintf(streams.Out, "  headers read the environment variables %s\n", strings.Join(c.Env, ", "))
		}
		if f.Yes {
			return nil
		}
		in, ok := streams.In.(*os.File)
		if ok && term.IsTerminal(int(in.Fd())) {
			fmt.Fprint(streams.ErrOut, "A record is written by whoever can patch the object's annotations: run these? [y/N] ")
			line, _ := bufio.NewReader(in).ReadString('\n')
			if a := strings.ToLower(strings.TrimSpace(line)); a == "y" || a == "yes" {
				return nil
			}
			return exitcode.Usagef("%s: not confirmed; nothing was changed", c.Object)
		}
		return exitcode.Usagef("%s: its record holds the analysis URLs or Jobs printed above, which run only when confirmed: check them, then run again with --yes (nothing was changed)", c.Object)
	}
}
