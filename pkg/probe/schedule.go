package probe

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"
)

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
