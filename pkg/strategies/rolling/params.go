package rolling

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// Params of a rollout's record (zdd.dev/param.<key>): what the release
// asked for, written at its first phase, so `kubectl zdd resume` can finish
// it by itself after the client died, even before the Deployment was
// changed.
const (
	// ParamImages is the --image set, as JSON {"container": "image"}.
	ParamImages = "images"
	// ParamManifest is the -f Deployment, as JSON (without status).
	ParamManifest = "manifest"
	// ParamManifestSource is the file it came from.
	ParamManifestSource = "manifest-source"
	// ParamChangeCause is kubernetes.io/change-cause of the release.
	ParamChangeCause = "change-cause"
	// ParamFixStrategy is "true" with --fix-strategy.
	ParamFixStrategy = "fix-strategy"
	// ParamFix is "true" with --fix, and ParamFixes the changes it made
	// (JSON list of descriptions).
	ParamFix   = "fix"
	ParamFixes = "fixes"
	// ParamMigrationJob is the migration Job as it is created (its name
	// unique to the operation), as JSON.
	ParamMigrationJob = "migration-job"
	// ParamTimeout, ParamMaxRestarts and ParamNoRollback are --timeout,
	// --max-restarts and --no-rollback.
	ParamTimeout     = "timeout"
	ParamMaxRestarts = "max-restarts"
	ParamNoRollback  = "no-rollback"
	// ParamAnalysis is the --analysis spec (analysis.EncodeParam: its Job
	// files included, ${VAR} references never expanded);
	// ParamAnalysisDuring is "true" with --analysis-during.
	ParamAnalysis       = "analysis"
	ParamAnalysisDuring = "analysis-during"
	// ParamTemplate is the fingerprint of the pod template the apply
	// produced (templateFingerprint).
	ParamTemplate = "template"
	// ParamFromTemplate is the fingerprint of the template the release
	// started from.
	ParamFromTemplate = "from-template"
)

// requestParams renders what cfg asks for (job: the prepared migration Job,
// or nil). An analysis too large for an annotation is bad input.
func requestParams(cfg Config, job *batchv1.Job) (map[string]string, error) {
	p := map[string]string{}
	switch {
	case cfg.Manifest != nil:
		u := cfg.Manifest.DeepCopy()
		unstructured.RemoveNestedField(u.Object, "status")
		unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
		unstructured.RemoveNestedField(u.Object, "metadata", "resourceVersion")
		b, err := json.Marshal(u.Object)
		if err != nil {
			return nil, err
		}
		p[ParamManifest] = string(b)
		if cfg.ManifestSource != "" {
			p[ParamManifestSource] = cfg.ManifestSource
		}
	default:
		b, err := json.Marshal(cfg.Images)
		if err != nil {
			return nil, err
		}
		p[ParamImages] = string(b)
	}
	if cfg.ChangeCause != "" {
		p[ParamChangeCause] = cfg.ChangeCause
	}
	if cfg.FixStrategy {
		p[ParamFixStrategy] = "true"
	}
	if cfg.Fix {
		p[ParamFix] = "true"
	}
	for k, v := range cfg.Params {
		if _, own := p[k]; !own {
			p[k] = v
		}
	}
	if job != nil {
		j := job.DeepCopy()
		j.APIVersion, j.Kind = "batch/v1", "Job"
		b, err := json.Marshal(j)
		if err != nil {
			return nil, err
		}
		p[ParamMigrationJob] = string(b)
	}
	if cfg.Timeout > 0 {
		p[ParamTimeout] = cfg.Timeout.String()
	}
	p[ParamMaxRestarts] = strconv.Itoa(int(cfg.MaxRestarts))
	if cfg.NoRollback {
		p[ParamNoRollback] = "true"
	}
	if cfg.Analysis != nil {
		a, err := analysis.EncodeParam(cfg.Analysis)
		if err != nil {
			return nil, exitcode.UsageError(err)
		}
		p[ParamAnalysis] = a
		if cfg.AnalysisDuring {
			p[ParamAnalysisDuring] = "true"
		}
	}
	return p, nil
}

// hasRequest reports whether the record holds what the release asked for
// (records written before params were recorded do not).
func hasRequest(op *state.Operation) bool {
	return op.Params[ParamImages] != "" || op.Params[ParamManifest] != ""
}

// configFromParams reads back requestParams. timeout is used when the
// record holds none. job is the recorded migration Job, or nil.
func configFromParams(op *state.Operation, namespace, name string, timeout time.Duration) (Config, *batchv1.Job, error) {
	p := op.Params
	cfg := Config{Namespace: namespace, Name: name, Timeout: timeout, ChangeCause: p[ParamChangeCause], FixStrategy: p[ParamFixStrategy] == "true", Fix: p[ParamFix] == "true", NoRollback: p[ParamNoRollback] == "true", MaxRestarts: resumeMaxRestarts}
	bad := func(key string, err error) error {
		return exitcode.Usagef("deployment %q: the record's param %s cannot be read: %w", namespace+"/"+name, state.ParamPrefix+key, err)
	}
	if v := p[ParamImages]; v != "" {
		if err := json.Unmarshal([]byte(v), &cfg.Images); err != nil {
			return cfg, nil, bad(ParamImages, err)
		}
	}
	if v := p[ParamManifest]; v != "" {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON([]byte(v)); err != nil {
			return cfg, nil, bad(ParamManifest, err)
		}
		cfg.Manifest, cfg.ManifestSource = u, p[ParamManifestSource]
		if cfg.ManifestSource == "" {
			cfg.ManifestSource = "the recorded manifest"
		}
	}
	if v := p[ParamTimeout]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return cfg, nil, bad(ParamTimeout, fmt.Errorf("%q is not a positive duration", v))
		}
		cfg.Timeout = d
	}
	if v := p[ParamMaxRestarts]; v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 0 {
			return cfg, nil, bad(ParamMaxRestarts, fmt.Errorf("%q is not a count", v))
		}
		cfg.MaxRestarts = int32(n)
	}
	if v := p[ParamAnalysis]; v != "" {
		spec, err := analysis.DecodeParam(v)
		if err != nil {
			return cfg, nil, bad(ParamAnalysis, err)
		}
		cfg.Analysis, cfg.AnalysisDuring = spec, p[ParamAnalysisDuring] == "true"
	}
	var job *batchv1.Job
	if v := p[ParamMigrationJob]; v != "" {
		job = &batchv1.Job{}
		if err := json.Unmarshal([]byte(v), job); err != nil {
			return cfg, nil, bad(ParamMigrationJob, err)
		}
	}
	return cfg, job, nil
}

// staleParams lists the params on annotations that an earlier operation
// left and op does not set, so the first record of op removes them and
// resume never reads another release's request.
func staleParams(annotations map[string]string, op *state.Operation) []string {
	var out []string
	for k := range annotations {
		if key, ok := strings.CutPrefix(k, state.ParamPrefix); ok {
			if _, set := op.Params[key]; !set {
				out = append(out, key)
			}
		}
	}
	return out
}
