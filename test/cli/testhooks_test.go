package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdd-dev/kubectl-zdd/pkg/plugin"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestReleaseBinaryHasNoTestHooks: the release binary (built as `make
// build` builds it) holds no test-only hook, so nothing in it reads
// ZDD_TEST_KILL_AT_PHASE (a variable that would make it kill itself),
// ZDD_TEST_HOSTNAME or ZDD_TEST_SWITCH_PAUSE_FILE; they are compiled in only with the build tag
// zddtesthooks, which no build script passes (the e2e harness does, and
// checks that its binary has them). The binary of main held both.
func TestReleaseBinaryHasNoTestHooks(t *testing.T) {
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, hook := range []string{state.KillAtPhaseEnv, state.HostnameEnv, plugin.SwitchPauseEnv} {
		if bytes.Contains(data, []byte(hook)) {
			t.Errorf("the release binary holds the test hook %s", hook)
		}
	}
	if state.TestHooks {
		t.Errorf("this test binary was built with the zddtesthooks tag")
	}
	for _, script := range []string{"Makefile", filepath.Join("hack", "release.sh")} {
		text, err := os.ReadFile(filepath.Join(root, script))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(text), "zddtesthooks") {
			t.Errorf("%s builds with the zddtesthooks tag", script)
		}
	}
}
