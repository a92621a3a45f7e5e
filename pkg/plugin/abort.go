package plugin

import (
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

const abortLong = `Undo an unfinished operation (in flight, interrupted, paused, or failed
part-way, such as one whose automatic rollback failed): return to the last
safe state before it.

rollout: the pod template of the from-revision is restored and the command
waits until the Deployment is fully available on it.
bluegreen: every Service selects the colour that was live before, fully
ready (scaled back up first if it was retired); the other colour goes to 0.
canary: the stable Deployment back at full size and Ready first, router
weights back to 100% stable, then the canary scaled to 0.

The operation's record ends with result "aborted". The operation's Lease is
taken first (see 'kubectl zdd resume --help'); --force-unlock takes it at once.`

const abortExample = `  # go back to the revision before an interrupted rollout
  kubectl zdd abort deployment/web --force-unlock

  # switch a half-done blue-green release back to the colour that was live
  kubectl zdd abort service/web

  # pull back an interrupted canary: stable at full size, canary at 0
  kubectl zdd abort deployment/web`

// NewCmdAbort builds `kubectl zdd abort`; it shares ResumeOptions with resume.
func NewCmdAbort(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewResumeOptions(streams, true)
	cmd := &cobra.Command{
		Use:     "abort TYPE/NAME",
		Short:   "Undo an interrupted operation: back to the last safe state",
		Long:    abortLong,
		Example: abortExample,
		Args:    cobra.ExactArgs(1),
		RunE:    runSteps(f, o),
	}
	o.addFlags(cmd)
	return cmd
}
