// Package plugin holds the cobra commands of kubectl zdd: one file per
// subcommand, each an XOptions struct with NewXOptions, NewCmdX, and
// Complete / Validate / Run.
package plugin

import (
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/klog/v2"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

const rootLong = `kubectl zdd releases plain Deployments and Services with zero downtime.

It audits manifests and live objects for the settings zero downtime depends on,
runs guarded rolling updates with automatic rollback, blue-green switches and
canary releases, and keeps the state of every operation in annotations so that
another run can see, resume or abort it. Nothing is installed in the cluster.

Exit codes: 0 success; 1 the operation failed (or lint found problems);
2 bad input or usage, nothing changed; 3 a person is needed.`

const rootExample = `  # audit manifests for the settings zero downtime depends on
  kubectl zdd lint -f deploy/

  # a guarded rolling update that rolls itself back on failure
  kubectl zdd rollout deployment/web --image web=shop/web:1.2.0

  # the version of this binary
  kubectl zdd version`

// NewCmdRoot builds the `kubectl zdd` command tree.
func NewCmdRoot(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:           "zdd",
		Short:         "Zero-downtime releases for Deployments and Services",
		Long:          rootLong,
		Example:       rootExample,
		SilenceErrors: true,
		SilenceUsage:  true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl zdd"},
		Run: func(c *cobra.Command, _ []string) {
			c.SetOut(streams.Out)
			_ = c.Help()
		},
	}
	cmd.SetOut(streams.Out)
	cmd.SetErr(streams.ErrOut)

	var verbosity int
	cmd.PersistentFlags().IntVarP(&verbosity, "v", "v", 0, "Log level of the Kubernetes client library (its messages, such as a watch ended and restarted, are hidden at 0)")
	var prof profiling
	prof.addFlags(cmd)
	cmd.PersistentPreRunE = func(*cobra.Command, []string) error {
		if err := clientLogs(verbosity); err != nil {
			return err
		}
		return prof.start()
	}

	configFlags := genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().WithDiscoveryBurst(300).WithDiscoveryQPS(50.0)
	configFlags.AddFlags(cmd.PersistentFlags())
	f := NewFactory(configFlags)

	// every command, in the order of the help's list (cobra sorts it)
	for _, build := range []func(Factory, genericiooptions.IOStreams) *cobra.Command{
		NewCmdLint,
		NewCmdRollout,
		NewCmdRollback,
		NewCmdMigrate,
		NewCmdBlueGreen,
		NewCmdCanary,
		NewCmdResume,
		NewCmdAbort,
		NewCmdStatus,
		NewCmdReport,
		NewCmdAnalyze,
		NewCmdProbe,
		NewCmdCompletion,
		NewCmdVersion,
	} {
		cmd.AddCommand(build(f, streams))
	}
	setupCompletion(cmd, f) // completion.go: argument and flag completion by command path

	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exitcode.Usagef("%s: %w (see '%s --help')", displayPath(c), err, displayPath(c))
	})
	markArgErrorsAsUsage(cmd)
	return cmd
}

// markArgErrorsAsUsage wraps every command's positional-argument check so a
// wrong argument count or an unknown subcommand exits 2.
func markArgErrorsAsUsage(c *cobra.Command) {
	orig := c.Args
	c.Args = func(cmd *cobra.Command, args []string) error {
		var err error
		switch {
		case orig != nil:
			err = orig(cmd, args)
		case cmd.HasSubCommands() && len(args) > 0:
			err = fmt.Errorf("unknown command %q for %q", args[0], displayPath(cmd))
		}
		if err != nil {
			return exitcode.Usagef("%w (see '%s --help')", err, displayPath(cmd))
		}
		return nil
	}
	for _, sub := range c.Commands() {
		markArgErrorsAsUsage(sub)
	}
}

// displayPath is the command path as a user types it: "kubectl zdd lint"
// (the root's display-name annotation makes cobra print it that way).
func displayPath(c *cobra.Command) string {
	return c.CommandPath()
}

// usageErrorf is the error for a bad flag value or argument: it names the
// command and exits 2.
func usageErrorf(cmd *cobra.Command, format string, a ...any) error {
	return exitcode.Usagef("%s: %s", displayPath(cmd), fmt.Sprintf(format, a...))
}

// flagChanged reports whether the user set the named flag.
func flagChanged(fs *pflag.FlagSet, name string) bool {
	f := fs.Lookup(name)
	return f != nil && f.Changed
}

// clientLogs sets where the Kubernetes client library's own log lines go.
// At 0 (the default) nowhere: they are for debugging (a watch that ended
// and was restarted during an API server outage would print a line the
// command already says in its own words). Above 0, to stderr at that
// verbosity, as kubectl's -v.
func clientLogs(v int) error {
	if v < 0 {
		return exitcode.Usagef("--v %d: must be 0 or more", v)
	}
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	if v == 0 {
		klog.SetOutput(io.Discard)
		for name, value := range map[string]string{"logtostderr": "false", "stderrthreshold": "FATAL"} {
			if err := fs.Set(name, value); err != nil {
				return err
			}
		}
		return nil
	}
	if err := fs.Set("logtostderr", "true"); err != nil {
		return err
	}
	return fs.Set("v", strconv.Itoa(v))
}
