package analysis

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// Clock paces the measurements; tests swap in a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Runner runs analyses. The zero value works for Prometheus and HTTP
// metrics; Job metrics need Kube.
type Runner struct {
	// Kube creates, watches and deletes the Jobs of Job metrics.
	Kube kubernetes.Interface
	// Out gets one line per measurement as it is taken (may be nil).
	Out io.Writer
	// KeepJobs leaves smoke-test Jobs in the cluster after they end.
	KeepJobs bool
	// Env expands ${VAR} in header values; os.Getenv when nil.
	Env func(string) string
	// EnvAllowed says which variables a header may read; a reference to
	// any other is an error naming it. nil: any, for a spec from a file
	// given on the command line, and RecordedEnv(nil) (ZDD_ variables
	// only) for a spec read from a record.
	EnvAllowed func(name string) bool
	// Clock paces the measurements; the real clock when nil.
	Clock Clock
	// BeforeJob, when set, is checked right before each smoke-test Job is
	// created (the fencing check of the operation's lease); an error is
	// the measurement's error.
	BeforeJob func(ctx context.Context) error
}

// Analyzer runs one analysis for the given vars and returns its verdict:
// what a strategy calls where it judges the new version (a rollout after or
// while it rolls out, blue-green before and after its switch, a canary at
// each step). Tests give one that answers at once.
type Analyzer func(ctx context.Context, vars Vars) (*Result, error)

// For is the Analyzer that runs spec with a copy of r; nil for a nil spec.
func (r Runner) For(spec *Spec) Analyzer {
	if spec == nil {
		return nil
	}
	return func(ctx context.Context, vars Vars) (*Result, error) { return r.Run(ctx, spec, vars) }
}

// measurer takes one measurement of one metric.
type measurer interface {
	measure(ctx context.Context) outcome
}

// outcome of one measurement, before the limits are applied.
type outcome struct {
	value   *float64
	verdict Verdict // Passed/Failed (judged by bounds when value is set), Errored or Inconclusive
	message string
}

func errorf(format string, a ...any) outcome {
	return outcome{verdict: Errored, message: fmt.Sprintf(format, a...)}
}

func inconclusivef(format string, a ...any) outcome {
	return outcome{verdict: Inconclusive, message: fmt.Sprintf(format, a...)}
}

func valueOutcome(v float64) outcome { return outcome{value: &v} }

// prepared is a metric with its templates rendered and secrets resolved.
type prepared struct {
	metric *Metric
	count  int
	m      measurer
}

// Run runs the analysis: Count rounds, Interval apart, each measuring every
// metric whose own count is not yet reached. It stops as soon as a limit is
// exceeded. The returned error is only for a setup that cannot run (a
// template that fails over vars, a missing environment variable, no
// Kubernetes client for a Job metric, ctx cancelled); metric failures and
// provider errors are in Result.Verdict.
func (r *Runner) Run(ctx context.Context, spec *Spec, vars Vars) (*Result, error) {
	if spec == nil {
		return nil, fmt.Errorf("running analysis: no spec")
	}
	secrets := &redactor{}
	metrics, err := r.prepare(spec, vars, secrets)
	if err != nil {
		return nil, err
	}
	return r.run(ctx, spec, metrics, secrets)
}

// run measures the prepared metrics and applies the limits.
func (r *Runner) run(ctx context.Context, spec *Spec, metrics []prepared, secrets *redactor) (*Result, error) {
	clock := r.Clock
	if clock == nil {
		clock = realClock{}
	}
	res := &Result{Measurements: []Measurement{}}
	var failed, errored, inconclusive int
	rounds := 0
	for _, p := range metrics {
		rounds = max(rounds, p.count)
	}
	for round := 0; round < rounds; round++ {
		delay := spec.Interval.Duration
		if round == 0 {
			delay = spec.InitialDelay.Duration
		}
		if delay > 0 {
			select {
			case <-ctx.Done():
				return res, fmt.Errorf("analysis interrupted after %d measurements: %w", len(res.Measurements), ctx.Err())
			case <-clock.After(delay):
			}
		}
		for _, p := range metrics {
			if round >= p.count {
				continue
			}
			o := p.m.measure(ctx)
			if ctx.Err() != nil {
				return res, fmt.Errorf("analysis interrupted while measuring %q: %w", p.metric.Name, ctx.Err())
			}
			m := judge(p.metric, o)
			m.Time = clock.Now()
			m.Message = secrets.redact(m.Message)
			res.Measurements = append(res.Measurements, m)
			if r.Out != nil {
				fmt.Fprintln(r.Out, measurementLine(m))
			}
			switch m.Verdict {
			case Failed:
				failed++
			case Errored:
				errored++
			case Inconclusive:
				inconclusive++
			}
			switch {
			case failed > spec.FailureLimit:
				res.Verdict = Failed
				res.Message = fmt.Sprintf("%d failed %s, more than failureLimit %d; last: %s: %s",
					failed, plural(failed, "measurement"), spec.FailureLimit, m.Metric, m.Message)
			case errored > spec.ErrorLimit:
				res.Verdict = Failed
				res.Message = fmt.Sprintf("%d provider %s, more than errorLimit %d; last: %s: %s",
					errored, plural(errored, "error"), spec.ErrorLimit, m.Metric, m.Message)
			case inconclusive > spec.InconclusiveLimit:
				res.Verdict = Inconclusive
				res.Message = fmt.Sprintf("%d inconclusive %s, more than inconclusiveLimit %d; last: %s: %s",
					inconclusive, plural(inconclusive, "measurement"), spec.InconclusiveLimit, m.Metric, m.Message)
			}
			if res.Verdict != "" {
				res.Message = secrets.redact(res.Message)
				return res, nil
			}
		}
	}
	res.Verdict = Passed
	res.Message = fmt.Sprintf("%d %s: %d failed (limit %d), %d errors (limit %d), %d inconclusive (limit %d)",
		len(res.Measurements), plural(len(res.Measurements), "measurement"), failed, spec.FailureLimit,
		errored, spec.ErrorLimit, inconclusive, spec.InconclusiveLimit)
	return res, nil
}

// judge turns an outcome into a measurement by the metric's bounds.
func judge(metric *Metric, o outcome) Measurement {
	m := Measurement{Metric: metric.Name, Value: o.value, Min: metric.Min, Max: metric.Max, Verdict: o.verdict, Message: o.message}
	if o.value == nil {
		if m.Verdict == "" {
			m.Verdict = Errored
		}
		return m
	}
	if m.Verdict != "" {
		return m
	}
	v := *o.value
	switch {
	case math.IsNaN(v):
		m.Verdict = Inconclusive
		m.Message = "the value is NaN (no traffic to divide by?)"
	case metric.Min != nil && v < *metric.Min:
		m.Verdict = Failed
		m.Message = fmt.Sprintf("%s is below min %s", formatValue(v), formatValue(*metric.Min))
	case metric.Max != nil && v > *metric.Max:
		m.Verdict = Failed
		m.Message = fmt.Sprintf("%s is above max %s", formatValue(v), formatValue(*metric.Max))
	default:
		m.Verdict = Passed
	}
	return m
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// prepare renders every template over vars and resolves header secrets.
func (r *Runner) prepare(spec *Spec, vars Vars, secrets *redactor) ([]prepared, error) {
	env := r.Env
	if env == nil {
		env = os.Getenv
	}
	allowed := r.EnvAllowed
	if allowed == nil && spec.recorded {
		allowed = RecordedEnv(nil)
	}
	if allowed != nil {
		get := env
		env = func(name string) string {
			if !allowed(name) {
				return ""
			}
			return get(name)
		}
		if refused := spec.RefusedEnv(allowed); len(refused) > 0 {
			return nil, exitcode.Usagef("%s", refusedEnvMessage(refused))
		}
	}
	var out []prepared
	for i := range spec.Metrics {
		metric := &spec.Metrics[i]
		p := prepared{metric: metric, count: spec.Count}
		if metric.Count != nil {
			p.count = *metric.Count
		}
		var err error
		switch {
		case metric.Prometheus != nil:
			p.m, err = newPrometheusMeasurer(metric.Prometheus, vars, env, secrets)
		case metric.HTTP != nil:
			p.m, err = newHTTPMeasurer(metric.HTTP, vars, env, secrets)
		case metric.Job != nil:
			if r.Kube == nil {
				err = fmt.Errorf("a job metric needs a Kubernetes client")
				break
			}
			p.m, err = newJobMeasurer(r.Kube, spec, metric, vars, r.KeepJobs)
			if err == nil && r.BeforeJob != nil {
				p.m.(*jobMeasurer).before = r.BeforeJob
			}
		default:
			err = fmt.Errorf("no provider")
		}
		if err != nil {
			return nil, exitcode.Usagef("analysis metric %q: %w", metric.Name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Reach lists what running the spec reaches: the URL of every HTTP metric
// (its template as written) and Prometheus server, and a line per
// smoke-test Job (its metric, name and images), each prefixed by the metric.
func (s *Spec) Reach() (urls, jobs []string) {
	for i := range s.Metrics {
		m := &s.Metrics[i]
		switch {
		case m.HTTP != nil:
			urls = append(urls, fmt.Sprintf("metric %s: GET %s", m.Name, m.HTTP.URL))
		case m.Prometheus != nil:
			urls = append(urls, fmt.Sprintf("metric %s: prometheus %s", m.Name, m.Prometheus.Address))
		case m.Job != nil:
			jobs = append(jobs, fmt.Sprintf("metric %s: %s", m.Name, m.Job.describe()))
		}
	}
	return urls, jobs
}

// describe names a Job metric's Job and its images, as rendered over
// sample values.
func (j *JobMetric) describe() string {
	job, err := j.build(Vars{Namespace: "NAMESPACE", Name: "NAME", Version: "VERSION", Color: "COLOR", Track: "TRACK", Revision: "REVISION"})
	if err != nil {
		return fmt.Sprintf("a Job that does not render (%v)", err)
	}
	return DescribeJob(job)
}

// DescribeJob is one line naming a Job and what it runs.
func DescribeJob(job *batchv1.Job) string {
	name := job.Name
	if name == "" {
		name = job.GenerateName + "*"
	}
	var run []string
	for _, c := range append(append([]corev1.Container{}, job.Spec.Template.Spec.InitContainers...), job.Spec.Template.Spec.Containers...) {
		what := c.Name + "=" + c.Image
		if cmd := append(append([]string{}, c.Command...), c.Args...); len(cmd) > 0 {
			what += " " + strconv.Quote(strings.Join(cmd, " "))
		}
		run = append(run, what)
	}
	return fmt.Sprintf("job %s running %s", name, strings.Join(run, ", "))
}
