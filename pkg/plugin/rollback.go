package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/report"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/rolling"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

const rollbackLong = `Restore an earlier revision of a Deployment, the way 'kubectl rollout undo'
does: the pod template of that revision's ReplicaSet (without its
pod-template-hash label) replaces the Deployment's, with a patch that only
applies to the version read, and the command waits until the Deployment is
fully available. Without --to-revision the previous revision is restored.

The Deployment's Lease is held while it runs, so it does not race a
'kubectl zdd rollout' of the same Deployment. If another writer changes the
pod template between the read and the patch, the patch's test fails and the
command stops (exit 1) naming spec.template and that writer's field manager,
with nothing written over the change.

Exit codes: 0 restored (or already running that revision); 1 the rollback
failed or another run holds the lease; 2 bad input (no such Deployment or
revision), nothing changed.`

const rollbackExample = `  # Go back to the previous revision
  kubectl zdd rollback deployment/web -n shop

  # Go back to revision 3, and show the patch first
  kubectl zdd rollback deployment/web --to-revision 3 --dry-run=client`

// RollbackOptions is `kubectl zdd rollback`.
type RollbackOptions struct {
	ToRevision  int64
	Timeout     time.Duration
	DryRun      string
	Output      string
	ForceUnlock bool
	// Probe is --probe URL: the requests of the rollback are measured.
	Probe *ReleaseProbe
	// Report is --report FILE.html, --ascii, and the picture at the end.
	Report *ReleaseReport

	Namespace string
	Name      string
	Client    kubernetes.Interface
	factory   Factory

	genericiooptions.IOStreams
}

// NewRollbackOptions returns options with the defaults.
func NewRollbackOptions(streams genericiooptions.IOStreams) *RollbackOptions {
	return &RollbackOptions{Timeout: 10 * time.Minute, DryRun: "none", Probe: NewReleaseProbe(), Report: NewReleaseReport(), IOStreams: streams}
}

// NewCmdRollback builds `kubectl zdd rollback`.
func NewCmdRollback(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewRollbackOptions(streams)
	cmd := &cobra.Command{
		Use:     "rollback deployment/NAME [--to-revision N]",
		Short:   "Restore an earlier revision of a Deployment and wait for it",
		Long:    rollbackLong,
		Example: rollbackExample,
		Args:    cobra.ExactArgs(1),
		RunE:    runSteps(f, o),
	}
	fl := cmd.Flags()
	fl.Int64Var(&o.ToRevision, "to-revision", o.ToRevision, "Revision to restore (0: the previous one)")
	fl.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long the restored revision may take to become available")
	fl.StringVar(&o.DryRun, "dry-run", o.DryRun, `"none" restores, "client" prints the patch, "server" has the API server check it`)
	fl.Lookup("dry-run").NoOptDefVal = "client"
	fl.StringVarP(&o.Output, "output", "o", o.Output, `Output format: "" (text) or json`)
	fl.BoolVar(&o.ForceUnlock, "force-unlock", o.ForceUnlock, "Take the Deployment's lease even if another run holds it")
	o.Probe.AddFlags(fl)
	o.Report.AddFlags(fl)
	return cmd
}

// Complete reads the argument and the namespace.
func (o *RollbackOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if o.Name, err = parseName(cmd, deploymentArg, args[0]); err != nil {
		return err
	}
	o.factory = f
	o.Namespace, _, err = namespaceOf(f)
	return err
}

// Validate checks the flags.
func (o *RollbackOptions) Validate(cmd *cobra.Command) error {
	switch {
	case o.ToRevision < 0:
		return usageErrorf(cmd, "--to-revision %d: must be 0 or more", o.ToRevision)
	case o.Timeout <= 0:
		return usageErrorf(cmd, "--timeout %s: must be more than 0", o.Timeout)
	}
	switch o.DryRun {
	case "none", "client", "server":
	default:
		return usageErrorf(cmd, "--dry-run %q: want none, client or server", o.DryRun)
	}
	if o.Output != "" && o.Output != "json" {
		return usageErrorf(cmd, "--output %q: want json (or nothing for text)", o.Output)
	}
	if err := o.Report.Validate(cmd); err != nil {
		return err
	}
	return o.Probe.Validate(cmd)
}

// Run restores the revision.
func (o *RollbackOptions) Run(ctx context.Context) error {
	if err := connect(o.factory, &o.Client, nil); err != nil {
		return err
	}
	ref := o.Namespace + "/" + o.Name
	dry := o.DryRun
	if dry == "none" {
		dry = rolling.DryRunNone
	}
	// the step lines and the progress: on a terminal one live line,
	// rewritten, with the step lines fitted to its width
	var prog *progressPrinter
	if o.Output == "json" {
		prog = newProgressPrinter(o.ErrOut, false, ref)
	} else {
		prog = newProgressPrinter(o.Out, terminal.IsTerminal(o.Out), ref)
	}
	logW := io.Writer(prog)
	var fence state.Fence
	if dry == rolling.DryRunNone {
		sess, err := state.Begin(ctx, state.SessionConfig{Leases: o.Client.CoordinationV1(), Namespace: o.Namespace, Kind: "deployment", Name: o.Name,
			Force: o.ForceUnlock, Logf: func(format string, a ...any) { fmt.Fprintf(logW, format+"\n", a...) }})
		if err != nil {
			return err
		}
		defer sess.End()
		// the rollback's writes are made only while the lease is this run's,
		// and its waits end when it is lost
		ctx = sess.Context()
		fence = sess.Fence()
	}
	started := time.Now()
	if dry == rolling.DryRunNone {
		// measured only: there is nothing further to go back to
		if _, err := o.Probe.Start(ctx, logW); err != nil {
			return err
		}
		o.Report.Events(o.Client, o.Namespace, o.Name)
		o.Report.Phase(strategies.MarkRollback)
	}
	res, err := rolling.Rollback(ctx, o.Client, rolling.RollbackConfig{
		Namespace: o.Namespace, Name: o.Name, ToRevision: o.ToRevision, Timeout: o.Timeout, DryRun: dry,
		ChangeCause: fmt.Sprintf("kubectl zdd rollback deployment/%s --to-revision=%d", o.Name, o.ToRevision),
		OnProgress:  prog.Update, Log: logW, Fence: fence,
	})
	prog.Finish()
	// the picture (no record: the facts are the rollback's own); the
	// endpoints are not watched by a rollback
	if res != nil {
		facts := &report.Facts{Strategy: "rollback", Who: report.Who(state.Identity("")), Started: started.UTC(), Ended: time.Now().UTC(), Result: state.ResultSucceeded,
			Message: fmt.Sprintf("restored the pod template of revision %d (now revision %d)", res.Restored, res.NewRevision)}
		if res.NewRevision > 0 {
			facts.ToRevision = strconv.FormatInt(res.NewRevision, 10)
		}
		if err != nil {
			facts.Result, facts.Message = state.ResultFailed, err.Error()
		}
		defer o.Report.Finish(ctx, releaseEnd{Client: o.Client, Kind: "deployment", Namespace: o.Namespace, Name: o.Name, Base: o.Name,
			Probe: o.Probe, Out: o.Out, ErrOut: o.ErrOut, JSON: o.Output == "json", Facts: facts, Lost: state.LeaseLost(err) != nil})
	}
	o.Probe.settle(ctx, logW, o.Client, o.Namespace, o.Name)
	if rep := o.Probe.Stop(); rep != nil {
		defer func() { printRequests(logW, rep) }()
		if err == nil && !rep.Within() {
			err = budgetError(fmt.Sprintf("deployment %q rolled back, but", ref), rep)
		}
	}
	if res == nil {
		return err
	}
	if o.Output == "json" {
		b, jerr := json.MarshalIndent(res, "", "  ")
		if jerr != nil {
			return jerr
		}
		fmt.Fprintln(o.Out, string(b))
		return err
	}
	switch {
	case err != nil:
	case dry != rolling.DryRunNone:
		fmt.Fprintf(o.Out, "dry run (%s): would restore revision %d of deployment %q (replicaset %q); nothing was changed\n", dry, res.Restored, ref, res.ReplicaSet)
		if res.Patch != "" {
			fmt.Fprintf(o.Out, "patch: %s\n", res.Patch)
		}
	case res.Unchanged:
		fmt.Fprintf(logW, "deployment %q already runs revision %d's pod template (revision %d)\n", ref, res.Restored, res.NewRevision)
	default:
		fmt.Fprintf(logW, "deployment %q rolled back to revision %d (now revision %d), fully available\n", ref, res.Restored, res.NewRevision)
	}
	return err
}
