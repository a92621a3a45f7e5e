package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
)

// BlueGreenPromoteOptions drive `kubectl zdd bluegreen promote`.
type BlueGreenPromoteOptions struct {
	*BlueGreenFlags
	Analysis       string
	ScaleDownDelay time.Duration
	DeleteOld      bool
	MinReady       int32
	// GitOpsFlags: --gitops, and --write-back for the switch to commit.
	GitOpsFlags

	Runner *bluegreen.Runner
	// Probe is --probe URL and its settings.
	Probe *ReleaseProbe
	// Report is --report FILE.html, --ascii, and the picture at the end.
	Report *ReleaseReport
	genericiooptions.IOStreams
}

// NewBlueGreenPromoteOptions returns options with defaults set.
func NewBlueGreenPromoteOptions(streams genericiooptions.IOStreams) *BlueGreenPromoteOptions {
	return &BlueGreenPromoteOptions{BlueGreenFlags: NewBlueGreenFlags(), Probe: NewReleaseProbe(), Report: NewReleaseReport(), IOStreams: streams}
}

// NewCmdBlueGreenPromote builds `kubectl zdd bluegreen promote`.
func NewCmdBlueGreenPromote(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewBlueGreenPromoteOptions(streams)
	cmd := &cobra.Command{
		Use:   "promote service/NAME",
		Short: "Switch the Service to the idle colour (the guarded switch on its own)",
		Long: `Switch the Service (and the Services that switch with it) to the idle colour:
the guard (the idle colour has at least as many ready pods as the live one, or
--min-ready) is checked right before one resourceVersion-checked patch of the
selector; then wait until the endpoints list only the new colour's ready pods,
run the --analysis (failure switches back, exit 1), wait --scale-down-delay
and retire the old colour.`,
		Example: `  kubectl zdd bluegreen promote service/web
  kubectl zdd bluegreen promote service/web --analysis slo.yaml --scale-down-delay 10m --delete-old`,
		Args: cobra.ExactArgs(1),
		RunE: runSteps(f, o),
	}
	o.AddFlags(cmd, true)
	cmd.Flags().StringVar(&o.Analysis, "analysis", o.Analysis, "Analysis file run after the switch; failure switches back")
	cmd.Flags().DurationVar(&o.ScaleDownDelay, "scale-down-delay", o.ScaleDownDelay, "How long the old colour stays up after a passing post-switch analysis")
	cmd.Flags().BoolVar(&o.DeleteOld, "delete-old", o.DeleteOld, "Delete the old colour's Deployment instead of scaling it to 0")
	cmd.Flags().Int32Var(&o.MinReady, "min-ready", o.MinReady, "Ready pods the new colour needs before the switch (default: as many as the live colour has ready)")
	o.GitOpsFlags.addFlags(cmd, true)
	o.Probe.AddFlags(cmd.Flags())
	o.Report.AddFlags(cmd.Flags())
	return cmd
}

// Complete resolves the Service, the clients and the analysis file.
func (o *BlueGreenPromoteOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if o.Runner, err = completeRunner(f, cmd, o.IOStreams, o.BlueGreenFlags, args[0]); err != nil {
		return err
	}
	if o.config.AnalysisSpec, err = loadAnalysis(cmd, "analysis", o.Analysis); err != nil {
		return err
	}
	o.config.ScaleDownDelay = o.ScaleDownDelay
	o.config.DeleteOld = o.DeleteOld
	o.config.MinReady = o.MinReady
	return nil
}

// Validate checks the flags; it changes nothing.
func (o *BlueGreenPromoteOptions) Validate(cmd *cobra.Command) error {
	if err := o.BlueGreenFlags.Validate(cmd); err != nil {
		return err
	}
	if err := o.Probe.Validate(cmd); err != nil {
		return err
	}
	if err := o.Report.Validate(cmd); err != nil {
		return err
	}
	if err := validateMinReady(cmd, o.MinReady); err != nil {
		return err
	}
	if o.ScaleDownDelay < 0 {
		return usageErrorf(cmd, "--scale-down-delay %s: must not be negative", o.ScaleDownDelay)
	}
	return o.GitOpsFlags.validate("", "")
}

// Run switches.
func (o *BlueGreenPromoteOptions) Run(ctx context.Context) error {
	if err := o.BlueGreenFlags.connect(o.Runner); err != nil {
		return err
	}
	if done, err := o.BlueGreenFlags.dryRun(ctx, o.Out, o.Runner, bluegreen.OperationPromote); done {
		return err
	}
	snap := blueGreenRead(ctx, o.Runner, o.config)
	targets := blueGreenTargets(ctx, o.Runner.Client, o.config.Namespace, o.config.Service, o.config.Colours.Label, snap)
	managed, err := o.GitOpsFlags.preflight(o.ErrOut, targets)
	if err != nil {
		return err
	}
	change := blueGreenBefore(snap, o.config)
	if o.WriteBack != "" && change != nil {
		// the file must hold the colour this promote switches to (exit 2 before any write)
		if err := gitops.CheckFile(o.WriteBack, o.config.Namespace, change.before.Name); err != nil {
			return err
		}
	}
	o.Runner.Prefetched = snap
	err = o.Probe.runBlueGreen(ctx, o.IOStreams, o.Report, false, o.Runner, o.config, o.Runner.Promote)
	if err == nil {
		// the switch (the colour's template was the deploy's change)
		err = o.GitOpsFlags.blueGreenCommit(ctx, o.Out, o.Runner.Client, change, managed)
	}
	return err
}
