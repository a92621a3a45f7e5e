package probe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// scripted is a transport that answers request n (0-based, in the order
// they arrive) with script(n).
type scripted struct {
	n      atomic.Int64
	script func(n int64, req *http.Request) (*http.Response, error)
}

func (s *scripted) RoundTrip(req *http.Request) (*http.Response, error) {
	return s.script(s.n.Add(1)-1, req)
}

func answer(status int, version string) *http.Response {
	h := http.Header{}
	if version != "" {
		h.Set("X-Version", version)
	}
	return &http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader("ok\n"))}
}

// fakeClock advances 1ms each time it is read, so that every request takes
// exactly 1ms.
func fakeClock() func() time.Time {
	var mu sync.Mutex
	t := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		t = t.Add(time.Millisecond)
		return t
	}
}

// runFor runs a probe of o for its Duration and returns the report.
func runFor(t *testing.T, o Options) *Report {
	t.Helper()
	p, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return p.Wait()
}

// TestAccounting: every request is judged once, by its answer: expected
// statuses succeed, others fail as "status NNN", errors by their kind;
// versions count answers; failures group by kind and time.
func TestAccounting(t *testing.T) {
	refused := errRefusedOp
	tr := &scripted{script: func(n int64, _ *http.Request) (*http.Response, error) {
		switch {
		case n == 3 || n == 4:
			return nil, refused
		case n == 10:
			return answer(503, "v2"), nil
		case n == 11:
			return answer(404, ""), nil
		case n == 12:
			return answer(302, "v2"), nil
		case n < 10:
			return answer(200, "v1"), nil
		}
		return answer(204, "v2"), nil
	}}
	rep := runFor(t, Options{URL: "http://127.0.0.1:1/", Rate: 200, Duration: 100 * time.Millisecond, Transport: tr,
		VersionHeader: "X-Version", MaxFailed: NoBudget, now: fakeClock()})
	// the outcomes are handed out in the order the requests arrive, which
	// need not be the order they were sent: the counts do not depend on it
	want := &Report{
		URL: "http://127.0.0.1:1/", Rate: 200, TimeoutSeconds: 2, Expect: "200-399",
		Seconds: 0.1, Sent: 20, Succeeded: 16, Failed: 4,
		FailedByKind:  map[string]int{"refused": 2, "status 503": 1, "status 404": 1},
		VersionHeader: "X-Version",
		Versions: map[string]VersionCount{
			"v1":      {Succeeded: 8},
			"v2":      {Succeeded: 8, Failed: 1},
			NoVersion: {Failed: 1},
		},
		// all within a second: one group per kind
		Failures: []FailureGroup{
			{Kind: "refused", Count: 2, Detail: "dial tcp: connect: connection refused"},
			{Kind: "status 404", Count: 1},
			{Kind: "status 503", Count: 1},
		},
		MaxFailed: NoBudget,
		Ended:     EndedDuration,
	}
	opts := cmp.Options{
		cmpopts.IgnoreFields(Report{}, "Start", "P50Seconds", "P99Seconds"),
		cmpopts.IgnoreFields(FailureGroup{}, "Time", "AtSeconds", "LastSeconds"),
		cmpopts.SortSlices(func(a, b FailureGroup) bool { return a.Kind < b.Kind }),
	}
	if diff := cmp.Diff(want, rep, opts); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	// the fake clock moves 1ms per read, so a request alone takes 1ms; one
	// that overlaps another (a busy machine delays the sender) reads the
	// other's ticks too and takes a few: latencies are 1ms, a little more
	// when requests overlap, never 0 (within the 1% bucket's middle)
	if rep.P50Seconds < 0.00098 || rep.P50Seconds > rep.P99Seconds || rep.P99Seconds > 0.006 {
		t.Errorf("latencies p50 %gs p99 %gs: want 1ms (a few ms when requests overlap) and p50 <= p99", rep.P50Seconds, rep.P99Seconds)
	}
	wantLine := regexp.MustCompile(`^requests: 20 sent in 0\.1s, 4 failed \(refused 2, status 404 1, status 503 1\), p50 [1-6]\.\dms, p99 [1-6]\.\dms; \(none\) 0 ok 1 failed, v1 8 ok, v2 8 ok 1 failed$`)
	if got := rep.String(); !wantLine.MatchString(got) {
		t.Errorf("String():\n got %s\nwant %s", got, wantLine)
	}
}

// TestFailureGroups: failures of one kind sent within a second of the
// group's last one join it, in whatever order they come back; a pause of
// more than a second, or another kind in between, opens a new group; the
// list is bounded.
func TestFailureGroups(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	newProbe := func() *Probe {
		return &Probe{o: Options{MaxFailed: NoBudget}, start: start, exceeded: make(chan struct{}), secrets: nil}
	}
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	p := newProbe()
	for _, f := range []struct {
		at   time.Duration
		kind error
	}{
		{ms(1000), errRefusedOp}, {ms(1010), errRefusedOp}, {ms(990), errRefusedOp}, // out of order: one group
		{ms(1500), errRefusedOp}, // within a second of the last: same group
		{ms(3000), errRefusedOp}, // 1.5 s later: a new group
		{ms(3100), errResetOp},   // another kind
		{ms(3200), errRefusedOp}, // joins the refused group of 3.0 s (the last refused one)
	} {
		p.record(f.at, 0, 0, "", f.kind, false)
	}
	got := p.Snapshot().Failures
	want := []FailureGroup{
		{Time: start.Add(ms(990)), AtSeconds: 0.99, LastSeconds: 1.5, Kind: "refused", Count: 4},
		{Time: start.Add(ms(3000)), AtSeconds: 3, LastSeconds: 3.2, Kind: "refused", Count: 2},
		{Time: start.Add(ms(3100)), AtSeconds: 3.1, LastSeconds: 3.1, Kind: "reset", Count: 1},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(FailureGroup{}, "Detail"), cmpopts.EquateApprox(0, 1e-9)); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}

	p = newProbe()
	for i := 0; i < MaxFailureGroups+5; i++ {
		p.record(time.Duration(i)*2*time.Second, 0, 0, "", errRefusedOp, false)
	}
	rep := p.Snapshot()
	if len(rep.Failures) != MaxFailureGroups || rep.FailureGroupsDropped != 5 || rep.Failed != MaxFailureGroups+5 {
		t.Errorf("%d groups, %d dropped, %d failed; want %d, 5, %d", len(rep.Failures), rep.FailureGroupsDropped, rep.Failed, MaxFailureGroups, MaxFailureGroups+5)
	}
}

// TestVersionsBounded: a server that names a new version in every answer
// does not grow the report without bound.
func TestVersionsBounded(t *testing.T) {
	tr := &scripted{script: func(n int64, _ *http.Request) (*http.Response, error) {
		return answer(200, fmt.Sprintf("v%d", n)), nil
	}}
	rep := runFor(t, Options{URL: "http://127.0.0.1:1/", Rate: 500, Duration: 100 * time.Millisecond, Transport: tr, VersionHeader: "X-Version"})
	if len(rep.Versions) != MaxVersions+1 || rep.Versions[OtherVersions].Succeeded != 50-MaxVersions {
		t.Errorf("%d versions, %d answers under %s; want %d and %d", len(rep.Versions), rep.Versions[OtherVersions].Succeeded, OtherVersions, MaxVersions+1, 50-MaxVersions)
	}
}

var (
	errRefusedOp = &net.OpError{Op: "dial", Net: "tcp", Err: &osSyscallError{"connect", syscall.ECONNREFUSED}}
	errResetOp   = &net.OpError{Op: "read", Net: "tcp", Err: &osSyscallError{"read", syscall.ECONNRESET}}
)

func discardLog() *log.Logger { return log.New(io.Discard, "", 0) }

// osSyscallError builds the error chain the dialer returns.
type osSyscallError struct {
	op  string
	err error
}

func (e *osSyscallError) Error() string { return e.op + ": " + e.err.Error() }
func (e *osSyscallError) Unwrap() error { return e.err }

// TestKindsFromRealServers: the kinds of real failures, each caused for
// real on loopback.
func TestKindsFromRealServers(t *testing.T) {
	closedPort := func(t *testing.T) string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		return "http://" + addr + "/"
	}
	// hijack answers by doing something to the raw connection
	hijack := func(t *testing.T, f func(c net.Conn)) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			c, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			f(c)
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	handler := func(t *testing.T, h http.HandlerFunc) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name string
		url  func(t *testing.T) string
		want string
	}{
		{"refused", closedPort, KindRefused},
		{"reset", func(t *testing.T) string {
			return hijack(t, func(c net.Conn) {
				c.(*net.TCPConn).SetLinger(0) // close with RST
				c.Close()
			})
		}, KindReset},
		{"eof", func(t *testing.T) string { return hijack(t, func(c net.Conn) { c.Close() }) }, KindEOF},
		{"timeout", func(t *testing.T) string {
			return handler(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-time.After(5 * time.Second):
				case <-r.Context().Done():
				}
			})
		}, KindTimeout},
		{"cut mid-body", func(t *testing.T) string {
			return hijack(t, func(c net.Conn) {
				fmt.Fprint(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort")
				c.Close()
			})
		}, KindEOF},
		{"status", func(t *testing.T) string {
			return handler(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) })
		}, "status 502"},
		{"tls", func(t *testing.T) string {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			srv.Config.ErrorLog = discardLog()
			t.Cleanup(srv.Close)
			return srv.URL
		}, KindTLS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			timeout := 5 * time.Second // a loaded machine is slow to handshake
			if tt.want == KindTimeout {
				timeout = 300 * time.Millisecond
			}
			rep := runFor(t, Options{URL: tt.url(t), Rate: 10, Duration: 100 * time.Millisecond, Timeout: timeout})
			if rep.Sent == 0 || rep.Failed != rep.Sent {
				t.Fatalf("%d of %d failed, want all: %s", rep.Failed, rep.Sent, rep)
			}
			if diff := cmp.Diff(map[string]int{tt.want: rep.Sent}, rep.FailedByKind); diff != "" {
				t.Errorf("kinds (-want +got):\n%s\n%v", diff, rep.FailureLines())
			}
		})
	}
}

func TestClassifySynthetic(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		timedOut bool
		want     string
	}{
		{"dns", &net.DNSError{Err: "no such host", Name: "shop.invalid", IsNotFound: true}, false, KindDNS},
		{"dns timeout", &net.DNSError{Err: "i/o timeout", Name: "shop.example", IsTimeout: true}, false, KindTimeout},
		{"unreachable", &net.OpError{Op: "dial", Err: &osSyscallError{"connect", syscall.EHOSTUNREACH}}, false, KindUnreachable},
		{"deadline of the request", context.Canceled, true, KindTimeout},
		{"unknown", errors.New("something odd"), false, KindOther},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.err, tt.timedOut); got != tt.want {
				t.Errorf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
			}
		})
	}
}

// TestNewConnectionPerRequest: every request opens a connection of its own.
func TestNewConnectionPerRequest(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	rep := runFor(t, Options{URL: srv.URL, Rate: 100, Duration: 200 * time.Millisecond})
	if rep.Sent != 20 || rep.Succeeded != 20 {
		t.Fatalf("%s, want 20 sent and succeeded", rep)
	}
	if got := conns.Load(); got != 20 {
		t.Errorf("%d connections for 20 requests", got)
	}
}

// TestBounds: a probe ends by itself (its duration, its hard maximum, its
// context), never holds more requests in flight than its limit, and does
// not judge the requests its caller cut short.
func TestBounds(t *testing.T) {
	hang := &scripted{script: func(_ int64, req *http.Request) (*http.Response, error) {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}}
	t.Run("in-flight limit and timeouts", func(t *testing.T) {
		rep := runFor(t, Options{URL: "http://127.0.0.1:1/", Rate: 100, Duration: 100 * time.Millisecond, Timeout: 300 * time.Millisecond,
			Transport: hang, maxInFlight: 3, MaxFailed: NoBudget})
		want := &Report{Sent: 3, Failed: 3, Skipped: 7, FailedByKind: map[string]int{"timeout": 3}, Ended: EndedDuration}
		if diff := cmp.Diff(want, rep, cmpopts.IgnoreFields(Report{}, "URL", "Rate", "TimeoutSeconds", "Expect", "Start", "Seconds", "Failures", "MaxFailed")); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("maximum duration", func(t *testing.T) {
		rep := runFor(t, Options{URL: "http://127.0.0.1:1/", Rate: 50, MaxDuration: 200 * time.Millisecond, Transport: &scripted{script: func(int64, *http.Request) (*http.Response, error) {
			return answer(200, ""), nil
		}}})
		if rep.Ended != EndedMaxDuration || rep.Sent < 5 || rep.Sent > 11 {
			t.Errorf("ended %q after %d requests, want max-duration after about 10", rep.Ended, rep.Sent)
		}
	})
	t.Run("context cancelled: in-flight requests are not judged", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		p, err := Start(ctx, Options{URL: "http://127.0.0.1:1/", Rate: 100, Timeout: time.Minute, Transport: hang})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		cancel()
		rep := p.Wait()
		if rep.Ended != EndedCancelled || rep.Failed != 0 || rep.Unfinished == 0 || rep.Unfinished != rep.Sent {
			t.Errorf("ended %q, %d failed, %d unfinished of %d: want cancelled, none failed, all unfinished", rep.Ended, rep.Failed, rep.Unfinished, rep.Sent)
		}
	})
	t.Run("stop waits for the requests in flight", func(t *testing.T) {
		release := make(chan struct{})
		slow := &scripted{script: func(_ int64, req *http.Request) (*http.Response, error) {
			select {
			case <-release:
				return answer(200, ""), nil
			case <-req.Context().Done():
				return nil, req.Context().Err()
			}
		}}
		p, err := Start(context.Background(), Options{URL: "http://127.0.0.1:1/", Rate: 100, Timeout: 10 * time.Second, Transport: slow})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		go func() { time.Sleep(100 * time.Millisecond); close(release) }()
		rep := p.Stop()
		if rep.Ended != EndedStopped || rep.Sent == 0 || rep.Succeeded != rep.Sent {
			t.Errorf("ended %q, %d of %d succeeded: want stopped, all succeeded", rep.Ended, rep.Succeeded, rep.Sent)
		}
		if again := p.Stop(); again.Sent != rep.Sent {
			t.Errorf("a second Stop changed the report: %d sent, then %d", rep.Sent, again.Sent)
		}
	})
	t.Run("bad options", func(t *testing.T) {
		for _, o := range []Options{
			{URL: "ftp://x/"}, {URL: "http://"}, {URL: "http://x/", Rate: MaxRate + 1}, {URL: "http://x/", Rate: -1},
			{URL: "http://x/", Timeout: 2 * MaxTimeout}, {URL: "http://x/", Expect: "600"}, {URL: "http://x/", MaxDuration: 2 * MaxDurationLimit},
			{URL: "http://x/", Duration: time.Hour, MaxDuration: time.Minute}, {URL: "http://x/", Headers: []Header{{Name: "A B", Value: "x"}}},
		} {
			if _, err := Start(context.Background(), o); err == nil {
				t.Errorf("Start(%+v) accepted", o)
			}
		}
	})
}

// TestBudget: Exceeded closes as soon as one more request than the budget
// has failed, not before; without a budget it never closes.
func TestBudget(t *testing.T) {
	failFrom := func(first int64) *scripted {
		return &scripted{script: func(n int64, _ *http.Request) (*http.Response, error) {
			if n >= first {
				return answer(500, ""), nil
			}
			return answer(200, ""), nil
		}}
	}
	t.Run("exceeded", func(t *testing.T) {
		p, err := Start(context.Background(), Options{URL: "http://127.0.0.1:1/", Rate: 200, Transport: failFrom(5), MaxFailed: 2})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case <-p.Exceeded():
		case <-time.After(30 * time.Second):
			t.Fatal("Exceeded never closed")
		}
		if got := p.Failed(); got < 3 {
			t.Errorf("Exceeded closed with %d failed, want more than 2", got)
		}
		rep := p.Stop()
		if !rep.Exceeded || rep.ExceededAt == nil || rep.Within() {
			t.Errorf("report: exceeded %v at %v, within %v", rep.Exceeded, rep.ExceededAt, rep.Within())
		}
	})
	t.Run("within", func(t *testing.T) {
		p, err := Start(context.Background(), Options{URL: "http://127.0.0.1:1/", Rate: 200, Duration: 50 * time.Millisecond, Transport: failFrom(8), MaxFailed: 2})
		if err != nil {
			t.Fatal(err)
		}
		rep := p.Wait()
		select {
		case <-p.Exceeded():
			t.Errorf("Exceeded closed with %d failed and a budget of 2", rep.Failed)
		default:
		}
		if rep.Failed != 2 || !rep.Within() || rep.Exceeded {
			t.Errorf("%d failed, within %v, exceeded %v; want 2, true, false", rep.Failed, rep.Within(), rep.Exceeded)
		}
	})
	t.Run("no budget", func(t *testing.T) {
		rep := runFor(t, Options{URL: "http://127.0.0.1:1/", Rate: 200, Duration: 50 * time.Millisecond, Transport: failFrom(0), MaxFailed: NoBudget})
		if rep.Failed != 10 || rep.Exceeded || !rep.Within() {
			t.Errorf("%d failed, exceeded %v, within %v; want 10, false, true", rep.Failed, rep.Exceeded, rep.Within())
		}
	})
}

// TestHeadersRedacted: a header's ${VAR} is sent expanded, and its value
// appears nowhere in what the probe reports, even when a failure's error
// quotes it; a literal value is never recorded in Params.
func TestHeadersRedacted(t *testing.T) {
	const secret, literal = "s3cr3t-token", "tenant-4711"
	var got atomic.Value
	tr := &scripted{script: func(n int64, req *http.Request) (*http.Response, error) {
		got.Store(req.Header.Get("Authorization") + "|" + req.Header.Get("X-Tenant") + "|" + req.Host)
		if n%2 == 1 {
			return nil, fmt.Errorf("proxy said: bad token %s", secret)
		}
		return answer(200, ""), nil
	}}
	o := Options{URL: "http://127.0.0.1:1/", Rate: 100, Duration: 40 * time.Millisecond, Transport: tr, MaxFailed: NoBudget,
		Headers: []Header{{"Authorization", "Bearer ${TOKEN}"}, {"X-Tenant", literal}, {"Host", "shop.example"}},
		Env:     func(k string) string { return map[string]string{"TOKEN": secret}[k] }}
	rep := runFor(t, o)
	if want := "Bearer " + secret + "|" + literal + "|shop.example"; got.Load() != want {
		t.Errorf("sent %q, want %q", got.Load(), want)
	}
	js, _ := json.Marshal(rep)
	params, _ := o.Params().Encode()
	for what, text := range map[string]string{"json": string(js), "text": rep.String(), "failures": strings.Join(rep.FailureLines(), "\n"), "params": params} {
		if strings.Contains(text, secret) {
			t.Errorf("%s shows the secret: %s", what, text)
		}
	}
	if strings.Contains(params, literal) {
		t.Errorf("params record a literal header value: %s", params)
	}
	if !strings.Contains(strings.Join(rep.FailureLines(), "\n"), "bad token [redacted]") {
		t.Errorf("the failure detail is not redacted as expected: %v", rep.FailureLines())
	}

	o.Env = func(string) string { return "" }
	_, err := Start(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "TOKEN") {
		t.Errorf("an unset variable: %v, want an error naming TOKEN", err)
	}
}

func TestParseExpect(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		match   []int
		nomatch []int
		wantErr bool
	}{
		{in: "", want: "200-399", match: []int{200, 301, 399}, nomatch: []int{199, 400, 503}},
		{in: "200,204", want: "200,204", match: []int{200, 204}, nomatch: []int{201, 301}},
		{in: " 2xx , 301 ", want: "2xx,301", match: []int{200, 299, 301}, nomatch: []int{302}},
		{in: "200-299,404", want: "200-299,404", match: []int{250, 404}, nomatch: []int{403}},
		{in: "5XX", want: "5XX", match: []int{503}},
		{in: "600", wantErr: true},
		{in: "300-200", wantErr: true},
		{in: "2xxx", wantErr: true},
		{in: "200,", wantErr: true},
		{in: "ok", wantErr: true},
		{in: "6xx", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := ParseExpect(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseExpect(%q) error %v, want error %v", tt.in, err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if e.String() != tt.want {
				t.Errorf("String() = %q, want %q", e.String(), tt.want)
			}
			for _, s := range tt.match {
				if !e.Match(s) {
					t.Errorf("%d does not match %q", s, tt.in)
				}
			}
			for _, s := range tt.nomatch {
				if e.Match(s) {
					t.Errorf("%d matches %q", s, tt.in)
				}
			}
		})
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct{ q, want float64 }{{0.5, 0.5}, {0.99, 0.99}, {1, 1}} {
		got := h.quantile(c.q)
		if got < c.want*0.99 || got > c.want*1.01 {
			t.Errorf("quantile(%v) = %v, want %v within 1%%", c.q, got, c.want)
		}
	}
	var empty histogram
	if empty.quantile(0.5) != 0 {
		t.Errorf("an empty histogram has a median")
	}
}

func TestReportText(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		r        Report
		want     string
		failures []string
	}{
		{name: "clean", r: Report{Sent: 600, Succeeded: 600, Seconds: 30, P50Seconds: 0.0012, P99Seconds: 0.0153},
			want: "requests: 600 sent in 30.0s, 0 failed, p50 1.2ms, p99 15ms"},
		{name: "failures, versions, skipped", r: Report{Sent: 600, Succeeded: 597, Failed: 3, Skipped: 2, Seconds: 30, P50Seconds: 0.0008, P99Seconds: 1.25,
			FailedByKind: map[string]int{"refused": 2, "reset": 1}, VersionHeader: "X-Version",
			Versions: map[string]VersionCount{"v2": {Succeeded: 300}, "v1": {Succeeded: 297}},
			Failures: []FailureGroup{{Time: start.Add(12300 * time.Millisecond), AtSeconds: 12.3, LastSeconds: 12.7, Kind: "refused", Count: 2, Detail: "connection refused"}, {Time: start.Add(13 * time.Second), AtSeconds: 13, LastSeconds: 13, Kind: "reset", Count: 1}}},
			want:     "requests: 600 sent in 30.0s, 3 failed (refused 2, reset 1), p50 800µs, p99 1.25s, 2 not sent (probe overloaded); v1 297 ok, v2 300 ok",
			failures: []string{"12:00:12 (+12.3s) refused x2 over 0.4s: connection refused", "12:00:13 (+13.0s) reset x1"}},
		{name: "nothing answered", r: Report{Sent: 10, Failed: 10, Seconds: 0.5, FailedByKind: map[string]int{"timeout": 10}, VersionHeader: "X-Version"},
			want: "requests: 10 sent in 0.5s, 10 failed (timeout 10); no answer carried X-Version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.String(); got != tt.want {
				t.Errorf("String():\n got %s\nwant %s", got, tt.want)
			}
			if diff := cmp.Diff(tt.failures, tt.r.FailureLines()); diff != "" {
				t.Errorf("FailureLines (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPerSecond: each judged request counts in the second it was due, by
// the version that answered; a request with no answer counts as NoAnswer,
// an answer without the version header as NoVersion; the seconds add up
// to the report's totals.
func TestPerSecond(t *testing.T) {
	tr := &scripted{}
	var sent atomic.Int64
	start := time.Now()
	tr.script = func(int64, *http.Request) (*http.Response, error) {
		n := sent.Add(1)
		switch at := time.Since(start); {
		case at < time.Second:
			return answer(200, "v1"), nil
		case n%2 == 0:
			return nil, errRefusedOp
		case n%3 == 0:
			return answer(500, ""), nil
		}
		return answer(200, "v2"), nil
	}
	p, err := Start(context.Background(), Options{URL: "http://127.0.0.1:1/", Rate: 20, Duration: 1900 * time.Millisecond, Transport: tr,
		VersionHeader: "X-Version", MaxFailed: NoBudget})
	if err != nil {
		t.Fatal(err)
	}
	rep := p.Wait()
	secs := p.PerSecond()
	if len(secs) != 2 {
		t.Fatalf("%d seconds, want 2: %+v", len(secs), secs)
	}
	if !secs[0].At.Equal(rep.Start) || !secs[1].At.Equal(rep.Start.Add(time.Second)) {
		t.Errorf("seconds at %s and %s, want the probe's start %s and a second later", secs[0].At, secs[1].At, rep.Start)
	}
	var sum VersionCount
	for _, s := range secs {
		for _, c := range s.Versions {
			sum.Succeeded += c.Succeeded
			sum.Failed += c.Failed
		}
	}
	if sum.Succeeded != rep.Succeeded || sum.Failed != rep.Failed {
		t.Errorf("the seconds count %d ok, %d failed; the report %d ok, %d failed", sum.Succeeded, sum.Failed, rep.Succeeded, rep.Failed)
	}
	if c := secs[0].Versions["v1"]; c.Succeeded < 15 || c.Failed != 0 {
		t.Errorf("first second: v1 %+v, want about 20 answers, none failed (all: %+v)", c, secs[0].Versions)
	}
	second := secs[1].Versions
	if second[NoAnswer].Failed == 0 || second[NoAnswer].Succeeded != 0 {
		t.Errorf("second second: no answer %+v, want refused requests only (all: %+v)", second[NoAnswer], second)
	}
	if second[NoVersion].Failed == 0 {
		t.Errorf("second second: answers without a version %+v, want the 500s (all: %+v)", second[NoVersion], second)
	}
	if second["v2"].Succeeded == 0 {
		t.Errorf("second second: v2 %+v, want answers (all: %+v)", second["v2"], second)
	}
}
