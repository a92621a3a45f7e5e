package plugin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
)

// BlueGreenDeployOptions drive `kubectl zdd bluegreen deploy`.
type BlueGreenDeployOptions struct {
	*BlueGreenFlags
	Images         []string
	Filenames      []string
	Analysis       string
	PreAnalysis    string
	ManualPromote  bool
	ScaleDownDelay time.Duration
	DeleteOld      bool
	Replicas       int32
	MinReady       int32
	MaxRestarts    int32
	// Fix applies lint's mechanical fixes to the new colour's pod
	// template; Force goes on despite error findings of the preflight.
	Fix, Force bool
	releaseOutput
	GitOpsFlags

	Runner *bluegreen.Runner
	// Probe is --probe URL and its settings.
	Probe *ReleaseProbe
	// Report is --report FILE.html, --ascii, and the picture at the end.
	Report *ReleaseReport
	genericiooptions.IOStreams
}

// NewBlueGreenDeployOptions returns options with defaults set.
func NewBlueGreenDeployOptions(streams genericiooptions.IOStreams) *BlueGreenDeployOptions {
	return &BlueGreenDeployOptions{BlueGreenFlags: NewBlueGreenFlags(), Probe: NewReleaseProbe(), Report: NewReleaseReport(), Replicas: -1, MaxRestarts: 3, IOStreams: streams}
}

// NewCmdBlueGreenDeploy builds `kubectl zdd bluegreen deploy`.
func NewCmdBlueGreenDeploy(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewBlueGreenDeployOptions(streams)
	cmd := &cobra.Command{
		Use:   "deploy service/NAME (--image CONTAINER=IMAGE... | -f FILE)",
		Short: "Bring up the idle colour with a new version, check it, and switch the Service to it",
		Long: `Create or update the idle colour's Deployment from the live one's spec with the
new images (or the pod template of the Deployment in -f), at the live replica
count (or --replicas); wait until every replica is ready and available; point
the preview Service NAME-preview at it; run the --pre-analysis; then switch the
Service (unless --manual-promote), wait until its endpoints list only the new
colour's ready pods, run the --analysis, and retire the old colour once it
passed and --scale-down-delay ran out. A failing post-switch analysis switches
straight back and exits 1.`,
		Example: `  kubectl zdd bluegreen deploy service/web --image web=registry.example/web:1.2
  kubectl zdd bluegreen deploy service/web -f web.yaml --pre-analysis smoke.yaml --analysis slo.yaml --scale-down-delay 5m
  kubectl zdd bluegreen deploy service/web --image web=registry.example/web:1.2 --manual-promote`,
		Args: cobra.ExactArgs(1),
		RunE: runSteps(f, o),
	}
	o.AddFlags(cmd, true)
	cmd.Flags().StringArrayVar(&o.Images, "image", o.Images, "CONTAINER=IMAGE to set in the new colour (repeatable)")
	cmd.Flags().StringSliceVarP(&o.Filenames, "filename", "f", o.Filenames, "A Deployment manifest whose pod template the new colour takes")
	cmd.Flags().StringVar(&o.Analysis, "analysis", o.Analysis, "Analysis file run after the switch; failure switches back")
	cmd.Flags().StringVar(&o.PreAnalysis, "pre-analysis", o.PreAnalysis, "Analysis file run against the idle colour before the switch")
	cmd.Flags().BoolVar(&o.ManualPromote, "manual-promote", o.ManualPromote, "Stop before the switch; run 'kubectl zdd bluegreen promote' to switch")
	cmd.Flags().DurationVar(&o.ScaleDownDelay, "scale-down-delay", o.ScaleDownDelay, "How long the old colour stays up after a passing post-switch analysis")
	cmd.Flags().BoolVar(&o.DeleteOld, "delete-old", o.DeleteOld, "Delete the old colour's Deployment instead of scaling it to 0")
	cmd.Flags().Int32Var(&o.Replicas, "replicas", o.Replicas, "Replicas of the new colour (default: the live colour's)")
	cmd.Flags().Int32Var(&o.MaxRestarts, "max-restarts", o.MaxRestarts, "Container restarts of a new pod above which the new colour is judged broken (no switch)")
	cmd.Flags().Int32Var(&o.MinReady, "min-ready", o.MinReady, "Ready pods the new colour needs before the switch (default: as many as the live colour has ready)")
	cmd.Flags().BoolVar(&o.Fix, "fix", o.Fix, "Apply lint's mechanical fixes (preStop sleep, grace period, readiness from liveness) to the new colour's pod template")
	cmd.Flags().BoolVar(&o.Force, "force", o.Force, "Go on despite error-level preflight findings")
	o.releaseOutput.addFlag(cmd)
	o.GitOpsFlags.addFlags(cmd, true)
	o.Probe.AddFlags(cmd.Flags())
	o.Report.AddFlags(cmd.Flags())
	return cmd
}

// Complete resolves the Service, the clients, the manifest and the analysis files.
func (o *BlueGreenDeployOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if o.Runner, err = completeRunner(f, cmd, o.IOStreams, o.BlueGreenFlags, args[0]); err != nil {
		return err
	}
	if len(o.Images) > 0 {
		images, err := kube.ParseImageFlags(o.Images)
		if err != nil {
			return usageErrorf(cmd, "%v", err)
		}
		o.config.Images = images
	}
	if len(o.Filenames) > 0 && len(o.Images) == 0 {
		d, err := readDeployment(f, o.Filenames)
		if err != nil {
			return usageErrorf(cmd, "%v", err)
		}
		o.config.Template = &d.Spec.Template
	}
	if o.config.PreAnalysisSpec, err = loadAnalysis(cmd, "pre-analysis", o.PreAnalysis); err != nil {
		return err
	}
	if o.config.AnalysisSpec, err = loadAnalysis(cmd, "analysis", o.Analysis); err != nil {
		return err
	}
	o.config.ManualPromote = o.ManualPromote
	o.config.ScaleDownDelay = o.ScaleDownDelay
	o.config.DeleteOld = o.DeleteOld
	o.config.MinReady = o.MinReady
	o.config.MaxRestarts = o.MaxRestarts
	if o.Replicas >= 0 {
		r := o.Replicas
		o.config.Replicas = &r
	}
	return nil
}

// Validate checks the flags; it changes nothing.
func (o *BlueGreenDeployOptions) Validate(cmd *cobra.Command) error {
	if err := o.BlueGreenFlags.Validate(cmd); err != nil {
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
	switch {
	case len(o.Images) > 0 && len(o.Filenames) > 0:
		return usageErrorf(cmd, "give either --image or -f, not both")
	case len(o.Images) == 0 && len(o.Filenames) == 0:
		return usageErrorf(cmd, "nothing to deploy: give --image CONTAINER=IMAGE or -f FILE")
	case flagChanged(cmd.Flags(), "replicas") && o.Replicas < 1:
		return usageErrorf(cmd, "--replicas %d: must be at least 1", o.Replicas)
	case o.MaxRestarts < 0:
		return usageErrorf(cmd, "--max-restarts %d: must be 0 or more", o.MaxRestarts)
	case o.MinReady < 0:
		return usageErrorf(cmd, "--min-ready %d: must not be negative", o.MinReady)
	case o.ScaleDownDelay < 0:
		return usageErrorf(cmd, "--scale-down-delay %s: must not be negative", o.ScaleDownDelay)
	case o.ManualPromote && (o.Analysis != "" || flagChanged(cmd.Flags(), "scale-down-delay") || o.DeleteOld):
		return usageErrorf(cmd, "--manual-promote stops before the switch: give --analysis, --scale-down-delay and --delete-old to 'kubectl zdd bluegreen promote' instead")
	}
	return o.GitOpsFlags.validate("", "")
}

// Run deploys the new colour and switches.
func (o *BlueGreenDeployOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := o.BlueGreenFlags.connect(o.Runner); err != nil {
		return err
	}
	if done, err := o.BlueGreenFlags.dryRun(ctx, o.Out, o.Runner, bluegreen.OperationDeploy); done {
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
		// the file must hold the colour this deploy writes (exit 2 before any write)
		if err := gitops.CheckFile(o.WriteBack, o.config.Namespace, change.before.Name); err != nil {
			return err
		}
	}
	streams := o.IOStreams
	streams.Out = o.log(o.Out, o.ErrOut)
	o.Runner.Out = fitTerminal(streams.Out)
	if err := o.preflight(fitTerminal(streams.Out), snap); err != nil {
		return err
	}
	o.Runner.Prefetched = snap
	err = o.Probe.runBlueGreen(ctx, streams, o.Report, o.json(), o.Runner, o.config, o.Runner.Deploy)
	if err == nil {
		err = o.GitOpsFlags.blueGreenCommit(ctx, streams.Out, o.Runner.Client, change, managed)
	}
	if o.json() {
		if jerr := printReleaseJSON(ctx, o.Out, o.Runner.Client, "service", o.config.Namespace, o.config.Service, o.Probe.Stop(), err); jerr != nil && err == nil {
			err = jerr
		}
	}
	return err
}

// preflight judges the new colour's pod template behind the Services as
// they will be after the switch, before any write: with --fix the new
// colour gets lint's mechanical fixes (each printed and recorded); an error
// finding left stops the deploy (exit 2) unless --force. A Service or
// colour that could not be read (snap nil) is left to the deploy, which
// names it.
func (o *BlueGreenDeployOptions) preflight(log io.Writer, snap *bluegreen.Snapshot) error {
	c := &o.config
	if snap == nil {
		return nil
	}
	nc, err := o.Runner.PreviewDeploy(*c, snap)
	if err != nil {
		return nil
	}
	key := c.Namespace + "/" + c.Service
	rel := templateRelease{kind: "service", ref: key, what: fmt.Sprintf("the pod template of colour %s of service %q", nc.Colour, key)}
	fixed, changes, err := preflightTemplate(log, nc.Base, nc.Template, nc.Services, rel, o.Fix, o.Force)
	if err != nil {
		return err
	}
	if !o.Fix {
		return nil
	}
	if c.Params, err = recordFixes(c.Params, changes); err != nil {
		return err
	}
	if len(changes) == 0 {
		fmt.Fprintf(log, "fix: service %q: nothing to fix in the pod template of colour %s\n", key, nc.Colour)
		return nil
	}
	c.Template, c.Images = fixed, nil
	return nil
}

// runBlueGreen runs a blue-green operation that can be undone (deploy,
// promote) with the probe around it: its settings recorded, its budget the
// runner's tripwire.
func (rp *ReleaseProbe) runBlueGreen(ctx context.Context, streams genericiooptions.IOStreams, rr *ReleaseReport, json bool, r *bluegreen.Runner, cfg bluegreen.Config, op func(context.Context, bluegreen.Config) (*bluegreen.Result, error)) error {
	params, err := rp.Params()
	if err != nil {
		return err
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	maps.Copy(cfg.Params, params)
	return rr.run(ctx, blueGreenEnd(r, cfg, rp, streams, json), func(ev strategies.Events) { r.Events = ev }, func() error {
		return rp.runProbed(ctx, streams.Out, streams.ErrOut, r.Client, "service", cfg.Namespace, cfg.Service, true, func(tw strategies.Tripwire) error {
			r.Tripwire = tw
			_, err := op(ctx, cfg)
			return err
		})
	})
}

// blueGreenEnd is where a blue-green operation's picture goes: the
// Service's record, its endpoint watch, the colours named after the
// Service (web-green is "green").
func blueGreenEnd(r *bluegreen.Runner, cfg bluegreen.Config, rp *ReleaseProbe, streams genericiooptions.IOStreams, json bool) releaseEnd {
	return releaseEnd{Client: r.Client, Kind: "service", Namespace: cfg.Namespace, Name: cfg.Service, Service: cfg.Namespace + "/" + cfg.Service, Base: cfg.Service,
		Probe: rp, Out: streams.Out, ErrOut: streams.ErrOut, JSON: json}
}

// readDeployment reads exactly one Deployment from files, the way kubectl does.
func readDeployment(f Factory, files []string) (*appsv1.Deployment, error) {
	infos, err := f.NewBuilder().Unstructured().Local().
		FilenameParam(false, &resource.FilenameOptions{Filenames: files}).
		Flatten().Do().Infos()
	if err != nil {
		return nil, fmt.Errorf("-f %v: %w", files, err)
	}
	var deps []*appsv1.Deployment
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok || u.GetKind() != "Deployment" {
			continue
		}
		d := &appsv1.Deployment{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
			return nil, fmt.Errorf("-f %s: deployment %q: %w", info.Source, u.GetName(), err)
		}
		deps = append(deps, d)
	}
	if len(deps) != 1 {
		return nil, fmt.Errorf("-f %v: want exactly one Deployment, found %d", files, len(deps))
	}
	if len(deps[0].Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("-f %v: deployment %q has no containers", files, deps[0].Name)
	}
	return deps[0], nil
}
