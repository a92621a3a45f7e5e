package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/canary"
)

// CanaryPromoteOptions are the flags of `kubectl zdd canary promote`.
type CanaryPromoteOptions struct {
	Full        bool
	Timeout     time.Duration
	Deadline    time.Duration
	ForceUnlock bool
	// RecordFlags: --yes and --allow-env for the recorded analysis.
	RecordFlags
	GitOpsFlags
	Namespace string
	Name      string
	Runner    func() (*canary.Canary, error)
	// Probe is --probe URL and its settings.
	Probe *ReleaseProbe
	// Report is --report FILE.html, --ascii, and the picture at the end.
	Report *ReleaseReport
	genericiooptions.IOStreams
}

func newCmdCanaryPromote(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CanaryPromoteOptions{Timeout: canaryWaitTimeout, Deadline: canaryDeadlineDefault, Probe: NewReleaseProbe(), Report: NewReleaseReport(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "promote deployment/NAME [--full]",
		Short: "Move a held canary to its next step, or finish it with --full",
		Long: `Move a canary that holds (after --weight or a --manual step) to its next step,
or with --full (or after the last step) finish it: roll the stable Deployment
to the canary's pod template with maxUnavailable 0, wait, and remove the canary.

The next step runs the analysis the release recorded on the stable. Anyone
who may patch its annotations can write that record, so its URLs and Jobs
are printed and run only with --yes or when confirmed on a terminal (else
exit 2, nothing moved), and its headers read only the variables named with
--allow-env or prefixed ZDD_.`,
		Example: `  kubectl zdd canary promote deployment/web
  kubectl zdd canary promote deployment/web --full`,
		Args: cobra.ExactArgs(1),
		RunE: runSteps(f, o),
	}
	cmd.Flags().BoolVar(&o.Full, "full", false, "finish: the stable takes the canary's pod template and the canary is removed")
	o.RecordFlags.addFlags(cmd)
	o.GitOpsFlags.addFlags(cmd, true)
	addCanaryCommonFlags(cmd, &o.Timeout, &o.Deadline, &o.ForceUnlock)
	o.Probe.AddFlags(cmd.Flags())
	o.Report.AddFlags(cmd.Flags())
	return cmd
}

// Complete reads the Deployment and the namespace.
func (o *CanaryPromoteOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	o.Namespace, o.Name, err = completeCanaryTarget(f, cmd, o.IOStreams, args[0], &o.Runner)
	return err
}

// Validate checks the flags.
func (o *CanaryPromoteOptions) Validate(cmd *cobra.Command) error {
	if err := o.RecordFlags.validate(cmd); err != nil {
		return err
	}
	if err := o.Probe.Validate(cmd); err != nil {
		return err
	}
	if err := o.Report.Validate(cmd); err != nil {
		return err
	}
	return validateCanaryTimeout(cmd, o.Timeout, o.Deadline)
}

// Run promotes.
func (o *CanaryPromoteOptions) Run(ctx context.Context) error {
	if err := o.GitOpsFlags.validate(o.Namespace, o.Name); err != nil {
		return err
	}
	ctx, interrupt, cancel := canaryInterruptible(ctx, o.Deadline)
	defer cancel()
	r, err := o.Runner()
	if err != nil {
		return err
	}
	r.Interrupt = interrupt
	if !o.Full {
		// the analysis the release recorded runs at the next step: it is
		// shown and confirmed first, and reads only the allowed variables
		spec, err := r.AnalysisOf(ctx, o.Namespace, o.Name)
		if err != nil {
			return err
		}
		env := strategies.Env{AllowEnv: o.AllowEnv, Confirm: o.RecordFlags.confirmer(o.IOStreams)}
		if err := strategies.ConfirmRecorded(env, "deployment "+o.Namespace+"/"+o.Name, []*analysis.Spec{spec}, nil); err != nil {
			return err
		}
		r.AnalysisEnv = analysis.RecordedEnv(o.AllowEnv)
		r.Analysis = r.AnalyzerFor(spec)
	}
	// the release ends here when the canary is promoted in full: what a
	// GitOps controller of the stable would revert is printed (the warning
	// came with 'kubectl zdd canary')
	before, targets := deploymentTarget(ctx, r.Client, o.Namespace, o.Name, "")
	var managed []gitops.Managed
	if o.GitOpsFlags.Mode != gitops.ModeIgnore {
		managed = gitops.Find(targets)
	}
	end := releaseEnd{Client: r.Client, Kind: "deployment", Namespace: o.Namespace, Name: o.Name, Base: o.Name, Probe: o.Probe, Out: o.Out, ErrOut: o.ErrOut}
	if err := o.Report.run(ctx, end, func(ev strategies.Events) { r.Events = ev }, func() error {
		return o.Probe.runProbed(ctx, o.Out, o.ErrOut, r.Client, "deployment", o.Namespace, o.Name, true, func(tw strategies.Tripwire) error {
			r.Tripwire = tw
			_, err := r.Promote(ctx, canary.Config{Namespace: o.Namespace, Name: o.Name, Full: o.Full, ForceUnlock: o.ForceUnlock, Timeout: o.Timeout})
			return err
		})
	}); err != nil {
		return err
	}
	return o.GitOpsFlags.releaseEnd(ctx, o.Out, r.Client, before, managed)
}
