package plugin

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
)

const blueGreenLong = `Blue-green releases of a Deployment behind a Service.

A Service selects "app: X, <colour-label>: <colour>" (label "version", colours
blue and green by default). Each colour is a Deployment <base>-<colour> whose
selector and pods carry the colour; the live colour is the one in the Service
selector, and exactly one Deployment must serve it.

The new colour is brought up beside the live one and checked before it gets a
single request (a preview Service <NAME>-preview selects it for smoke tests).
The switch is one patch of the Service selector, guarded: the new colour must
have at least as many ready pods as the live one (or --min-ready), checked
right before the patch, and the patch carries the Service's resourceVersion so
a concurrent change fails the switch instead of being overwritten. The old
colour is retired only after the Service's endpoints list nothing but the new
colour's ready pods, the post-switch analysis passed and --scale-down-delay
ran out; a failing post-switch analysis switches straight back.

What each command was asked (the new pod template and replicas, colours,
analyses, delays) is recorded on the Service from its first step. Ctrl-C
(or SIGTERM) finishes the API write in progress (a switch of several
Services is all or none), records the step with result "interrupted",
releases the Lease and exits 3: 'kubectl zdd resume service/NAME' carries
the operation on (analyses run again, the rest of a delay is waited) and
'kubectl zdd abort service/NAME' goes back to the colour that was live.
A change by someone else to a Service selector or to the new colour's
Deployment stops the operation, naming it; other changes to a Service (an
annotation, a label) are read again and the switch retried.`

// BlueGreenFlags are the flags every bluegreen subcommand shares.
type BlueGreenFlags struct {
	ColorLabel  string
	Colors      []string
	Services    []string
	Timeout     time.Duration
	ForceUnlock bool
	// DryRun is none, client (print the plan) or server (its writes are
	// also sent with dryRun=All); the commands that change something.
	DryRun string
	// factory builds the Runner's clients in Run (connect)
	factory Factory
	// config is the operation's Config: completeRunner starts it from
	// these flags, each subcommand's Complete adds its own.
	config bluegreen.Config
}

// connect builds the clients of r from the kubeconfig (Run's first step).
func (b *BlueGreenFlags) connect(r *bluegreen.Runner) error {
	return connect(b.factory, &r.Client, &r.Dynamic)
}

// NewBlueGreenFlags returns the defaults.
func NewBlueGreenFlags() *BlueGreenFlags {
	c := bluegreen.DefaultColours()
	return &BlueGreenFlags{ColorLabel: c.Label, Colors: []string{c.Names[0], c.Names[1]}, Timeout: 10 * time.Minute, DryRun: "none"}
}

// AddFlags registers the shared flags on cmd.
func (b *BlueGreenFlags) AddFlags(cmd *cobra.Command, mutating bool) {
	cmd.Flags().StringVar(&b.ColorLabel, "color-label", b.ColorLabel, "The pod label that carries the colour")
	cmd.Flags().StringSliceVar(&b.Colors, "colors", b.Colors, "The two colours, comma-separated")
	cmd.Flags().StringArrayVar(&b.Services, "service", b.Services, "Another Service to switch together with NAME (repeatable); Services with the same app selector and the colour label are switched too")
	if mutating {
		cmd.Flags().DurationVar(&b.Timeout, "timeout", b.Timeout, "How long to wait for each step: a colour becoming ready, endpoints converging")
		cmd.Flags().BoolVar(&b.ForceUnlock, "force-unlock", b.ForceUnlock, "Take the Service's Lease even if another run holds it")
		addDryRunFlag(cmd, &b.DryRun)
	}
}

// Validate checks the shared flags.
func (b *BlueGreenFlags) Validate(cmd *cobra.Command) error {
	if err := validateDryRun(cmd, b.DryRun); err != nil {
		return err
	}
	if len(b.Colors) != 2 {
		return usageErrorf(cmd, "--colors %q: want exactly two colours, e.g. blue,green", strings.Join(b.Colors, ","))
	}
	if err := b.colours().Validate(); err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	if b.Timeout <= 0 {
		return usageErrorf(cmd, "--timeout %s: must be positive", b.Timeout)
	}
	for _, s := range b.Services {
		if s == "" {
			return usageErrorf(cmd, "--service: empty name")
		}
	}
	return nil
}

func (b *BlueGreenFlags) colours() bluegreen.Colours {
	c := bluegreen.Colours{Label: b.ColorLabel}
	copy(c.Names[:], b.Colors)
	return c
}

// completeRunner reads the service/NAME argument and resolves the namespace
// into the operation's Config (b.config) and a Runner (the output and the
// hooks; its clients are built in Run): the Complete step every bluegreen
// subcommand shares.
func completeRunner(f Factory, cmd *cobra.Command, streams genericiooptions.IOStreams, b *BlueGreenFlags, arg string) (*bluegreen.Runner, error) {
	service, err := parseName(cmd, serviceArg, arg)
	if err != nil {
		return nil, err
	}
	ns, _, err := namespaceOf(f)
	if err != nil {
		return nil, err
	}
	b.factory = f
	b.config = bluegreen.Config{Namespace: ns, Service: service, Services: b.Services, Colours: b.colours(), Timeout: b.Timeout, ForceUnlock: b.ForceUnlock}
	if b.DryRun != "none" {
		b.config.DryRun = b.DryRun
	}
	return &bluegreen.Runner{Out: fitTerminal(streams.Out), BeforePatch: switchPauseHook()}, nil
}

// validateMinReady checks the --min-ready flag of the subcommands that switch.
func validateMinReady(cmd *cobra.Command, minReady int32) error {
	if minReady < 0 {
		return usageErrorf(cmd, "--min-ready %d: must not be negative", minReady)
	}
	return nil
}

// loadAnalysis reads an analysis file (nil for ""). The spec is recorded
// with the operation, so resume runs it again.
func loadAnalysis(cmd *cobra.Command, flag, path string) (*analysis.Spec, error) {
	if path == "" {
		return nil, nil
	}
	spec, err := analysis.LoadFile(path)
	if err != nil {
		if exitcode.Of(err) == exitcode.Usage {
			return nil, err
		}
		return nil, usageErrorf(cmd, "--%s %q: %v", flag, path, err)
	}
	return spec, nil
}

// NewCmdBlueGreen builds `kubectl zdd bluegreen` and its subcommands.
func NewCmdBlueGreen(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "bluegreen",
		Aliases: []string{"bg"},
		Short:   "Blue-green releases: a new colour beside the old, a guarded selector switch, instant rollback",
		Long:    blueGreenLong,
		Example: `  # turn a Deployment and its Service into blue-green, with no dip
  kubectl zdd bluegreen init service/web

  # bring up the idle colour with a new image, check it, switch
  kubectl zdd bluegreen deploy service/web --image web=registry.example/web:1.2 --analysis analysis.yaml

  # switch back to the previous colour
  kubectl zdd bluegreen rollback service/web

  kubectl zdd bluegreen status service/web`,
		Run: func(c *cobra.Command, _ []string) {
			c.SetOut(streams.Out)
			_ = c.Help()
		},
	}
	cmd.AddCommand(
		NewCmdBlueGreenInit(f, streams),
		NewCmdBlueGreenDeploy(f, streams),
		NewCmdBlueGreenPromote(f, streams),
		NewCmdBlueGreenRollback(f, streams),
		NewCmdBlueGreenStatus(f, streams),
	)
	return cmd
}

// dryRun prints the plan of operation when --dry-run is client or server
// (the Config's DryRun); done says whether it did (the operation is then
// not run).
func (b *BlueGreenFlags) dryRun(ctx context.Context, out io.Writer, r *bluegreen.Runner, operation string) (done bool, err error) {
	if b.config.DryRun == "" {
		return false, nil
	}
	plan, err := r.Plan(ctx, operation, b.config)
	if err != nil {
		return true, err
	}
	plan.Print(out)
	return true, plan.Err()
}
