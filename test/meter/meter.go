// Package meter is the e2e suite's request meter: it sends a steady stream
// of HTTP requests to a Service for the whole of an operation and records
// every failure, with its time and kind, so that a release is judged by the
// requests it loses and not only by its endpoints.
//
// Three clients run side by side:
//   - new-conn: a fixed rate of requests, each on a new TCP connection (what
//     a fresh client, or a proxy without pooling, sees);
//   - keep-alive: requests one after another on a pooled connection (what a
//     long-lived client sees when its connection's pod goes away);
//   - streams: long-lived streaming responses held open, each recorded by how
//     it ended (a clean end of the body, or cut).
//
// Every meter is bounded: it sends at a fixed rate, never holds more than a
// fixed number of requests in flight, stops at MaxDuration even if nobody
// stops it, and sends only to the addresses it is allowed (loopback and the
// test cluster's own ranges, which are routed to this machine).
package meter

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options says what to send, where, and how fast.
type Options struct {
	// URL is the address requests go to, e.g. http://10.202.1.17/. Its host
	// must be an IP address inside Allowed (or loopback).
	URL string
	// Rate is new-connection requests per second (0: 100; negative: none).
	Rate int
	// KeepAliveRate is requests per second on the keep-alive client
	// (0: 20; negative: none).
	KeepAliveRate int
	// Streams is how many streaming responses (GET StreamPath) to hold open
	// at once (0: none).
	Streams int
	// StreamPath is the streaming endpoint (default /stream).
	StreamPath string
	// Timeout bounds each request (0: 2s); a stream counts as cut when no
	// data comes for that long.
	Timeout time.Duration
	// MaxDuration stops the meter by itself (0: 10 minutes).
	MaxDuration time.Duration
	// Allowed are the address ranges the meter may send to, besides
	// loopback.
	Allowed []netip.Prefix
	// VersionHeader names the response header that says which version
	// answered (default X-Zdd-Version).
	VersionHeader string
}

// Failure kinds.
const (
	KindRefused = "refused" // connection refused (nothing listening)
	KindReset   = "reset"   // connection reset by the peer
	KindEOF     = "eof"     // closed before an answer came
	KindTimeout = "timeout" // no answer within Timeout
	KindUnreach = "unreachable"
	Kind5xx     = "5xx"
	Kind4xx     = "4xx"
	KindOther   = "other"
	// KindNotSent is a request the meter could not send because too many
	// were in flight: the meter's own limit, reported so that it is seen.
	KindNotSent = "not-sent"
)

// Failure is one failed request.
type Failure struct {
	// At is the time since the meter started.
	At     time.Duration `json:"at"`
	Kind   string        `json:"kind"`
	Detail string        `json:"detail"`
}

// ClientReport is what one client saw.
type ClientReport struct {
	Sent   int            `json:"sent"`
	OK     int            `json:"ok"`
	Failed int            `json:"failed"`
	ByKind map[string]int `json:"byKind,omitempty"`
	// ByVersion counts the successful answers per version.
	ByVersion map[string]int `json:"byVersion,omitempty"`
	P50       time.Duration  `json:"p50"`
	P99       time.Duration  `json:"p99"`
	Max       time.Duration  `json:"max"`
	// Failures lists the first maxFailures failures.
	Failures []Failure `json:"failures,omitempty"`

	latencies []time.Duration
}

// Stream end kinds.
const (
	StreamClean   = "clean"   // the server ended the body properly
	StreamCut     = "cut"     // reset, or the connection closed mid-body
	StreamTimeout = "timeout" // no data for Timeout
	StreamRefused = "refused" // could not be opened
	StreamStopped = "stopped" // still open when the meter stopped
)

// StreamEnd is how one stream ended.
type StreamEnd struct {
	At      time.Duration `json:"at"`
	Lasted  time.Duration `json:"lasted"`
	Version string        `json:"version"`
	Kind    string        `json:"kind"`
	Detail  string        `json:"detail,omitempty"`
}

// Report is the meter's result.
type Report struct {
	URL       string        `json:"url"`
	Duration  time.Duration `json:"duration"`
	NewConn   ClientReport  `json:"newConn"`
	KeepAlive ClientReport  `json:"keepAlive"`
	// Streams lists how each stream ended.
	Streams []StreamEnd `json:"streams,omitempty"`
	// StreamsByKind counts Streams by Kind.
	StreamsByKind map[string]int `json:"streamsByKind,omitempty"`
	// Behind counts the new-connection requests the meter did not send
	// because it was starved of CPU for more than a second (not failures).
	Behind int `json:"behind,omitempty"`
}

// Sent and Failed add up both request clients.
func (r *Report) Sent() int   { return r.NewConn.Sent + r.KeepAlive.Sent }
func (r *Report) Failed() int { return r.NewConn.Failed + r.KeepAlive.Failed }

// String is a one-line summary.
func (r *Report) String() string {
	s := fmt.Sprintf("%d/%d requests failed in %.1fs (new-conn %s; keep-alive %s)",
		r.Failed(), r.Sent(), r.Duration.Seconds(), r.NewConn.summary(), r.KeepAlive.summary())
	if len(r.Streams) > 0 {
		s += fmt.Sprintf("; streams %s", kinds(r.StreamsByKind))
	}
	if r.Behind > 0 {
		s += fmt.Sprintf("; %d not sent (the meter was starved of CPU)", r.Behind)
	}
	return s
}

func (c *ClientReport) summary() string {
	if c.Sent == 0 {
		return "off"
	}
	s := fmt.Sprintf("%d/%d failed", c.Failed, c.Sent)
	if len(c.ByKind) > 0 {
		s += " " + kinds(c.ByKind)
	}
	s += fmt.Sprintf(", p50 %s p99 %s, versions %s", c.P50.Round(time.Millisecond), c.P99.Round(time.Millisecond), kinds(c.ByVersion))
	return s
}

func kinds(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%d", k, m[k])
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// maxFailures caps the failures listed one by one (all are counted).
const maxFailures = 1000

// Meter sends requests until Stop.
type Meter struct {
	o      Options
	start  time.Time
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// stopping is closed when Stop begins: no new request or stream starts
	stopping chan struct{}
	stopOnce sync.Once

	mu        sync.Mutex
	behind    int
	newConn   ClientReport
	keepAlive ClientReport
	streams   []StreamEnd
	stopped   *Report
}

// Start checks the options and starts sending.
func Start(ctx context.Context, o Options) (*Meter, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.MaxDuration)
	m := &Meter{o: o, start: time.Now(), cancel: cancel, stopping: make(chan struct{})}
	if o.Rate > 0 {
		m.wg.Add(1)
		go m.runNewConn(ctx)
	}
	if o.KeepAliveRate > 0 {
		m.wg.Add(1)
		go m.runKeepAlive(ctx)
	}
	for i := 0; i < o.Streams; i++ {
		m.wg.Add(1)
		go m.runStream(ctx)
	}
	return m, nil
}

func (o *Options) defaults() error {
	if o.Rate == 0 {
		o.Rate = 100
	}
	if o.KeepAliveRate == 0 {
		o.KeepAliveRate = 20
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	if o.MaxDuration == 0 {
		o.MaxDuration = 10 * time.Minute
	}
	if o.StreamPath == "" {
		o.StreamPath = "/stream"
	}
	if o.VersionHeader == "" {
		o.VersionHeader = "X-Zdd-Version"
	}
	if o.Rate > 1000 || o.KeepAliveRate > 1000 || o.Streams > 20 {
		return fmt.Errorf("meter: rate %d/%d or streams %d above the bounds (1000/s, 20)", o.Rate, o.KeepAliveRate, o.Streams)
	}
	u, err := url.Parse(o.URL)
	if err != nil {
		return fmt.Errorf("meter: URL %q: %w", o.URL, err)
	}
	if u.Scheme != "http" {
		return fmt.Errorf("meter: URL %q: only http", o.URL)
	}
	ip, err := netip.ParseAddr(u.Hostname())
	if err != nil {
		return fmt.Errorf("meter: URL %q: the host must be an IP address on this machine's test networks", o.URL)
	}
	if !Allowed(ip, o.Allowed) {
		return fmt.Errorf("meter: %s is outside the ranges the meter may send to (%v and loopback)", ip, o.Allowed)
	}
	return nil
}

// Allowed says whether ip is loopback or inside one of prefixes.
func Allowed(ip netip.Addr, prefixes []netip.Prefix) bool {
	if ip.IsLoopback() {
		return true
	}
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Stop stops sending, waits for the requests in flight (each bounded by
// Timeout), and returns the report. It may be called more than once.
func (m *Meter) Stop() *Report {
	m.stopOnce.Do(func() {
		close(m.stopping)
		done := make(chan struct{})
		go func() { m.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(m.o.Timeout + 5*time.Second):
			m.cancel()
			<-done
		}
		m.cancel()
		m.mu.Lock()
		defer m.mu.Unlock()
		r := &Report{URL: m.o.URL, Duration: time.Since(m.start), NewConn: m.newConn, KeepAlive: m.keepAlive, Streams: m.streams, Behind: m.behind}
		r.NewConn.finish()
		r.KeepAlive.finish()
		if len(r.Streams) > 0 {
			r.StreamsByKind = map[string]int{}
			for _, s := range r.Streams {
				r.StreamsByKind[s.Kind]++
			}
		}
		m.stopped = r
	})
	return m.stopped
}

// Since is the time since the meter started, on the meter's clock.
func (m *Meter) Since() time.Duration { return time.Since(m.start) }

// Sent is how many new-connection requests have been sent so far.
func (m *Meter) Sent() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.newConn.Sent
}

func (c *ClientReport) finish() {
	if len(c.latencies) == 0 {
		return
	}
	sort.Slice(c.latencies, func(i, j int) bool { return c.latencies[i] < c.latencies[j] })
	c.P50 = c.latencies[len(c.latencies)/2]
	c.P99 = c.latencies[(len(c.latencies)*99)/100]
	c.Max = c.latencies[len(c.latencies)-1]
	c.latencies = nil
}

func (m *Meter) record(c *ClientReport, at time.Duration, lat time.Duration, version string, err error, status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c.Sent++
	kind, detail := "", ""
	switch {
	case err != nil:
		kind, detail = Classify(err), err.Error()
	case status >= 500:
		kind, detail = Kind5xx, fmt.Sprintf("status %d from %s", status, version)
	case status >= 400:
		kind, detail = Kind4xx, fmt.Sprintf("status %d from %s", status, version)
	}
	if kind == "" {
		c.OK++
		c.latencies = append(c.latencies, lat)
		if c.ByVersion == nil {
			c.ByVersion = map[string]int{}
		}
		c.ByVersion[version]++
		return
	}
	c.Failed++
	if c.ByKind == nil {
		c.ByKind = map[string]int{}
	}
	c.ByKind[kind]++
	if len(c.Failures) < maxFailures {
		c.Failures = append(c.Failures, Failure{At: at, Kind: kind, Detail: detail})
	}
}

// Classify names the kind of a request error.
func Classify(err error) string {
	var nerr net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return KindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return KindReset
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return KindUnreach
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &nerr) && nerr.Timeout():
		return KindTimeout
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return KindEOF
	case strings.Contains(err.Error(), "server closed idle connection"):
		return KindEOF
	}
	return KindOther
}

func (m *Meter) newClient(keepAlive bool) *http.Client {
	d := &net.Dialer{Timeout: m.o.Timeout}
	tr := &http.Transport{
		DialContext:           d.DialContext,
		DisableKeepAlives:     !keepAlive,
		MaxIdleConnsPerHost:   1,
		ResponseHeaderTimeout: m.o.Timeout,
		Proxy:                 nil, // never through a proxy: only this machine
	}
	return &http.Client{Transport: tr, Timeout: m.o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// one sends one request and records it.
func (m *Meter) one(ctx context.Context, client *http.Client, c *ClientReport) {
	at := time.Since(m.start)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.o.URL, nil)
	if err != nil {
		m.record(c, at, 0, "", err, 0)
		return
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return // cut short by Stop, not by the server: not counted
		}
		m.record(c, at, 0, "", err, 0)
		return
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	lat := time.Since(t0)
	version := resp.Header.Get(m.o.VersionHeader)
	if version == "" {
		version = "unknown"
	}
	m.record(c, at, lat, version, err, resp.StatusCode)
}

func (m *Meter) runNewConn(ctx context.Context) {
	defer m.wg.Done()
	client := m.newClient(false)
	defer client.CloseIdleConnections()
	// in flight at most twice what the rate sends in one timeout
	limit := make(chan struct{}, 2*m.o.Rate*int(m.o.Timeout/time.Second+1))
	var inflight sync.WaitGroup
	defer inflight.Wait()
	// requests go out on a schedule (the n-th at start + n/rate), not on a
	// ticker, which drops ticks when this process is starved of CPU: a
	// late request is sent as soon as the meter runs again, so the rate
	// holds on average; a meter more than a second behind skips ahead and
	// counts what it skipped in Behind (not failures: nothing was sent)
	interval := time.Second / time.Duration(m.o.Rate)
	next := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next = next.Add(interval)
		if late := time.Since(next); late > time.Second {
			skipped := int(late / interval)
			next = next.Add(time.Duration(skipped) * interval)
			m.mu.Lock()
			m.behind += skipped
			m.mu.Unlock()
		}
		timer.Reset(max(0, time.Until(next)))
		select {
		case <-ctx.Done():
			return
		case <-m.stopping:
			return
		case <-timer.C:
		}
		select {
		case limit <- struct{}{}:
		default:
			m.mu.Lock()
			m.newConn.Sent++
			m.newConn.Failed++
			if m.newConn.ByKind == nil {
				m.newConn.ByKind = map[string]int{}
			}
			m.newConn.ByKind[KindNotSent]++
			m.mu.Unlock()
			continue
		}
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			defer func() { <-limit }()
			m.one(ctx, client, &m.newConn)
		}()
	}
}

func (m *Meter) runKeepAlive(ctx context.Context) {
	defer m.wg.Done()
	client := m.newClient(true)
	defer client.CloseIdleConnections()
	tick := time.NewTicker(time.Second / time.Duration(m.o.KeepAliveRate))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stopping:
			return
		case <-tick.C:
		}
		m.one(ctx, client, &m.keepAlive)
	}
}

func (m *Meter) runStream(ctx context.Context) {
	defer m.wg.Done()
	u := strings.TrimSuffix(m.o.URL, "/") + m.o.StreamPath
	client := m.newClient(false)
	client.Timeout = 0 // a stream lasts; each read is bounded below instead
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.stopping:
			return
		default:
		}
		end := m.stream(ctx, client, u)
		m.mu.Lock()
		m.streams = append(m.streams, end)
		m.mu.Unlock()
		if end.Kind == StreamStopped {
			return
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-m.stopping:
			return
		case <-ctx.Done():
			return
		}
	}
}

// stream holds one streaming response open until it ends, and says how.
func (m *Meter) stream(ctx context.Context, client *http.Client, u string) StreamEnd {
	at := time.Since(m.start)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	end := StreamEnd{At: at}
	req, _ := http.NewRequestWithContext(sctx, http.MethodGet, u, nil)
	resp, err := client.Do(req)
	if err != nil {
		end.Kind, end.Detail = StreamRefused, err.Error()
		end.Lasted = time.Since(m.start) - at
		return end
	}
	defer resp.Body.Close()
	end.Version = resp.Header.Get(m.o.VersionHeader)
	lines := make(chan string)
	errc := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-sctx.Done():
				return
			}
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		errc <- err
	}()
	last := ""
	for {
		select {
		case l := <-lines:
			last = l
			continue
		case err := <-errc:
			end.Lasted = time.Since(m.start) - at
			switch {
			case errors.Is(err, io.EOF) && last == "bye":
				end.Kind = StreamClean
			case errors.Is(err, io.EOF):
				end.Kind, end.Detail = StreamClean, "ended without goodbye"
			default:
				end.Kind, end.Detail = StreamCut, err.Error()
			}
			return end
		case <-time.After(m.o.Timeout):
			end.Kind, end.Lasted = StreamTimeout, time.Since(m.start)-at
			return end
		case <-m.stopping:
			end.Kind, end.Lasted = StreamStopped, time.Since(m.start)-at
			return end
		case <-ctx.Done():
			end.Kind, end.Lasted = StreamStopped, time.Since(m.start)-at
			return end
		}
	}
}
