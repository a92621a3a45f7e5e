package analysis

import (
	"encoding/json"
	"fmt"
	"strings"
)

// MaxParamBytes bounds a recorded analysis: annotations share 256 KiB per
// object, and the operation record needs room for the rest.
const MaxParamBytes = 64 << 10

// paramForm is how a Spec is kept in an operation annotation, so that
// `kubectl zdd resume` runs the same analysis without the original files:
// the file's fields, plus each Job file's text by metric name. Header values
// stay as written (${VAR} references are expanded only when a measurement is
// taken), so no secret is ever recorded.
type paramForm struct {
	File string            `json:"file,omitempty"`
	Spec *Spec             `json:"spec"`
	Jobs map[string]string `json:"jobs,omitempty"`
}

// EncodeParam renders spec for an operation annotation. A spec larger than
// MaxParamBytes is an error naming its file.
func EncodeParam(spec *Spec) (string, error) {
	form := paramForm{File: spec.File, Spec: spec}
	for _, m := range spec.Metrics {
		if m.Job != nil && m.Job.text != "" {
			if form.Jobs == nil {
				form.Jobs = map[string]string{}
			}
			form.Jobs[m.Name] = m.Job.text
		}
	}
	data, err := json.Marshal(form)
	if err != nil {
		return "", fmt.Errorf("recording analysis %q: %w", spec.File, err)
	}
	if len(data) > MaxParamBytes {
		return "", fmt.Errorf("recording analysis %q: %d bytes, more than the %d an annotation may hold", spec.File, len(data), MaxParamBytes)
	}
	return string(data), nil
}

// DecodeParam reads back what EncodeParam wrote, validated like a file.
func DecodeParam(value string) (*Spec, error) {
	if len(value) > MaxParamBytes {
		return nil, fmt.Errorf("reading the recorded analysis: %d bytes, more than the %d one may hold", len(value), MaxParamBytes)
	}
	var form paramForm
	if err := json.Unmarshal([]byte(value), &form); err != nil {
		return nil, fmt.Errorf("reading the recorded analysis: %w", err)
	}
	if form.Spec == nil {
		return nil, fmt.Errorf("reading the recorded analysis: no spec")
	}
	spec := form.Spec
	if err := spec.validate(); err != nil {
		return nil, fmt.Errorf("recorded analysis %q: %w", form.File, err)
	}
	spec.File = form.File
	spec.recorded = true
	for i := range spec.Metrics {
		m := &spec.Metrics[i]
		if m.Job == nil {
			continue
		}
		// the Job's text is in the record; the path it names is never read
		text := form.Jobs[m.Name]
		if strings.TrimSpace(text) == "" {
			return nil, fmt.Errorf("recorded analysis %q: metric %q has no recorded job text", form.File, m.Name)
		}
		if len(text) > jobFileSizeLimitBytes {
			return nil, fmt.Errorf("recorded analysis %q: the job of metric %q is larger than %d bytes", form.File, m.Name, jobFileSizeLimitBytes)
		}
		m.Job.text = text
		if _, err := m.Job.build(Vars{Namespace: "ns", Name: "name", Version: "v1", Color: "blue", Track: "canary", Revision: "1"}); err != nil {
			return nil, fmt.Errorf("recorded analysis %q: metric %q: %w", form.File, m.Name, err)
		}
	}
	return spec, nil
}
