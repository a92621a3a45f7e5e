// Package analysis judges a release by its metrics: Prometheus queries, HTTP
// endpoints and smoke-test Jobs, measured over a window, with a verdict that
// rollout, blue-green and canary act on.
package analysis

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Verdict of one measurement or of a whole analysis.
type Verdict string

const (
	Passed       Verdict = "passed"
	Failed       Verdict = "failed"
	Errored      Verdict = "error"
	Inconclusive Verdict = "inconclusive"
)

// Vars fill the templates ({{.Namespace}}, {{.Name}}, {{.Version}},
// {{.Color}}, {{.Track}}, {{.Revision}}) in queries, URLs and Job files.
type Vars struct {
	Namespace string
	Name      string
	Version   string
	Color     string
	Track     string
	Revision  string
}

// Measurement is one value taken of one metric.
type Measurement struct {
	Time    time.Time `json:"time"`
	Metric  string    `json:"metric"`
	Value   *float64  `json:"value,omitempty"`
	Min     *float64  `json:"min,omitempty"`
	Max     *float64  `json:"max,omitempty"`
	Verdict Verdict   `json:"verdict"`
	Message string    `json:"message,omitempty"`
}

// Result of a whole analysis.
type Result struct {
	Verdict      Verdict       `json:"verdict"`
	Message      string        `json:"message"`
	Measurements []Measurement `json:"measurements"`
}

// The API the strategies call (implemented in this package):
//
//	func LoadFile(path string) (*Spec, error)   // parse and validate; errors name the file (exitcode.Usage)
//	type Runner struct {
//	    Kube     kubernetes.Interface  // for Job metrics
//	    Out      io.Writer             // one line per measurement as it is taken (may be nil)
//	    KeepJobs bool
//	    Env      func(string) string   // ${VAR} expansion in headers; os.Getenv by default
//	    EnvAllowed func(string) bool   // which variables headers may read (RecordedEnv for a recorded spec)
//	}
//	func (r *Runner) Run(ctx context.Context, spec *Spec, vars Vars) (*Result, error)
//	   // error only for a broken setup (ctx cancelled, bad template); metric
//	   // failures and provider errors are in Result.Verdict
//	func PrintTable(w io.Writer, res *Result) error

// Spec is a parsed analysis file (see docs/analysis.md).
type Spec struct {
	// Interval is the time between measurements.
	Interval metav1.Duration `json:"interval"`
	// InitialDelay is waited before the first measurement.
	InitialDelay metav1.Duration `json:"initialDelay,omitempty"`
	// Count is how many measurements of each metric the window holds.
	Count int `json:"count"`
	// FailureLimit is how many failed measurements are tolerated (in total,
	// over all metrics); one more fails the analysis.
	FailureLimit int `json:"failureLimit"`
	// ErrorLimit is how many provider errors are tolerated; one more fails
	// the analysis, reported as errors.
	ErrorLimit int `json:"errorLimit"`
	// InconclusiveLimit is how many inconclusive measurements (no data) are
	// tolerated; one more ends the analysis as inconclusive. Default 0.
	InconclusiveLimit int      `json:"inconclusiveLimit,omitempty"`
	Metrics           []Metric `json:"metrics"`

	// File is the path the spec was read from; relative Job files are
	// resolved against its directory.
	File string `json:"-"`
	// recorded: the spec was read from an operation record (DecodeParam),
	// which anyone who can patch the object's annotations can write: its
	// headers read only the environment variables a Runner allows
	// (RecordedEnv), and no file it names is ever read.
	recorded bool
}

// Recorded says whether the spec was read from an operation record.
func (s *Spec) Recorded() bool { return s.recorded }

// Metric is one thing measured, by exactly one provider.
type Metric struct {
	Name string `json:"name"`
	// Min and Max bound a passing value (inclusive); either or both.
	Min *float64 `json:"min,omitempty"`
	Max *float64 `json:"max,omitempty"`
	// Count overrides Spec.Count for this metric (a smoke Job usually runs once).
	Count *int `json:"count,omitempty"`

	Prometheus *PrometheusMetric `json:"prometheus,omitempty"`
	HTTP       *HTTPMetric       `json:"http,omitempty"`
	Job        *JobMetric        `json:"job,omitempty"`
}

// PrometheusMetric is an instant query; it must return a scalar or a vector
// of exactly one sample.
type PrometheusMetric struct {
	// Address is the server's URL, without credentials (they would be
	// printed and recorded): put them in Headers.
	Address string `json:"address"`
	// Query is a text/template over Vars.
	Query   string          `json:"query"`
	Timeout metav1.Duration `json:"timeout,omitempty"`
	// Headers are sent with every query (e.g. Authorization); values may
	// hold ${VAR}, read from the environment and never printed.
	Headers map[string]string `json:"headers,omitempty"`
}

// HTTPMetric is a GET whose body is a bare number, or JSON read with JSONPath.
type HTTPMetric struct {
	// URL is a text/template over Vars.
	URL      string `json:"url"`
	JSONPath string `json:"jsonPath,omitempty"`
	// Headers values may hold ${VAR}, read from the environment and never printed.
	Headers map[string]string `json:"headers,omitempty"`
	Timeout metav1.Duration   `json:"timeout,omitempty"`
}

// JobMetric creates a Job from File (a text/template over Vars) in the
// namespace, passes when it completes and fails when it fails.
type JobMetric struct {
	File    string          `json:"file"`
	Timeout metav1.Duration `json:"timeout,omitempty"`

	text string // the file's content, read by LoadFile
}
