package bluegreen

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// Keys of what a command was asked, recorded in the operation's params at
// its first phase so that 'kubectl zdd resume' can finish it as the run
// would have, whenever that run died.
const (
	// ParamTemplate is the new colour's pod template (JSON), deploy only.
	ParamTemplate = "template"
	// ParamReplicas is the new colour's replica count, deploy only.
	ParamReplicas = "replicas"
	// ParamColourLabel and ParamColours are --color-label and --colors.
	ParamColourLabel = "color-label"
	ParamColours     = "colors"
	// ParamServices is the --service list, comma-separated.
	ParamServices = "services"
	// ParamAnalysis and ParamPreAnalysis hold the analyses
	// (analysis.EncodeParam: the spec and its Job files, ${VAR} unexpanded).
	ParamAnalysis    = "analysis"
	ParamPreAnalysis = "pre-analysis"
	// ParamScaleDownDelay is --scale-down-delay; ParamScaleDownAt when the
	// delay of this operation ends (RFC 3339), once it has started.
	ParamScaleDownDelay = "scale-down-delay"
	ParamScaleDownAt    = "scale-down-at"
	ParamDeleteOld      = "delete-old"
	ParamTimeout        = "timeout"
	ParamMinReady       = "min-ready"
	ParamMaxRestarts    = "max-restarts"
	// ParamOriginal is the Deployment 'bluegreen init' copies.
	ParamOriginal = "original"
	// ParamIdleReplicas is, for a rollback, the replicas the colour rolled
	// back to had before it: abort restores them.
	ParamIdleReplicas = "idle-replicas"
)

// Values of ParamOperation besides OperationRollback.
const (
	OperationDeploy  = "deploy"
	OperationPromote = "promote"
	OperationInit    = "init"
)

// requestParams records the options every operation shares.
func (r *Runner) requestParams(operation string) (map[string]string, error) {
	p := map[string]string{
		ParamOperation:   operation,
		ParamColourLabel: r.Colours.Label,
		ParamColours:     r.Colours.Names[0] + "," + r.Colours.Names[1],
		ParamTimeout:     r.timeout().String(),
	}
	if len(r.Services) > 0 {
		p[ParamServices] = strings.Join(r.Services, ",")
	}
	for k, v := range r.Params {
		if _, own := p[k]; !own {
			p[k] = v
		}
	}
	if r.MinReady > 0 {
		p[ParamMinReady] = strconv.Itoa(int(r.MinReady))
	}
	if operation != OperationDeploy && operation != OperationPromote {
		return p, nil
	}
	if r.MaxRestarts > 0 {
		p[ParamMaxRestarts] = strconv.Itoa(int(r.MaxRestarts))
	}
	if r.ManualPromote {
		p[ParamManualPromote] = "true"
	}
	if r.ScaleDownDelay > 0 {
		p[ParamScaleDownDelay] = r.ScaleDownDelay.String()
	}
	if r.DeleteOld {
		p[ParamDeleteOld] = "true"
	}
	for key, spec := range map[string]*analysis.Spec{ParamAnalysis: r.AnalysisSpec, ParamPreAnalysis: r.PreAnalysisSpec} {
		if spec == nil {
			continue
		}
		v, err := analysis.EncodeParam(spec)
		if err != nil {
			return nil, exitcode.Usagef("service %q: %w", r.key(), err)
		}
		p[key] = v
	}
	return p, nil
}

// templateParam records the new colour's pod template and replicas.
func templateParam(p map[string]string, t *corev1.PodTemplateSpec, replicas int32) error {
	data, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("recording the pod template: %w", err)
	}
	p[ParamTemplate] = string(data)
	p[ParamReplicas] = strconv.Itoa(int(replicas))
	return nil
}

// recordedTemplate returns the pod template and replicas deploy recorded
// (nil when it recorded none).
func recordedTemplate(op *state.Operation) (*corev1.PodTemplateSpec, int32, error) {
	v := op.Params[ParamTemplate]
	if v == "" {
		return nil, 0, nil
	}
	t := &corev1.PodTemplateSpec{}
	if err := json.Unmarshal([]byte(v), t); err != nil {
		return nil, 0, exitcode.Usagef("operation %s: the recorded %s param is not a pod template: %w", op.ID, ParamTemplate, err)
	}
	n, err := strconv.ParseInt(op.Params[ParamReplicas], 10, 32)
	if err != nil || n < 1 {
		return nil, 0, exitcode.Usagef("operation %s: the recorded %s param %q is not a replica count", op.ID, ParamReplicas, op.Params[ParamReplicas])
	}
	return t, int32(n), nil
}

// applyParams sets the Runner's options from what the operation recorded.
// A value that cannot be read is a usage error naming the param.
func (r *Runner) applyParams(op *state.Operation) error {
	p := op.Params
	bad := func(key string, err error) error {
		if v := p[key]; len(v) <= 80 {
			return exitcode.Usagef("operation %s of service %q: recorded param %s=%q: %v", op.ID, r.key(), key, v, err)
		}
		return exitcode.Usagef("operation %s of service %q: recorded param %s: %v", op.ID, r.key(), key, err)
	}
	if l, c := p[ParamColourLabel], p[ParamColours]; l != "" && c != "" {
		a, b, _ := strings.Cut(c, ",")
		r.Colours = Colours{Label: l, Names: [2]string{a, b}}
		if err := r.Colours.Validate(); err != nil {
			return bad(ParamColours, err)
		}
	}
	if v := p[ParamServices]; v != "" {
		r.Services = strings.Split(v, ",")
	}
	if v := p[ParamTimeout]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return bad(ParamTimeout, fmt.Errorf("not a positive duration"))
		}
		r.Timeout = d
	}
	if v := p[ParamScaleDownDelay]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return bad(ParamScaleDownDelay, fmt.Errorf("not a duration"))
		}
		r.ScaleDownDelay = d
	}
	for key, dst := range map[string]*int32{ParamMinReady: &r.MinReady, ParamMaxRestarts: &r.MaxRestarts} {
		if v := p[key]; v != "" {
			n, err := strconv.ParseInt(v, 10, 32)
			if err != nil || n < 0 {
				return bad(key, fmt.Errorf("not a count"))
			}
			*dst = int32(n)
		}
	}
	r.DeleteOld = p[ParamDeleteOld] == "true"
	r.ManualPromote = p[ParamManualPromote] == "true"
	for key, dst := range map[string]**analysis.Spec{ParamAnalysis: &r.AnalysisSpec, ParamPreAnalysis: &r.PreAnalysisSpec} {
		if v := p[key]; v != "" {
			spec, err := analysis.DecodeParam(v)
			if err != nil {
				return bad(key, err)
			}
			*dst = spec
		}
	}
	return nil
}

// analyzer returns the Analyzer of a (set by a test) or of spec (nil when
// there is neither).
func (r *Runner) analyzer(a analysis.Analyzer, spec *analysis.Spec) analysis.Analyzer {
	if a != nil {
		return a
	}
	return analysis.Runner{Kube: r.Client, Out: r.Out, EnvAllowed: r.analysisEnv, BeforeJob: r.fenced}.For(spec)
}
