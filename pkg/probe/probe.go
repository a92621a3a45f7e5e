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
	"errors"
	"fmt"
	"io"
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

// inFlightLimit is how many requests may be in flight at once: what the
// rate sends in two timeouts, at least 10, at most MaxInFlight.
func (o *Options) inFlightLimit() int {
	if o.maxInFlight > 0 {
		return o.maxInFlight
	}
	n := 2 * o.Rate * int((o.Timeout+time.Second-1)/time.Second)
	return min(max(n, 10), MaxInFlight)
}

func (p *Probe) run(schedCtx, reqCtx context.Context) {
	sem := make(chan struct{}, p.o.inFlightLimit())
	var wg sync.WaitGroup
	ended := p.schedule(schedCtx, reqCtx, sem, &wg)
	// every request is bounded by its timeout; after that (and a margin)
	// the ones left are cut
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(p.o.Timeout + time.Second):
		p.reqCancel()
		<-waited
	}
	p.reqCancel()
	p.cancel()
	p.mu.Lock()
	p.inSched = false
	p.rep.Ended = ended
	p.rep.Seconds = p.o.now().Sub(p.start).Seconds()
	if p.o.Duration > 0 && ended == EndedDuration {
		p.rep.Seconds = p.o.Duration.Seconds()
	}
	p.mu.Unlock()
	close(p.done)
}

// schedule sends request i at start + i/rate until the probe ends, and says
// why it ended.
func (p *Probe) schedule(ctx, reqCtx context.Context, sem chan struct{}, wg *sync.WaitGroup) string {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := int64(0); ; i++ {
		due := time.Duration(i * int64(time.Second) / int64(p.o.Rate))
		if p.o.Duration > 0 && due >= p.o.Duration {
			return EndedDuration
		}
		if wait := due - time.Since(p.t0); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-p.stopping:
				return EndedStopped
			case <-ctx.Done():
				return p.why(ctx)
			}
		} else {
			select {
			case <-p.stopping:
				return EndedStopped
			case <-ctx.Done():
				return p.why(ctx)
			default:
			}
		}
		if time.Since(p.t0)-due > maxLag {
			p.skip()
			continue
		}
		select {
		case sem <- struct{}{}:
		default:
			p.skip()
			continue
		}
		wg.Add(1)
		go func(at time.Duration) {
			defer wg.Done()
			defer func() { <-sem }()
			p.one(reqCtx, at)
		}(due)
	}
}

func (p *Probe) why(ctx context.Context) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return EndedMaxDuration
	}
	return EndedCancelled
}

func (p *Probe) skip() {
	p.mu.Lock()
	p.rep.Skipped++
	p.mu.Unlock()
}

// one sends one request, due at start+at, and records it.
func (p *Probe) one(ctx context.Context, at time.Duration) {
	rctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	p.mu.Lock()
	p.rep.Sent++
	p.mu.Unlock()
	req, err := http.NewRequestWithContext(rctx, http.MethodGet, p.o.URL, nil)
	if err != nil {
		p.record(at, 0, 0, "", err, false)
		return
	}
	req.Header = p.headers.Clone()
	if p.host != "" {
		req.Host = p.host
	}
	req.Close = true
	t0 := p.o.now()
	resp, err := p.client.Do(req)
	status, version := 0, ""
	if err == nil {
		status = resp.StatusCode
		if p.o.VersionHeader != "" {
			version = resp.Header.Get(p.o.VersionHeader)
			if version == "" {
				version = NoVersion
			}
		}
		_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		resp.Body.Close()
	}
	lat := p.o.now().Sub(t0)
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		// cut short by the caller (Ctrl-C), not by the server: not judged
		p.mu.Lock()
		p.rep.Unfinished++
		p.mu.Unlock()
		return
	}
	p.record(at, lat, status, version, err, errors.Is(rctx.Err(), context.DeadlineExceeded))
}

// record judges one answered (or failed) request.
func (p *Probe) record(at, lat time.Duration, status int, version string, err error, timedOut bool) {
	kind, detail := "", ""
	switch {
	case err != nil:
		kind, detail = Classify(err, timedOut), errorText(err)
	case !p.expect.Match(status):
		kind = StatusKind(status)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if version != "" {
		if p.rep.Versions == nil {
			p.rep.Versions = map[string]VersionCount{}
		}
		if _, known := p.rep.Versions[version]; !known && len(p.rep.Versions) >= MaxVersions {
			version = OtherVersions
		}
		c := p.rep.Versions[version]
		if kind == "" {
			c.Succeeded++
		} else {
			c.Failed++
		}
		p.rep.Versions[version] = c
	}
	p.countSecond(at, err == nil, version, kind != "")
	if kind == "" {
		p.rep.Succeeded++
		p.hist.add(lat)
		return
	}
	p.rep.Failed++
	if p.rep.FailedByKind == nil {
		p.rep.FailedByKind = map[string]int{}
	}
	p.rep.FailedByKind[kind]++
	p.group(at, kind, p.secrets.Redact(detail))
	if p.o.MaxFailed >= 0 && p.rep.Failed > p.o.MaxFailed && !p.rep.Exceeded {
		p.rep.Exceeded = true
		t := p.start.Add(at)
		p.rep.ExceededAt = &t
		close(p.exceeded)
	}
}

// NoAnswer is the version, in PerSecond, of the requests that got no
// answer (refused, timeout, ...).
const NoAnswer = ""

// Second is the requests of one second of a probe: those due from At to
// At+1s, judged, per version (the version header's value, NoVersion for an
// answer without it or when no header is named, NoAnswer for none).
type Second struct {
	At       time.Time
	Versions map[string]VersionCount
}

// maxSeconds bounds PerSecond (a day; MaxDurationLimit is less).
const maxSeconds = 24 * 60 * 60

// countSecond counts a judged request in its second (p.mu held).
func (p *Probe) countSecond(at time.Duration, answered bool, version string, failed bool) {
	i := int(at / time.Second)
	if i < 0 || i >= maxSeconds {
		return
	}
	for len(p.seconds) <= i {
		p.seconds = append(p.seconds, nil)
	}
	switch {
	case !answered:
		version = NoAnswer
	case version == "":
		version = NoVersion
	}
	if p.seconds[i] == nil {
		p.seconds[i] = map[string]VersionCount{}
	}
	c := p.seconds[i][version]
	if failed {
		c.Failed++
	} else {
		c.Succeeded++
	}
	p.seconds[i][version] = c
}

// PerSecond is the requests judged so far, per second of the probe (from
// its Start) and version: the request rate and failures of the release's
// picture. Seconds with no judged request are left out.
func (p *Probe) PerSecond() []Second {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Second
	for i, m := range p.seconds {
		if len(m) == 0 {
			continue
		}
		s := Second{At: p.start.Add(time.Duration(i) * time.Second), Versions: make(map[string]VersionCount, len(m))}
		for v, c := range m {
			s.Versions[v] = c
		}
		out = append(out, s)
	}
	return out
}

// group adds a failure to the open group of its kind when it was sent
// within a second of that group's last one, else opens a group.
func (p *Probe) group(at time.Duration, kind, detail string) {
	secs := at.Seconds()
	for i := len(p.rep.Failures) - 1; i >= 0; i-- {
		g := &p.rep.Failures[i]
		if g.Kind != kind {
			continue
		}
		if secs-g.LastSeconds <= 1 && secs >= g.AtSeconds-1 {
			g.Count++
			g.LastSeconds = max(g.LastSeconds, secs)
			g.AtSeconds = min(g.AtSeconds, secs)
			g.Time = p.start.Add(time.Duration(g.AtSeconds * float64(time.Second)))
			return
		}
		break
	}
	if len(p.rep.Failures) >= MaxFailureGroups {
		p.rep.FailureGroupsDropped++
		return
	}
	p.rep.Failures = append(p.rep.Failures, FailureGroup{
		Time: p.start.Add(at), AtSeconds: secs, LastSeconds: secs, Kind: kind, Count: 1, Detail: detail,
	})
}

// errorText is an error without the `Get "URL": ` every request error
// starts with.
func errorText(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
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
