package plugin

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/canary"
)

// The defaults of canary's --timeout (each wait, as in rollout and
// blue-green) and --deadline (the whole run).
const (
	canaryWaitTimeout     = 10 * time.Minute
	canaryDeadlineDefault = 30 * time.Minute
)

func addCanaryCommonFlags(cmd *cobra.Command, timeout, deadline *time.Duration, force *bool) {
	cmd.Flags().DurationVar(timeout, "timeout", *timeout, "How long each wait may take: a Deployment becoming Ready, the endpoints reaching a step's split")
	cmd.Flags().DurationVar(deadline, "deadline", *deadline, "Limit on the whole run (a duration like 30m): a release that runs past it is aborted")
	cmd.Flags().BoolVar(force, "force-unlock", false, "take the operation's lease even if another run holds it")
}

// canaryRunner builds the engine with its clients (connect), in Run.
func canaryRunner(f Factory, streams genericiooptions.IOStreams) func() (*canary.Canary, error) {
	return func() (*canary.Canary, error) {
		var cs kubernetes.Interface
		var dyn dynamic.Interface
		if err := connect(f, &cs, &dyn); err != nil {
			return nil, err
		}
		return &canary.Canary{Client: cs, Dynamic: dyn, Discovery: cs.Discovery(), Out: fitTerminal(streams.Out)}, nil
	}
}

// completeCanaryTarget is the Complete step canary promote and abort
// share: the deployment/NAME argument, the namespace and, unless one is set
// already, the Runner that builds the clients in Run.
func completeCanaryTarget(f Factory, cmd *cobra.Command, streams genericiooptions.IOStreams, arg string, runner *func() (*canary.Canary, error)) (ns, name string, err error) {
	if name, err = parseName(cmd, canaryArg, arg); err != nil {
		return "", "", err
	}
	if ns, _, err = namespaceOf(f); err != nil {
		return "", "", err
	}
	if *runner == nil {
		*runner = canaryRunner(f, streams)
	}
	return ns, name, nil
}

// validateCanaryTimeout is the Validate step of --timeout and --deadline
// that the canary commands share.
func validateCanaryTimeout(cmd *cobra.Command, timeout, deadline time.Duration) error {
	if timeout <= 0 {
		return usageErrorf(cmd, "--timeout %s must be positive", timeout)
	}
	if deadline <= 0 {
		return usageErrorf(cmd, "--deadline %s must be positive", deadline)
	}
	return nil
}

// canaryInterruptible splits Ctrl-C from --deadline for a run that walks
// steps: the returned context ends only at --deadline (which aborts the
// release); the channel is closed when the caller's context ends (main's:
// SIGINT or SIGTERM), which stops the release at its next consistent point.
func canaryInterruptible(ctx context.Context, deadline time.Duration) (context.Context, <-chan struct{}, func()) {
	if ctx == nil {
		ctx = context.Background()
	}
	work, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadline)
	return work, ctx.Done(), cancel
}
