package meter

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// measure runs a meter against url for d and returns its report.
func measure(t *testing.T, o Options, d time.Duration) *Report {
	t.Helper()
	m, err := Start(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	return m.Stop()
}

func versionHandler(version string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Zdd-Version", version)
		fmt.Fprintln(w, version)
	}
}

func TestCountsSuccessesPerVersion(t *testing.T) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v := "v1"
		if n.Add(1)%2 == 0 {
			v = "v2"
		}
		versionHandler(v)(w, r)
	}))
	defer srv.Close()
	r := measure(t, Options{URL: srv.URL + "/", Rate: 50, KeepAliveRate: 20}, 600*time.Millisecond)
	if r.Failed() != 0 {
		t.Fatalf("failures against a healthy server: %s\n%+v", r, r.NewConn.Failures)
	}
	if r.NewConn.Sent < 15 || r.KeepAlive.Sent < 5 {
		t.Errorf("sent new-conn %d, keep-alive %d in 0.6s at 50/s and 20/s", r.NewConn.Sent, r.KeepAlive.Sent)
	}
	got := r.NewConn.ByVersion["v1"] + r.NewConn.ByVersion["v2"] + r.KeepAlive.ByVersion["v1"] + r.KeepAlive.ByVersion["v2"]
	if got != r.Sent() || got == 0 {
		t.Errorf("successes per version add up to %d, sent %d: %s", got, r.Sent(), r)
	}
	if r.NewConn.ByVersion["v1"] == 0 || r.NewConn.ByVersion["v2"] == 0 {
		t.Errorf("both versions should answer: %v", r.NewConn.ByVersion)
	}
	if r.NewConn.P50 <= 0 || r.NewConn.P99 < r.NewConn.P50 || r.NewConn.Max < r.NewConn.P99 {
		t.Errorf("latencies p50 %v p99 %v max %v", r.NewConn.P50, r.NewConn.P99, r.NewConn.Max)
	}
}

func TestClassifiesFailures(t *testing.T) {
	// a port with nothing listening: take one, then close it
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	hijack := func(reset bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			if reset {
				conn.(*net.TCPConn).SetLinger(0) // close with RST
			}
			conn.Close()
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc // nil: the closed port
		want    string
	}{
		{"refused", nil, KindRefused},
		{"reset", hijack(true), KindReset},
		{"closed without an answer", hijack(false), KindEOF},
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }, Kind5xx},
		{"404", http.NotFound, Kind4xx},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(2 * time.Second):
			case <-r.Context().Done():
			}
		}, KindTimeout},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := "http://" + closed + "/"
			if tc.handler != nil {
				srv := httptest.NewServer(tc.handler)
				defer srv.Close()
				url = srv.URL + "/"
			}
			r := measure(t, Options{URL: url, Rate: 20, KeepAliveRate: -1, Timeout: 300 * time.Millisecond}, 400*time.Millisecond)
			if r.NewConn.Sent == 0 || r.NewConn.Failed != r.NewConn.Sent {
				t.Fatalf("want every request failed: %s", r)
			}
			if r.NewConn.ByKind[tc.want] != r.NewConn.Failed {
				t.Errorf("kinds %v, want all %s; first: %+v", r.NewConn.ByKind, tc.want, r.NewConn.Failures[0])
			}
			if len(r.NewConn.Failures) != r.NewConn.Failed {
				t.Errorf("%d failures listed, %d counted", len(r.NewConn.Failures), r.NewConn.Failed)
			}
			for _, f := range r.NewConn.Failures {
				if f.At < 0 || f.At > r.Duration {
					t.Errorf("failure at %v, outside the run of %v", f.At, r.Duration)
				}
			}
		})
	}
}

// A server that fails some requests: the meter counts exactly those.
func TestCountsEveryFailure(t *testing.T) {
	var n, failed atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1)%3 == 0 {
			failed.Add(1)
			http.Error(w, "boom", 503)
			return
		}
		versionHandler("v1")(w, r)
	}))
	defer srv.Close()
	r := measure(t, Options{URL: srv.URL + "/", Rate: 60, KeepAliveRate: 10}, 700*time.Millisecond)
	if int64(r.Failed()) != failed.Load() || r.Failed() == 0 {
		t.Errorf("meter counted %d failures, the server failed %d", r.Failed(), failed.Load())
	}
	if int64(r.Sent()) != n.Load() {
		t.Errorf("meter sent %d, the server saw %d", r.Sent(), n.Load())
	}
}

func TestStreams(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Zdd-Version", "v1")
		fl := w.(http.Flusher)
		for i := 0; ; i++ {
			fmt.Fprintf(w, "line %d\n", i)
			fl.Flush()
			select {
			case <-time.After(20 * time.Millisecond):
			case <-stop:
				if r.URL.Query().Get("cut") != "" {
					conn, _, _ := w.(http.Hijacker).Hijack()
					conn.(*net.TCPConn).SetLinger(0)
					conn.Close()
					return
				}
				fmt.Fprintln(w, "bye")
				return
			case <-r.Context().Done():
				return
			}
		}
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path string
		want string
	}{{"/stream", StreamClean}, {"/stream?cut=1", StreamCut}} {
		t.Run(tc.want, func(t *testing.T) {
			stop = make(chan struct{})
			m, err := Start(context.Background(), Options{URL: srv.URL + "/", Rate: -1, KeepAliveRate: -1, Streams: 1, StreamPath: tc.path})
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			close(stop)
			time.Sleep(100 * time.Millisecond)
			r := m.Stop()
			if len(r.Streams) == 0 || r.Streams[0].Kind != tc.want {
				t.Fatalf("streams %+v, want the first %s", r.Streams, tc.want)
			}
			if r.Streams[0].Version != "v1" || r.Streams[0].Lasted < 150*time.Millisecond {
				t.Errorf("first stream %+v", r.Streams[0])
			}
			if !strings.Contains(r.String(), tc.want+"=") {
				t.Errorf("summary %q does not count %s streams", r.String(), tc.want)
			}
		})
	}
}

func TestRefusesAddressesOffThisMachine(t *testing.T) {
	allowed := []netip.Prefix{netip.MustParsePrefix("10.202.1.0/24")}
	for _, url := range []string{
		"http://8.8.8.8/",
		"http://10.202.2.5/",
		"http://example.com/",
		"https://10.202.1.5/",
		"::bad",
	} {
		if _, err := Start(context.Background(), Options{URL: url, Allowed: allowed}); err == nil {
			t.Errorf("Start(%q) sent requests; want it refused", url)
		}
	}
	m, err := Start(context.Background(), Options{URL: "http://10.202.1.5/", Allowed: allowed, Rate: -1, KeepAliveRate: -1})
	if err != nil {
		t.Fatalf("an address inside the allowed range was refused: %v", err)
	}
	m.Stop()
	if _, err := Start(context.Background(), Options{URL: "http://127.0.0.1:1/", Rate: 5000}); err == nil {
		t.Errorf("a rate of 5000/s was accepted; the meter is bounded at 1000/s")
	}
}

func TestStopsByItself(t *testing.T) {
	srv := httptest.NewServer(versionHandler("v1"))
	defer srv.Close()
	m, err := Start(context.Background(), Options{URL: srv.URL + "/", Rate: 50, KeepAliveRate: -1, MaxDuration: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	r := m.Stop()
	// 50/s for 0.2s: about 10; nowhere near the 30 of 0.6s
	if r.NewConn.Sent > 20 {
		t.Errorf("sent %d after its MaxDuration of 0.2s at 50/s", r.NewConn.Sent)
	}
}
