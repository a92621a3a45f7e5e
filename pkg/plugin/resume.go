package plugin

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

const resumeLong = `Continue an operation from the phase recorded on its object.

Every kubectl zdd operation records its strategy and phase in zdd.dev/
annotations on the object it manages (the Deployment for rollout and canary,
the Service for blue-green). When the run that started it died (killed, lost
its network, Ctrl-C), resume takes the operation's Lease and carries it on to
its intended end; 'kubectl zdd abort' goes back to the last safe state instead.

A Lease whose holder stopped renewing is taken over once it expires: once it
stayed unchanged for its duration on this machine's clock (a held lease
that looks expired by its holder's clock is watched that long first);
--force-unlock takes it at once and says whose it was. A Lease whose holder
was a run on this machine that no longer exists (killed with SIGKILL) is
taken at once, without --force-unlock: "the run that held it (pid N on this
host) is gone".

A record is written by anyone who can patch the object's annotations, so
resume trusts it only so far: the URLs and Jobs it would run (an analysis,
a migration Job) are printed and run only with --yes or when confirmed on a
terminal (else exit 2, nothing changed); the headers of a recorded analysis
read only the environment variables named with --allow-env or prefixed
ZDD_ (any other refuses it, exit 2); and no file named in a record is read.`

const resumeExample = `  # carry on a rollout whose client was killed
  kubectl zdd resume deployment/web

  # the same, when the dead run ran on another machine: without waiting for
  # its lease to expire
  kubectl zdd resume deployment/web --force-unlock

  # in CI: run the recorded analysis (printed first) without asking; its
  # headers may read METRICS_TOKEN besides the ZDD_ variables
  kubectl zdd resume deployment/web --yes --allow-env METRICS_TOKEN`

// ResumeOptions are the options of resume and abort.
type ResumeOptions struct {
	// Abort selects abort instead of resume.
	Abort       bool
	Namespace   string
	Kind        string
	Name        string
	ForceUnlock bool
	Timeout     time.Duration
	// RecordFlags: --yes and --allow-env (resume only).
	RecordFlags
	// Probe is --probe (resume only); without it, the probe the record
	// keeps runs again.
	Probe *ReleaseProbe
	// Report is --report FILE.html, --ascii, and the picture at the end.
	Report *ReleaseReport

	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	factory Factory

	genericiooptions.IOStreams
}

// NewResumeOptions returns options with the defaults.
func NewResumeOptions(streams genericiooptions.IOStreams, abort bool) *ResumeOptions {
	return &ResumeOptions{Abort: abort, Timeout: 10 * time.Minute, Probe: NewReleaseProbe(), Report: NewReleaseReport(), IOStreams: streams}
}

// NewCmdResume builds `kubectl zdd resume`.
func NewCmdResume(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewResumeOptions(streams, false)
	cmd := &cobra.Command{
		Use:     "resume TYPE/NAME",
		Short:   "Continue an interrupted operation from its recorded phase",
		Long:    resumeLong,
		Example: resumeExample,
		Args:    cobra.ExactArgs(1),
		RunE:    runSteps(f, o),
	}
	o.addFlags(cmd)
	return cmd
}

func (o *ResumeOptions) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&o.ForceUnlock, "force-unlock", o.ForceUnlock, "Take the operation's lease at once even if another run holds it (and say whose it was)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long each wait (new pods, a rollback) may take")
	o.Report.AddFlags(cmd.Flags())
	if !o.Abort {
		o.RecordFlags.addFlags(cmd)
		o.Probe.AddFlags(cmd.Flags())
	}
}

// Complete reads the target and the namespace.
func (o *ResumeOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if o.Kind, o.Name, err = parseTarget(cmd, recordArg, args[0]); err != nil {
		return err
	}
	o.factory = f
	o.Namespace, _, err = namespaceOf(f)
	return err
}

// Validate checks the flags.
func (o *ResumeOptions) Validate(cmd *cobra.Command) error {
	if o.Timeout <= 0 {
		return usageErrorf(cmd, "--timeout %s: must be positive", o.Timeout)
	}
	if err := o.Report.Validate(cmd); err != nil {
		return err
	}
	if !o.Abort {
		if err := o.Probe.Validate(cmd); err != nil {
			return err
		}
	}
	return o.RecordFlags.validate(cmd)
}

func (o *ResumeOptions) verb() string {
	if o.Abort {
		return "abort"
	}
	return "resume"
}

// Run reads the record, takes the Lease and hands the operation to its
// strategy.
func (o *ResumeOptions) Run(ctx context.Context) error {
	if err := connect(o.factory, &o.Client, &o.Dynamic); err != nil {
		return err
	}
	t := strategies.Target{Namespace: o.Namespace, Kind: o.Kind, Name: o.Name}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "services"}
	if o.Kind == "deployment" {
		gvr = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	}
	obj, err := o.Dynamic.Resource(gvr).Namespace(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return exitcode.Usagef("%s %q not found", o.Kind, t.Ref())
	}
	if err != nil {
		return fmt.Errorf("reading %s %q: %w", o.Kind, t.Ref(), err)
	}
	op, ok := state.FromAnnotations(obj.GetAnnotations())
	if !ok {
		return exitcode.Usagef("%s %q carries no kubectl zdd operation record (%s annotations): nothing to %s", o.Kind, t.Ref(), state.Prefix, o.verb())
	}
	r, ok := registry.Lookup(op.Strategy)
	if !ok {
		done := map[bool]string{false: "resumed", true: "aborted"}[o.Abort]
		return exitcode.Usagef("%s %q: operation %s of strategy %q cannot be %s by this version (it can %s: %s)", o.Kind, t.Ref(), op.ID, op.Strategy, done, o.verb(), strings.Join(registry.Names(), ", "))
	}

	sess, err := state.Begin(ctx, state.SessionConfig{Leases: o.Client.CoordinationV1(), Namespace: o.Namespace, Kind: o.Kind, Name: o.Name,
		OperationID: op.ID, Force: o.ForceUnlock, Logf: func(format string, a ...any) { fmt.Fprintf(o.Out, format+"\n", a...) }})
	if err != nil {
		return err
	}
	defer sess.End()
	// the record as it is now that this run holds the lease: another run
	// may have moved the operation on (or started another) meanwhile
	obj, err = o.Dynamic.Resource(gvr).Namespace(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading %s %q again once the lease was taken: %w", o.Kind, t.Ref(), err)
	}
	again, ok := state.FromAnnotations(obj.GetAnnotations())
	if !ok || again.ID != op.ID {
		now := "no record"
		if ok {
			now = fmt.Sprintf("operation %s of strategy %s", again.ID, again.Strategy)
		}
		return exitcode.Failedf("%s %q: its record changed while this run took the lease (was operation %s, now %s): nothing was changed, run 'kubectl zdd status %s/%s' and try again", o.Kind, t.Ref(), op.ID, now, o.Kind, o.Name)
	}
	op = again
	// stop when the lease is lost: the context ends with the
	// *state.LostError, which the strategies take as "no further write"
	ctx = sess.Context()

	env := strategies.Env{Kube: o.Client, Dynamic: o.Dynamic, Log: fitTerminal(o.Out), Timeout: o.Timeout, Fence: sess.Fence(),
		AllowEnv: o.AllowEnv, Confirm: o.RecordFlags.confirmer(o.IOStreams)}
	// the picture of what this run did (an abort's too)
	env.Events = o.Report.Events(o.Client, o.Namespace, o.Name)
	end := releaseEnd{Client: o.Client, Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Base: o.Name, Probe: o.Probe, Out: o.Out, ErrOut: o.ErrOut, OperationID: op.ID}
	if o.Kind == "service" {
		end.Service = t.Ref()
	}
	defer o.Report.Finish(ctx, end)
	if o.Abort {
		return r.Abort(ctx, env, t, op)
	}
	fromRecord, err := o.Probe.FromRecord(op.Params)
	if err != nil {
		return err
	}
	// in flight or interrupted: the strategy carries it on under the probe
	carriedOn := op.InFlight() || op.Result == state.ResultInterrupted
	if fromRecord && carriedOn && env.Confirm != nil {
		// a record is written by anyone who may patch the object: the URL
		// it makes this run request is confirmed like an analysis' URLs
		if err := env.Confirm(strategies.Confirmation{Object: o.Kind + " " + t.Ref(), URLs: []string{"probe " + o.Probe.ProbeURL()}}); err != nil {
			return err
		}
	}
	if carriedOn {
		if env.Tripwire, err = o.Probe.Start(ctx, env.Log); err != nil {
			return err
		}
	}
	err = r.Resume(ctx, env, t, op)
	if o.Kind == "deployment" {
		o.Probe.settle(ctx, o.Out, o.Client, o.Namespace, o.Name)
	}
	if rep := o.Probe.Stop(); rep != nil {
		printRequests(env.Log, rep)
		if exitcode.Of(err) == exitcode.Usage {
			// the strategy did not take the operation on (nothing was
			// changed): the operation's own figures stay
			return err
		}
		recordRequests(ctx, o.ErrOut, o.Kind+" "+t.Ref(), op.ID, rep, func(ctx context.Context, b []byte) error {
			_, perr := o.Dynamic.Resource(gvr).Namespace(o.Namespace).Patch(ctx, o.Name, types.MergePatchType, b, metav1.PatchOptions{FieldManager: kube.FieldManager})
			return perr
		})
		if err == nil && !rep.Within() {
			err = budgetError(fmt.Sprintf("%s %q resumed, but", o.Kind, t.Ref()), rep)
		}
	}
	return err
}
