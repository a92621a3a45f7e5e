// Command exporter is a metrics source the analysis tests control: it serves
// /metrics with http_requests_total{code,version} counters that advance at
// rates the test sets, so a real Prometheus can scrape it and compute error
// rates a release is judged by.
//
//	exporter -listen 127.0.0.1:0          # prints "listening on http://ADDR"
//	curl -X POST '.../rates?version=v2&code=500&rate=5'   # 5 requests/s
//	curl .../rates                        # the rates now set, as JSON
//
// A counter's value is computed when it is scraped (rate × time since the
// rate was set, plus what it had counted before), so it advances smoothly
// with no background work.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type key struct{ version, code string }

type counter struct {
	base  float64   // requests counted up to since
	rate  float64   // requests per second from since on
	since time.Time //
}

func (c counter) at(now time.Time) float64 {
	return c.base + c.rate*now.Sub(c.since).Seconds()
}

type requests struct {
	mu       sync.Mutex
	counters map[key]counter
	desc     *prometheus.Desc
	now      func() time.Time
}

func newRequests() *requests {
	return &requests{
		counters: map[key]counter{},
		desc:     prometheus.NewDesc("http_requests_total", "Requests served, by status code and version (simulated).", []string{"code", "version"}, nil),
		now:      time.Now,
	}
}

func (r *requests) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

func (r *requests) Collect(ch chan<- prometheus.Metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for k, c := range r.counters {
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.CounterValue, c.at(now), k.code, k.version)
	}
}

func (r *requests) setRate(version, code string, rate float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	k := key{version, code}
	c := r.counters[k]
	if !c.since.IsZero() {
		c.base = c.at(now)
	}
	c.rate, c.since = rate, now
	r.counters[k] = c
}

type rateView struct {
	Version string  `json:"version"`
	Code    string  `json:"code"`
	Rate    float64 `json:"rate"`
	Total   float64 `json:"total"`
}

func (r *requests) view() []rateView {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	out := []rateView{}
	for k, c := range r.counters {
		out = append(out, rateView{Version: k.version, Code: k.code, Rate: c.rate, Total: c.at(now)})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Version != out[j].Version {
			return out[i].Version < out[j].Version
		}
		return out[i].Code < out[j].Code
	})
	return out
}

func (r *requests) serveRates(w http.ResponseWriter, req *http.Request) {
	switch req.Method {
	case http.MethodGet:
	case http.MethodPost, http.MethodPut:
		q := req.URL.Query()
		version, code := q.Get("version"), q.Get("code")
		rate, err := strconv.ParseFloat(q.Get("rate"), 64)
		if version == "" || code == "" || err != nil || rate < 0 {
			http.Error(w, "want ?version=V&code=C&rate=R (requests per second, >= 0)", http.StatusBadRequest)
			return
		}
		r.setRate(version, code, rate)
	default:
		http.Error(w, "GET or POST", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(r.view())
}

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (loopback)")
	flag.Parse()

	reqs := newRequests()
	reg := prometheus.NewRegistry()
	reg.MustRegister(reqs)
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/rates", reqs.serveRates)

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "exporter: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintf(os.Stderr, "exporter: %v\n", err)
		os.Exit(1)
	}
}
