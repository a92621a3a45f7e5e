package plugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
	"github.com/zdd-dev/kubectl-zdd/pkg/version"
)

// lintMemoryLimit is the soft memory limit of a lint run (GOMEMLIMIT
// overrides it).
const lintMemoryLimit = 128 << 20

// LintOptions audits manifests or live objects.
type LintOptions struct {
	Filenames     []string
	Recursive     bool
	Kustomize     string
	Selector      string
	AllNamespaces bool
	DrainSeconds  int
	Disable       []string
	Enable        []string
	FailOn        string
	Output        string
	Fix           bool
	InPlace       bool
	DryRun        string
	// SARIFRoot is the folder file paths are written relative to
	// (--sarif-root); by default the repository holding the current
	// directory, else the current directory.
	SARIFRoot string
	// HelmValues, HelmSet and HelmSetString are given to every Helm chart
	// found in the folders (--values, --set, --set-string), as helm
	// template takes them.
	HelmValues    []string
	HelmSet       []string
	HelmSetString []string

	Args      []string
	Namespace string
	// namespaceSet is true when -n was given: objects of files that name no
	// namespace then get it.
	namespaceSet bool
	failOn       lint.Severity
	outputSet    bool
	// root and workDir are absolute: the folder paths are written relative
	// to, and the current directory.
	root, workDir string

	// NewBuilder and Client are set by Complete for live mode.
	NewBuilder func() *resource.Builder
	Client     kubernetes.Interface
	// Dynamic reads the custom resources live mode looks at (routes,
	// BackendConfigs, TargetGroupBindings).
	Dynamic dynamic.Interface
	factory Factory
	// WriteFile writes a file for --in-place (os.WriteFile).
	WriteFile func(name string, data []byte, perm os.FileMode) error

	genericiooptions.IOStreams
}

// NewLintOptions returns options with defaults set.
func NewLintOptions(streams genericiooptions.IOStreams) *LintOptions {
	return &LintOptions{
		DrainSeconds: lint.DefaultDrainSeconds,
		FailOn:       "error",
		Output:       lint.FormatTable,
		DryRun:       "none",
		WriteFile:    os.WriteFile,
		IOStreams:    streams,
	}
}

// NewCmdLint builds `kubectl zdd lint`.
func NewCmdLint(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewLintOptions(streams)
	cmd := &cobra.Command{
		Use:     "lint (-f FILENAME | -k DIR | TYPE[/NAME] ... [-l SELECTOR])",
		Short:   "Audit manifests or live objects for settings that cause downtime",
		Long:    lintLong,
		Example: lintExample,
		RunE:    runSteps(f, o),
	}
	fl := cmd.Flags()
	fl.StringSliceVarP(&o.Filenames, "filename", "f", o.Filenames, "File, folder or URL of manifests to lint, or - for standard input (repeatable)")
	fl.BoolVarP(&o.Recursive, "recursive", "R", o.Recursive, "Read the folders given with -f recursively")
	fl.StringVarP(&o.Kustomize, "kustomize", "k", o.Kustomize, "Lint the output of a kustomization folder")
	fl.StringVarP(&o.Selector, "selector", "l", o.Selector, "Label selector for live objects (e.g. app=web)")
	fl.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "Lint live objects of every namespace")
	fl.IntVar(&o.DrainSeconds, "drain-seconds", o.DrainSeconds, "Seconds a pod needs, after its preStop hook, to finish in-flight requests")
	fl.StringSliceVar(&o.Disable, "disable", o.Disable, "Rule ids not to run (comma separated or repeated)")
	fl.StringSliceVar(&o.Enable, "enable", o.Enable, "Rule ids to run that are off by default")
	fl.StringVar(&o.FailOn, "fail-on", o.FailOn, "Lowest severity that makes the command exit 1: error, warning or info")
	fl.StringVarP(&o.Output, "output", "o", o.Output, "Output format: table (grouped by object, wrapped to the terminal), wide (a table per object, a column per field), json or sarif")
	fl.BoolVar(&o.Fix, "fix", o.Fix, "Rewrite the mechanical problems (files: print the result; live objects: patch them)")
	fl.BoolVar(&o.InPlace, "in-place", o.InPlace, "With --fix on files, write the fixed files back instead of printing them")
	fl.StringVar(&o.DryRun, "dry-run", o.DryRun, `With --fix on live objects: "none" patches, "client" prints the patch, "server" has the API server check it without saving`)
	fl.Lookup("dry-run").NoOptDefVal = "client"
	fl.StringArrayVar(&o.HelmValues, "values", o.HelmValues, "Values file given to the Helm charts found in the folders of -f, over their default values (repeatable; later files win)")
	fl.StringArrayVar(&o.HelmSet, "set", o.HelmSet, "Value given to the Helm charts found in the folders of -f, as helm's --set (key1=val1,key2=val2; repeatable)")
	fl.StringArrayVar(&o.HelmSetString, "set-string", o.HelmSetString, "String value given to the Helm charts found in the folders of -f, as helm's --set-string (repeatable)")
	fl.StringVar(&o.SARIFRoot, "sarif-root", o.SARIFRoot, "Folder that file paths in the report are relative to, in every format (SARIF's %SRCROOT%); default: the top of the git repository holding the current directory, else the current directory")
	return cmd
}

// Complete reads the namespace; for live objects Run builds the clients.
func (o *LintOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	o.Args = args
	o.outputSet = flagChanged(cmd.Flags(), "output")
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("reading the current directory: %w", err)
	}
	o.workDir = wd
	o.root = lint.RepositoryRoot(wd)
	if o.SARIFRoot != "" {
		o.root = o.SARIFRoot
		if !filepath.IsAbs(o.root) {
			o.root = filepath.Join(wd, o.root)
		}
		o.root = filepath.Clean(o.root)
	}
	if f == nil {
		return nil
	}
	ns, explicit, err := namespaceOf(f)
	if err != nil {
		if len(args) > 0 {
			return err
		}
		ns, explicit = "", false
	}
	o.Namespace = ns
	o.namespaceSet = explicit && flagChanged(cmd.Flags(), "namespace")
	if len(args) > 0 {
		o.NewBuilder = f.NewBuilder
		o.factory = f
	}
	return nil
}

// Validate checks flag values and their combinations; every problem is a
// usage error naming the flag.
func (o *LintOptions) Validate(cmd *cobra.Command) error {
	live := len(o.Args) > 0
	files := len(o.Filenames) > 0 || o.Kustomize != ""
	switch {
	case live && files:
		return usageErrorf(cmd, "give either -f/-k or live objects (%s), not both", strings.Join(o.Args, " "))
	case !live && !files:
		return usageErrorf(cmd, "nothing to lint: give -f FILE|DIR|URL|-, -k DIR, or live objects such as deployment/web")
	case len(o.Filenames) > 0 && o.Kustomize != "":
		return usageErrorf(cmd, "-f and -k cannot be used together")
	case !live && o.Selector != "":
		return usageErrorf(cmd, "-l/--selector applies to live objects only")
	case !live && o.AllNamespaces:
		return usageErrorf(cmd, "-A/--all-namespaces applies to live objects only")
	case o.Recursive && len(o.Filenames) == 0:
		return usageErrorf(cmd, "-R/--recursive applies to -f only")
	case len(o.Filenames) == 0 && (len(o.HelmValues) > 0 || len(o.HelmSet) > 0 || len(o.HelmSetString) > 0):
		return usageErrorf(cmd, "--values, --set and --set-string apply to the Helm charts found in the folders of -f")
	}
	sev, err := lint.ParseSeverity(o.FailOn)
	if err != nil {
		return usageErrorf(cmd, "--fail-on: %v", err)
	}
	o.failOn = sev
	switch o.Output {
	case lint.FormatTable, lint.FormatWide, lint.FormatJSON, lint.FormatSARIF:
	default:
		return usageErrorf(cmd, "--output %q: want table, wide, json or sarif", o.Output)
	}
	if o.SARIFRoot != "" {
		if st, err := os.Stat(o.SARIFRoot); err != nil || !st.IsDir() {
			return usageErrorf(cmd, "--sarif-root %s: not a folder", o.SARIFRoot)
		}
	}
	if o.DrainSeconds < 0 {
		return usageErrorf(cmd, "--drain-seconds %d: must be 0 or more", o.DrainSeconds)
	}
	if err := lint.CheckRuleIDs(o.Disable); err != nil {
		return usageErrorf(cmd, "--disable: %v", err)
	}
	if err := lint.CheckRuleIDs(o.Enable); err != nil {
		return usageErrorf(cmd, "--enable: %v", err)
	}
	switch o.DryRun {
	case "none", "client", "server":
	default:
		return usageErrorf(cmd, "--dry-run %q: want none, client or server", o.DryRun)
	}
	if o.DryRun != "none" && !o.Fix {
		return usageErrorf(cmd, "--dry-run applies to --fix only")
	}
	if o.InPlace && !o.Fix {
		return usageErrorf(cmd, "--in-place applies to --fix only")
	}
	if o.Fix && !live {
		if o.DryRun != "none" {
			return usageErrorf(cmd, "--dry-run applies to --fix on live objects; on files --fix prints the result unless --in-place")
		}
		if o.Kustomize != "" {
			return usageErrorf(cmd, "--fix cannot rewrite the output of -k: fix the kustomization's files with -f")
		}
		for _, f := range o.Filenames {
			if o.InPlace && f == "-" {
				return usageErrorf(cmd, "--in-place cannot write back standard input (-f -)")
			}
			if o.InPlace && (strings.HasPrefix(f, "http://") || strings.HasPrefix(f, "https://")) {
				return usageErrorf(cmd, "--in-place cannot write back a URL (%s)", f)
			}
		}
		if !o.InPlace && o.outputSet {
			return usageErrorf(cmd, "--output does not apply to --fix without --in-place: the fixed manifests are printed")
		}
	}
	if o.Fix && live && o.InPlace {
		return usageErrorf(cmd, "--in-place applies to files; live objects are patched (see --dry-run)")
	}
	return nil
}

func (o *LintOptions) lintOptions(live bool) lint.Options {
	return lint.Options{DrainSeconds: o.DrainSeconds, Live: live, Disabled: o.Disable, Enabled: o.Enable}
}

// load reads the objects to lint and prints a note for every skipped one.
func (o *LintOptions) load(ctx context.Context) (*lint.Loaded, error) {
	var (
		loaded *lint.Loaded
		err    error
	)
	if len(o.Args) > 0 {
		loaded, err = lint.LoadLive(ctx, o.NewBuilder(), o.Client, lint.LiveOptions{
			Args: o.Args, Namespace: o.Namespace, AllNamespaces: o.AllNamespaces, Selector: o.Selector,
			Dynamic: o.Dynamic,
		})
	} else {
		loaded, err = lint.LoadFiles(o.loadOptions())
	}
	if err != nil {
		return nil, err
	}
	o.notes(loaded.Skipped, loaded.Notes)
	return loaded, nil
}

// loadOptions are the options of LoadFiles and LintFiles for -f and -k.
func (o *LintOptions) loadOptions() lint.LoadOptions {
	ns := ""
	if o.namespaceSet {
		ns = o.Namespace
	}
	return lint.LoadOptions{
		Filenames: o.Filenames, Recursive: o.Recursive, Kustomize: o.Kustomize,
		Stdin: o.In, Namespace: ns, DropRaw: true,
		Helm: lint.HelmOptions{ValueFiles: o.HelmValues, Values: o.HelmSet, StringValues: o.HelmSetString},
	}
}

// notes prints a note for every skipped object, and the other notes of a
// load; on a terminal each note is wrapped to its width.
func (o *LintOptions) notes(skipped []lint.Skipped, other []string) {
	tty := terminal.IsTerminal(o.ErrOut)
	width := terminal.Width(o.ErrOut, nil)
	lines := make([]string, 0, len(other)+len(skipped))
	for _, n := range other {
		lines = append(lines, "note: "+n)
	}
	for _, s := range skipped {
		lines = append(lines, fmt.Sprintf("note: %s", s))
	}
	for _, note := range lines {
		if !tty {
			fmt.Fprintln(o.ErrOut, note)
			continue
		}
		for i, l := range terminal.Wrap(note, width-2) {
			if i > 0 {
				l = "  " + l
			}
			fmt.Fprintln(o.ErrOut, l)
		}
	}
}

// Run loads, audits and prints; with --fix it rewrites or patches.
func (o *LintOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	live := len(o.Args) > 0
	if live {
		if err := connect(o.factory, &o.Client, &o.Dynamic); err != nil {
			return err
		}
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A big input makes much short-lived garbage (each document's
		// JSON): a soft limit keeps the peak near the live heap.
		debug.SetMemoryLimit(lintMemoryLimit)
	}
	if os.Getenv("GOGC") == "" {
		// The heap peaks at 1.5 times what is live (the Services, PDBs and
		// HPAs, the findings, the files) rather than twice, for a few
		// percent more CPU: 10,000 objects stay near 100 MiB.
		debug.SetGCPercent(50)
	}
	if !live && !o.Fix {
		// Files: read and audited as a stream, one workload at a time.
		res, err := lint.LintFiles(o.loadOptions(), o.lintOptions(false))
		if err != nil {
			return err
		}
		o.notes(res.Skipped, res.Notes)
		return o.report(res.Objects, res.Skipped, res.Findings)
	}
	loaded, err := o.load(ctx)
	if err != nil {
		return err
	}
	findings := lint.Audit(loaded.Objects, o.lintOptions(live))
	if o.Fix {
		if live {
			return o.fixLive(ctx, loaded, findings)
		}
		return o.fixFiles(loaded, findings)
	}
	return o.report(audited(loaded.Objects), loaded.Skipped, findings)
}

// report prints the findings and turns a failing report into exit 1.
func (o *LintOptions) report(objects int, skipped []lint.Skipped, findings []lint.Finding) error {
	rep := &lint.Report{
		Objects:     objects,
		Skipped:     skipped,
		Findings:    findings,
		FailOn:      o.failOn,
		ToolVersion: version.Get().Version,
		Root:        o.root,
		WorkDir:     o.workDir,
		// the table format fits the terminal (else $COLUMNS, else 80
		// columns), coloured on a terminal unless NO_COLOR is set
		Width: terminal.Width(o.Out, nil),
		Color: terminal.Color(o.Out, nil),
	}
	if err := rep.Write(o.Out, o.Output); err != nil {
		return err
	}
	if rep.Failed() {
		return &exitcode.Silent{Code: exitcode.Failed}
	}
	return nil
}

// audited counts the objects that were audited (not mere context).
func audited(objs []lint.Object) int {
	n := 0
	for _, o := range objs {
		if !o.Context {
			n++
		}
	}
	return n
}
