package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zdd-dev/kubectl-zdd/internal/tmuxtest"
)

// TestLintFitsTerminal types `kubectl zdd lint -f examples/bad -R` into an
// 80-column terminal (and a 120-column one), a tmux pane: no line the
// command writes is wider than the pane, the table takes the pane's width,
// the findings are shown with their hints, and the command exits 1. -o wide
// is the control: its lines are wider than the pane, and the capture sees
// them whole.
func TestLintFitsTerminal(t *testing.T) {
	root, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("SKIPPED: kubectl is not installed: the terminal test types kubectl zdd")
	}
	for _, cols := range []int{80, 120} {
		t.Run(fmt.Sprint(cols), func(t *testing.T) {
			dir := t.TempDir()
			p := tmuxtest.New(t, cols, 40, []string{
				"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"),
				"KUBECONFIG=" + filepath.Join(dir, "no-kubeconfig"),
			})
			command := fmt.Sprintf("cd %s && kubectl zdd lint -f examples/bad -R", root)
			code, lines := p.Run(command, 2*time.Minute)
			out := strings.Join(lines, "\n")
			if code != 1 {
				t.Errorf("exit code %d, want 1 (findings)\n%s", code, out)
			}
			for _, want := range []string{"Deployment shop/api (examples/bad/api.yaml:3)", "  error    grace-period-too-short", "hint: ", "(failing on error)", "note: skipped v1 ConfigMap"} {
				if !strings.Contains(out, want) {
					t.Errorf("the pane does not show %q:\n%s", want, out)
				}
			}
			for _, l := range p.TooWide(lines) {
				t.Errorf("a line wider than the %d-column pane:\n%s", cols, l)
			}
			if w := tmuxtest.Widest(lines); w < cols-12 {
				t.Errorf("the widest line is %d columns: the output was not wrapped to the %d-column pane", w, cols)
			}
			if t.Failed() {
				t.Logf("pane:\n%s", out)
			}

			_, wide := p.Run(command+" -o wide", 2*time.Minute)
			if w := tmuxtest.Widest(wide); w <= cols {
				t.Errorf("-o wide: the widest line captured is %d columns: the pane's capture does not join wrapped lines", w)
			}

			// colour on the terminal (the severities in red and yellow),
			// none with NO_COLOR set (https://no-color.org)
			_, shown := p.RunEscapes(command, 2*time.Minute)
			if !strings.Contains(strings.Join(shown, "\n"), "\x1b[") {
				t.Errorf("no colour on the terminal:\n%s", strings.Join(shown, "\n"))
			}
			_, shown = p.RunEscapes(strings.Replace(command, "&& kubectl", "&& NO_COLOR=1 kubectl", 1), 2*time.Minute)
			if plain := strings.Join(shown, "\n"); strings.Contains(plain, "\x1b[") {
				t.Errorf("colour with NO_COLOR=1:\n%q", plain)
			}
		})
	}
}
