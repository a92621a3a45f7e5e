package report

import (
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
)

// t0 is the start of every fixture's observation.
var t0 = time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func sec(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func f64(v float64) *float64 { return &v }

// canaryData is a canary of 5 replicas in 4 steps (10, 30, 50, 100) with a
// pause of 8 s, an analysis at each step, and a request probe at 20/s that
// saw 3 refused connections and one 500 from v2.
func canaryData() *Data {
	var tl []downtime.Sample
	add := func(at float64, old, new int) {
		by := map[string]int{}
		if old > 0 {
			by["6d4cf56db6"] = old
		}
		if new > 0 {
			by["7b9f8c5d44"] = new
		}
		tl = append(tl, downtime.Sample{Time: t0.Add(sec(at)), Ready: old + new, ByHash: by})
	}
	add(0, 5, 0)
	add(3.2, 5, 1)  // step 10%: 1 canary pod
	add(13.9, 5, 2) // step 30%: 2 canary pods
	add(14.4, 4, 2) // stable scaled down
	add(24.8, 4, 3) // step 50%
	add(25.1, 3, 3) //
	add(35.6, 3, 5) // step 100%
	add(36.2, 0, 5) // stable retired at once (its pods stop)
	add(47.0, 0, 5) // promote: stable takes v2 (same count)
	rep := downtime.Summarize("shop/web", tl, t0, t0.Add(sec(52.4)))
	d := FromDowntime(rep, map[string]string{"6d4cf56db6": "v1", "7b9f8c5d44": "v2"})
	d.Facts = Facts{
		Kind: "Deployment", Namespace: "shop", Name: "web", Service: "shop/web",
		Strategy: "canary", OperationID: "op-5f2a9c", Who: "ana@laptop",
		Started: t0.Add(-sec(1.4)), Ended: t0.Add(sec(52.4)),
		FromRevision: "3", ToRevision: "4", Result: "succeeded",
		Message:  "canary promoted: deployment shop/web runs shop/web:2.0.0 on 5 replicas",
		MinReady: rep.MinReady, ZeroFor: rep.ZeroFor,
	}
	for _, p := range []struct {
		name string
		at   float64
	}{{"apply", 0.4}, {"step 10%", 2.1}, {"step 30%", 12.9}, {"step 50%", 23.7}, {"step 100%", 34.5}, {"promote", 45.8}, {"retire", 50.9}} {
		d.AddPhase(p.name, t0.Add(sec(p.at)))
	}
	res := &analysis.Result{Verdict: analysis.Passed, Message: "all measurements passed"}
	for i, at := range []float64{10.5, 21.3, 32.2, 43.1} {
		errRate := []float64{0.002, 0.004, 0.011, 0.006}[i]
		p99 := []float64{0.21, 0.24, 0.29, 0.26}[i]
		res.Measurements = append(res.Measurements,
			analysis.Measurement{Time: t0.Add(sec(at)), Metric: "error-rate", Value: f64(errRate), Max: f64(0.05), Verdict: analysis.Passed},
			analysis.Measurement{Time: t0.Add(sec(at + 0.3)), Metric: "p99-latency", Value: f64(p99), Max: f64(0.5), Verdict: analysis.Passed},
		)
	}
	d.Analysis = FromAnalysis(res)
	d.Probe = &Probe{Width: time.Second}
	for s := 0; s < 53; s++ {
		c := map[string]Count{}
		// answers split by the share of ready endpoints at the second
		at := t0.Add(time.Duration(s) * time.Second)
		n1 := valueAt(d.Versions[0].Points, at)
		n2 := valueAt(d.Versions[1].Points, at)
		sent := 20
		if s == 52 {
			sent = 8 // the probe stopped 0.4 s into this second
		}
		v2 := sent * n2 / max(n1+n2, 1)
		if v2 > 0 {
			c["v2"] = Count{Sent: v2}
		}
		if sent-v2 > 0 {
			c["v1"] = Count{Sent: sent - v2}
		}
		switch s {
		case 36: // old pods stopping: 3 refused, no answer
			v1 := c["v1"]
			v1.Sent -= 3
			c["v1"] = v1
			c[NoVersion] = Count{Sent: 3, Failed: 3}
		case 27:
			v := c["v2"]
			v.Failed = 1
			c["v2"] = v
		}
		d.Probe.Buckets = append(d.Probe.Buckets, Bucket{Time: at, Counts: c})
	}
	return &d
}

// blueGreenData is a blue-green switch that was switched back: green came
// up, the Service switched, the watch lost the API server for 4 s, the
// analysis failed, the Service switched back to blue, and the Service had no
// ready endpoint for 0.6 s at the second switch.
func blueGreenData() *Data {
	var tl []downtime.Sample
	add := func(at float64, blue, green int) {
		by := map[string]int{}
		if blue > 0 {
			by["58f7d9c6b"] = blue
		}
		if green > 0 {
			by["c4b8e7f2a"] = green
		}
		tl = append(tl, downtime.Sample{Time: t0.Add(sec(at)), Ready: blue + green, ByHash: by})
	}
	add(0, 3, 0)
	add(21.5, 0, 3) // switch to green
	add(62.0, 0, 0) // switch back: blue's pods not ready yet
	add(62.6, 3, 0)
	rep := downtime.Summarize("shop/web", tl, t0, t0.Add(sec(81)))
	rep.Gaps = []downtime.Gap{{From: t0.Add(sec(30)), To: t0.Add(sec(34))}}
	d := FromDowntime(rep, map[string]string{"58f7d9c6b": "blue", "c4b8e7f2a": "green"})
	d.Facts = Facts{
		Kind: "Service", Namespace: "shop", Name: "web", Service: "shop/web",
		Strategy: "bluegreen", OperationID: "op-9e01d3", Who: "ci@runner-7",
		Started: t0, Ended: t0.Add(sec(81)), FromRevision: "blue", ToRevision: "green",
		Result:   "failed",
		Message:  `analysis failed: metric "error-rate" 0.12 above its maximum 0.05 (2 of 3 measurements failed); switched service shop/web back to blue`,
		MinReady: rep.MinReady, ZeroFor: rep.ZeroFor,
	}
	for _, p := range []struct {
		name string
		at   float64
	}{{"apply green", 0.5}, {"switch", 21.4}, {"analysis", 22.0}, {"switch back", 61.9}, {"retire green", 75.2}} {
		d.AddPhase(p.name, t0.Add(sec(p.at)))
	}
	d.Analysis = []Metric{{
		Name: "error-rate", Max: f64(0.05),
		Points: []Measure{
			{Time: at(sec(32)), Value: f64(0.03), Verdict: "passed"},
			{Time: at(sec(42)), Value: f64(0.09), Verdict: "failed"},
			{Time: at(sec(52)), Value: nil, Verdict: "error"},
			{Time: at(sec(61)), Value: f64(0.12), Verdict: "failed"},
		},
	}}
	return &d
}
