package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Pane is a tmux pane of a private tmux server (its own socket, no user
// configuration) running a plain bash: commands are typed into it as a
// person would, and what it shows is read back with capture-pane.
type Pane struct {
	t      *testing.T
	socket string
	env    []string
}

// needTmux returns tmux's path, failing on CI (hack/install-deps.sh
// installs it) and skipping elsewhere when it is missing.
func needTmux(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tmux")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("tmux is not installed (hack/install-deps.sh installs it): the terminal tests cannot run")
		}
		t.Skip("SKIPPED: tmux is not installed (apt-get install tmux, or hack/install-deps.sh): the terminal tests do not run")
	}
	return p
}

// newPane starts a tmux server with one pane of cols x rows running bash,
// with kubectl-zdd first on PATH (so `kubectl zdd` finds it) and a UTF-8
// locale. The server is killed at the end of the test.
func newPane(t *testing.T, cols, rows int) *Pane {
	t.Helper()
	needTmux(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	// a long scroll-back, so the whole output can be read back
	if err := os.WriteFile(conf, []byte("set -g history-limit 100000\nset -g status off\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &Pane{
		t:      t,
		socket: filepath.Join(dir, "tmux.sock"),
		env: []string{
			"PATH=" + filepath.Dir(bin) + string(os.PathListSeparator) + os.Getenv("PATH"),
			"HOME=" + dir,
			"LANG=C.UTF-8",
			"TERM=xterm-256color",
			"KUBECONFIG=" + filepath.Join(dir, "no-kubeconfig"),
		},
	}
	p.tmux("-f", conf, "new-session", "-d", "-s", "zdd", "-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows),
		"bash --norc --noprofile")
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", p.socket, "kill-server").Run() })
	// the size of a detached session follows its creation (tmux 3.x:
	// window-size latest); say it again to be sure
	p.tmux("resize-window", "-t", "zdd", "-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows))
	return p
}

func (p *Pane) tmux(args ...string) string {
	p.t.Helper()
	cmd := exec.Command("tmux", append([]string{"-S", p.socket}, args...)...)
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		p.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Run types command into the pane, waits (up to timeout) until it ends, and
// returns its exit code and every line the pane showed, each wrapped line
// joined back into the line the program wrote (capture-pane -J).
func (p *Pane) Run(command string, timeout time.Duration) (int, []string) {
	p.t.Helper()
	p.tmux("send-keys", "-t", "zdd", "clear; tmux clear-history; "+command+"; echo \"exit=$?\"; tmux wait-for -S zdd-done", "Enter")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	wait := exec.CommandContext(ctx, "tmux", "-S", p.socket, "wait-for", "zdd-done")
	wait.Env = p.env
	if out, err := wait.CombinedOutput(); err != nil {
		p.t.Fatalf("%q did not end within %s: %v %s\npane:\n%s", command, timeout, err, out,
			p.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "zdd"))
	}
	raw := p.tmux("capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "zdd")
	var lines []string
	code := -1
	for _, l := range strings.Split(raw, "\n") {
		l = strings.TrimRight(l, " ")
		if rest, ok := strings.CutPrefix(l, "exit="); ok {
			fmt.Sscan(rest, &code)
			continue
		}
		lines = append(lines, l)
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return code, lines
}

// checkFitsPane fails for every line wider than cols (capture-pane -J
// joined the lines the terminal wrapped, so a line the program wrote too
// wide shows here whole). The line that typed the command is skipped.
func checkFitsPane(t *testing.T, lines []string, cols int, typed string) {
	t.Helper()
	for i, l := range lines {
		if strings.Contains(l, typed) {
			continue
		}
		if n := utf8.RuneCountInString(l); n > cols {
			t.Errorf("line %d is %d columns, wider than the %d-column pane:\n%s", i+1, n, cols, l)
		}
	}
}

// TestLintFitsTerminal types `kubectl zdd lint -f examples/bad -R` into an
// 80-column terminal (and a 120-column one): no line the command writes is
// wider than the pane, the findings are shown with their hints, and the
// command exits 1.
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
			p := newPane(t, cols, 40)
			command := fmt.Sprintf("cd %s && kubectl zdd lint -f examples/bad -R", root)
			code, lines := p.Run(command, 2*time.Minute)
			if code != 1 {
				t.Errorf("exit code %d, want 1 (findings)\n%s", code, strings.Join(lines, "\n"))
			}
			out := strings.Join(lines, "\n")
			for _, want := range []string{"Deployment shop/api (examples/bad/api.yaml:3)", "  error    grace-period-too-short", "hint: ", "(failing on error)", "note: skipped v1 ConfigMap"} {
				if !strings.Contains(out, want) {
					t.Errorf("the pane does not show %q:\n%s", want, out)
				}
			}
			checkFitsPane(t, lines, cols, command)
			// and it takes the pane's width: the table was wrapped to it
			widest := 0
			for _, l := range lines {
				if !strings.Contains(l, command) {
					widest = max(widest, utf8.RuneCountInString(l))
				}
			}
			if widest < cols-12 {
				t.Errorf("the widest line is %d columns: the output was not wrapped to the %d-column pane", widest, cols)
			}
			if t.Failed() {
				t.Logf("pane:\n%s", out)
			}

			// the control: -o wide writes lines wider than the pane, and
			// the capture sees them whole, or the check above proves nothing
			_, wide := p.Run(command+" -o wide", 2*time.Minute)
			widest = 0
			for _, l := range wide {
				widest = max(widest, utf8.RuneCountInString(l))
			}
			if widest <= cols {
				t.Errorf("-o wide: the widest line captured is %d columns: the pane's capture does not join wrapped lines", widest)
			}
		})
	}
}
