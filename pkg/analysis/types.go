// Package analysis judges a release by its metrics: Prometheus queries, HTTP
// endpoints and smoke-test Jobs, measured over a window, with a verdict that
// rollout, blue-green and canary act on.
package analysis

import "time"

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
//	}
//	func (r *Runner) Run(ctx context.Context, spec *Spec, vars Vars) (*Result, error)
//	   // error only for a broken setup (ctx cancelled, bad template); metric
//	   // failures and provider errors are in Result.Verdict
//	func PrintTable(w io.Writer, res *Result) error
