package analysis

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/client-go/util/jsonpath"
	"sigs.k8s.io/yaml"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// Defaults applied by LoadFile when a field is left out.
const (
	DefaultInterval       = 10 * time.Second
	DefaultCount          = 1
	DefaultQueryTimeout   = 10 * time.Second
	DefaultJobTimeout     = 5 * time.Minute
	maxMetricNameLength   = 63
	maxCountPerMetric     = 10000
	maxInterval           = 24 * time.Hour
	jobFileSizeLimitBytes = 1 << 20
	// analysisFileSizeLimitBytes bounds an analysis file (it is recorded
	// in an annotation, MaxParamBytes, anyway)
	analysisFileSizeLimitBytes = 1 << 20
)

// readCapped reads the file at p, refusing one larger than limit bytes
// while it reads (a pipe or /dev/zero never ends: it is not read whole
// first).
func readCapped(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%q is larger than %d bytes", p, limit)
	}
	return data, nil
}

var metricNameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$`)

// envRefRE matches ${VAR} in header values.
var envRefRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// LoadFile reads, parses and validates an analysis file. Every error names
// the file and is a usage error (exit 2).
func LoadFile(path string) (*Spec, error) {
	data, err := readCapped(path, analysisFileSizeLimitBytes)
	if err != nil {
		return nil, exitcode.Usagef("reading analysis file %q: %w", path, err)
	}
	spec, err := Parse(data)
	if err != nil {
		return nil, exitcode.Usagef("analysis file %q: %w", path, err)
	}
	spec.File = path
	if err := spec.loadJobs(); err != nil {
		return nil, exitcode.Usagef("analysis file %q: %w", path, err)
	}
	return spec, nil
}

// Parse parses and validates an analysis document (unknown fields are
// errors). Job files are checked by LoadFile, which knows where they are.
func Parse(data []byte) (*Spec, error) {
	var spec Spec
	if err := yaml.UnmarshalStrict(data, &spec); err != nil {
		return nil, fmt.Errorf("parsing: %w", err)
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	return &spec, nil
}

func (s *Spec) validate() error {
	if s.Interval.Duration == 0 {
		s.Interval.Duration = DefaultInterval
	}
	if s.Count == 0 {
		s.Count = DefaultCount
	}
	switch {
	case s.Interval.Duration < 0 || s.Interval.Duration > maxInterval:
		return fmt.Errorf("interval %s must be between 0s and %s", s.Interval.Duration, maxInterval)
	case s.InitialDelay.Duration < 0 || s.InitialDelay.Duration > maxInterval:
		return fmt.Errorf("initialDelay %s must be between 0s and %s", s.InitialDelay.Duration, maxInterval)
	case s.Count < 0 || s.Count > maxCountPerMetric:
		return fmt.Errorf("count %d must be between 1 and %d", s.Count, maxCountPerMetric)
	case s.FailureLimit < 0:
		return fmt.Errorf("failureLimit %d must not be negative", s.FailureLimit)
	case s.ErrorLimit < 0:
		return fmt.Errorf("errorLimit %d must not be negative", s.ErrorLimit)
	case s.InconclusiveLimit < 0:
		return fmt.Errorf("inconclusiveLimit %d must not be negative", s.InconclusiveLimit)
	case len(s.Metrics) == 0:
		return fmt.Errorf("no metrics: list at least one under metrics")
	}
	seen := map[string]bool{}
	for i := range s.Metrics {
		m := &s.Metrics[i]
		if err := m.validate(); err != nil {
			if m.Name == "" {
				return fmt.Errorf("metrics[%d]: %w", i, err)
			}
			return fmt.Errorf("metric %q: %w", m.Name, err)
		}
		if seen[m.Name] {
			return fmt.Errorf("metric %q: name used twice", m.Name)
		}
		seen[m.Name] = true
	}
	return nil
}

func (m *Metric) validate() error {
	if m.Name == "" {
		return fmt.Errorf("name is required")
	}
	if len(m.Name) > maxMetricNameLength || !metricNameRE.MatchString(m.Name) {
		return fmt.Errorf("name must be at most %d lower-case letters, digits, '-', '_' or '.'", maxMetricNameLength)
	}
	if m.Count != nil && (*m.Count < 1 || *m.Count > maxCountPerMetric) {
		return fmt.Errorf("count %d must be between 1 and %d", *m.Count, maxCountPerMetric)
	}
	for _, b := range []struct {
		name string
		v    *float64
	}{{"min", m.Min}, {"max", m.Max}} {
		if b.v != nil && (math.IsNaN(*b.v) || math.IsInf(*b.v, 0)) {
			return fmt.Errorf("%s must be a finite number", b.name)
		}
	}
	if m.Min != nil && m.Max != nil && *m.Min > *m.Max {
		return fmt.Errorf("min %g is above max %g", *m.Min, *m.Max)
	}
	providers := 0
	if m.Prometheus != nil {
		providers++
	}
	if m.HTTP != nil {
		providers++
	}
	if m.Job != nil {
		providers++
	}
	if providers != 1 {
		return fmt.Errorf("set exactly one of prometheus, http or job (found %d)", providers)
	}
	if m.Job == nil && m.Min == nil && m.Max == nil {
		return fmt.Errorf("set min, max or both")
	}
	if m.Job != nil && (m.Min != nil || m.Max != nil) {
		return fmt.Errorf("a job metric passes or fails by the Job's end: min and max do not apply")
	}
	switch {
	case m.Prometheus != nil:
		p := m.Prometheus
		if err := checkAddress("prometheus.address", p.Address); err != nil {
			return err
		}
		if err := checkHeaders("prometheus.headers", p.Headers); err != nil {
			return err
		}
		if strings.TrimSpace(p.Query) == "" {
			return fmt.Errorf("prometheus.query is required")
		}
		if err := checkTemplate("prometheus.query", p.Query); err != nil {
			return err
		}
		if p.Timeout.Duration < 0 {
			return fmt.Errorf("prometheus.timeout must not be negative")
		}
	case m.HTTP != nil:
		h := m.HTTP
		if h.URL == "" {
			return fmt.Errorf("http.url is required")
		}
		if err := checkTemplate("http.url", h.URL); err != nil {
			return err
		}
		sample, _ := render(h.URL, Vars{Namespace: "ns", Name: "name", Version: "v1", Color: "blue", Track: "canary", Revision: "1"})
		if err := checkAddress("http.url", sample); err != nil {
			return err
		}
		if h.JSONPath != "" {
			if err := jsonpath.New(m.Name).Parse(h.JSONPath); err != nil {
				return fmt.Errorf("http.jsonPath %q: %w", h.JSONPath, err)
			}
		}
		if err := checkHeaders("http.headers", h.Headers); err != nil {
			return err
		}
		if h.Timeout.Duration < 0 {
			return fmt.Errorf("http.timeout must not be negative")
		}
	case m.Job != nil:
		if m.Job.File == "" {
			return fmt.Errorf("job.file is required")
		}
		if m.Job.Timeout.Duration < 0 {
			return fmt.Errorf("job.timeout must not be negative")
		}
	}
	return nil
}

// checkHeaders checks header names and their ${VAR} references (the rule
// of CheckHeader, which the request probe shares).
func checkHeaders(field string, headers map[string]string) error {
	for k, v := range headers {
		if err := CheckHeader(k, v); err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
	}
	return nil
}

func checkAddress(field, raw string) error {
	if raw == "" {
		return fmt.Errorf("%s is required", field)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s %q: must be an http:// or https:// URL: %w", field, raw, err)
	}
	if _, hasPassword := u.User.Password(); hasPassword {
		// it would be printed in messages and recorded in an annotation
		return fmt.Errorf("%s %q: holds a password; put credentials in headers (e.g. Authorization: Basic ${VAR}), which are read from the environment and never printed or recorded", field, u.Redacted())
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%s %q: must be an http:// or https:// URL", field, raw)
	}
	if u.Host == "" {
		return fmt.Errorf("%s %q: has no host", field, raw)
	}
	return nil
}

// checkTemplate parses a template and runs it over empty Vars, which catches
// syntax errors and unknown fields ({{.Nmae}}) at load time.
func checkTemplate(field, text string) error {
	if _, err := render(text, Vars{}); err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	return nil
}

// render executes text as a template over vars.
func render(text string, vars Vars) (string, error) {
	t, err := template.New("").Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, vars); err != nil {
		return "", fmt.Errorf("template: %w", err)
	}
	return b.String(), nil
}

// jobPath is where a Job metric's file is, relative to the analysis file.
func (s *Spec) jobPath(j *JobMetric) string {
	if filepath.IsAbs(j.File) || s.File == "" {
		return j.File
	}
	return filepath.Join(filepath.Dir(s.File), j.File)
}

// loadJobs reads every Job file once, so that a missing or broken file is
// bad input found before anything runs.
func (s *Spec) loadJobs() error {
	for i := range s.Metrics {
		m := &s.Metrics[i]
		if m.Job == nil {
			continue
		}
		p := s.jobPath(m.Job)
		text, err := readJobFile(p)
		if err != nil {
			return fmt.Errorf("metric %q: %w", m.Name, err)
		}
		m.Job.text = text
		if _, err := m.Job.build(Vars{Namespace: "ns", Name: "name", Version: "v1", Color: "blue", Track: "canary", Revision: "1"}); err != nil {
			return fmt.Errorf("metric %q: job file %q: %w", m.Name, p, err)
		}
	}
	return nil
}

// build renders the Job file over vars and decodes it.
func (j *JobMetric) build(vars Vars) (*batchv1.Job, error) {
	text, err := render(j.text, vars)
	if err != nil {
		return nil, err
	}
	var job batchv1.Job
	if err := yaml.UnmarshalStrict([]byte(text), &job); err != nil {
		return nil, fmt.Errorf("parsing Job: %w", err)
	}
	if job.Kind != "" && job.Kind != "Job" {
		return nil, fmt.Errorf("kind is %q, want Job", job.Kind)
	}
	if job.APIVersion != "" && job.APIVersion != "batch/v1" {
		return nil, fmt.Errorf("apiVersion is %q, want batch/v1", job.APIVersion)
	}
	if len(job.Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("the Job has no containers")
	}
	return &job, nil
}

func readJobFile(p string) (string, error) {
	data, err := readCapped(p, jobFileSizeLimitBytes)
	if err != nil {
		return "", fmt.Errorf("reading job file: %w", err)
	}
	return string(data), nil
}
