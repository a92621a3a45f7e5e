package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/canary"
)

// canaryDeadline is the context of canary abort: the caller's (main's,
// which Ctrl-C ends) with --deadline.
func canaryDeadline(ctx context.Context, deadline time.Duration) (context.Context, func()) {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, deadline)
}

// CanaryAbortOptions are the flags of `kubectl zdd canary abort`.
type CanaryAbortOptions struct {
	Timeout     time.Duration
	Deadline    time.Duration
	ForceUnlock bool
	Namespace   string
	Name        string
	Runner      func() (*canary.Canary, error)
	// Probe is --probe URL: the requests of the pull back are measured
	// (there is nothing further to go back to).
	Probe *ReleaseProbe
	// Report is --report FILE.html, --ascii, and the picture at the end.
	Report *ReleaseReport
	genericiooptions.IOStreams
}

func newCmdCanaryAbort(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := &CanaryAbortOptions{Timeout: canaryWaitTimeout, Deadline: canaryDeadlineDefault, Probe: NewReleaseProbe(), Report: NewReleaseReport(), IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "abort deployment/NAME",
		Short: "Pull a canary back: the stable to its replicas, Ready, then the canary to 0",
		Long: `Abort a canary release: scale the stable Deployment back to the replicas it had
when the release began and wait until they are Ready, route all traffic to
it, then scale the canary to 0 (the canary Deployment is kept for inspection).`,
		Example: `  kubectl zdd canary abort deployment/web`,
		Args:    cobra.ExactArgs(1),
		RunE:    runSteps(f, o),
	}
	addCanaryCommonFlags(cmd, &o.Timeout, &o.Deadline, &o.ForceUnlock)
	o.Probe.AddFlags(cmd.Flags())
	o.Report.AddFlags(cmd.Flags())
	return cmd
}

// Complete reads the Deployment and the namespace.
func (o *CanaryAbortOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	o.Namespace, o.Name, err = completeCanaryTarget(f, cmd, o.IOStreams, args[0], &o.Runner)
	return err
}

// Validate checks the flags.
func (o *CanaryAbortOptions) Validate(cmd *cobra.Command) error {
	if err := o.Probe.Validate(cmd); err != nil {
		return err
	}
	if err := o.Report.Validate(cmd); err != nil {
		return err
	}
	return validateCanaryTimeout(cmd, o.Timeout, o.Deadline)
}

// Run aborts.
func (o *CanaryAbortOptions) Run(ctx context.Context) error {
	ctx, cancel := canaryDeadline(ctx, o.Deadline)
	defer cancel()
	r, err := o.Runner()
	if err != nil {
		return err
	}
	end := releaseEnd{Client: r.Client, Kind: "deployment", Namespace: o.Namespace, Name: o.Name, Base: o.Name, Probe: o.Probe, Out: o.Out, ErrOut: o.ErrOut}
	return o.Report.run(ctx, end, func(ev strategies.Events) { r.Events = ev }, func() error {
		return o.Probe.runProbed(ctx, o.Out, o.ErrOut, r.Client, "deployment", o.Namespace, o.Name, false, func(strategies.Tripwire) error {
			_, err := r.Abort(ctx, canary.Config{Namespace: o.Namespace, Name: o.Name, ForceUnlock: o.ForceUnlock, Timeout: o.Timeout})
			return err
		})
	})
}
