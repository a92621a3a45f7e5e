package plugin

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/canary"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/rolling"
)

// operationDetails is the DETAILS column of `kubectl zdd status`: what a
// person needs to know of the operation, read from its record, whichever
// of these it has: the blue-green command and colours, the canary's step
// and weight, the revisions, and the images released (container=image).
// The other recorded parameters are for resume; -o wide lists them
// shortened, -o json|yaml whole.
func operationDetails(op *state.Operation) []string {
	p := op.Params
	var out []string
	switch op.Strategy {
	case bluegreen.Strategy:
		if v := p[bluegreen.ParamOperation]; v != "" {
			out = append(out, v)
		}
		active, previous, target := p[bluegreen.ParamActive], p[bluegreen.ParamPrevious], p[bluegreen.ParamTarget]
		// the operation goes from one colour to target; active is the one
		// the Service selects now, previous the one it selected before the
		// last switch (or switch back)
		from, to := "", target
		switch {
		case to == "" && previous != "" && active != "":
			from, to = previous, active
		case previous != "" && previous != to:
			from = previous
		case active != to:
			from = active
		}
		if to != "" {
			out = append(out, fmt.Sprintf("colour %s->%s", dash(from), to))
		}
		if active != "" {
			out = append(out, "live "+active)
		}
	case canary.Strategy:
		if steps := p[canary.ParamSteps]; steps != "" {
			if ws, err := canary.ParseSteps(steps); err == nil {
				out = append(out, fmt.Sprintf("step %d/%d", canaryStep(ws, p[canary.ParamWeight]), len(ws)))
			}
		}
		if w := p[canary.ParamWeight]; w != "" {
			out = append(out, "weight "+w+"%")
		}
	}
	if op.FromRevision != "" || op.ToRevision != "" {
		out = append(out, fmt.Sprintf("revision %s->%s", dash(op.FromRevision), dash(op.ToRevision)))
	}
	if images := recordedImages(op); images != "" {
		out = append(out, "images "+images)
	}
	return out
}

// canaryStep is how many of the steps' weights the recorded weight has
// reached: 0 before the first step.
func canaryStep(steps []int, weight string) int {
	w, err := strconv.Atoi(weight)
	if err != nil {
		return 0
	}
	n := 0
	for _, s := range steps {
		if s <= w {
			n++
		}
	}
	return n
}

// recordedImages reads the images an operation releases from its record:
// a rollout's --image set or -f manifest, the pod template a canary or a
// blue-green deploy recorded. "" when the record holds none.
func recordedImages(op *state.Operation) string {
	p := op.Params
	switch op.Strategy {
	case rolling.Strategy:
		if v := p[rolling.ParamImages]; v != "" {
			var m map[string]string
			if err := json.Unmarshal([]byte(v), &m); err != nil {
				return ""
			}
			names := make([]string, 0, len(m))
			for n := range m {
				names = append(names, n)
			}
			sort.Strings(names)
			parts := make([]string, len(names))
			for i, n := range names {
				parts[i] = n + "=" + m[n]
			}
			return strings.Join(parts, ",")
		}
		if v := p[rolling.ParamManifest]; v != "" {
			var d struct {
				Spec struct {
					Template corev1.PodTemplateSpec `json:"template"`
				} `json:"spec"`
			}
			if err := json.Unmarshal([]byte(v), &d); err != nil {
				return ""
			}
			return bluegreen.Images(&d.Spec.Template)
		}
	case canary.Strategy, bluegreen.Strategy:
		// both record the new pod template as JSON under the same key
		if v := p[canary.ParamTemplate]; v != "" {
			t := &corev1.PodTemplateSpec{}
			if err := json.Unmarshal([]byte(v), t); err != nil {
				return ""
			}
			return bluegreen.Images(t)
		}
	}
	return ""
}

// maxParamText is the longest parameter value -o wide shows whole; a
// longer one (the recorded manifests, templates and analyses run to
// kilobytes of JSON) is cut there and its size given (-o json|yaml show it
// whole).
const maxParamText = 40

func shortParam(v string) string {
	one := strings.Join(strings.Fields(v), " ")
	if len(v) <= maxParamText && one == v {
		return v
	}
	r := []rune(one)
	if len(r) > maxParamText-8 {
		r = r[:maxParamText-8]
	}
	return fmt.Sprintf("%s...(%d bytes)", string(r), len(v))
}
