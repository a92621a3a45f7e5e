// Package strategies is the registry through which `kubectl zdd resume` and
// `kubectl zdd abort` reach the strategy that started an operation: each
// strategy package registers, from an init(), the Resumer for the name it
// records in zdd.dev/strategy.
package strategies

import (
	"context"
	"io"
	"sort"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// Target is the object that carries an operation's record.
type Target struct {
	Namespace string
	// Kind is "deployment" or "service".
	Kind string
	Name string
}

// Ref is "namespace/name".
func (t Target) Ref() string { return t.Namespace + "/" + t.Name }

// Env is what a Resumer works with. The caller holds the operation's Lease
// for the whole call.
type Env struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Log gets one line per step.
	Log io.Writer
	// Timeout bounds each wait.
	Timeout time.Duration
	// Fence is the caller's lease on the operation, checked right before
	// each write (state.Lock.Check); the context the Resumer gets ends with
	// a *state.LostError cause when it is lost. nil: no check (tests).
	Fence state.Fence
	// Confirm is asked, before anything runs, whether the URLs and Jobs a
	// record holds (analysis, migration Job) may be run; nil runs them.
	Confirm func(c Confirmation) error
	// AllowEnv names the environment variables (--allow-env) the headers
	// of a recorded analysis may read besides those prefixed ZDD_.
	AllowEnv []string
	// Tripwire fails the resumed release from outside, as a failing
	// analysis does: the request probe's budget (nil: none).
	Tripwire Tripwire
	// Events hears the phases, the analyses and the endpoint watch of
	// the resumed or aborted operation (nil: nothing).
	Events Events
}

// ConfirmRecorded checks what a record would make this run reach before
// anything runs: a recorded analysis whose headers read a variable that
// env.AllowEnv does not allow is refused (exit 2), and the URLs and Jobs
// are put to env.Confirm. specs may hold nils; jobs are descriptions of
// recorded Jobs (a migration).
func ConfirmRecorded(env Env, object string, specs []*analysis.Spec, jobs []string) error {
	c := Confirmation{Object: object, Jobs: append([]string(nil), jobs...)}
	seen := map[string]bool{}
	for _, s := range specs {
		if s == nil {
			continue
		}
		if err := analysis.RefusedEnvError(s, analysis.RecordedEnv(env.AllowEnv)); err != nil {
			return err
		}
		urls, js := s.Reach()
		c.URLs = append(c.URLs, urls...)
		c.Jobs = append(c.Jobs, js...)
		for _, v := range s.EnvRefs() {
			if !seen[v] {
				seen[v] = true
				c.Env = append(c.Env, v)
			}
		}
	}
	if c.Empty() || env.Confirm == nil {
		return nil
	}
	return env.Confirm(c)
}

// Confirmation lists what a record would make this run reach or create:
// the URLs (HTTP metrics, Prometheus) and Jobs (smoke tests, migrations) of
// recorded analyses and migrations. A record is written by anyone who can
// patch the object's annotations, so these are shown, and run only once
// the person agrees (--yes, or an answer on a terminal).
type Confirmation struct {
	// Object is "kind namespace/name" of the record.
	Object string
	URLs   []string
	Jobs   []string
	// Env are the variables the recorded headers read (all allowed).
	Env []string
}

// Empty says whether there is nothing to confirm.
func (c Confirmation) Empty() bool { return len(c.URLs) == 0 && len(c.Jobs) == 0 }

// Resumer continues or undoes an operation from its record. Both return an
// error carrying the exit code (pkg/exitcode): 2 when there is nothing to do
// or the record cannot be used, 1 when the operation failed and was rolled
// back, 3 when it could neither finish nor go back.
type Resumer interface {
	// Resume continues from op.Phase to the operation's intended end.
	Resume(ctx context.Context, env Env, t Target, op *state.Operation) error
	// Abort returns to the last safe state before the operation.
	Abort(ctx context.Context, env Env, t Target, op *state.Operation) error
}

// Registry maps the strategy recorded with an operation to its Resumer. The
// plugin holds the one registry (pkg/plugin/registry.go): a strategy is
// one package and one line there.
type Registry map[string]Resumer

// Lookup returns the Resumer of strategy.
func (r Registry) Lookup(strategy string) (Resumer, bool) {
	res, ok := r[strategy]
	return res, ok
}

// Names returns the strategy names, sorted.
func (r Registry) Names() []string {
	out := make([]string, 0, len(r))
	for k := range r {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
