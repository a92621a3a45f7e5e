package canary

import (
	"testing"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// FuzzRecordParams: resume, abort and promote read a canary release from
// the record's params on the stable, which anyone who may patch its
// annotations writes. Steps, pauses, the pod template, the analysis and the
// phase give a plan or an error (a usage error where resume decides),
// never a panic.
func FuzzRecordParams(f *testing.F) {
	f.Add("10,50,100", "1s", `{"spec":{"containers":[{"name":"app","image":"web:v2"}]}}`, "step-2", "", true)
	f.Add("50,20", "x,y", "{", "step-9", "failed", false)
	f.Add("", "0", "null", "aborting", "", true)
	f.Add("100%", "-1s", `{"spec":{"containers":[]}}`, "promote", "paused", false)
	f.Fuzz(func(t *testing.T, steps, pauses, template, phase, result string, canaryExists bool) {
		if s, err := ParseSteps(steps); err == nil {
			for i, w := range s {
				if w < 0 || w > 100 || i > 0 && w <= s[i-1] {
					t.Fatalf("steps %v from %q", s, steps)
				}
			}
			_, _ = ParsePauses(pauses, len(s))
		}
		if tmpl, err := decodeTemplate(template); err == nil && len(tmpl.Spec.Containers) == 0 {
			t.Fatal("a recorded template without containers")
		}
		op := &state.Operation{ID: "op", Strategy: Strategy, Phase: phase, Result: result, Params: map[string]string{ParamSteps: steps, ParamPauses: pauses, ParamTemplate: template}}
		action, from, err := resumeAction(op, canaryExists)
		if err != nil && exitcode.Of(err) != exitcode.Usage {
			t.Fatalf("resumeAction: not a usage error: %v", err)
		}
		if err == nil && action == actWalk {
			s, _ := ParseSteps(steps)
			if from < 0 || from >= len(s) {
				t.Fatalf("walk from step index %d of %d", from, len(s))
			}
		}
		_, _ = abortAction(op, canaryExists, !canaryExists)
		_ = StepOf(phase)
	})
}
