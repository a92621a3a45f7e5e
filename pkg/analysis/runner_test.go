package analysis

import (
	"bytes"
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// fakeClock fires every timer at once and remembers what was waited.
type fakeClock struct {
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }
func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	ch := make(chan time.Time, 1)
	ch <- c.now
	return ch
}

// script answers with its outcomes in order, then repeats the last one.
type script struct {
	outs  []outcome
	calls int
}

func (s *script) measure(context.Context) outcome {
	o := s.outs[min(s.calls, len(s.outs)-1)]
	s.calls++
	return o
}

func val(v float64) outcome { return valueOutcome(v) }

var (
	errOut    = outcome{verdict: Errored, message: "connection refused"}
	noData    = outcome{verdict: Inconclusive, message: "the query returned no data"}
	jobPassed = outcome{verdict: Passed, message: "job completed"}
	jobFailed = outcome{verdict: Failed, message: "job failed: BackoffLimitExceeded"}
)

func f(v float64) *float64 { return &v }

type scriptedMetric struct {
	name     string
	min, max *float64
	count    int // 0: the spec's
	outs     []outcome
}

func TestRunVerdicts(t *testing.T) {
	cases := []struct {
		name        string
		spec        Spec // Metrics are filled from metrics
		metrics     []scriptedMetric
		wantVerdict Verdict
		wantMsg     string   // substring of Result.Message
		wantTaken   []string // "metric=verdict" in order
	}{
		{
			name:        "all pass",
			spec:        Spec{Count: 3},
			metrics:     []scriptedMetric{{name: "err", max: f(0.01), outs: []outcome{val(0), val(0.005), val(0.01)}}},
			wantVerdict: Passed,
			wantMsg:     "3 measurements: 0 failed",
			wantTaken:   []string{"err=passed", "err=passed", "err=passed"},
		},
		{
			name:        "one failure tolerated by failureLimit 1",
			spec:        Spec{Count: 3, FailureLimit: 1},
			metrics:     []scriptedMetric{{name: "err", max: f(0.01), outs: []outcome{val(0.5), val(0)}}},
			wantVerdict: Passed,
			wantTaken:   []string{"err=failed", "err=passed", "err=passed"},
		},
		{
			name:        "failures above failureLimit fail and stop early",
			spec:        Spec{Count: 6, FailureLimit: 1},
			metrics:     []scriptedMetric{{name: "err", max: f(0.01), outs: []outcome{val(0.5)}}},
			wantVerdict: Failed,
			wantMsg:     "2 failed measurements, more than failureLimit 1; last: err: 0.5 is above max 0.01",
			wantTaken:   []string{"err=failed", "err=failed"},
		},
		{
			name:        "failureLimit 0 fails on the first failure",
			spec:        Spec{Count: 6},
			metrics:     []scriptedMetric{{name: "lat", min: f(1), outs: []outcome{val(2), val(0.5)}}},
			wantVerdict: Failed,
			wantMsg:     "0.5 is below min 1",
			wantTaken:   []string{"lat=passed", "lat=failed"},
		},
		{
			name:        "failures are counted over all metrics",
			spec:        Spec{Count: 3, FailureLimit: 1},
			metrics:     []scriptedMetric{{name: "a", max: f(1), outs: []outcome{val(2)}}, {name: "b", max: f(1), outs: []outcome{val(5)}}},
			wantVerdict: Failed,
			wantMsg:     "last: b: 5 is above max 1",
			wantTaken:   []string{"a=failed", "b=failed"},
		},
		{
			name:        "errors within errorLimit pass",
			spec:        Spec{Count: 3, ErrorLimit: 2},
			metrics:     []scriptedMetric{{name: "err", max: f(1), outs: []outcome{errOut, errOut, val(0)}}},
			wantVerdict: Passed,
			wantMsg:     "2 errors (limit 2)",
			wantTaken:   []string{"err=error", "err=error", "err=passed"},
		},
		{
			name:        "errors above errorLimit fail, reported as errors",
			spec:        Spec{Count: 6, ErrorLimit: 2},
			metrics:     []scriptedMetric{{name: "err", max: f(1), outs: []outcome{errOut}}},
			wantVerdict: Failed,
			wantMsg:     "3 provider errors, more than errorLimit 2; last: err: connection refused",
			wantTaken:   []string{"err=error", "err=error", "err=error"},
		},
		{
			name:        "no data is inconclusive, not a pass, and ends the analysis",
			spec:        Spec{Count: 6, FailureLimit: 5},
			metrics:     []scriptedMetric{{name: "err", max: f(1), outs: []outcome{val(0), noData}}},
			wantVerdict: Inconclusive,
			wantMsg:     "1 inconclusive measurement, more than inconclusiveLimit 0; last: err: the query returned no data",
			wantTaken:   []string{"err=passed", "err=inconclusive"},
		},
		{
			name:        "inconclusiveLimit tolerates a warm-up without data",
			spec:        Spec{Count: 3, InconclusiveLimit: 1},
			metrics:     []scriptedMetric{{name: "err", max: f(1), outs: []outcome{noData, val(0)}}},
			wantVerdict: Passed,
			wantTaken:   []string{"err=inconclusive", "err=passed", "err=passed"},
		},
		{
			name:        "NaN (0/0) is inconclusive",
			spec:        Spec{Count: 2},
			metrics:     []scriptedMetric{{name: "err", max: f(1), outs: []outcome{val(math.NaN())}}},
			wantVerdict: Inconclusive,
			wantMsg:     "NaN",
			wantTaken:   []string{"err=inconclusive"},
		},
		{
			name:        "+Inf is above any max",
			spec:        Spec{Count: 2},
			metrics:     []scriptedMetric{{name: "err", max: f(1), outs: []outcome{val(math.Inf(1))}}},
			wantVerdict: Failed,
			wantTaken:   []string{"err=failed"},
		},
		{
			name:        "min and max both bound, inclusive",
			spec:        Spec{Count: 4, FailureLimit: 10},
			metrics:     []scriptedMetric{{name: "rps", min: f(10), max: f(20), outs: []outcome{val(10), val(20), val(9.99), val(20.01)}}},
			wantVerdict: Passed,
			wantTaken:   []string{"rps=passed", "rps=passed", "rps=failed", "rps=failed"},
		},
		{
			name: "a job metric with count 1 runs once while the others go on",
			spec: Spec{Count: 3},
			metrics: []scriptedMetric{
				{name: "smoke", count: 1, outs: []outcome{jobPassed}},
				{name: "err", max: f(1), outs: []outcome{val(0)}},
			},
			wantVerdict: Passed,
			wantTaken:   []string{"smoke=passed", "err=passed", "err=passed", "err=passed"},
		},
		{
			name:        "a failed job fails the analysis",
			spec:        Spec{Count: 1},
			metrics:     []scriptedMetric{{name: "smoke", outs: []outcome{jobFailed}}},
			wantVerdict: Failed,
			wantMsg:     "job failed: BackoffLimitExceeded",
			wantTaken:   []string{"smoke=failed"},
		},
		{
			name:        "a failure is judged before the error limit",
			spec:        Spec{Count: 3},
			metrics:     []scriptedMetric{{name: "err", max: f(1), outs: []outcome{errOut, val(2)}}},
			wantVerdict: Failed,
			wantMsg:     "1 provider error, more than errorLimit 0",
			wantTaken:   []string{"err=error"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := tc.spec
			spec.Interval = metav1.Duration{Duration: time.Second}
			var prep []prepared
			for _, sm := range tc.metrics {
				m := Metric{Name: sm.name, Min: sm.min, Max: sm.max}
				count := spec.Count
				if sm.count != 0 {
					count = sm.count
					m.Count = &sm.count
				}
				spec.Metrics = append(spec.Metrics, m)
				prep = append(prep, prepared{metric: &spec.Metrics[len(spec.Metrics)-1], count: count, m: &script{outs: sm.outs}})
			}
			var out bytes.Buffer
			r := &Runner{Out: &out, Clock: &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}}
			res, err := r.run(context.Background(), &spec, prep, &redactor{})
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			if res.Verdict != tc.wantVerdict {
				t.Errorf("verdict = %q, want %q (message %q)", res.Verdict, tc.wantVerdict, res.Message)
			}
			if !strings.Contains(res.Message, tc.wantMsg) {
				t.Errorf("message = %q, want it to contain %q", res.Message, tc.wantMsg)
			}
			var taken []string
			for _, m := range res.Measurements {
				taken = append(taken, m.Metric+"="+string(m.Verdict))
			}
			if diff := cmp.Diff(tc.wantTaken, taken); diff != "" {
				t.Errorf("measurements (-want +got):\n%s", diff)
			}
			if lines := strings.Count(out.String(), "\n"); lines != len(res.Measurements) {
				t.Errorf("Out got %d lines for %d measurements:\n%s", lines, len(res.Measurements), out.String())
			}
		})
	}
}

func TestRunPacing(t *testing.T) {
	spec := &Spec{Count: 3, Interval: metav1.Duration{Duration: 10 * time.Second}, InitialDelay: metav1.Duration{Duration: 5 * time.Second}}
	spec.Metrics = []Metric{{Name: "a", Max: f(1)}, {Name: "b", Max: f(1)}}
	clock := &fakeClock{now: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	r := &Runner{Clock: clock}
	prep := []prepared{
		{metric: &spec.Metrics[0], count: 3, m: &script{outs: []outcome{val(0)}}},
		{metric: &spec.Metrics[1], count: 3, m: &script{outs: []outcome{val(0)}}},
	}
	res, err := r.run(context.Background(), spec, prep, &redactor{})
	if err != nil {
		t.Fatal(err)
	}
	// one wait before each round: the initial delay, then the interval
	if diff := cmp.Diff([]time.Duration{5 * time.Second, 10 * time.Second, 10 * time.Second}, clock.waits); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}
	var offsets []time.Duration
	for _, m := range res.Measurements {
		offsets = append(offsets, m.Time.Sub(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)))
	}
	want := []time.Duration{5 * time.Second, 5 * time.Second, 15 * time.Second, 15 * time.Second, 25 * time.Second, 25 * time.Second}
	if diff := cmp.Diff(want, offsets); diff != "" {
		t.Errorf("measurement times (-want +got):\n%s", diff)
	}
}

// blockingClock never fires; it cancels the context the run waits under,
// as a Ctrl-C during the interval would.
type blockingClock struct {
	fakeClock
	cancel func()
}

func (c *blockingClock) After(time.Duration) <-chan time.Time {
	c.cancel()
	return make(chan time.Time)
}

func TestRunCancelledWhileWaiting(t *testing.T) {
	spec := &Spec{Count: 3, Interval: metav1.Duration{Duration: time.Hour}, Metrics: []Metric{{Name: "a", Max: f(1)}}}
	ctx, cancel := context.WithCancel(context.Background())
	prep := []prepared{{metric: &spec.Metrics[0], count: 3, m: &script{outs: []outcome{val(0)}}}}
	res, err := (&Runner{Clock: &blockingClock{cancel: cancel}}).run(ctx, spec, prep, &redactor{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if len(res.Measurements) != 1 || res.Verdict != "" {
		t.Errorf("got %d measurements and verdict %q, want 1 and none", len(res.Measurements), res.Verdict)
	}
}

func TestExpandEnv(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cr3t", "USER": "bob"}
	get := func(k string) string { return env[k] }
	cases := []struct {
		name, in, want, wantErr string
	}{
		{name: "no reference", in: "plain", want: "plain"},
		{name: "one reference", in: "Bearer ${TOKEN}", want: "Bearer s3cr3t"},
		{name: "two references", in: "${USER}:${TOKEN}", want: "bob:s3cr3t"},
		{name: "a bare $VAR is left alone", in: "$TOKEN", want: "$TOKEN"},
		{name: "unset variable", in: "Bearer ${MISSING}", wantErr: "environment variable MISSING is not set"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := expandEnv(tc.in, get, &redactor{})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("expandEnv(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestRedactor(t *testing.T) {
	r := &redactor{}
	r.add("abc")
	r.add("abcdef")
	r.add("")
	if got, want := r.redact("token abcdef and abc here"), "token [redacted] and [redacted] here"; got != want {
		t.Errorf("redact = %q, want %q", got, want)
	}
}
