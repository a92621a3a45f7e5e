package cli

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// bin is the binary built once for the package's tests, the way `make
// build` builds the release binary: -trimpath, the Makefile's GOTAGS,
// stripped (-s -w).
var bin string

// root is the top of the repository.
var root = filepath.Join("..", "..")

// maxReleaseBinary is the most the release binary may weigh: 70 MB
// (issue 18; 10^6 bytes, as ls -l and the issue count them).
const maxReleaseBinary = 70_000_000

// releaseTags returns the build tags of the release binary: the Makefile's
// GOTAGS line, the one place they are written.
func releaseTags() (string, error) {
	f, err := os.Open(filepath.Join(root, "Makefile"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "GOTAGS := "); ok {
			return strings.TrimSpace(v), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("the Makefile has no GOTAGS line")
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "zdd-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "kubectl-zdd")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	tags, err := releaseTags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "reading the release build tags:", err)
		os.Exit(1)
	}
	build := exec.Command("go", "build", "-trimpath", "-tags", tags, "-ldflags", "-s -w", "-o", bin, "./cmd/kubectl-zdd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building kubectl-zdd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestReleaseBinarySize fails when the release binary grows past 70 MB
// (issue 18). The usual culprit is a new import that drags in a large
// dependency tree (go tool nm -size -sort size on an unstripped build
// shows what): see README, "Binary size".
func TestReleaseBinarySize(t *testing.T) {
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("release binary: %d bytes (%.1f MB), limit %.0f MB", fi.Size(), float64(fi.Size())/1e6, maxReleaseBinary/1e6)
	if fi.Size() > maxReleaseBinary {
		t.Errorf("the release binary is %d bytes (%.1f MB), more than the %.0f MB allowed", fi.Size(), float64(fi.Size())/1e6, maxReleaseBinary/1e6)
	}
}
