package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zdd-dev/kubectl-zdd/pkg/plugin"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestReleaseBuildHasNoTestHooks builds the binary as `make build` and
// hack/release.sh do (no build tags, -trimpath, stripped) and checks that
// the test-only hooks are not in it: nothing in it reads
// ZDD_TEST_KILL_AT_PHASE (a variable that would make it kill itself) or
// ZDD_TEST_SWITCH_PAUSE_FILE. It also checks that neither build script
// passes the zddtesthooks tag. The e2e suite checks the other side: its
// binary, built with the tag, has them.
func TestReleaseBuildHasNoTestHooks(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the whole binary")
	}
	bin := filepath.Join(t.TempDir(), "kubectl-zdd")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	for _, hook := range []string{state.KillAtPhaseEnv, plugin.SwitchPauseEnv} {
		if bytes.Contains(data, []byte(hook)) {
			t.Errorf("the release binary holds the test hook %s", hook)
		}
	}
	if state.TestHooks {
		t.Errorf("this test binary was built with the zddtesthooks tag")
	}
	for _, script := range []string{"../../Makefile", "../../hack/release.sh"} {
		text, err := os.ReadFile(script)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(text), "zddtesthooks") {
			t.Errorf("%s builds with the zddtesthooks tag", script)
		}
	}
}
