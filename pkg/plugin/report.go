package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/report"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
	"github.com/zdd-dev/kubectl-zdd/pkg/version"
)

const reportLong = `Draw the last recorded release of a Deployment or a Service.

A release ends by recording a small summary of itself (at most 4 KiB) in the
annotation zdd.dev/summary of the object that holds its record: the
Deployment for rollout, canary and rollback, the Service for blue-green.
It holds the ready endpoints of the Service per version over the operation
(downsampled, each span keeping its lowest and highest counts, so a dip
stays visible), the phases (apply, each canary step, the switch, retire,
rollback), the analysis measurements against their thresholds, the request
probe's counts when it ran, and the facts: who, when, from and to which
revision, the result and its message. So this command draws it from any
machine, after the fact.

-o text (the default) prints the facts and a timeline that fits the terminal
(--width to choose; Unicode block characters, or ASCII with --ascii or when
the locale is not UTF-8). -o html prints one self-contained HTML page (inline
SVG and CSS, no script, nothing fetched): redirect it to a file and open it
in a browser. -o json prints the decoded summary.

Exit codes: 0 drawn; 1 the object holds no summary, or one this version
cannot read; 2 bad input (a flag, TYPE/NAME, an object that does not exist).`

const reportExample = `  # the last release of a deployment, in the terminal
  kubectl zdd report deployment/web -n shop

  # the same as a page to open in a browser
  kubectl zdd report deployment/web -n shop -o html > web-release.html

  # a blue-green release is recorded on its Service
  kubectl zdd report service/web -n shop --ascii --width 100`

// Report output formats.
const (
	reportText = "text"
	reportHTML = "html"
	reportJSON = "json"
)

// ReportOptions draws the summary recorded on an object.
type ReportOptions struct {
	Namespace string
	// Kind is "deployment" or "service".
	Kind   string
	Name   string
	Output string
	ASCII  bool
	// Width is the columns of the text timeline (0: the terminal's).
	Width int

	Client  kubernetes.Interface
	factory Factory
	// Getenv reads the environment (locale, COLUMNS); os.Getenv.
	Getenv func(string) string

	genericiooptions.IOStreams
}

// NewReportOptions returns options with the defaults.
func NewReportOptions(streams genericiooptions.IOStreams) *ReportOptions {
	return &ReportOptions{Output: reportText, Getenv: os.Getenv, IOStreams: streams}
}

// NewCmdReport builds `kubectl zdd report`.
func NewCmdReport(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewReportOptions(streams)
	cmd := &cobra.Command{
		Use:     "report TYPE/NAME [-o text|html|json]",
		Short:   "Draw the last recorded release of a deployment or service",
		Long:    reportLong,
		Example: reportExample,
		Args:    cobra.ExactArgs(1),
		RunE:    runSteps(f, o),
	}
	fl := cmd.Flags()
	fl.StringVarP(&o.Output, "output", "o", o.Output, "Output format: text, html or json")
	fl.BoolVar(&o.ASCII, "ascii", o.ASCII, "Draw the text timeline with ASCII characters only (the default when the locale is not UTF-8)")
	fl.IntVar(&o.Width, "width", o.Width, "Columns the text timeline may take (default: the terminal's width, else $COLUMNS, else 80)")
	_ = cmd.RegisterFlagCompletionFunc("output", fixedChoices(reportText, reportHTML, reportJSON))
	return cmd
}

// Complete reads the target and the namespace.
func (o *ReportOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if o.Kind, o.Name, err = parseTarget(cmd, recordArg, args[0]); err != nil {
		return err
	}
	o.factory = f
	if o.Namespace, _, err = namespaceOf(f); err != nil {
		return err
	}
	o.ASCII = chooseASCII(flagChanged(cmd.Flags(), "ascii"), o.ASCII, o.Getenv)
	return nil
}

// chooseASCII is --ascii when it was given, else whether the locale is not
// UTF-8.
func chooseASCII(set, value bool, getenv func(string) string) bool {
	if set {
		return value
	}
	return !terminal.UTF8(getenv)
}

// Validate checks the flags; every problem names its flag.
func (o *ReportOptions) Validate(cmd *cobra.Command) error {
	switch o.Output {
	case reportText, reportHTML, reportJSON:
	default:
		return usageErrorf(cmd, "--output %q: want text, html or json", o.Output)
	}
	if o.Width < 0 {
		return usageErrorf(cmd, "--width %d: must be 0 (the terminal's) or more", o.Width)
	}
	if o.Width > 0 && o.Width < report.MinWidth {
		return usageErrorf(cmd, "--width %d: the timeline needs at least %d columns", o.Width, report.MinWidth)
	}
	return nil
}

// Run reads the object's summary and draws it.
func (o *ReportOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	if err := connect(o.factory, &o.Client, nil); err != nil {
		return err
	}
	ref := o.Namespace + "/" + o.Name
	var meta metav1.Object
	var err error
	if o.Kind == "deployment" {
		meta, err = o.Client.AppsV1().Deployments(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	} else {
		meta, err = o.Client.CoreV1().Services(o.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
	}
	if apierrors.IsNotFound(err) {
		return exitcode.Usagef("%s %q not found", o.Kind, ref)
	}
	if err != nil {
		return fmt.Errorf("reading %s %q: %w", o.Kind, ref, err)
	}
	ann := meta.GetAnnotations()
	enc, ok := ann[report.SummaryAnnotation]
	if !ok {
		return exitcode.Failedf("no release summary recorded on %s %q (no %s annotation)%s", o.Kind, ref, report.SummaryAnnotation, o.noSummaryHint(ann))
	}
	d, err := report.Decode(enc)
	if err != nil {
		return exitcode.Failedf("reading the release summary of %s %q (annotation %s): %w", o.Kind, ref, report.SummaryAnnotation, err)
	}
	if op, ok := state.FromAnnotations(ann); ok && d.Facts.OperationID != "" && op.ID != d.Facts.OperationID {
		state := "in flight"
		if op.Result != "" {
			state = op.Result
		}
		fmt.Fprintf(o.ErrOut, "note: this summary is of operation %s; the latest operation on %s %q is %s (%s) and recorded none\n", d.Facts.OperationID, o.Kind, ref, op.ID, state)
	}
	switch o.Output {
	case reportHTML:
		return report.HTML(o.Out, d, report.HTMLOptions{Generator: "kubectl zdd " + version.Get().Version})
	case reportJSON:
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(d)
	}
	width := o.Width
	if width == 0 {
		width = terminal.Width(o.Out, o.Getenv)
	}
	return report.Text(o.Out, d, report.TextOptions{Width: width, ASCII: o.ASCII})
}

// noSummaryHint says where else to look: the other object of a release, or
// the operation the object records.
func (o *ReportOptions) noSummaryHint(ann map[string]string) string {
	hint := ""
	if op, ok := state.FromAnnotations(ann); ok {
		res := op.Result
		if res == "" {
			res = "in flight"
		}
		hint = fmt.Sprintf(": its operation %s (%s, %s) recorded none", op.ID, op.Strategy, res)
	}
	if o.Kind == "service" {
		return hint + "; rollout, canary and rollback record theirs on the Deployment"
	}
	return hint + "; blue-green records its on the Service"
}
