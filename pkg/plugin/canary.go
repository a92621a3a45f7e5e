package plugin

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/canary"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

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
