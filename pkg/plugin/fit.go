package plugin

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

// fitTerminal is w for the step lines of a release: on a terminal, a
// writer that wraps each line to the terminal's width, so that no line is
// wider than the terminal; elsewhere (a file, a pipe, a writer already
// fitted) w itself, every line as it was written.
func fitTerminal(w io.Writer) io.Writer {
	if !terminal.IsTerminal(w) {
		return w
	}
	return &fitWriter{w: w, width: terminal.Width(w, os.Getenv)}
}

// fitWriter wraps each complete line written to it at width columns (the
// continuation lines indented by two spaces more than the line); a line
// that fits passes as it is. A line not yet ended waits for its end.
type fitWriter struct {
	w     io.Writer
	width int

	mu  sync.Mutex
	buf []byte
}

func (f *fitWriter) Write(b []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buf = append(f.buf, b...)
	for {
		i := bytes.IndexByte(f.buf, '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(f.buf[:i])
		f.buf = f.buf[i+1:]
		if _, err := io.WriteString(f.w, strings.Join(fitLine(line, f.width), "\n")+"\n"); err != nil {
			return len(b), err
		}
	}
}

// fitLine breaks line into lines of at most width columns, at spaces:
// the first keeps its indentation, the others have two spaces more.
func fitLine(line string, width int) []string {
	if width < 20 || terminal.StringWidth(line) <= width {
		return []string{line}
	}
	body := strings.TrimLeft(line, " ")
	indent := line[:len(line)-len(body)]
	if len(indent) > width/2 {
		indent = indent[:width/2]
	}
	more := indent + "  "
	words := terminal.Wrap(body, width-len(more))
	if len(words) == 0 {
		return []string{line}
	}
	out := []string{indent + words[0]}
	for _, l := range words[1:] {
		out = append(out, more+l)
	}
	return out
}
