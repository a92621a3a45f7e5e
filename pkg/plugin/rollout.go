package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/migration"
	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/rolling"
)

// RolloutOptions is `kubectl zdd rollout`.
type RolloutOptions struct {
	Images         []string
	Filename       string
	MigrationJob   string
	Timeout        time.Duration
	MaxRestarts    int32
	NoRollback     bool
	Force          bool
	FixStrategy    bool
	ForceUnlock    bool
	DryRun         string
	Output         string
	AnalysisFile   string
	AnalysisDuring bool
	GitOpsFlags
	Fix bool
	// Probe is --probe URL and its settings.
	Probe *ReleaseProbe
	// Report is --report FILE.html, --ascii, and the picture at the end.
	Report *ReleaseReport

	Namespace    string
	namespaceSet bool
	Name         string
	images       map[string]string
	manifest     *unstructured.Unstructured
	job          *batchv1.Job
	analysisSpec *analysis.Spec
	changeCause  string

	Client  kubernetes.Interface
	Dynamic dynamic.Interface
	factory Factory
	// IsTerminal says whether Out is a terminal (live progress line).
	IsTerminal func(io.Writer) bool
	// NewRollout is swapped by tests.
	NewRollout func() *rolling.Rollout

	genericiooptions.IOStreams
}

// NewRolloutOptions returns options with the defaults.
func NewRolloutOptions(streams genericiooptions.IOStreams) *RolloutOptions {
	return &RolloutOptions{Timeout: 10 * time.Minute, DryRun: "none", IsTerminal: isTerminal, Probe: NewReleaseProbe(), Report: NewReleaseReport(), IOStreams: streams}
}

// NewCmdRollout builds `kubectl zdd rollout`.
func NewCmdRollout(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewRolloutOptions(streams)
	cmd := &cobra.Command{
		Use:     "rollout deployment/NAME --image CONTAINER=IMAGE... | -f FILE",
		Short:   "Guarded rolling update with migration Jobs and automatic rollback",
		Long:    rolloutLong,
		Example: rolloutExample,
		Args:    cobra.MaximumNArgs(1),
		RunE:    runSteps(f, o),
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Images, "image", o.Images, "CONTAINER=IMAGE to set (repeatable)")
	fl.StringVarP(&o.Filename, "filename", "f", o.Filename, "Deployment manifest to apply with server-side apply (file, URL or -)")
	fl.StringVar(&o.MigrationJob, "migration-job", o.MigrationJob, "Job manifest to run (and succeed) before the Deployment is changed")
	fl.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long the new pods (and the migration Job, and a rollback) may take")
	fl.Int32Var(&o.MaxRestarts, "max-restarts", o.MaxRestarts, "Container restarts of a new pod above which the release fails")
	fl.BoolVar(&o.NoRollback, "no-rollback", o.NoRollback, "On failure, leave the Deployment as it is instead of rolling back")
	fl.BoolVar(&o.Force, "force", o.Force, "Go on despite error-level preflight findings")
	fl.BoolVar(&o.Fix, "fix", o.Fix, "Apply lint's mechanical fixes (preStop sleep, grace period, maxUnavailable 0, readiness from liveness) to what is released, in the same rollout; running pods without a preStop delay are held out of their Services before they stop")
	fl.BoolVar(&o.FixStrategy, "fix-strategy", o.FixStrategy, "Apply with maxUnavailable 0 and maxSurge 25%")
	fl.BoolVar(&o.ForceUnlock, "force-unlock", o.ForceUnlock, "Take the Deployment's lease even if another run holds it")
	fl.StringVar(&o.DryRun, "dry-run", o.DryRun, `"none" releases, "client" prints the plan, "server" also has the API server check every write`)
	fl.Lookup("dry-run").NoOptDefVal = "client"
	fl.StringVarP(&o.Output, "output", "o", o.Output, `Output format: "" (text) or json`)
	fl.StringVar(&o.AnalysisFile, "analysis", o.AnalysisFile, "Analysis file: metrics that must pass before the release is done")
	fl.BoolVar(&o.AnalysisDuring, "analysis-during", o.AnalysisDuring, "Run the analysis while the rollout progresses, not after it")
	o.GitOpsFlags.addFlags(cmd, true)
	o.Probe.AddFlags(fl)
	o.Report.AddFlags(fl)
	return cmd
}

// Complete reads the argument, the namespace and the files.
func (o *RolloutOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if len(args) == 1 {
		if o.Name, err = parseName(cmd, deploymentArg, args[0]); err != nil {
			return err
		}
	}
	if o.Name == "" && o.Filename == "" {
		return missingTarget(cmd, deploymentArg, " (or -f FILE)")
	}
	o.factory = f
	if o.Namespace, o.namespaceSet, err = namespaceOf(f); err != nil {
		return err
	}
	if o.images, err = kube.ParseImageFlags(o.Images); err != nil {
		return usageErrorf(cmd, "%v", err)
	}
	if o.Filename != "" {
		if err := o.loadManifest(cmd); err != nil {
			return err
		}
	}
	if o.MigrationJob != "" {
		if o.job, err = loadJob(o.MigrationJob, o.In, o.Namespace); err != nil {
			return err
		}
	}
	if o.AnalysisFile != "" {
		if o.analysisSpec, err = analysis.LoadFile(o.AnalysisFile); err != nil {
			return exitcode.UsageError(err)
		}
	}
	o.changeCause = changeCause(cmd, args)
	return nil
}

func (o *RolloutOptions) loadManifest(cmd *cobra.Command) error {
	objs, err := kube.LoadObjects(o.Filename, o.In, o.Namespace)
	if err != nil {
		return err
	}
	var deps []*unstructured.Unstructured
	for _, u := range objs {
		if u.GetKind() == "Deployment" {
			if u.GetAPIVersion() != "apps/v1" {
				return usageErrorf(cmd, "%s: deployment %q is %s, want apps/v1 (convert it first, 'kubectl zdd lint' shows how)", o.Filename, u.GetName(), u.GetAPIVersion())
			}
			deps = append(deps, u)
		} else {
			fmt.Fprintf(o.ErrOut, "note: %s: %s %q is not a Deployment, skipped (apply it yourself)\n", o.Filename, u.GetKind(), u.GetName())
		}
	}
	if len(deps) != 1 {
		return usageErrorf(cmd, "%s: want exactly one Deployment, found %d", o.Filename, len(deps))
	}
	u := deps[0]
	if o.namespaceSet && u.GetNamespace() != o.Namespace {
		return usageErrorf(cmd, "%s: deployment %q is in namespace %q but -n says %q", o.Filename, u.GetName(), u.GetNamespace(), o.Namespace)
	}
	if o.Name != "" && o.Name != u.GetName() {
		return usageErrorf(cmd, "%s: holds deployment %q, but the argument names %q", o.Filename, u.GetName(), o.Name)
	}
	o.Name = u.GetName()
	o.Namespace = u.GetNamespace()
	o.manifest = u
	return nil
}

// loadJob reads a migration Job and refuses one that can retry (exit 2).
func loadJob(path string, stdin io.Reader, namespace string) (*batchv1.Job, error) {
	objs, err := kube.LoadObjects(path, stdin, namespace)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 || objs[0].GetKind() != "Job" || objs[0].GetAPIVersion() != "batch/v1" {
		return nil, exitcode.Usagef("%s: want exactly one batch/v1 Job", path)
	}
	job := &batchv1.Job{}
	if err := kube.ToTyped(objs[0], job); err != nil {
		return nil, exitcode.Usagef("%s: %w", path, err)
	}
	if err := migration.Validate(job, path); err != nil {
		return nil, err
	}
	return job, nil
}

// changeCause is the command line as the user typed it, for
// kubernetes.io/change-cause.
func changeCause(cmd *cobra.Command, args []string) string {
	parts := append([]string{displayPath(cmd)}, args...)
	cmd.Flags().Visit(func(fl *pflag.Flag) {
		switch fl.Name {
		case "dry-run", "output", "force-unlock":
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				parts = append(parts, "--"+fl.Name+"="+v)
			}
			return
		}
		parts = append(parts, "--"+fl.Name+"="+fl.Value.String())
	})
	return strings.Join(parts, " ")
}

// Validate checks the flags (pure; exit 2 on bad input).
func (o *RolloutOptions) Validate(cmd *cobra.Command) error {
	switch {
	case o.Filename != "" && len(o.Images) > 0:
		return usageErrorf(cmd, "--image and -f cannot be used together: set the images in the manifest")
	case o.Filename == "" && len(o.Images) == 0:
		return usageErrorf(cmd, "nothing to release: give --image CONTAINER=IMAGE or -f FILE")
	case o.Timeout <= 0:
		return usageErrorf(cmd, "--timeout %s: must be more than 0", o.Timeout)
	case o.MaxRestarts < 0:
		return usageErrorf(cmd, "--max-restarts %d: must be 0 or more", o.MaxRestarts)
	case o.AnalysisDuring && o.AnalysisFile == "":
		return usageErrorf(cmd, "--analysis-during needs --analysis FILE")
	}
	switch o.DryRun {
	case "none", "client", "server":
	default:
		return usageErrorf(cmd, "--dry-run %q: want none, client or server", o.DryRun)
	}
	switch o.Output {
	case "", "json":
	default:
		return usageErrorf(cmd, "--output %q: want json (or nothing for text)", o.Output)
	}
	if err := o.GitOpsFlags.validate(o.Namespace, o.Name); err != nil {
		return err
	}
	if err := o.Report.Validate(cmd); err != nil {
		return err
	}
	return o.Probe.Validate(cmd)
}

func (o *RolloutOptions) config() rolling.Config {
	dry := o.DryRun
	if dry == "none" {
		dry = rolling.DryRunNone
	}
	src := o.Filename
	return rolling.Config{
		Namespace: o.Namespace, Name: o.Name, Images: o.images,
		Manifest: o.manifest, ManifestSource: src,
		MigrationJob: o.job, MigrationSource: o.MigrationJob,
		Timeout: o.Timeout, MaxRestarts: o.MaxRestarts, NoRollback: o.NoRollback,
		Force: o.Force, FixStrategy: o.FixStrategy, ForceUnlock: o.ForceUnlock,
		DryRun: dry, ChangeCause: o.changeCause,
		Analysis: o.analysisSpec, AnalysisDuring: o.AnalysisDuring,
		Fix: o.Fix,
	}
}

// rolloutJSON is -o json: the release, and what the probe measured.
type rolloutJSON struct {
	*rolling.Result
	RequestsMeasured bool          `json:"requestsMeasured"`
	Requests         *probe.Report `json:"requests,omitempty"`
}

// Run connects, releases, printing steps and progress, then the result.
func (o *RolloutOptions) Run(ctx context.Context) (err error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := connect(o.factory, &o.Client, &o.Dynamic); err != nil {
		return err
	}
	logW := o.Out
	if o.Output == "json" {
		logW = o.ErrOut
	}
	prog := newProgressPrinter(logW, o.Output != "json" && o.IsTerminal != nil && o.IsTerminal(o.Out), o.Namespace+"/"+o.Name)
	r := &rolling.Rollout{}
	if o.NewRollout != nil {
		r = o.NewRollout()
	}
	r.Kube, r.Dynamic = o.Client, o.Dynamic
	r.Log = prog
	r.OnProgress = prog.Update
	r.AnalysisOut = prog
	before, targets := deploymentTarget(ctx, o.Client, o.Namespace, o.Name, "its pod template (the images or template fields this release sets)")
	managed, err := o.GitOpsFlags.preflight(o.ErrOut, targets)
	if err != nil {
		return err
	}
	cfg := o.config()
	if cfg.Params, err = o.Probe.Params(); err != nil {
		return err
	}
	if cfg.DryRun == rolling.DryRunNone {
		// from before the first write to the end of the release
		if cfg.Tripwire, err = o.Probe.Start(ctx, prog); err != nil {
			return err
		}
		r.Events = o.Report.Events(o.Client, o.Namespace, o.Name)
	}
	res, err := r.Run(ctx, cfg)
	if res != nil && res.Result != rolling.ResultDryRun && o.Probe.Enabled() {
		// the replaced pods stop after the rollout is done
		o.Probe.settle(ctx, prog, o.Client, o.Namespace, o.Name)
	}
	prog.Finish()
	rep := o.Probe.Stop()
	if res == nil {
		if rep != nil {
			printRequests(logW, rep)
		}
		return err
	}
	if rep != nil && res.Result != rolling.ResultDryRun {
		recordRequests(ctx, o.ErrOut, "deployment "+res.Deployment, res.OperationID, rep, func(ctx context.Context, b []byte) error {
			_, perr := o.Client.AppsV1().Deployments(o.Namespace).Patch(ctx, o.Name, types.MergePatchType, b, metav1.PatchOptions{FieldManager: kube.FieldManager})
			return perr
		})
		if err == nil && !rep.Within() {
			err = budgetError(fmt.Sprintf("deployment %q rolled out, but", res.Deployment), rep)
		}
	}
	// the picture: the summary on the Deployment, --report, the timeline
	// on a terminal (after the text lines and the GitOps patch)
	defer o.Report.Finish(ctx, releaseEnd{Client: o.Client, Kind: "deployment", Namespace: o.Namespace, Name: o.Name, Base: o.Name,
		Probe: o.Probe, Out: o.Out, ErrOut: o.ErrOut, JSON: o.Output == "json", Lost: state.LeaseLost(err) != nil})
	if err == nil && res.Result == "succeeded" {
		defer func() {
			if werr := o.GitOpsFlags.releaseEnd(ctx, logW, o.Client, before, managed); werr != nil && err == nil {
				err = werr
			}
		}()
	}
	if o.Output == "json" {
		b, jerr := json.MarshalIndent(rolloutJSON{Result: res, RequestsMeasured: rep != nil, Requests: rep}, "", "  ")
		if jerr != nil {
			return jerr
		}
		fmt.Fprintln(o.Out, string(b))
		return err
	}
	if res.Result == rolling.ResultDryRun {
		rolling.PrintPlan(o.Out, res)
		return err
	}
	// the last lines fit a terminal
	out := fitTerminal(o.Out)
	if res.Analysis != nil {
		_ = analysis.PrintTable(o.Out, res.Analysis)
	}
	switch res.Result {
	case "succeeded":
		fmt.Fprintf(out, "deployment %q rolled out: revision %s (from %s) in %.1fs\n", res.Deployment, orDash(res.ToRevision), orDash(res.FromRevision), res.DurationSeconds)
	case "rolled-back":
		fmt.Fprintf(out, "deployment %q rolled back: revision %s restored in %.1fs\n", res.Deployment, res.RestoredRevision, res.DurationSeconds)
	}
	for _, c := range res.Fixes {
		fmt.Fprintf(out, "fixed: %s\n", c)
	}
	var desired int32
	if res.Progress != nil {
		desired = res.Progress.Desired
	}
	for _, d := range res.Downtime {
		blind := ""
		if d.Lost > 0 {
			times := "once"
			if d.Lost > 1 {
				times = fmt.Sprintf("%d times", d.Lost)
			}
			blind = fmt.Sprintf("; the watch lost the API server %s, for %.1fs in all (not counted: the endpoints then are unknown)", times, d.BlindForSeconds)
		}
		fmt.Fprintln(out, capacityLine(d.Service, d.MinReady, desired, d.ZeroForSeconds, d.ObservedSeconds, blind))
	}
	printRequests(out, rep)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
