package plugin

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// TestHelp walks the whole command tree, every subcommand registered by any
// file included, and fails for a command whose help a user could not learn
// from: no one-line summary, no long description, or no example written the
// way a user types it (kubectl zdd ..., not kubectl-zdd ...).
func TestHelp(t *testing.T) {
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	root := NewCmdRoot(streams)
	var cmds []*cobra.Command
	walkCommands(root, func(c *cobra.Command) {
		// Hidden commands are internal (cobra's __complete and the like).
		if !c.Hidden {
			cmds = append(cmds, c)
		}
	})
	seen := map[string]bool{}
	for _, c := range cmds {
		path := c.CommandPath()
		seen[path] = true
		t.Run(path, func(t *testing.T) {
			if strings.TrimSpace(c.Short) == "" {
				t.Errorf("%s: no Short (one-line summary)", path)
			}
			if strings.Contains(strings.TrimSpace(c.Short), "\n") {
				t.Errorf("%s: Short is more than one line: %q", path, c.Short)
			}
			if strings.TrimSpace(c.Long) == "" {
				t.Errorf("%s: no Long (description)", path)
			}
			if strings.TrimSpace(c.Example) == "" {
				t.Errorf("%s: no Example", path)
			}
			if !strings.Contains(c.Example, "kubectl zdd") {
				t.Errorf("%s: Example does not say \"kubectl zdd\":\n%s", path, c.Example)
			}
			for _, line := range strings.Split(c.Example, "\n") {
				cmdline := strings.TrimSpace(line)
				if strings.HasPrefix(cmdline, "kubectl-zdd ") {
					t.Errorf("%s: Example runs the binary by its file name instead of \"kubectl zdd\": %q", path, cmdline)
				}
			}
			if !strings.HasPrefix(path, "kubectl zdd") {
				t.Errorf("command path %q does not start with \"kubectl zdd\"", path)
			}
			if usage := c.UsageString(); !strings.Contains(usage, path) {
				t.Errorf("%s: usage does not show the command as typed:\n%s", path, usage)
			}
		})
	}
	// The walk itself must reach the commands that are always there.
	for _, want := range []string{"kubectl zdd", "kubectl zdd version", "kubectl zdd completion"} {
		if !seen[want] {
			t.Errorf("the walk of the command tree missed %q (saw %d commands)", want, len(seen))
		}
	}
}
