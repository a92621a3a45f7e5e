package plugin

import (
	"context"

	"github.com/spf13/cobra"
)

// command is the options of every kubectl zdd command, run in three steps
// (kubectl's own shape):
//   - Complete reads the arguments (one TYPE/NAME parser, target.go), the
//     namespace and the files; it never reads the kubeconfig's credentials.
//   - Validate checks the flags and their combinations (exit 2, nothing
//     read from the cluster).
//   - Run builds the clients (connect) and does the work, under the
//     context of main, which Ctrl-C and SIGTERM cancel: no command sets up
//     signals of its own.
type command interface {
	Complete(f Factory, cmd *cobra.Command, args []string) error
	Validate(cmd *cobra.Command) error
	Run(ctx context.Context) error
}

// runSteps is the RunE of every command: Complete, then Validate, then Run,
// stopping at the first error. Run gets main's context with the test hooks
// injected (withTestHooks: none in a release build).
func runSteps(f Factory, o command) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(f, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(cmd); err != nil {
			return err
		}
		return o.Run(withTestHooks(cmd.Context()))
	}
}
