package report

import (
	"fmt"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
	"io"
	"strings"
	"time"
)

// Text writes the facts of the operation, wrapped to o.Width, and then its
// Timeline: what `kubectl zdd report -o text` prints.
//
//	canary of deployment shop/web: succeeded
//	  canary promoted: deployment shop/web runs shop/web:2.0.0 on 5 replicas
//	  by ana@laptop at 2025-03-14 09:26:51 UTC, took 54s, revision 3 → 4
//	  requests: 1048 sent, 4 failed
//	  analysis: error-rate 4 passed; p99-latency 4 passed
func Text(w io.Writer, d *Data, o TextOptions) error {
	width := max(o.Width, MinWidth)
	var lines []string
	lines = append(lines, terminal.Wrap(factsTitle(d), width)...)
	g := unicodeGlyphs
	if o.ASCII {
		g = asciiGlyphs
	}
	for _, l := range factsLines(d, g) {
		for _, wl := range terminal.Wrap(l, width-2) {
			lines = append(lines, "  "+wl)
		}
	}
	lines = append(lines, "")
	lines = append(lines, timelineLines(d, o)...)
	_, err := io.WriteString(w, strings.Join(lines, "\n")+"\n")
	return err
}

func factsTitle(d *Data) string {
	f := d.Facts
	s := objectName(d)
	if f.Strategy != "" {
		if s != "" {
			s = f.Strategy + " of " + s
		} else {
			s = f.Strategy
		}
	}
	if s == "" {
		s = "release"
	}
	if f.Result != "" {
		s += ": " + f.Result
	} else {
		s += ": in flight or not recorded"
	}
	return s
}

func factsLines(d *Data, g glyphs) []string {
	f := d.Facts
	var lines []string
	if f.Message != "" {
		lines = append(lines, f.Message)
	}
	var who []string
	if f.Who != "" {
		who = append(who, "by "+f.Who)
	}
	if !f.Started.IsZero() {
		who = append(who, "at "+formatTime(f.Started, time.UTC))
	}
	if !f.Started.IsZero() && !f.Ended.IsZero() {
		who = append(who, "took "+formatDuration(f.Ended.Sub(f.Started), true))
	}
	if f.FromRevision != "" || f.ToRevision != "" {
		who = append(who, "revision "+orDash(f.FromRevision)+" "+g.arrow+" "+orDash(f.ToRevision))
	}
	if f.OperationID != "" {
		who = append(who, "operation "+f.OperationID)
	}
	if len(who) > 0 {
		lines = append(lines, strings.Join(who, ", "))
	}
	if p := d.Probe; p != nil {
		var sent, failed int
		for _, b := range p.Buckets {
			t := b.Total()
			sent += t.Sent
			failed += t.Failed
		}
		lines = append(lines, fmt.Sprintf("requests: %d sent, %d failed", sent, failed))
	}
	if len(d.Analysis) > 0 {
		var parts []string
		for _, m := range d.Analysis {
			parts = append(parts, m.Name+" "+verdictCounts(m))
		}
		lines = append(lines, "analysis: "+strings.Join(parts, "; "))
	}
	return lines
}
