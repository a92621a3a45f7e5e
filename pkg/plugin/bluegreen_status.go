package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
)

// BlueGreenStatusOptions drive `kubectl zdd bluegreen status`.
type BlueGreenStatusOptions struct {
	*BlueGreenFlags
	Output string

	Runner *bluegreen.Runner
	genericiooptions.IOStreams
}

// NewBlueGreenStatusOptions returns options with defaults set.
func NewBlueGreenStatusOptions(streams genericiooptions.IOStreams) *BlueGreenStatusOptions {
	return &BlueGreenStatusOptions{BlueGreenFlags: NewBlueGreenFlags(), IOStreams: streams}
}

// NewCmdBlueGreenStatus builds `kubectl zdd bluegreen status`.
func NewCmdBlueGreenStatus(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewBlueGreenStatusOptions(streams)
	cmd := &cobra.Command{
		Use:   "status service/NAME",
		Short: "Show the colours, their images and ready counts, which is live, and what is in flight",
		Long: `Show a blue-green Service's colours: each colour's Deployment, images and
ready replicas, which colour the Service selects now, the preview Service, and
the operation recorded in the Service's zdd.dev/ annotations (phase, active and
previous colour, and the Lease holder when one is in flight). Nothing is changed.`,
		Example: `  kubectl zdd bluegreen status service/web
  kubectl zdd bluegreen status service/web -o json`,
		Args: cobra.ExactArgs(1),
		RunE: runSteps(f, o),
	}
	o.AddFlags(cmd, false)
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "Output format: '' (text) or json")
	return cmd
}

// Complete resolves the Service and the clients.
func (o *BlueGreenStatusOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	o.Runner, err = completeRunner(f, cmd, o.IOStreams, o.BlueGreenFlags, args[0])
	return err
}

// Validate checks the flags.
func (o *BlueGreenStatusOptions) Validate(cmd *cobra.Command) error {
	if err := o.BlueGreenFlags.Validate(cmd); err != nil {
		return err
	}
	if o.Output != "" && o.Output != "json" {
		return usageErrorf(cmd, "--output %q: want json, or nothing", o.Output)
	}
	return nil
}

// Run prints the status.
func (o *BlueGreenStatusOptions) Run(ctx context.Context) error {
	if err := o.BlueGreenFlags.connect(o.Runner); err != nil {
		return err
	}
	st, err := o.Runner.GetStatus(ctx, o.config)
	if err != nil {
		return err
	}
	return bluegreen.PrintStatus(o.Out, st, o.Output == "json", time.Now())
}
