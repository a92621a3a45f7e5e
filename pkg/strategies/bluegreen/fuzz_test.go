package bluegreen

import (
	"testing"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// FuzzApplyParams: resume and abort set a blue-green Runner from the
// record's params on the Service, which anyone who may patch its
// annotations writes. Any params set valid options or give a usage error
// (exit 2), never a panic; what they set is as valid as the flags would be.
func FuzzApplyParams(f *testing.F) {
	f.Add("version", "blue,green", "web-admin", "10m", "30s", "2", "3", "", `{"spec":{"containers":[{"name":"app","image":"web:v2"}]}}`, "3", "switched")
	f.Add("", "blue", "", "-1s", "x", "-2", "", `{"spec":null}`, "{", "0", "switching-back")
	f.Add("version", "a,a", ",,", "0s", "1h", "9999999999", "1", "[]", "", "-1", "aborting")
	f.Fuzz(func(t *testing.T, label, colours, services, timeout, delay, minReady, maxRestarts, analysis, template, replicas, phase string) {
		op := &state.Operation{ID: "op", Strategy: Strategy, Phase: phase, Params: map[string]string{
			ParamColourLabel: label, ParamColours: colours, ParamServices: services, ParamTimeout: timeout,
			ParamScaleDownDelay: delay, ParamMinReady: minReady, ParamMaxRestarts: maxRestarts, ParamAnalysis: analysis,
			ParamTemplate: template, ParamReplicas: replicas, ParamActive: "blue", ParamTarget: "green"}}
		r := &Runner{config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours()}}
		if err := r.applyParams(op); err != nil {
			if exitcode.Of(err) != exitcode.Usage {
				t.Fatalf("a bad record is not a usage error: %v", err)
			}
		} else {
			if err := r.Colours.Validate(); err != nil {
				t.Fatalf("colours %+v from the record: %v", r.Colours, err)
			}
			if r.Timeout < 0 || r.ScaleDownDelay < 0 || r.MinReady < 0 || r.MaxRestarts < 0 {
				t.Fatalf("options from the record: %+v", r.config)
			}
		}
		if tmpl, n, err := recordedTemplate(op); err == nil && tmpl != nil && n < 1 {
			t.Fatalf("a recorded template with %d replicas", n)
		} else if err != nil && exitcode.Of(err) != exitcode.Usage {
			t.Fatalf("a bad template is not a usage error: %v", err)
		}
		_, _ = origin(op), isInit(op)
		_ = op.Unfinished()
	})
}
