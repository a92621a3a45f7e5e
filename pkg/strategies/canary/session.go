package canary

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// recordWriter is the writer of the record on the stable Deployment: a
// conflict with a change of what the canary manages (replicas, template,
// selector) stops it, any other change is taken as the new version seen.
func (c *Canary) recordWriter(p *plan) *state.RecordWriter {
	w := &state.RecordWriter{Object: state.DeploymentCarrier(c.Client, p.stable.Namespace, p.stable.Name), Now: c.Now}
	if c.fence != nil {
		w.Fence = c.fence
	}
	w.Judge = func(obj metav1.Object) error {
		d, ok := obj.(*appsv1.Deployment)
		if !ok {
			return nil
		}
		if seen := p.seen[d.Name]; seen != nil {
			if changed := p.change(seen, d); changed != nil {
				return changed
			}
		}
		p.remember(d)
		return nil
	}
	return w
}

func resultText(op *state.Operation) string {
	if op.Result == "" {
		return "in flight"
	}
	return op.Result
}

// lock takes the operation's Lease; the returned context ends, with the
// *state.LostError as its cause, if it is lost. Once it holds the Lease it
// reads the stable again: a record that changed since prepare read it
// (another run moved it on) stops it, nothing changed, and so does a change
// of what the canary manages.
func (c *Canary) lock(ctx context.Context, p *plan, force bool) (context.Context, func(), error) {
	sess, err := state.Begin(ctx, state.SessionConfig{Leases: c.Client.CoordinationV1(), Namespace: p.stable.Namespace, Kind: "deployment", Name: p.stable.Name,
		OperationID: p.op.ID, Force: force, Duration: c.LeaseDuration, Clock: c.Clock, Logf: c.printf})
	if err != nil {
		return nil, nil, err
	}
	c.fence = sess.Fence()
	p.rec = c.recordWriter(p)
	again, has, err := p.rec.Load(ctx)
	if err == nil && (has != (p.record != nil) || has && !sameRecord(p.record, again)) {
		now := "it was removed"
		if has {
			now = fmt.Sprintf("now operation %s (%s), phase %s, holder %q", again.ID, again.Strategy, again.Phase, again.Holder)
		}
		err = exitcode.Failedf("deployment %q: its operation record changed while this run took the lease (%s): nothing was changed, run again", p.ref(), now)
	}
	if err == nil {
		if d, ok := p.rec.Base().(*appsv1.Deployment); ok {
			if changed := p.change(p.seen[d.Name], d); changed != nil {
				err = exitcode.Failedf("deployment %q changed while this run took the lease: %w; nothing was changed, run again", p.ref(), changed)
			} else {
				p.remember(d)
				p.stable = d
			}
		}
	}
	if err != nil {
		sess.End()
		return nil, nil, err
	}
	return sess.Context(), sess.End, nil
}

// sameRecord says whether two reads of the record show the same state.
func sameRecord(a, b *state.Operation) bool {
	return a.ID == b.ID && a.Strategy == b.Strategy && a.Phase == b.Phase && a.Result == b.Result && a.Holder == b.Holder && a.UpdateTime.Equal(b.UpdateTime)
}

// lost returns why the run's Lease is lost (err, ctx or the fence say so),
// nil while it is held: the one rule by which the canary stops without any
// further write.
func (c *Canary) lost(ctx context.Context, err error) *state.LostError {
	return state.Lost(ctx, err, c.fence)
}

// stopLost ends a run that lost its Lease without one more write: the record
// keeps the phase (in flight) for resume or abort, and the error (exit 3)
// says so. nil when the Lease is not lost.
func (c *Canary) stopLost(ctx context.Context, p *plan, err error) error {
	lost := c.lost(ctx, err)
	if lost == nil {
		return nil
	}
	phase := p.op.Phase
	if p.rec != nil && p.rec.RecordedPhase() != "" {
		phase = p.rec.RecordedPhase()
	}
	return exitcode.NeedsPersonf("canary of deployment %q: %w; no further change was made; %s", p.ref(), lost, state.StoppedHint("deployment", p.stable.Namespace, p.stable.Name, phase))
}

// fenced is the check made right before each write of the release: the
// Lease is still this run's (state.Lock.Check).
func (c *Canary) fenced(ctx context.Context) error {
	if c.fence == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	return c.fence.Check(ctx)
}

// save writes the record; a lost Lease is the exit-3 stop.
func (c *Canary) save(ctx context.Context, p *plan) error {
	if p.rec == nil {
		p.rec = c.recordWriter(p)
	}
	err := p.rec.Save(ctx, p.op)
	if err != nil {
		if stop := c.stopLost(ctx, p, err); stop != nil {
			return stop
		}
		return err
	}
	if d, ok := p.rec.Base().(*appsv1.Deployment); ok {
		p.remember(d)
	}
	return nil
}

// watchDowntime starts the endpoint watcher of the Service; it returns a
// function that prints its summary.
func (c *Canary) watchDowntime(ctx context.Context, p *plan) func() {
	w, err := downtime.Start(ctx, c.Client, p.service.Namespace, p.service.Name)
	if err != nil {
		c.printf("warning: not watching the endpoints of service %q: %v", p.service.Namespace+"/"+p.service.Name, err)
		return func() {}
	}
	// the step waits read the same watch: at 1,000 replicas a wait of
	// its own listed every pod again at every step
	p.endpoints = w.Endpoints()
	return func() {
		p.endpoints = nil
		c.printf("%s", strategies.StopWatch(c.Events, w).Capacity(p.replicas))
	}
}
