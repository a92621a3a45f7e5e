package plugin

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/canary"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

const canaryLong = `Release a new version of a Deployment to a share of its traffic, then widen
the share step by step, or pull it back.

kubectl zdd canary creates NAME-canary, a copy of the Deployment with the new
images (--image) or the pod template of a file (-f), whose pods carry a track
label (track=canary, --track-label) and are selected by the same Service.

Without --traffic-router the traffic is split by replica ratio: with N stable
replicas, weight w gives the canary ceil(N*w/100) replicas (at least 1) and the
stable N minus that. With a router the weight is exact and the canary still
gets the replicas for its share: gateway-api --route sets the weights of an
HTTPRoute's backendRefs, istio --virtual-service those of a VirtualService,
smi --traffic-split those of a TrafficSplit, nginx --ingress adds an Ingress
NAME-canary with the nginx canary annotations, linkerd --route sets the
weights of the HTTPRoute attached to the Service that Linkerd's proxies read:
a Gateway API HTTPRoute whose parentRef is the Service (GAMMA) or a
policy.linkerd.io HTTPRoute (--route GROUP/NAME picks one when both APIs hold
that name). The Services SERVICE-stable and
SERVICE-canary are created when absent. The stable Deployment is not
relabelled (its selector is immutable and a template change would restart it):
SERVICE-stable selects the pod-template-hash of its current ReplicaSet.

Capacity never drops below N ready pods: the side that grows is Ready before
the other side shrinks. At each step the effective weight is printed: ready
canary pods over all ready pods behind the Service.

--steps walks several weights with --pause between them (one, or one per
step), running --analysis during each pause; a failing analysis aborts (exit
1). When the last step is 100 the release is finished: the stable Deployment
is rolled to the canary's pod template (maxUnavailable 0) and the canary
removed. --weight, or --manual, holds after the step and exits 0;
'kubectl zdd canary promote' moves on, 'promote --full' finishes, and
'kubectl zdd canary abort' brings the stable back to N, Ready, then the canary
to 0.

A stable Deployment that Argo CD or Flux manages is named before the release
(--gitops=warn, the default; refuse stops with exit 2 before any write): its
next sync reverts the replicas the steps set and the finished release's pod
template. When the stable takes the new template (the last step 100, or
'promote --full') the change to commit is printed as a patch, and
--write-back FILE sets the new images in a manifest or kustomization.

Ctrl-C (SIGINT, or SIGTERM) does not abort: the step in progress is finished
to a consistent state (the side that grows Ready before the other shrinks, a
router's weight only on a side with ready pods), a pause or an analysis is
cut short, the phase is recorded with the result "interrupted", the lease is
released and the command exits 3: run 'kubectl zdd resume deployment/NAME'
to carry on from that step, or 'kubectl zdd abort deployment/NAME' to go back
to the stable at full size. --deadline is different: a release that runs out
of time is aborted (stable back to N, Ready, canary to 0) and exits 1, as a
failing analysis is, since nobody may be watching it. --timeout, as in
rollout and blue-green, bounds each wait (a Deployment becoming Ready, the
Service's endpoints reaching a step's split); a step whose wait runs out is
pulled back too.

Every write carries the resourceVersion kubectl zdd last saw. When another
writer changed what the canary manages (the replicas it set on either
Deployment, the canary's pod template, the selectors of the Service and of
SERVICE-stable/SERVICE-canary, a router's weights: gateway-api, istio, smi,
linkerd, or the nginx canary-weight), the release stops with exit 1 without overwriting
it, naming the object, the field and the writer; the phase stays recorded
(result failed) for 'kubectl zdd resume' or 'kubectl zdd abort'. A change to
anything else (an annotation, a label, the status) is read again and the write
retried.`

const canaryExample = `  # Send about 10% of the traffic to the new image by replica ratio
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --weight 10

  # Walk 10, 30, 50, 100 with an hour between steps, judged by an analysis
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --steps 10,30,50,100 --pause 1h --analysis analysis.yaml

  # Exact weights through a Gateway API HTTPRoute, promoted by hand
  kubectl zdd canary deployment/web -f web-v2.yaml --steps 5,25,50,100 --manual --traffic-router gateway-api --route web
  kubectl zdd canary promote deployment/web
  kubectl zdd canary promote deployment/web --full
  kubectl zdd canary abort deployment/web

  # The plan of every step (replicas of both sides, weights, the Services it
  # creates); server also has the API server check each write (dryRun=All)
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --steps 10,50,100 --dry-run=server

  # Exact weights on a Linkerd mesh: the HTTPRoute attached to Service web
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --steps 10,50,100 --traffic-router linkerd --route web
  kubectl zdd canary deployment/web --image app=registry.example/web:v2 --weight 20 --traffic-router linkerd --route policy.linkerd.io/web`

// CanaryOptions are the flags of `kubectl zdd canary`.
type CanaryOptions struct {
	Images        []string
	Filenames     []string
	Weight        int
	Steps         string
	Pause         string
	Manual        bool
	Analysis      string
	TrackLabel    string
	Service       string
	TrafficRouter string
	Route         string
	Virtual       string
	TrafficSplit  string
	Ingress       string
	Timeout       time.Duration
	Deadline      time.Duration
	ForceUnlock   bool
	// DryRun is none, client (print the plan) or server (the writes are
	// also sent with dryRun=All).
	DryRun string
	GitOpsFlags
	// Probe is --probe URL and its settings.
	Probe *ReleaseProbe
	// Report is --report FILE.html, --ascii, and the picture at the end.
	Report *ReleaseReport
	// Fix applies lint's mechanical fixes to the canary's pod template;
	// Force goes on despite error findings of the preflight.
	Fix, Force bool
	releaseOutput

	Namespace string
	Name      string
	config    canary.Config
	spec      *analysis.Spec
	// Runner is swapped by tests.
	Runner func() (*canary.Canary, error)
	genericiooptions.IOStreams
}

// NewCanaryOptions returns options with defaults set.
func NewCanaryOptions(streams genericiooptions.IOStreams) *CanaryOptions {
	return &CanaryOptions{Weight: -1, Pause: "0", TrackLabel: "track=canary", TrafficRouter: traffic.RouterReplicaRatio, Timeout: canaryWaitTimeout, Deadline: canaryDeadlineDefault, DryRun: "none", Probe: NewReleaseProbe(), Report: NewReleaseReport(), IOStreams: streams}
}

// NewCmdCanary builds `kubectl zdd canary` and its promote and abort subcommands.
func NewCmdCanary(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCanaryOptions(streams)
	cmd := &cobra.Command{
		Use:     "canary deployment/NAME (--image CONTAINER=IMAGE... | -f FILE) (--weight W | --steps W1,W2,...)",
		Short:   "Release a new version to a share of the traffic, step by step",
		Long:    canaryLong,
		Example: canaryExample,
		Args:    cobra.MaximumNArgs(1),
		RunE:    runSteps(f, o),
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Images, "image", nil, "CONTAINER=IMAGE for the canary (repeatable)")
	fl.StringSliceVarP(&o.Filenames, "filename", "f", nil, "a manifest of the Deployment whose pod template the canary runs")
	fl.IntVar(&o.Weight, "weight", o.Weight, "one canary weight in percent (0..100); the canary holds there")
	fl.StringVar(&o.Steps, "steps", "", "canary weights in percent, increasing, e.g. 10,30,50,100")
	fl.StringVar(&o.Pause, "pause", o.Pause, "pause after each step (one duration, or one per step: 1m,5m,0)")
	fl.BoolVar(&o.Manual, "manual", false, "hold after each step until 'kubectl zdd canary promote' (needs --pause 0)")
	fl.StringVar(&o.Analysis, "analysis", "", "an analysis file run during each pause; a failing verdict aborts")
	fl.StringVar(&o.TrackLabel, "track-label", o.TrackLabel, "KEY[=VALUE] label of the canary's pods")
	fl.StringVar(&o.Service, "service", "", "the Service in front of the Deployment (found from its pod labels when unset)")
	fl.StringVar(&o.TrafficRouter, "traffic-router", o.TrafficRouter, "how traffic is split: "+strings.Join(traffic.RouterKinds, ", "))
	fl.StringVar(&o.Route, "route", "", "the HTTPRoute of --traffic-router gateway-api, or linkerd (NAME or GROUP/NAME)")
	fl.StringVar(&o.Virtual, "virtual-service", "", "the VirtualService of --traffic-router istio")
	fl.StringVar(&o.TrafficSplit, "traffic-split", "", "the TrafficSplit of --traffic-router smi")
	fl.StringVar(&o.Ingress, "ingress", "", "the Ingress of --traffic-router nginx")
	addCanaryCommonFlags(cmd, &o.Timeout, &o.Deadline, &o.ForceUnlock)
	o.GitOpsFlags.addFlags(cmd, true)
	o.Probe.AddFlags(fl)
	o.Report.AddFlags(fl)
	fl.BoolVar(&o.Fix, "fix", o.Fix, "Apply lint's mechanical fixes (preStop sleep, grace period, readiness from liveness) to the canary's pod template")
	fl.BoolVar(&o.Force, "force", o.Force, "Go on despite error-level preflight findings")
	o.releaseOutput.addFlag(cmd)
	addDryRunFlag(cmd, &o.DryRun)
	cmd.AddCommand(newCmdCanaryPromote(f, streams), newCmdCanaryAbort(f, streams))
	return cmd
}

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

// Complete reads the Deployment, the namespace and the files; the Runner
// builds the clients in Run.
func (o *CanaryOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if len(args) == 1 {
		if o.Name, err = parseName(cmd, canaryArg, args[0]); err != nil {
			return err
		}
	}
	if o.Name == "" && len(o.Filenames) == 0 {
		return missingTarget(cmd, canaryArg, " (or -f FILE)")
	}
	ns, _, err := namespaceOf(f)
	if err != nil {
		return err
	}
	o.Namespace = ns
	if len(o.Filenames) > 0 {
		var objs []*appsv1.Deployment
		for _, fn := range o.Filenames {
			us, err := kube.LoadObjects(fn, o.In, ns)
			if err != nil {
				return err
			}
			for _, u := range us {
				if u.GetKind() != "Deployment" {
					continue
				}
				d := &appsv1.Deployment{}
				if err := kube.ToTyped(u, d); err != nil {
					return exitcode.Usagef("reading %s: %w", fn, err)
				}
				objs = append(objs, d)
			}
		}
		if len(objs) != 1 {
			return usageErrorf(cmd, "-f %s: want exactly one Deployment, found %d", strings.Join(o.Filenames, ","), len(objs))
		}
		d := objs[0]
		switch {
		case o.Name == "":
			o.Name = d.Name
		case d.Name != o.Name:
			return usageErrorf(cmd, "-f %s holds deployment %q, not %q", strings.Join(o.Filenames, ","), d.Name, o.Name)
		}
		if d.Namespace != "" && d.Namespace != ns {
			return usageErrorf(cmd, "-f %s holds deployment %q in namespace %q, not %q", strings.Join(o.Filenames, ","), d.Name, d.Namespace, ns)
		}
		o.config.Template = &d.Spec.Template
	}
	if o.Name == "" {
		return usageErrorf(cmd, "name the deployment: deployment/NAME (or -f FILE)")
	}
	if o.Runner == nil {
		o.Runner = canaryRunner(f, o.IOStreams)
	}
	return nil
}

// Validate checks the flags without contacting the cluster.
func (o *CanaryOptions) Validate(cmd *cobra.Command) error {
	if err := validateDryRun(cmd, o.DryRun); err != nil {
		return err
	}
	if err := o.Probe.Validate(cmd); err != nil {
		return err
	}
	if err := o.releaseOutput.validate(cmd); err != nil {
		return err
	}
	if err := o.Report.Validate(cmd); err != nil {
		return err
	}
	c := &o.config
	c.Namespace, c.Name = o.Namespace, o.Name
	weightSet := flagChanged(cmd.Flags(), "weight")
	switch {
	case weightSet && o.Steps != "":
		return usageErrorf(cmd, "--weight and --steps cannot be used together")
	case weightSet:
		if err := traffic.ValidateWeight(o.Weight); err != nil {
			return usageErrorf(cmd, "--weight: %v", err)
		}
		c.Steps, c.Hold = []int{o.Weight}, true
	case o.Steps != "":
		steps, err := canary.ParseSteps(o.Steps)
		if err != nil {
			return usageErrorf(cmd, "--steps %q: %v", o.Steps, err)
		}
		c.Steps = steps
	default:
		return usageErrorf(cmd, "give --weight W or --steps W1,W2,...")
	}
	if len(o.Images) == 0 && c.Template == nil {
		return usageErrorf(cmd, "give the new version: --image CONTAINER=IMAGE or -f FILE")
	}
	if len(o.Images) > 0 {
		images, err := kube.ParseImageFlags(o.Images)
		if err != nil {
			return usageErrorf(cmd, "%v", err)
		}
		c.Images = images
	}
	pauses, err := canary.ParsePauses(o.Pause, len(c.Steps))
	if err != nil {
		return usageErrorf(cmd, "--pause %q: %v", o.Pause, err)
	}
	c.Pauses = pauses
	if o.Manual {
		for _, p := range pauses {
			if p != 0 {
				return usageErrorf(cmd, "--manual waits for 'kubectl zdd canary promote' between steps: use it with --pause 0")
			}
		}
	}
	c.Manual = o.Manual
	key, val, hasVal := strings.Cut(o.TrackLabel, "=")
	if !hasVal {
		val = "canary"
	}
	if key == "" || val == "" || strings.ContainsAny(key+val, " ,") {
		return usageErrorf(cmd, "--track-label %q: want KEY or KEY=VALUE", o.TrackLabel)
	}
	c.TrackKey, c.TrackValue = key, val
	c.Service = o.Service
	objects := map[string]string{traffic.RouterGatewayAPI: o.Route, traffic.RouterIstio: o.Virtual, traffic.RouterSMI: o.TrafficSplit, traffic.RouterNGINX: o.Ingress, traffic.RouterLinkerd: o.Route}
	known := false
	for _, k := range traffic.RouterKinds {
		known = known || k == o.TrafficRouter
	}
	if !known {
		return usageErrorf(cmd, "--traffic-router %q: want one of %s", o.TrafficRouter, strings.Join(traffic.RouterKinds, ", "))
	}
	for kind, obj := range objects {
		flag := traffic.RouterObjectFlag[kind]
		if kind == o.TrafficRouter && obj == "" {
			return usageErrorf(cmd, "--traffic-router %s needs --%s NAME", kind, flag)
		}
		if obj != "" && flag != traffic.RouterObjectFlag[o.TrafficRouter] {
			return usageErrorf(cmd, "--%s belongs to --traffic-router %s, not %s", flag, routersOfFlag(flag), o.TrafficRouter)
		}
	}
	c.RouterKind, c.RouterObject = o.TrafficRouter, objects[o.TrafficRouter]
	if err := validateCanaryTimeout(cmd, o.Timeout, o.Deadline); err != nil {
		return err
	}
	c.Timeout = o.Timeout
	if o.Analysis != "" {
		spec, err := analysis.LoadFile(o.Analysis)
		if err != nil {
			return err
		}
		o.spec = spec
		c.AnalysisFile = o.Analysis
		c.AnalysisSpec = spec
	}
	c.ForceUnlock = o.ForceUnlock
	if o.DryRun != "none" {
		c.DryRun = o.DryRun
	}
	return nil
}

// routersOfFlag names the --traffic-router kinds whose object flag is flag:
// "gateway-api or linkerd".
func routersOfFlag(flag string) string {
	var kinds []string
	for _, k := range traffic.RouterKinds {
		if traffic.RouterObjectFlag[k] == flag {
			kinds = append(kinds, k)
		}
	}
	return strings.Join(kinds, " or ")
}

// canaryDeadline is the context of canary abort: the caller's (main's,
// which Ctrl-C ends) with --deadline.
func canaryDeadline(ctx context.Context, deadline time.Duration) (context.Context, func()) {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithTimeout(ctx, deadline)
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

func canaryAnalyzer(r *canary.Canary, spec *analysis.Spec, streams genericiooptions.IOStreams) analysis.Analyzer {
	r.Out = fitTerminal(streams.Out)
	return r.AnalyzerFor(spec)
}

// Run starts the canary release.
func (o *CanaryOptions) Run(ctx context.Context) error {
	if err := o.GitOpsFlags.validate(o.config.Namespace, o.config.Name); err != nil {
		return err
	}
	ctx, interrupt, cancel := canaryInterruptible(ctx, o.Deadline)
	defer cancel()
	r, err := o.Runner()
	if err != nil {
		return err
	}
	streams := o.IOStreams
	streams.Out = o.log(o.Out, o.ErrOut)
	if o.DryRun != "none" {
		r.Analysis = canaryAnalyzer(r, o.spec, o.IOStreams)
		plan, err := r.DryRun(ctx, o.config)
		if err != nil {
			return err
		}
		plan.Print(o.Out)
		return plan.Err()
	}
	before, targets := deploymentTarget(ctx, r.Client, o.config.Namespace, o.config.Name, "its replicas (scaled during the steps) and, when the release finishes, its pod template (the new images)")
	managed, err := o.GitOpsFlags.preflight(o.ErrOut, targets)
	if err != nil {
		return err
	}
	r.Interrupt = interrupt
	r.Analysis = canaryAnalyzer(r, o.spec, streams)
	if o.config.Params, err = o.Probe.Params(); err != nil {
		return err
	}
	// the preflight of the pod template the canary runs, before any write
	// (a stable that cannot be read, or an unknown container, is the
	// release's own error)
	if stable, gerr := r.Client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{}); gerr == nil {
		tmpl := stable.Spec.Template.DeepCopy()
		if o.config.Template != nil {
			tmpl = o.config.Template.DeepCopy()
		}
		if kube.SetImages(&tmpl.Spec, o.config.Images) == nil {
			fixed, changes, err := templatePreflight(ctx, fitTerminal(streams.Out), r.Client, stable, tmpl, o.Fix, o.Force)
			if err != nil {
				return err
			}
			if o.Fix {
				if o.config.Params, err = recordFixes(o.config.Params, changes); err != nil {
					return err
				}
			}
			if len(changes) > 0 {
				o.config.Template, o.config.Images = fixed, nil
			}
		}
	}
	end := releaseEnd{Client: r.Client, Kind: "deployment", Namespace: o.Namespace, Name: o.Name, Base: o.Name, Probe: o.Probe, Out: streams.Out, ErrOut: o.ErrOut, JSON: o.json()}
	err = o.Report.run(ctx, end, func(ev strategies.Events) { r.Events = ev }, func() error {
		return o.Probe.runProbed(ctx, streams.Out, o.ErrOut, r.Client, "deployment", o.Namespace, o.Name, true, func(tw strategies.Tripwire) error {
			r.Tripwire = tw
			_, err := r.Run(ctx, o.config)
			return err
		})
	})
	if err == nil {
		// a release whose last step was 100 finished: the stable took the new template
		err = o.GitOpsFlags.releaseEnd(ctx, streams.Out, r.Client, before, managed)
	}
	if o.json() {
		if jerr := printReleaseJSON(ctx, o.Out, r.Client, "deployment", o.Namespace, o.Name, o.Probe.Stop(), err); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

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
