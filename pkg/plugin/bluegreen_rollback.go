package plugin

import (
	"context"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
)

// BlueGreenRollbackOptions drive `kubectl zdd bluegreen rollback`.
type BlueGreenRollbackOptions struct {
	*BlueGreenFlags
	MinReady int32

	Runner *bluegreen.Runner
	// Probe is --probe URL: the requests of the switch back are measured.
	Probe *ReleaseProbe
	// Report is --report FILE.html, --ascii, and the picture at the end.
	Report *ReleaseReport
	genericiooptions.IOStreams
}

// NewBlueGreenRollbackOptions returns options with defaults set.
func NewBlueGreenRollbackOptions(streams genericiooptions.IOStreams) *BlueGreenRollbackOptions {
	return &BlueGreenRollbackOptions{BlueGreenFlags: NewBlueGreenFlags(), Probe: NewReleaseProbe(), Report: NewReleaseReport(), IOStreams: streams}
}

// NewCmdBlueGreenRollback builds `kubectl zdd bluegreen rollback`.
func NewCmdBlueGreenRollback(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewBlueGreenRollbackOptions(streams)
	cmd := &cobra.Command{
		Use:   "rollback service/NAME",
		Short: "Switch the Service back to the other colour",
		Long: `Switch the Service back to the idle colour (the one live before the last
switch). If it was scaled down, it is first scaled up to the live colour's
replica count and waited for; the switch is guarded and resourceVersion-checked
like any other, and the command returns once the endpoints list only the
restored colour's ready pods. The colour switched away from stays up.`,
		Example: `  kubectl zdd bluegreen rollback service/web`,
		Args:    cobra.ExactArgs(1),
		RunE:    runSteps(f, o),
	}
	o.AddFlags(cmd, true)
	cmd.Flags().Int32Var(&o.MinReady, "min-ready", o.MinReady, "Ready pods the restored colour needs before the switch")
	o.Probe.AddFlags(cmd.Flags())
	o.Report.AddFlags(cmd.Flags())
	return cmd
}

// Complete resolves the Service and the clients.
func (o *BlueGreenRollbackOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if o.Runner, err = completeRunner(f, cmd, o.IOStreams, o.BlueGreenFlags, args[0]); err != nil {
		return err
	}
	o.config.MinReady = o.MinReady
	return nil
}

// Validate checks the flags; it changes nothing.
func (o *BlueGreenRollbackOptions) Validate(cmd *cobra.Command) error {
	if err := o.BlueGreenFlags.Validate(cmd); err != nil {
		return err
	}
	if err := o.Probe.Validate(cmd); err != nil {
		return err
	}
	if err := o.Report.Validate(cmd); err != nil {
		return err
	}
	return validateMinReady(cmd, o.MinReady)
}

// Run rolls back.
func (o *BlueGreenRollbackOptions) Run(ctx context.Context) error {
	if err := o.BlueGreenFlags.connect(o.Runner); err != nil {
		return err
	}
	if done, err := o.BlueGreenFlags.dryRun(ctx, o.Out, o.Runner, bluegreen.OperationRollback); done {
		return err
	}
	// the requests of the switch back are measured (there is nothing
	// further to go back to); the rollback is an operation of its own, so
	// the probe's settings (for resume) and figures are recorded with it
	params, err := o.Probe.Params()
	if err != nil {
		return err
	}
	o.config.Params = params
	return o.Report.run(ctx, blueGreenEnd(o.Runner, o.config, o.Probe, o.IOStreams, false), func(ev strategies.Events) { o.Runner.Events = ev }, func() error {
		return o.Probe.runProbed(ctx, o.Out, o.ErrOut, o.Runner.Client, "service", o.config.Namespace, o.config.Service, true, func(strategies.Tripwire) error {
			_, err := o.Runner.Rollback(ctx, o.config)
			return err
		})
	})
}
