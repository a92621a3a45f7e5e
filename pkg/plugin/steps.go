package plugin

import (
	"context"

	"github.com/spf13/cobra"
)

// stepsWithCmd is the options of a command whose Run takes the command.
type stepsWithCmd interface {
	Complete(f Factory, cmd *cobra.Command, args []string) error
	Validate(cmd *cobra.Command) error
	Run(cmd *cobra.Command) error
}

// stepsWithContext is the options of a command whose Run takes the
// command's context.
type stepsWithContext interface {
	Complete(f Factory, cmd *cobra.Command, args []string) error
	Validate(cmd *cobra.Command) error
	Run(ctx context.Context) error
}

// runSteps is the RunE of a command built the DESIGN.md way: Complete, then
// Validate, then Run, stopping at the first error.
func runSteps(f Factory, o stepsWithCmd) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := o.Complete(f, cmd, args); err != nil {
			return err
		}
		if err := o.Validate(cmd); err != nil {
			return err
		}
		return o.Run(cmd)
	}
}

// runStepsContext is runSteps for options whose Run takes cmd.Context().
func runStepsContext(f Factory, o stepsWithContext) func(*cobra.Command, []string) error {
	return runSteps(f, contextSteps{o})
}

type contextSteps struct{ stepsWithContext }

func (s contextSteps) Run(cmd *cobra.Command) error { return s.stepsWithContext.Run(cmd.Context()) }
