package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// ParamProbe is the record's param (zdd.dev/param.probe) that keeps the
// probe's settings, header values only when written as ${VAR}, so that
// `kubectl zdd resume` probes again.
const ParamProbe = "probe"

// ReleaseProbe is --probe URL on the release commands: the request probe
// started before the release's first write and stopped when the release
// ends (it never outlives the command), whose failure budget
// (--max-failed-requests) fails the release like a failing analysis, and
// whose report is the release's requests line. One piece for every
// release command: it only hands the strategy a strategies.Tripwire.
type ReleaseProbe struct {
	URL   string
	Flags ProbeFlags

	// Env reads ${VAR} in header values; os.Getenv when nil.
	Env func(string) string
	// Transport sends the requests (tests); nil: a new connection each.
	Transport http.RoundTripper

	opts    probe.Options
	enabled bool
	p       *probe.Probe
	report  *probe.Report
}

// NewReleaseProbe returns the flags with their defaults.
func NewReleaseProbe() *ReleaseProbe { return &ReleaseProbe{Flags: NewProbeFlags()} }

// AddFlags registers --probe and the probe's settings.
func (rp *ReleaseProbe) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&rp.URL, "probe", rp.URL, "A URL to send a steady stream of requests to from before the first change to the end of the release; failures beyond --max-failed-requests fail the release (rolled back, switched back or pulled back)")
	rp.Flags.AddFlags(fs)
}

// probeFlagNames are the settings that mean nothing without --probe.
var probeFlagNames = []string{"probe-rate", "probe-timeout", "probe-header", "probe-expect", "probe-version-header", "max-failed-requests"}

// Validate checks the settings (exit 2, nothing sent): a probe setting
// without --probe is an error naming it.
func (rp *ReleaseProbe) Validate(cmd *cobra.Command) error {
	if rp.URL == "" {
		for _, n := range probeFlagNames {
			if f := cmd.Flags().Lookup(n); f != nil && f.Changed {
				return usageErrorf(cmd, "--%s needs --probe URL", n)
			}
		}
		if f := cmd.Flags().Lookup("probe"); f != nil && f.Changed {
			return usageErrorf(cmd, "--probe: empty URL")
		}
		return nil
	}
	o, err := rp.Flags.Options(cmd, rp.URL)
	if err != nil {
		return err
	}
	rp.setOptions(o)
	return nil
}

func (rp *ReleaseProbe) setOptions(o probe.Options) {
	// bounded by the command: Stop at its end, its context on Ctrl-C, and
	// the longest a probe may run whatever happens
	o.MaxDuration = probe.MaxDurationLimit
	o.Env, o.Transport = rp.Env, rp.Transport
	if o.Env == nil {
		o.Env = os.Getenv
	}
	rp.opts, rp.enabled = o, true
}

// FromRecord sets the probe from a record's params, for resume: the
// recorded settings, with the --probe-header values given again. A probe
// given on the command line (--probe) wins over the record's. No record
// of a probe and no --probe: none.
func (rp *ReleaseProbe) FromRecord(params map[string]string) (fromRecord bool, err error) {
	if rp.enabled || params[ParamProbe] == "" {
		return false, nil
	}
	rec, err := probe.DecodeParams(params[ParamProbe])
	if err != nil {
		return false, exitcode.Usagef("the record's param %s: %w", "zdd.dev/param."+ParamProbe, err)
	}
	var given []probe.Header
	for _, h := range rp.Flags.Headers {
		ph, err := probe.ParseHeader(h)
		if err != nil {
			return false, exitcode.Usagef("--probe-header %s: %v", headerName(h), err)
		}
		given = append(given, ph)
	}
	o, err := rec.Options(given)
	if err != nil {
		return false, exitcode.Usagef("the probe recorded for this operation: %w", err)
	}
	rp.setOptions(o)
	return true, nil
}

// URL is the URL the probe requests ("" without one).
func (rp *ReleaseProbe) ProbeURL() string {
	if !rp.Enabled() {
		return ""
	}
	return rp.opts.URL
}

// Enabled says whether the release probes.
func (rp *ReleaseProbe) Enabled() bool { return rp != nil && rp.enabled }

// Params are what the record keeps of the probe (nil without one).
func (rp *ReleaseProbe) Params() (map[string]string, error) {
	if !rp.Enabled() {
		return nil, nil
	}
	s, err := rp.opts.Params().Encode()
	if err != nil {
		return nil, err
	}
	return map[string]string{ParamProbe: s}, nil
}

// Start starts the probe (before the release's first write) and returns
// the release's tripwire; nil without --probe. An unset ${VAR} in a header
// is bad input (exit 2), nothing sent.
func (rp *ReleaseProbe) Start(ctx context.Context, log io.Writer) (strategies.Tripwire, error) {
	if !rp.Enabled() {
		return nil, nil
	}
	p, err := probe.Start(ctx, rp.opts)
	if err != nil {
		return nil, exitcode.Usagef("--probe %s: %v (--probe-header); nothing was changed", rp.opts.URL, err)
	}
	rp.p = p
	s := p.Snapshot()
	fmt.Fprintf(log, "probe: %s: %d requests a second, timeout %s, expecting %s, at most %d failed (--max-failed-requests), until the release ends\n",
		rp.opts.URL, s.Rate, rp.opts.Timeout, s.Expect, rp.opts.MaxFailed)
	return p, nil
}

// Stop stops the probe (every request in flight judged) and keeps its
// report; nil without a probe. It may be called more than once.
func (rp *ReleaseProbe) Stop() *probe.Report {
	if rp == nil || rp.p == nil {
		return nil
	}
	if rp.report == nil {
		rp.report = rp.p.Stop()
	}
	return rp.report
}

// printRequests prints the requests line of a release and its failures
// (time, kind, count), or says that requests were not measured.
func printRequests(w io.Writer, rep *probe.Report) {
	if rep == nil {
		fmt.Fprintln(w, "requests: not measured (no --probe URL)")
		return
	}
	line := rep.String()
	if rep.MaxFailed >= 0 {
		line += fmt.Sprintf("; --max-failed-requests %d", rep.MaxFailed)
		if !rep.Within() {
			line += ": exceeded"
		}
	}
	fmt.Fprintln(w, line)
	for _, l := range rep.FailureLines() {
		fmt.Fprintln(w, "  "+l)
	}
}

// capacityLine is the endpoints figure of one Service, said for what it
// is: capacity (the smallest number of ready endpoints as a share of the
// desired replicas, and the time with none), not what users felt.
func capacityLine(service string, minReady int, desired int32, zeroFor, observed float64, blind string) string {
	return downtime.CapacityLine(service, minReady, desired, zeroFor, observed, blind)
}

// RequestsAnnotation holds, on the object that holds an operation's
// record, what the probe of that operation measured: written when the
// release ends, read by `kubectl zdd status`. It is not part of the record.
const RequestsAnnotation = "zdd.dev/requests"

// RequestsRecord is the value of RequestsAnnotation.
type RequestsRecord struct {
	OperationID  string         `json:"operationId"`
	URL          string         `json:"url"`
	Sent         int            `json:"sent"`
	Failed       int            `json:"failed"`
	FailedByKind map[string]int `json:"failedByKind,omitempty"`
	MaxFailed    int            `json:"maxFailedRequests"`
}

// requestsPatch is the merge patch that records rep for operation id.
func requestsPatch(id string, rep *probe.Report) ([]byte, error) {
	rec := RequestsRecord{OperationID: id, URL: rep.URL, Sent: rep.Sent, Failed: rep.Failed, FailedByKind: rep.FailedByKind, MaxFailed: rep.MaxFailed}
	v, err := json.Marshal(rec)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{RequestsAnnotation: string(v)}}})
}

// recordRequests writes what the probe measured beside the operation's
// record; a failure is a warning on log (the release is over).
func recordRequests(ctx context.Context, log io.Writer, what, id string, rep *probe.Report, patch func(context.Context, []byte) error) {
	if rep == nil || id == "" {
		return
	}
	b, err := requestsPatch(id, rep)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		err = patch(ctx, b)
	}
	if err != nil {
		fmt.Fprintf(log, "warning: recording the requests measured on %s: %v\n", what, err)
	}
}

// requestsOf reads RequestsAnnotation for operation id (nil: none, or of
// another operation, or unreadable).
func requestsOf(ann map[string]string, id string) *RequestsRecord {
	v := ann[RequestsAnnotation]
	if v == "" || len(v) > 4096 {
		return nil
	}
	var rec RequestsRecord
	if err := json.Unmarshal([]byte(v), &rec); err != nil || rec.OperationID != id || rec.Sent < 0 || rec.Failed < 0 {
		return nil
	}
	return &rec
}

// budgetError is the error of a release that ended well by its own
// judgement while its probe's budget was exceeded after the last check.
func budgetError(what string, rep *probe.Report) error {
	return exitcode.Failedf("%s: %d of %d requests sent to %s failed, more than --max-failed-requests %d (%s)", what, rep.Failed, rep.Sent, rep.URL, rep.MaxFailed, rep.KindsText())
}

// maxSettle bounds how long the probe goes on after the release, while the
// pods it replaced are still stopping.
const maxSettle = 2 * time.Minute

// settle keeps the probe running until the pods of Deployment ns/name that
// the release replaced have stopped (their requests are the release's
// too), at most maxSettle; without a probe it returns at once.
func (rp *ReleaseProbe) settle(ctx context.Context, log io.Writer, client kubernetes.Interface, ns, name string) {
	if rp == nil || rp.p == nil || ctx == nil {
		return
	}
	d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, maxSettle)
	defer cancel()
	if err := kube.WaitNoTerminating(ctx, client, ns, sel); err != nil && ctx.Err() == nil {
		fmt.Fprintf(log, "probe: could not watch the pods of deployment %q stop: %v\n", ns+"/"+name, err)
	}
}

// runProbed runs an operation recorded on kind ("deployment" or
// "service") ns/name with the probe around it (none without --probe):
// started before the first write, handed to the operation as its
// tripwire, stopped when it ends (after the pods of a Deployment it
// replaced have stopped); then the requests line, and, with record, the
// requests recorded beside the operation's record (not for an undo: the
// operation's own figures stay).
func (rp *ReleaseProbe) runProbed(ctx context.Context, out, errOut io.Writer, client kubernetes.Interface, kind, ns, name string, record bool, run func(strategies.Tripwire) error) error {
	out = fitTerminal(out)
	tw, err := rp.Start(ctx, out)
	if err != nil {
		return err
	}
	err = run(tw)
	if kind == "deployment" {
		rp.settle(ctx, out, client, ns, name)
	}
	rep := rp.Stop()
	printRequests(out, rep)
	if rep == nil {
		return err
	}
	if !record {
		if err == nil && !rep.Within() {
			err = budgetError(fmt.Sprintf("%s %q: the operation ended well, but", kind, ns+"/"+name), rep)
		}
		return err
	}
	var ann map[string]string
	var patch func(context.Context, []byte) error
	if kind == "service" {
		if svc, gerr := client.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{}); gerr == nil {
			ann = svc.Annotations
		}
		patch = func(ctx context.Context, b []byte) error {
			_, perr := client.CoreV1().Services(ns).Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{FieldManager: kube.FieldManager})
			return perr
		}
	} else {
		if d, gerr := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{}); gerr == nil {
			ann = d.Annotations
		}
		patch = func(ctx context.Context, b []byte) error {
			_, perr := client.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, b, metav1.PatchOptions{FieldManager: kube.FieldManager})
			return perr
		}
	}
	if op, ok := state.FromAnnotations(ann); ok {
		recordRequests(ctx, errOut, fmt.Sprintf("%s %q", kind, ns+"/"+name), op.ID, rep, patch)
	}
	if err == nil && !rep.Within() {
		err = budgetError(fmt.Sprintf("%s %q: the operation ended well, but", kind, ns+"/"+name), rep)
	}
	return err
}
