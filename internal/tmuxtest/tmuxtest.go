// Package tmuxtest runs commands in a real terminal, a tmux pane of a
// chosen size, and reads back what it showed: the tests of output that
// must fit a terminal type a command as a person would and check the
// pane. Only tests import it.
package tmuxtest

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

// Pane is the one pane of a private tmux server (its own socket, no user
// configuration, a long scroll-back) running a plain bash.
type Pane struct {
	t      testing.TB
	socket string
	env    []string
	Cols   int
}

// Need returns tmux's path, failing on CI (CI=true: hack/install-deps.sh
// installs it) and skipping elsewhere when it is missing.
func Need(t testing.TB) string {
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

// New starts a tmux server with one pane of cols x rows running bash with
// the environment env (PATH, KUBECONFIG, ...; LANG, TERM and HOME are set
// when env does not). The server is killed at the end of the test.
func New(t testing.TB, cols, rows int, env []string) *Pane {
	t.Helper()
	Need(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g history-limit 100000\nset -g status off\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	has := func(k string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	// HISTFILE empty: the shell writes no history into HOME as it is killed
	for k, v := range map[string]string{"LANG": "C.UTF-8", "TERM": "xterm-256color", "HOME": dir, "PATH": os.Getenv("PATH"), "HISTFILE": ""} {
		if !has(k) {
			env = append(env, k+"="+v)
		}
	}
	p := &Pane{t: t, socket: filepath.Join(dir, "tmux.sock"), env: env, Cols: cols}
	p.tmux("-f", conf, "new-session", "-d", "-s", "zdd", "-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows), "bash --norc --noprofile")
	t.Cleanup(func() {
		_ = exec.Command("tmux", "-S", p.socket, "kill-server").Run()
		// the server and its shell may still be writing into dir as they
		// exit: empty it until it stays empty, before the test's own
		// cleanup removes it (a file appearing meanwhile fails the test)
		for try := 0; try < 20; try++ {
			if err := os.RemoveAll(dir); err == nil {
				if _, err := os.Stat(dir); os.IsNotExist(err) {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
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
// returns its exit code and every line the pane showed since, each line the
// terminal wrapped joined back into the line the program wrote
// (capture-pane -J), trailing blanks trimmed. The line that typed the
// command is left out.
func (p *Pane) Run(command string, timeout time.Duration) (int, []string) {
	p.t.Helper()
	return p.run(command, timeout, false)
}

// RunEscapes is Run with the lines as the pane holds them, colours and
// attributes as escape sequences (capture-pane -e): what a person saw.
func (p *Pane) RunEscapes(command string, timeout time.Duration) (int, []string) {
	p.t.Helper()
	return p.run(command, timeout, true)
}

func (p *Pane) run(command string, timeout time.Duration, escapes bool) (int, []string) {
	p.t.Helper()
	typed := command + "; echo \"exit=$?\"; tmux wait-for -S zdd-done"
	p.tmux("send-keys", "-t", "zdd", "clear; tmux clear-history", "Enter")
	p.tmux("send-keys", "-t", "zdd", typed, "Enter")
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	wait := exec.CommandContext(ctx, "tmux", "-S", p.socket, "wait-for", "zdd-done")
	wait.Env = p.env
	if out, err := wait.CombinedOutput(); err != nil {
		p.t.Fatalf("%q did not end within %s: %v %s\npane:\n%s", command, timeout, err, out,
			p.tmux("capture-pane", "-p", "-J", "-S", "-", "-t", "zdd"))
	}
	args := []string{"capture-pane", "-p", "-J", "-S", "-", "-E", "-", "-t", "zdd"}
	if escapes {
		args = append(args, "-e")
	}
	raw := p.tmux(args...)
	var lines []string
	code := -1
	started := false
	for _, l := range strings.Split(raw, "\n") {
		l = strings.TrimRight(l, " ")
		if strings.Contains(l, typed) {
			started = true
			continue
		}
		if !started {
			continue
		}
		if rest, ok := strings.CutPrefix(l, "exit="); ok {
			fmt.Sscan(rest, &code)
			break
		}
		lines = append(lines, l)
	}
	if !started {
		p.t.Fatalf("the pane does not show the command typed:\n%s", raw)
	}
	return code, lines
}

// TooWide returns the lines wider than the pane (capture-pane -J joined
// the lines the terminal wrapped, so a line the program wrote too wide is
// whole here).
func (p *Pane) TooWide(lines []string) []string {
	var out []string
	for _, l := range lines {
		if utf8.RuneCountInString(l) > p.Cols {
			out = append(out, l)
		}
	}
	return out
}

// Widest is the width of the widest line.
func Widest(lines []string) int {
	w := 0
	for _, l := range lines {
		w = max(w, utf8.RuneCountInString(l))
	}
	return w
}
