package plugin

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
)

// BlueGreenInitOptions drive `kubectl zdd bluegreen init`.
type BlueGreenInitOptions struct {
	*BlueGreenFlags
	MinReady int32

	Runner *bluegreen.Runner
	genericiooptions.IOStreams
}

// NewBlueGreenInitOptions returns options with defaults set.
func NewBlueGreenInitOptions(streams genericiooptions.IOStreams) *BlueGreenInitOptions {
	return &BlueGreenInitOptions{BlueGreenFlags: NewBlueGreenFlags(), IOStreams: streams}
}

// NewCmdBlueGreenInit builds `kubectl zdd bluegreen init`.
func NewCmdBlueGreenInit(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewBlueGreenInitOptions(streams)
	cmd := &cobra.Command{
		Use:   "init service/NAME",
		Short: "Turn a Deployment and its Service into blue-green, with no dip",
		Long: `Turn the one Deployment a Service selects into the first colour: create
<deployment>-<colour> as a copy whose selector and pods carry the colour label
(a Deployment's selector is immutable, so a copy is the only safe way), wait
until it is fully ready, add the colour to the Service selector in one guarded,
resourceVersion-checked patch, wait until the endpoints list only the new pods,
then scale the original Deployment to 0.`,
		Example: `  kubectl zdd bluegreen init service/web
  kubectl zdd bluegreen init service/web --color-label track --colors a,b`,
		Args: cobra.ExactArgs(1),
		RunE: runSteps(f, o),
	}
	o.AddFlags(cmd, true)
	cmd.Flags().Int32Var(&o.MinReady, "min-ready", o.MinReady, "Ready pods the first colour needs before the switch (default: as many as the original has ready)")
	return cmd
}

// Complete resolves the Service and the clients.
func (o *BlueGreenInitOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if o.Runner, err = completeRunner(f, cmd, o.IOStreams, o.BlueGreenFlags, args[0]); err != nil {
		return err
	}
	o.config.MinReady = o.MinReady
	return nil
}

// Validate checks the flags; it changes nothing.
func (o *BlueGreenInitOptions) Validate(cmd *cobra.Command) error {
	if err := o.BlueGreenFlags.Validate(cmd); err != nil {
		return err
	}
	return validateMinReady(cmd, o.MinReady)
}

// Run converts the Service.
func (o *BlueGreenInitOptions) Run(ctx context.Context) error {
	if err := o.BlueGreenFlags.connect(o.Runner); err != nil {
		return err
	}
	if done, err := o.BlueGreenFlags.dryRun(ctx, o.Out, o.Runner, bluegreen.OperationInit); done {
		return err
	}
	_, err := o.Runner.Init(ctx, o.config)
	return err
}
