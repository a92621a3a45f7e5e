// Package probe is the product's request probe: from the user's machine, a
// steady stream of HTTP requests to a URL, each on a new connection, judged
// one by one (a connection error, a timeout or an unexpected status is a
// failure), for as long as an operation runs. It reports what users of the
// URL felt: requests sent and failed by kind, latency, and the answers per
// version; and it tells its caller as soon as the failures exceed a budget,
// so that a release can stop and go back.
//
// A probe is bounded by construction: it sends at a fixed rate (at most
// MaxRate a second), never holds more than a fixed number of requests in
// flight, bounds each request by a timeout, and ends at the latest at its
// MaxDuration or when its context ends, whatever its caller does.
//
// Header values may hold ${VAR} references, expanded from the environment
// with pkg/analysis's rules; an expanded value is never printed (any text
// the probe reports is redacted) and never recorded (Params keeps a value
// only when it is written as references).
//
// The e2e suite's request meter (test/meter) is a separate implementation
// on purpose: the two are compared on the same releases.
package probe

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
)

// Defaults and bounds.
const (
	DefaultRate    = 20
	DefaultTimeout = 2 * time.Second
	// DefaultMaxDuration is the hard bound of a probe that sets none.
	DefaultMaxDuration = time.Hour
	MaxRate            = 1000
	MaxTimeout         = time.Minute
	// MaxDurationLimit is the longest MaxDuration a probe accepts.
	MaxDurationLimit = 24 * time.Hour
	// MaxInFlight bounds the requests in flight whatever the rate and
	// timeout.
	MaxInFlight = 2000
	// MaxVersions bounds the versions a report counts one by one; the
	// answers of any more are counted under OtherVersions.
	MaxVersions = 20
	// NoBudget as Options.MaxFailed: no failure budget.
	NoBudget = -1
	// maxLag is how far behind its schedule a probe may fall before it
	// skips the requests it is late for, instead of sending them in a
	// burst.
	maxLag = time.Second
	// maxBody bounds what is read of an answer's body.
	maxBody = 1 << 20
)

// Header is a request header as the user wrote it: Value may hold ${VAR}.
type Header struct {
	Name  string
	Value string
}

// ParseHeader reads "Name: value" (the --probe-header form, as curl's -H).
func ParseHeader(s string) (Header, error) {
	name, value, ok := strings.Cut(s, ":")
	if !ok {
		return Header{}, fmt.Errorf("want \"Name: value\"")
	}
	h := Header{Name: strings.TrimSpace(name), Value: strings.TrimSpace(value)}
	if err := analysis.CheckHeader(h.Name, h.Value); err != nil {
		return Header{}, err
	}
	return h, nil
}

// Options say what to probe and how.
type Options struct {
	// URL is requested with GET: http or https.
	URL string
	// Rate is requests per second (0: DefaultRate; at most MaxRate).
	Rate int
	// Timeout bounds each request, from dialling to the end of the body
	// (0: DefaultTimeout; at most MaxTimeout).
	Timeout time.Duration
	// Headers are sent with every request; a Host header sets the request's
	// host.
	Headers []Header
	// Expect lists the statuses that count as success (ParseExpect; "":
	// DefaultExpect, 2xx and 3xx).
	Expect string
	// VersionHeader names the response header that says which version
	// answered ("": answers are not counted per version).
	VersionHeader string
	// MaxFailed is the failure budget: once more requests than this have
	// failed, Exceeded is closed. NoBudget (negative): none.
	MaxFailed int
	// Duration stops the probe by itself after this long (0: it runs until
	// Stop, its context ends or MaxDuration).
	Duration time.Duration
	// MaxDuration is the hard bound (0: DefaultMaxDuration, or Duration
	// when that is longer; at most MaxDurationLimit).
	MaxDuration time.Duration
	// Env reads the ${VAR} of header values (os.Getenv when nil).
	Env func(string) string
	// Transport sends the requests (tests); nil: a transport that dials a
	// new connection for every request and never uses a proxy.
	Transport http.RoundTripper

	// now is the clock of latencies and failure times, and maxInFlight
	// replaces the in-flight limit (tests).
	now         func() time.Time
	maxInFlight int
}

// Check validates the options without expanding anything: what the
// commands call in Validate. Errors name the setting.
func (o *Options) Check() error {
	u, err := url.Parse(o.URL)
	switch {
	case o.URL == "":
		return fmt.Errorf("URL: empty")
	case err != nil:
		return fmt.Errorf("URL %q: %v", o.URL, err)
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("URL %q: want http:// or https://", o.URL)
	case u.Host == "":
		return fmt.Errorf("URL %q: no host", o.URL)
	}
	if o.Rate < 0 || o.Rate > MaxRate {
		return fmt.Errorf("rate %d: want 1 to %d requests a second", o.Rate, MaxRate)
	}
	if o.Timeout < 0 || o.Timeout > MaxTimeout {
		return fmt.Errorf("timeout %s: want more than 0 and at most %s", o.Timeout, MaxTimeout)
	}
	if _, err := ParseExpect(o.Expect); err != nil {
		return fmt.Errorf("expect %w", err)
	}
	if o.VersionHeader != "" {
		if err := analysis.CheckHeader(o.VersionHeader, ""); err != nil {
			return fmt.Errorf("version header: %w", err)
		}
	}
	for _, h := range o.Headers {
		if err := analysis.CheckHeader(h.Name, h.Value); err != nil {
			return fmt.Errorf("header: %w", err)
		}
	}
	if o.Duration < 0 {
		return fmt.Errorf("duration %s: must not be negative", o.Duration)
	}
	if o.MaxDuration < 0 || o.MaxDuration > MaxDurationLimit {
		return fmt.Errorf("maximum duration %s: want at most %s", o.MaxDuration, MaxDurationLimit)
	}
	if o.Duration > MaxDurationLimit {
		return fmt.Errorf("duration %s: want at most %s", o.Duration, MaxDurationLimit)
	}
	if o.MaxDuration > 0 && o.Duration > o.MaxDuration {
		return fmt.Errorf("duration %s is longer than the maximum duration %s", o.Duration, o.MaxDuration)
	}
	return nil
}

// withDefaults fills in the zero settings.
func (o Options) withDefaults() Options {
	if o.Rate == 0 {
		o.Rate = DefaultRate
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = max(DefaultMaxDuration, o.Duration)
	}
	if o.MaxFailed < 0 {
		o.MaxFailed = NoBudget
	}
	if o.now == nil {
		o.now = time.Now
	}
	return o
}

// Probe sends requests until it ends (Duration, Stop, its context, or
// MaxDuration). Its methods are safe for concurrent use.
type Probe struct {
	o       Options
	expect  Expect
	headers http.Header
	host    string
	secrets *analysis.Secrets
	client  *http.Client

	start    time.Time
	stopping chan struct{} // closed by Stop: no new request
	stopOnce sync.Once
	done     chan struct{} // closed when the schedule ended and every request came back
	exceeded chan struct{}
	// reqCancel ends the requests in flight (a hard stop)
	reqCancel context.CancelFunc
	// cancel ends the schedule's context
	cancel context.CancelFunc

	// t0 is the start on the real clock, which paces the schedule
	t0 time.Time

	mu      sync.Mutex
	rep     Report
	hist    histogram
	seconds []map[string]VersionCount
	final   *Report
	inSched bool
}

// Start checks the options, expands the headers' ${VAR} from the
// environment (an unset variable is an error naming it), and starts
// sending: the first request goes at once. Call it before the operation's
// first write, and Stop at its end.
func Start(ctx context.Context, o Options) (*Probe, error) {
	if err := o.Check(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	expect, _ := ParseExpect(o.Expect)
	p := &Probe{
		o:        o,
		expect:   expect,
		headers:  http.Header{},
		secrets:  &analysis.Secrets{},
		stopping: make(chan struct{}),
		done:     make(chan struct{}),
		exceeded: make(chan struct{}),
	}
	for _, h := range o.Headers {
		v, err := p.secrets.Expand(h.Value, o.Env)
		if err != nil {
			return nil, fmt.Errorf("header %s: %w", h.Name, err)
		}
		if strings.EqualFold(h.Name, "Host") {
			p.host = v
			continue
		}
		p.headers.Add(h.Name, v)
	}
	tr := o.Transport
	if tr == nil {
		d := &net.Dialer{Timeout: o.Timeout}
		tr = &http.Transport{
			Proxy:                  nil, // the path to the URL, never a proxy that pools or retries
			DialContext:            d.DialContext,
			DisableKeepAlives:      true, // a new connection per request
			TLSHandshakeTimeout:    o.Timeout,
			ResponseHeaderTimeout:  o.Timeout,
			MaxResponseHeaderBytes: 64 << 10,
		}
	}
	p.client = &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	p.rep = Report{
		URL:            o.URL,
		Rate:           o.Rate,
		TimeoutSeconds: o.Timeout.Seconds(),
		Expect:         expect.String(),
		VersionHeader:  o.VersionHeader,
		MaxFailed:      o.MaxFailed,
	}
	schedCtx, cancel := context.WithTimeout(ctx, o.MaxDuration)
	reqCtx, reqCancel := context.WithCancel(ctx)
	p.cancel, p.reqCancel = cancel, reqCancel
	p.start, p.t0 = o.now(), time.Now()
	p.rep.Start = p.start
	p.inSched = true
	go p.run(schedCtx, reqCtx)
	return p, nil
}

// Exceeded is closed as soon as more requests than Options.MaxFailed have
// failed (never without a budget).
func (p *Probe) Exceeded() <-chan struct{} { return p.exceeded }

// Done is closed when the probe has ended and every request it sent has
// been judged.
func (p *Probe) Done() <-chan struct{} { return p.done }

// Failed is the number of requests failed so far.
func (p *Probe) Failed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rep.Failed
}

// Snapshot is the report so far, while the probe runs or after.
func (p *Probe) Snapshot() *Report {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.final != nil {
		r := copyReport(p.final)
		return &r
	}
	r := copyReport(&p.rep)
	if p.inSched {
		r.Seconds = p.o.now().Sub(p.start).Seconds()
	}
	r.P50Seconds, r.P99Seconds = p.hist.quantile(0.50), p.hist.quantile(0.99)
	return &r
}

// Stop stops sending, waits for the requests in flight (each bounded by the
// timeout) and returns the report. It may be called more than once, and
// after the probe ended by itself.
func (p *Probe) Stop() *Report {
	p.stopOnce.Do(func() { close(p.stopping) })
	<-p.done
	p.mu.Lock()
	if p.final == nil {
		r := copyReport(&p.rep)
		r.P50Seconds, r.P99Seconds = p.hist.quantile(0.50), p.hist.quantile(0.99)
		p.final = &r
	}
	p.mu.Unlock()
	return p.Snapshot()
}

// Wait waits until the probe ends by itself (Duration, its context or
// MaxDuration) and returns the report.
func (p *Probe) Wait() *Report {
	<-p.done
	return p.Stop()
}

func copyReport(r *Report) Report {
	c := *r
	if r.FailedByKind != nil {
		c.FailedByKind = make(map[string]int, len(r.FailedByKind))
		for k, v := range r.FailedByKind {
			c.FailedByKind[k] = v
		}
	}
	if r.Versions != nil {
		c.Versions = make(map[string]VersionCount, len(r.Versions))
		for k, v := range r.Versions {
			c.Versions[k] = v
		}
	}
	c.Failures = append([]FailureGroup(nil), r.Failures...)
	// recorded as requests came back: a timeout comes back after later
	// requests did
	sort.SliceStable(c.Failures, func(i, j int) bool { return c.Failures[i].AtSeconds < c.Failures[j].AtSeconds })
	if r.ExceededAt != nil {
		t := *r.ExceededAt
		c.ExceededAt = &t
	}
	return c
}
