// Command testserver is the program the real-node e2e tests release: a small
// HTTP server whose behaviour on shutdown is chosen by the environment, so a
// test can run the naive program most applications are and the well-behaved
// one zero downtime needs, and measure the difference in failed requests.
//
//	GET /          200 "VERSION POD\n", headers X-Zdd-Version and X-Zdd-Pod
//	               (FAIL_EVERY=N: every Nth request answers 500 instead)
//	GET /readyz    200 once READY_DELAY has passed, 503 while draining
//	GET /livez     200
//	GET /slow?s=N  answers after N seconds (in-flight requests to cut or keep)
//	GET /stream    a chunked response, one line every 200 ms, for ever; on a
//	               drain it ends with "bye" and a clean end of the body
//
// SHUTDOWN_MODE says what SIGTERM does:
//
//	exit    exit at once (the common naive program): open connections are reset
//	drain   fail readiness, keep serving DRAIN_DELAY (default 0s), end the
//	        streams cleanly, finish in-flight requests, then exit
//	ignore  keep serving until SIGKILL
//
// LISTEN_DELAY (default 0s) is how long the program loads before it opens
// its port at all (a program that reads its data or warms a cache first):
// until then every connection to it is refused, /readyz included.
//
// VERSION (the image sets ZDD_VERSION; VERSION overrides it) and POD_NAME
// name what answered. PORT is the listen port (default 8080).
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "testserver: %v\n", err)
		os.Exit(1)
	}
}

type server struct {
	version, pod string
	mode         string
	start        time.Time
	readyDelay   time.Duration
	failEvery    int64
	requests     atomic.Int64
	draining     atomic.Bool
	// stop is closed when a drain begins: streams end on it
	stop     chan struct{}
	stopOnce sync.Once
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func run() error {
	s := &server{
		version: env("VERSION", env("ZDD_VERSION", "unknown")),
		pod:     env("POD_NAME", "unknown"),
		mode:    env("SHUTDOWN_MODE", "exit"),
		start:   time.Now(),
		stop:    make(chan struct{}),
	}
	var err error
	if s.readyDelay, err = time.ParseDuration(env("READY_DELAY", "0s")); err != nil {
		return fmt.Errorf("READY_DELAY: %w", err)
	}
	drainDelay, err := time.ParseDuration(env("DRAIN_DELAY", "0s"))
	if err != nil {
		return fmt.Errorf("DRAIN_DELAY: %w", err)
	}
	listenDelay, err := time.ParseDuration(env("LISTEN_DELAY", "0s"))
	if err != nil {
		return fmt.Errorf("LISTEN_DELAY: %w", err)
	}
	if s.failEvery, err = strconv.ParseInt(env("FAIL_EVERY", "0"), 10, 64); err != nil {
		return fmt.Errorf("FAIL_EVERY: %w", err)
	}
	switch s.mode {
	case "exit", "drain", "ignore":
	default:
		return fmt.Errorf("SHUTDOWN_MODE %q: want exit, drain or ignore", s.mode)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", s.root)
	mux.HandleFunc("/readyz", s.readyz)
	mux.HandleFunc("/livez", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/slow", s.slow)
	mux.HandleFunc("/stream", s.stream)
	srv := &http.Server{Addr: ":" + env("PORT", "8080"), Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() {
		if listenDelay > 0 {
			fmt.Printf("testserver %s (%s): loading for %s before listening\n", s.version, s.pod, listenDelay)
			time.Sleep(listenDelay)
		}
		fmt.Printf("testserver %s (%s) listening on %s, shutdown mode %s\n", s.version, s.pod, srv.Addr, s.mode)
		served <- srv.ListenAndServe()
	}()

	for {
		select {
		case err := <-served:
			return err
		case sig := <-sigs:
			fmt.Printf("testserver: %v received, mode %s\n", sig, s.mode)
			switch s.mode {
			case "exit":
				os.Exit(0)
			case "ignore":
				continue
			}
			s.draining.Store(true)
			time.Sleep(drainDelay)
			s.stopOnce.Do(func() { close(s.stop) })
			// Shutdown closes the listener at once, then waits for the
			// requests in flight; the kubelet's grace period bounds it
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			err := srv.Shutdown(ctx)
			cancel()
			if err != nil {
				return fmt.Errorf("shutdown: %w", err)
			}
			fmt.Printf("testserver: drained after %d requests\n", s.requests.Load())
			return nil
		}
	}
}

func (s *server) identify(w http.ResponseWriter) {
	w.Header().Set("X-Zdd-Version", s.version)
	w.Header().Set("X-Zdd-Pod", s.pod)
}

func (s *server) root(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	n := s.requests.Add(1)
	s.identify(w)
	if s.failEvery > 0 && n%s.failEvery == 0 {
		http.Error(w, fmt.Sprintf("%s %s: failing request %d on purpose", s.version, s.pod, n), http.StatusInternalServerError)
		return
	}
	fmt.Fprintf(w, "%s %s\n", s.version, s.pod)
}

func (s *server) readyz(w http.ResponseWriter, _ *http.Request) {
	switch {
	case s.draining.Load():
		http.Error(w, "draining", http.StatusServiceUnavailable)
	case time.Since(s.start) < s.readyDelay:
		http.Error(w, "starting", http.StatusServiceUnavailable)
	default:
		fmt.Fprintln(w, "ready")
	}
}

func (s *server) slow(w http.ResponseWriter, r *http.Request) {
	secs, err := strconv.ParseFloat(r.URL.Query().Get("s"), 64)
	if err != nil || secs < 0 || secs > 600 {
		http.Error(w, "s: seconds between 0 and 600", http.StatusBadRequest)
		return
	}
	s.requests.Add(1)
	s.identify(w)
	select {
	case <-time.After(time.Duration(secs * float64(time.Second))):
		fmt.Fprintf(w, "%s %s slept %gs\n", s.version, s.pod, secs)
	case <-r.Context().Done():
	}
}

func (s *server) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	s.requests.Add(1)
	s.identify(w)
	w.Header().Set("Content-Type", "text/plain")
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(w, "%s %s %d\n", s.version, s.pod, i); err != nil {
			return
		}
		fl.Flush()
		select {
		case <-tick.C:
		case <-s.stop:
			fmt.Fprintln(w, "bye")
			return
		case <-r.Context().Done():
			return
		}
	}
}
