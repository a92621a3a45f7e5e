package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
	"github.com/zdd-dev/kubectl-zdd/pkg/report"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
	"github.com/zdd-dev/kubectl-zdd/pkg/version"
)

// ReleaseReport is the picture of a release command's operation (rollout,
// canary and its promote and abort, bluegreen deploy, promote and
// rollback, resume, rollback): the engine is handed its Recorder as its
// strategies.Events, and at the end the command draws, from the recording
// and the probe's seconds,
//   - on a terminal (not with -o json): the compact timeline, fitting the
//     width, in ASCII with --ascii or when the locale is not UTF-8;
//   - with --report FILE.html: the self-contained HTML page;
//   - always: the size-capped summary recorded in zdd.dev/summary on the
//     object that holds the record, for `kubectl zdd report`.
//
// It watches and measures nothing: the data is the engine's endpoint watch
// and the request probe.
type ReleaseReport struct {
	// File is --report FILE.html ("" for none).
	File  string
	ASCII bool

	asciiSet bool
	// Getenv reads the locale and COLUMNS; os.Getenv when nil.
	Getenv func(string) string
	// IsTerminal says whether the output is a terminal; terminal.IsTerminal
	// when nil.
	IsTerminal func(io.Writer) bool
	// Width is the terminal's columns (tests); terminal.Width when 0.
	Width int

	rec *report.Recorder
	// names are the versions' names learnt so far (hash -> name): the
	// ReplicaSets are read at each phase, as a canary's is gone by the end
	namesMu sync.Mutex
	names   map[string]string
	learn   func()
}

// NewReleaseReport returns the flags with their defaults.
func NewReleaseReport() *ReleaseReport { return &ReleaseReport{} }

// AddFlags registers --report and --ascii.
func (rr *ReleaseReport) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&rr.File, "report", rr.File, "Write the picture of the operation (ready endpoints per version, phases, requests, analysis, facts) to this self-contained HTML file")
	fs.BoolVar(&rr.ASCII, "ascii", rr.ASCII, "Draw the timeline at the end with ASCII characters only (the default when the locale is not UTF-8)")
}

// Validate checks --report (exit 2, nothing changed): a file whose
// directory exists, named .html or .htm.
func (rr *ReleaseReport) Validate(cmd *cobra.Command) error {
	rr.asciiSet = flagChanged(cmd.Flags(), "ascii")
	if f := cmd.Flags().Lookup("report"); f != nil && f.Changed && rr.File == "" {
		return usageErrorf(cmd, "--report: empty file name")
	}
	if rr.File == "" {
		return nil
	}
	switch strings.ToLower(filepath.Ext(rr.File)) {
	case ".html", ".htm":
	default:
		return usageErrorf(cmd, "--report %q: want a file name ending in .html", rr.File)
	}
	dir := filepath.Dir(rr.File)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return usageErrorf(cmd, "--report %q: directory %q does not exist", rr.File, dir)
	}
	if st, err := os.Stat(rr.File); err == nil && st.IsDir() {
		return usageErrorf(cmd, "--report %q is a directory", rr.File)
	}
	return nil
}

// Events starts the recording of an operation in namespace ns and returns
// it for the engine. At each phase the ReplicaSets of ns are read (one
// list, no watch) to name the versions, base as in report.VersionNames:
// the ReplicaSet of a version may be gone by the end (a canary's).
func (rr *ReleaseReport) Events(client kubernetes.Interface, ns, base string) strategies.Events {
	rr.rec = report.NewRecorder(nil)
	rr.names = map[string]string{}
	rr.learn = func() {
		if client == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		rss, err := client.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{ResourceVersion: "0"})
		if err != nil {
			return
		}
		rr.namesMu.Lock()
		defer rr.namesMu.Unlock()
		maps.Copy(rr.names, report.VersionNames(rss.Items, base))
	}
	return naming{Recorder: rr.rec, learn: rr.learn}
}

// naming is the recording that reads the versions' names at each phase.
type naming struct {
	*report.Recorder
	learn func()
}

func (n naming) Phase(name string) {
	n.Recorder.Phase(name)
	n.learn()
}

// Phase marks the recording (the commands that run no engine: rollback).
func (rr *ReleaseReport) Phase(name string) {
	if rr.rec != nil {
		rr.rec.Phase(name)
	}
}

func (rr *ReleaseReport) getenv() func(string) string {
	if rr.Getenv != nil {
		return rr.Getenv
	}
	return os.Getenv
}

// releaseEnd says what the operation was and where its picture goes.
type releaseEnd struct {
	Client kubernetes.Interface
	// Kind ("deployment" or "service"), Namespace and Name are the object
	// that holds the record.
	Kind, Namespace, Name string
	// Service is the Service whose endpoint watch is drawn ("ns/name"; ""
	// for the first the engine watched).
	Service string
	// Base names the versions (given to Events): a ReplicaSet of another
	// Deployment than Base is called by what follows Base in its name
	// (canary, green).
	Base string
	// Probe is the release's probe (nil or not enabled: none).
	Probe *ReleaseProbe
	// Out gets the timeline, ErrOut the warnings.
	Out, ErrOut io.Writer
	// JSON is -o json: no timeline.
	JSON bool
	// Facts, when set, replace the record's facts (rollback, which keeps
	// no record).
	Facts *report.Facts
	// OperationID is the operation's, when the command knows it (resume).
	OperationID string
	// Lost says the operation ended because its Lease was lost (taken
	// over, deleted, contact lost): the run makes no further write, so its
	// summary is not recorded (the picture is still drawn).
	Lost bool
}

// ours says whether rec is the record of the operation this command ran:
// written since the recording started, and of the operation the command
// names, or held by this process, or held by none (canary records keep no
// holder).
func (e releaseEnd) ours(rec *state.Operation, started time.Time) bool {
	if rec.UpdateTime.Before(started.Truncate(time.Second)) {
		return false
	}
	switch {
	case e.OperationID != "":
		return rec.ID == e.OperationID
	case rec.Holder == "":
		return true
	}
	return rec.Holder == state.Identity(rec.ID)
}

// Finish draws the operation: the summary on the record's object, the
// HTML file, and the timeline on a terminal. Nothing is drawn when the
// operation stopped before it did anything (no phase, no watch, no
// request). A problem is a warning on ErrOut: the operation is over.
func (rr *ReleaseReport) Finish(ctx context.Context, e releaseEnd) {
	if rr == nil || rr.rec == nil {
		return
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// a run whose Lease was lost writes nothing more, its summary included
	lost := e.Lost || state.LostCause(ctx) != nil
	// the operation's end is written even after Ctrl-C, within a bound
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	seconds := e.Probe.seconds()
	if !rr.rec.Heard() && len(seconds) == 0 {
		return
	}
	ref := e.Namespace + "/" + e.Name
	service := e.Service
	// its lines fit a terminal like the steps' (a long --report path goes
	// to a line of its own)
	errOut := fitTerminal(e.ErrOut)
	rr.learn()
	rr.namesMu.Lock()
	names := maps.Clone(rr.names)
	rr.namesMu.Unlock()
	d := rr.rec.Data(service, names, seconds)
	d.SetFacts(e.Kind, e.Namespace, e.Name, nil)
	var op *state.Operation
	obj, err := readRecordObject(ctx, e.Client, e.Kind, e.Namespace, e.Name)
	if err == nil {
		if rec, ok := state.FromAnnotations(obj.GetAnnotations()); ok && e.ours(rec, rr.rec.Started()) {
			op = rec
		}
	}
	switch {
	case e.Facts != nil:
		f := *e.Facts
		f.Kind, f.Namespace, f.Name = d.Facts.Kind, d.Facts.Namespace, d.Facts.Name
		f.Service, f.MinReady, f.ZeroFor, f.Unwatched = d.Facts.Service, d.Facts.MinReady, d.Facts.ZeroFor, d.Facts.Unwatched
		d.Facts = f
	case op != nil:
		d.SetFacts(e.Kind, e.Namespace, e.Name, op)
		if d.Facts.Who == "" {
			d.Facts.Who = report.Who(state.Identity(""))
		}
	}
	if lost {
		fmt.Fprintf(errOut, "the release summary is not recorded on %s %q: this run's lease was lost\n", e.Kind, ref)
	} else if err == nil && (op != nil || e.Facts != nil) {
		if werr := recordSummary(ctx, e.Client, e.Kind, e.Namespace, e.Name, d, obj); werr != nil {
			fmt.Fprintf(errOut, "warning: recording the release summary on %s %q: %v\n", e.Kind, ref, werr)
		}
	} else if err != nil {
		fmt.Fprintf(errOut, "warning: the release summary is not recorded: reading %s %q: %v\n", e.Kind, ref, err)
	}
	if rr.File != "" {
		if werr := writeHTMLReport(rr.File, d); werr != nil {
			fmt.Fprintf(errOut, "warning: --report %s: %v\n", rr.File, werr)
		} else {
			fmt.Fprintf(errOut, "report: %s\n", rr.File)
		}
	}
	isTTY := rr.IsTerminal
	if isTTY == nil {
		isTTY = terminal.IsTerminal
	}
	if e.JSON || !isTTY(e.Out) {
		return
	}
	width := rr.Width
	if width == 0 {
		width = terminal.Width(e.Out, rr.getenv())
	}
	fmt.Fprintln(e.Out)
	_ = report.Timeline(e.Out, d, report.TextOptions{Width: width, ASCII: chooseASCII(rr.asciiSet, rr.ASCII, rr.getenv())})
}

// writeHTMLReport writes the page to path (through a file beside it, so a
// failure leaves no half page).
func writeHTMLReport(path string, d *report.Data) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".zdd-report-*.html")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := report.HTML(tmp, d, report.HTMLOptions{Generator: "kubectl zdd " + version.Get().Version}); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readRecordObject reads the Deployment or Service that holds a record.
func readRecordObject(ctx context.Context, client kubernetes.Interface, kind, ns, name string) (metav1.Object, error) {
	if kind == "service" {
		return client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	}
	return client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
}

// summaryTries bounds the writes of the summary that conflict.
const summaryTries = 3

// recordSummary writes the summary of d on the object, as read in obj: a
// merge patch of the one annotation, with the resourceVersion read as its
// precondition; on a conflict the object is read again and the summary
// written only while the record is still the one it was (another
// operation's record gets no summary of this one).
func recordSummary(ctx context.Context, client kubernetes.Interface, kind, ns, name string, d *report.Data, obj metav1.Object) error {
	enc, err := report.Encode(d, 0)
	if err != nil {
		return err
	}
	id := d.Facts.OperationID
	for try := 0; ; try++ {
		body, err := json.Marshal(map[string]any{"metadata": map[string]any{
			"resourceVersion": obj.GetResourceVersion(),
			"annotations":     map[string]string{report.SummaryAnnotation: enc},
		}})
		if err != nil {
			return err
		}
		if kind == "service" {
			_, err = client.CoreV1().Services(ns).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: kube.FieldManager})
		} else {
			_, err = client.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, body, metav1.PatchOptions{FieldManager: kube.FieldManager})
		}
		if err == nil || !apierrors.IsConflict(err) || try+1 >= summaryTries {
			return err
		}
		if obj, err = readRecordObject(ctx, client, kind, ns, name); err != nil {
			return err
		}
		if op, ok := state.FromAnnotations(obj.GetAnnotations()); id != "" && (!ok || op.ID != id) {
			return fmt.Errorf("its record is now of another operation: the summary of operation %s is not written over it", id)
		}
	}
}

// seconds are the probe's requests per second (nil without a probe).
func (rp *ReleaseProbe) seconds() []probe.Second {
	if rp == nil || rp.p == nil {
		return nil
	}
	return rp.p.PerSecond()
}

// run hands the recording to the engine (set), runs the operation and
// draws it at its end, whatever the end.
func (rr *ReleaseReport) run(ctx context.Context, e releaseEnd, set func(strategies.Events), op func() error) error {
	set(rr.Events(e.Client, e.Namespace, e.Base))
	err := op()
	e.Lost = state.LeaseLost(err) != nil
	rr.Finish(ctx, e)
	return err
}
