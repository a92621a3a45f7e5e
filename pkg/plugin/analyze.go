package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// AnalyzeOptions runs one analysis on its own and prints every measurement.
// It changes nothing in the cluster except the smoke-test Jobs of job
// metrics, which it deletes afterwards unless --keep-jobs.
type AnalyzeOptions struct {
	Filename string
	For      string
	forName  string
	KeepJobs bool
	Output   string
	Timeout  time.Duration
	Vars     []string // --var Key=value overrides

	Namespace string
	Spec      *analysis.Spec
	// ClientFn returns the Kubernetes client; only called when --for or a
	// job metric needs the cluster.
	ClientFn func() (kubernetes.Interface, error)
	Env      func(string) string
	Clock    analysis.Clock

	genericiooptions.IOStreams
}

// NewAnalyzeOptions returns options with defaults set.
func NewAnalyzeOptions(streams genericiooptions.IOStreams) *AnalyzeOptions {
	return &AnalyzeOptions{IOStreams: streams, Env: os.Getenv}
}

// NewCmdAnalyze builds `kubectl zdd analyze`.
func NewCmdAnalyze(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdAnalyze(f, NewAnalyzeOptions(streams))
}

func newCmdAnalyze(f Factory, o *AnalyzeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "analyze -f FILE [--for deployment/NAME]",
		Short: "Run a metric analysis on its own and print every measurement",
		Long: `Run the analysis described in FILE (Prometheus queries, HTTP endpoints,
smoke-test Jobs; see docs/analysis.md) once, on its own, as rollout, bluegreen
and canary would run it with --analysis, and print every measurement: time,
metric, value, limit and verdict. Nothing is changed: no Deployment or Service
is touched, and the Jobs of job metrics are deleted when they end (unless
--keep-jobs).

--for deployment/NAME fills the templates ({{.Namespace}}, {{.Name}},
{{.Version}}, {{.Color}}, {{.Track}}, {{.Revision}}) from that Deployment;
--var Key=value sets one of them by hand.

Progress lines go to stderr as measurements are taken; the table (or the JSON
with -o json) goes to stdout at the end.
Exit codes: 0 passed; 1 failed (too many failed measurements or provider
errors); 2 bad input; 3 inconclusive (no data: a person should look).`,
		Example: `  # Judge the live version of web by the analysis a rollout would run
  kubectl zdd analyze -f analysis.yaml --for deployment/web

  # The same, as JSON, keeping the smoke-test Jobs for inspection
  kubectl zdd analyze -f analysis.yaml --for deployment/web --keep-jobs -o json

  # Try a query against a version by hand
  kubectl zdd analyze -f analysis.yaml --var Version=v2`,
		Args: cobra.NoArgs,
		RunE: runSteps(f, o),
	}
	cmd.Flags().StringVarP(&o.Filename, "filename", "f", "", "the analysis file (YAML)")
	cmd.Flags().StringVar(&o.For, "for", "", "the Deployment the analysis judges, as deployment/NAME: fills the templates")
	cmd.Flags().BoolVar(&o.KeepJobs, "keep-jobs", false, "keep the smoke-test Jobs of job metrics after they end")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "output format: '' (table) or json")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 0, "give up after this long (0: the analysis' own length)")
	cmd.Flags().StringArrayVar(&o.Vars, "var", nil, "set a template value, Key=value (Namespace, Name, Version, Color, Track, Revision); repeatable")
	return cmd
}

// Complete resolves the namespace; the client is built in Run, when the
// analysis needs the cluster.
func (o *AnalyzeOptions) Complete(f Factory, cmd *cobra.Command, _ []string) error {
	ns, _, err := namespaceOf(f)
	if err != nil {
		return err
	}
	o.Namespace = ns
	if o.ClientFn == nil {
		o.ClientFn = func() (kubernetes.Interface, error) {
			var c kubernetes.Interface
			err := connect(f, &c, nil)
			return c, err
		}
	}
	return nil
}

// Validate checks flags and reads the analysis file.
func (o *AnalyzeOptions) Validate(cmd *cobra.Command) error {
	if o.Filename == "" {
		return usageErrorf(cmd, "-f/--filename is required: the analysis file")
	}
	switch o.Output {
	case "", "json":
	default:
		return usageErrorf(cmd, "--output %q: want json or nothing (a table)", o.Output)
	}
	if o.Timeout < 0 {
		return usageErrorf(cmd, "--timeout %s must not be negative", o.Timeout)
	}
	if o.For != "" {
		var err error
		if o.forName, err = parseFlagName(cmd, analyzeArg, "for", o.For); err != nil {
			return err
		}
	}
	for _, kv := range o.Vars {
		if _, _, err := splitVar(kv); err != nil {
			return usageErrorf(cmd, "--var %q: %v", kv, err)
		}
	}
	spec, err := analysis.LoadFile(o.Filename)
	if err != nil {
		return err
	}
	o.Spec = spec
	return nil
}

// Run runs the analysis and prints it.
func (o *AnalyzeOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	vars := analysis.Vars{Namespace: o.Namespace}
	var client kubernetes.Interface
	needsCluster := o.For != ""
	for _, m := range o.Spec.Metrics {
		if m.Job != nil {
			needsCluster = true
		}
	}
	if needsCluster {
		c, err := o.ClientFn()
		if err != nil {
			return err
		}
		client = c
	}
	if o.For != "" {
		name := o.forName
		d, err := client.AppsV1().Deployments(o.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return exitcode.Usagef("analyze: deployment %q not found", o.Namespace+"/"+name)
		}
		if err != nil {
			return fmt.Errorf("reading deployment %q: %w", o.Namespace+"/"+name, err)
		}
		vars = analysis.VarsFor(d)
	}
	for _, kv := range o.Vars {
		k, v, _ := splitVar(kv)
		setVar(&vars, k, v)
	}
	runner := &analysis.Runner{Kube: client, Out: o.ErrOut, KeepJobs: o.KeepJobs, Env: o.Env, Clock: o.Clock}
	res, err := runner.Run(ctx, o.Spec, vars)
	if err != nil {
		return fmt.Errorf("analysis %q: %w", o.Filename, err)
	}
	if o.Output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if err := analysis.PrintTable(o.Out, res); err != nil {
		return err
	}
	switch res.Verdict {
	case analysis.Passed:
		return nil
	case analysis.Inconclusive:
		return &exitcode.Silent{Code: exitcode.NeedsPerson}
	default:
		return &exitcode.Silent{Code: exitcode.Failed}
	}
}

var varKeys = []string{"Namespace", "Name", "Version", "Color", "Track", "Revision"}

func splitVar(kv string) (string, string, error) {
	k, v, ok := strings.Cut(kv, "=")
	if !ok {
		return "", "", fmt.Errorf("want Key=value")
	}
	for _, known := range varKeys {
		if strings.EqualFold(k, known) {
			return known, v, nil
		}
	}
	return "", "", fmt.Errorf("unknown key %q: want one of %s", k, strings.Join(varKeys, ", "))
}

func setVar(v *analysis.Vars, key, value string) {
	switch key {
	case "Namespace":
		v.Namespace = value
	case "Name":
		v.Name = value
	case "Version":
		v.Version = value
	case "Color":
		v.Color = value
	case "Track":
		v.Track = value
	case "Revision":
		v.Revision = value
	}
}
