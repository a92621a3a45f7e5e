package strategies

import (
	"fmt"
	"io"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// Dry-run modes of --dry-run (none runs the operation).
const (
	DryRunClient = "client"
	DryRunServer = "server"
)

// PlanStep is one step of a dry run's plan: what the operation would do,
// and the patch or object it would send, if any.
type PlanStep struct {
	Name   string
	Detail string
	Patch  string
}

// Plan is what a dry run of canary or blue-green prints: the steps a real
// run would take, in order. Under --dry-run=server each write of the
// plan was sent with dryRun=All and the step says what the API server
// answered.
type Plan struct {
	// Title names the operation ("canary release of deployment \"shop/web\"").
	Title  string
	DryRun string
	Steps  []PlanStep
	// Refused counts the writes the API server refused (server dry run).
	Refused int
}

// Add appends a step.
func (p *Plan) Add(name, detail, patch string) {
	p.Steps = append(p.Steps, PlanStep{Name: name, Detail: detail, Patch: patch})
}

// Print writes the plan, one numbered step each, patches indented under
// their step (the layout of rollout's plan).
func (p *Plan) Print(w io.Writer) {
	fmt.Fprintf(w, "Plan for the %s (dry run: %s); nothing was changed.\n", p.Title, p.DryRun)
	for i, s := range p.Steps {
		fmt.Fprintf(w, "%2d. %-9s %s\n", i+1, s.Name, s.Detail)
		if s.Patch != "" {
			fmt.Fprintf(w, "    patch: %s\n", s.Patch)
		}
	}
}

// Answer is the note a server dry run adds to a step: what the API
// server said of the write; a refusal is counted.
func (p *Plan) Answer(err error) string {
	if err != nil {
		p.Refused++
		return fmt.Sprintf(" [server refused: %v]", err)
	}
	return " [server accepted]"
}

// Err is the error of a dry run whose writes the API server refused (exit
// 1: a real run would fail there); nil when none was.
func (p *Plan) Err() error {
	if p.Refused == 0 {
		return nil
	}
	return exitcode.Failedf("dry run of the %s: the API server refused %d of its writes (see the plan)", p.Title, p.Refused)
}
