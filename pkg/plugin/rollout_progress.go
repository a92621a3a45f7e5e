package plugin

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/term"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// progressPrinter shows the watch: a live line redrawn in place on a
// terminal, one line per change otherwise. It is also the step log, so a
// step line never lands in the middle of the live line.
type progressPrinter struct {
	// mu: the step log is written from the lease's renew goroutine too
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	ref   string
	last  string
	drawn bool
	// width is the terminal's columns: the live line takes one less, so
	// that it never wraps (a wrapped line is not redrawn in place)
	width int
	ascii bool
	// fit wraps the step lines to the width (on a terminal)
	fit io.Writer
}

func newProgressPrinter(w io.Writer, tty bool, ref string) *progressPrinter {
	p := &progressPrinter{w: w, tty: tty, ref: ref}
	if tty {
		p.width = terminal.Width(w, os.Getenv)
		p.ascii = !terminal.UTF8(os.Getenv)
		p.fit = &fitWriter{w: w, width: p.width}
	}
	return p
}

func (p *progressPrinter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	if p.fit != nil {
		return p.fit.Write(b)
	}
	return p.w.Write(b)
}

func (p *progressPrinter) clear() {
	if p.tty && p.drawn {
		fmt.Fprint(p.w, "\r\033[K")
		p.drawn = false
	}
}

// Update shows a progress change of the new revision.
func (p *progressPrinter) Update(pr kube.Progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	line := fmt.Sprintf("deployment %q: %s (%s)", p.ref, pr.String(), pr.Reason)
	if p.tty {
		if p.width > 1 {
			line = terminal.Truncate(line, p.width-1, p.ascii)
		}
		fmt.Fprint(p.w, "\r\033[K"+line)
		p.drawn = true
		p.last = line
		return
	}
	if line != p.last {
		fmt.Fprintln(p.w, line)
		p.last = line
	}
}

// Finish ends a live line.
func (p *progressPrinter) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
		p.drawn = false
	}
}
