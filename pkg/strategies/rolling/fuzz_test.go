package rolling

import (
	"testing"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// FuzzConfigFromParams: resume rebuilds a rollout from the record's params,
// which anyone who may patch the Deployment's annotations writes. Any
// params give a config or a usage error (exit 2) naming the param, never a
// panic, and never a timeout that is not positive.
func FuzzConfigFromParams(f *testing.F) {
	f.Add(`{"app":"web:v2"}`, "", "", "2m", "3", "", "")
	f.Add("", `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"}}`, `{"metadata":{"name":"m"}}`, "-1s", "x", `{"spec":{}}`, "true")
	f.Add("[", "{", "{", "1h", "-3", "{", "yes")
	f.Fuzz(func(t *testing.T, images, manifest, job, timeout, restarts, analysis, noRollback string) {
		op := &state.Operation{ID: "op", Strategy: Strategy, Phase: PhaseWatch, Params: map[string]string{
			ParamImages: images, ParamManifest: manifest, ParamMigrationJob: job, ParamTimeout: timeout,
			ParamMaxRestarts: restarts, ParamAnalysis: analysis, ParamNoRollback: noRollback}}
		cfg, _, err := configFromParams(op, "shop", "web", time.Minute)
		if err != nil {
			if exitcode.Of(err) != exitcode.Usage {
				t.Fatalf("a bad record is not a usage error: %v", err)
			}
			return
		}
		if cfg.Timeout <= 0 || cfg.MaxRestarts < 0 {
			t.Fatalf("timeout %s, max restarts %d from the record", cfg.Timeout, cfg.MaxRestarts)
		}
		if cfg.Analysis != nil && !cfg.Analysis.Recorded() {
			t.Fatal("a recorded analysis is not marked recorded")
		}
		_ = hasRequest(op)
	})
}
