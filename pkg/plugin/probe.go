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
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
)

// ProbeFlags are the settings of the request probe, with the same names on
// every command that probes (`kubectl zdd probe`, and --probe URL on the
// release commands), so that a setting moves from one to the other as it is.
type ProbeFlags struct {
	Rate          int
	Timeout       time.Duration
	Headers       []string
	Expect        string
	VersionHeader string
	MaxFailed     int
}

// NewProbeFlags returns the flags with their defaults.
func NewProbeFlags() ProbeFlags {
	return ProbeFlags{Rate: probe.DefaultRate, Timeout: probe.DefaultTimeout, Expect: probe.DefaultExpect}
}

// AddFlags registers the probe flags.
func (f *ProbeFlags) AddFlags(fs *pflag.FlagSet) {
	fs.IntVar(&f.Rate, "probe-rate", f.Rate, fmt.Sprintf("requests a second, each on a new connection (1 to %d)", probe.MaxRate))
	fs.DurationVar(&f.Timeout, "probe-timeout", f.Timeout, fmt.Sprintf("a request without a complete answer within this long fails as a timeout (at most %s)", probe.MaxTimeout))
	fs.StringArrayVar(&f.Headers, "probe-header", f.Headers, `a request header, "Name: value"; ${VAR} in the value is read from the environment and never printed or recorded (repeatable)`)
	fs.StringVar(&f.Expect, "probe-expect", f.Expect, "the statuses that count as success: codes, ranges or classes separated by commas (200-399, 200,204, 2xx)")
	fs.StringVar(&f.VersionHeader, "probe-version-header", f.VersionHeader, "a response header that names the version that answered: answers are counted per version")
	fs.IntVar(&f.MaxFailed, "max-failed-requests", f.MaxFailed, "the failed requests tolerated (default 0); one more fails the command")
}

// Options turns the flags into the probe's options for url; errors name
// the flag at fault and are usage errors of cmd (exit 2).
func (f *ProbeFlags) Options(cmd *cobra.Command, url string) (probe.Options, error) {
	o := probe.Options{URL: url, Rate: f.Rate, Timeout: f.Timeout, Expect: f.Expect, VersionHeader: f.VersionHeader, MaxFailed: f.MaxFailed}
	switch {
	case f.Rate < 1 || f.Rate > probe.MaxRate:
		return o, usageErrorf(cmd, "--probe-rate %d: want 1 to %d requests a second", f.Rate, probe.MaxRate)
	case f.Timeout <= 0 || f.Timeout > probe.MaxTimeout:
		return o, usageErrorf(cmd, "--probe-timeout %s: want more than 0 and at most %s", f.Timeout, probe.MaxTimeout)
	case f.MaxFailed < 0:
		return o, usageErrorf(cmd, "--max-failed-requests %d: must not be negative", f.MaxFailed)
	}
	if _, err := probe.ParseExpect(f.Expect); err != nil {
		return o, usageErrorf(cmd, "--probe-expect %v", err)
	}
	for _, h := range f.Headers {
		ph, err := probe.ParseHeader(h)
		if err != nil {
			// the value may hold a secret written as is: name the header only
			return o, usageErrorf(cmd, "--probe-header %s: %v", headerName(h), err)
		}
		o.Headers = append(o.Headers, ph)
	}
	if f.VersionHeader != "" {
		if _, err := probe.ParseHeader(f.VersionHeader + ":"); err != nil {
			return o, usageErrorf(cmd, "--probe-version-header %q: not a header name", f.VersionHeader)
		}
	}
	if err := o.Check(); err != nil {
		return o, usageErrorf(cmd, "%v", err)
	}
	return o, nil
}

// headerName is the name part of a --probe-header, quoted, for an error.
func headerName(h string) string {
	for i := 0; i < len(h); i++ {
		if h[i] == ':' {
			return fmt.Sprintf("%q", h[:i])
		}
	}
	return "(no name)"
}

// ProbeOptions runs the request probe on its own.
type ProbeOptions struct {
	URL    string
	For    time.Duration
	Output string
	Flags  ProbeFlags

	// Env reads ${VAR} in header values; os.Getenv by default.
	Env func(string) string
	// Transport sends the requests (tests); nil: a new connection each.
	Transport http.RoundTripper
	// ProgressEvery is how often a line says how many requests were sent
	// (0: 10s); a new failure is told within a second whatever it is.
	ProgressEvery time.Duration

	opts probe.Options
	genericiooptions.IOStreams
}

// DefaultProbeFor is how long `kubectl zdd probe` probes without --for.
const DefaultProbeFor = 30 * time.Second

// NewProbeOptions returns options with defaults set.
func NewProbeOptions(streams genericiooptions.IOStreams) *ProbeOptions {
	return &ProbeOptions{For: DefaultProbeFor, Flags: NewProbeFlags(), Env: os.Getenv, IOStreams: streams}
}

// NewCmdProbe builds `kubectl zdd probe`.
func NewCmdProbe(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	return newCmdProbe(f, NewProbeOptions(streams))
}

func newCmdProbe(f Factory, o *ProbeOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "probe URL [--for 30s]",
		Short: "Send a steady stream of requests to a URL and count the ones that fail",
		Long: `Send GET requests to URL from this machine, at a fixed rate and each on a
new connection, for the time --for says, and report what the users of URL
felt: the requests sent, the ones that failed by kind (refused, reset,
timeout, eof, or "status NNN" for a status outside --probe-expect), the
p50/p99 latency of the ones that succeeded, and, with --probe-version-header,
the answers of each version. It is the probe the release commands run with
--probe, on its own: a smoke check for a CI pipeline, or a witness beside a
release made by another tool. Nothing in the cluster is read or changed.

A line on stderr tells each new failure within a second and the progress
every 10 seconds; the report goes to stdout at the end (-o json for all of
it, failures with their times included). Requests go straight to URL,
never through HTTP(S)_PROXY, and redirects are not followed (a 3xx is an
answer). ${VAR} in a --probe-header value is read from the environment; the
value is never printed.

Exit codes: 0 at most --max-failed-requests (default 0) failed; 1 more
failed; 2 bad input (nothing sent); 3 interrupted before --for ended, within
the budget so far.`,
		Example: `  # Does the shop answer every request for 30 seconds? (exit 1 on the first failure)
  kubectl zdd probe http://shop.example/healthz --for 30s

  # Beside a release made by another tool, tolerating 5 failures, as JSON
  kubectl zdd probe https://shop.example/ --for 2m --max-failed-requests 5 -o json

  # A token from the environment, and the answers counted per version
  kubectl zdd probe https://shop.example/api --probe-header 'Authorization: Bearer ${TOKEN}' \
    --probe-version-header X-Version --probe-rate 50`,
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE:              runSteps(f, o),
	}
	fl := cmd.Flags()
	fl.DurationVar(&o.For, "for", o.For, fmt.Sprintf("how long to send requests (at most %s)", probe.MaxDurationLimit))
	fl.StringVarP(&o.Output, "output", "o", o.Output, `Output format: "" (text) or json`)
	o.Flags.AddFlags(fl)
	return cmd
}

// Complete takes the URL.
func (o *ProbeOptions) Complete(_ Factory, _ *cobra.Command, args []string) error {
	o.URL = args[0]
	if o.Env == nil {
		o.Env = os.Getenv
	}
	return nil
}

// Validate checks every setting; nothing is sent yet.
func (o *ProbeOptions) Validate(cmd *cobra.Command) error {
	switch o.Output {
	case "", "json":
	default:
		return usageErrorf(cmd, "--output %q: want json, or nothing (text)", o.Output)
	}
	if o.For <= 0 || o.For > probe.MaxDurationLimit {
		return usageErrorf(cmd, "--for %s: want more than 0 and at most %s", o.For, probe.MaxDurationLimit)
	}
	opts, err := o.Flags.Options(cmd, o.URL)
	if err != nil {
		return err
	}
	opts.Duration, opts.MaxDuration = o.For, o.For
	opts.Env, opts.Transport = o.Env, o.Transport
	o.opts = opts
	return nil
}

// Run probes for --for and reports.
func (o *ProbeOptions) Run(ctx context.Context) error {
	if ctx == nil {
		ctx = context.Background()
	}
	p, err := probe.Start(ctx, o.opts)
	if err != nil {
		// the options were checked: what is left is an unset ${VAR}
		return exitcode.Usagef("kubectl zdd probe: %v (--probe-header); nothing was sent", err)
	}
	fmt.Fprintf(o.ErrOut, "probe: %s for %s: %d requests a second, timeout %s, expecting %s, at most %d failed\n",
		o.opts.URL, o.For, p.Snapshot().Rate, o.opts.Timeout, p.Snapshot().Expect, o.opts.MaxFailed)
	o.follow(p)
	rep := p.Stop()

	if o.Output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		printProbeReport(o.Out, rep)
	}
	switch {
	case !rep.Within():
		return exitcode.Failedf("kubectl zdd probe: %d of %d requests failed, more than --max-failed-requests %d", rep.Failed, rep.Sent, rep.MaxFailed)
	case rep.Ended == probe.EndedCancelled:
		return exitcode.NeedsPersonf("kubectl zdd probe: interrupted after %.1fs of --for %s: %d requests measured, %d failed", rep.Seconds, o.For, rep.Sent, rep.Failed)
	}
	return nil
}

// follow tells on stderr each new failure (within a second), the budget
// exceeded, and the progress, until the probe ends.
func (o *ProbeOptions) follow(p *probe.Probe) {
	every := o.ProgressEvery
	if every <= 0 {
		every = 10 * time.Second
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	exceeded := p.Exceeded()
	lastFailed, lastProgress := 0, time.Now()
	for {
		select {
		case <-p.Done():
			return
		case <-exceeded:
			exceeded = nil
			s := p.Snapshot()
			fmt.Fprintf(o.ErrOut, "probe: +%.1fs: %d requests failed, more than --max-failed-requests %d\n", s.Seconds, s.Failed, s.MaxFailed)
		case <-tick.C:
			s := p.Snapshot()
			switch {
			case s.Failed != lastFailed:
				fmt.Fprintf(o.ErrOut, "probe: +%.1fs: %d sent, %d failed so far (%s)\n", s.Seconds, s.Sent, s.Failed, s.KindsText())
				lastFailed, lastProgress = s.Failed, time.Now()
			case time.Since(lastProgress) >= every:
				fmt.Fprintf(o.ErrOut, "probe: +%.1fs: %d sent, %d failed so far\n", s.Seconds, s.Sent, s.Failed)
				lastProgress = time.Now()
			}
		}
	}
}

// printProbeReport prints the report's line and its failures, one a line.
func printProbeReport(w io.Writer, rep *probe.Report) {
	fmt.Fprintln(w, rep.String())
	for _, l := range rep.FailureLines() {
		fmt.Fprintln(w, "  "+l)
	}
}
