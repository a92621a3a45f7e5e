package plugin

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// TestProfileFlag: --profile cpu and heap write a gzipped profile (pprof's format),
// once, when the command has returned; a bad kind exits 2 and writes none.
func TestProfileFlag(t *testing.T) {
	dir := t.TempDir()
	for _, kind := range []string{"cpu", "heap"} {
		out := filepath.Join(dir, kind+".pprof")
		streams, _, _, _ := genericiooptions.NewTestIOStreams()
		cmd := NewCmdRoot(streams)
		cmd.SetArgs([]string{"version", "--profile", kind, "--profile-output", out})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("--profile %s: %v", kind, err)
		}
		if err := FinishProfile(); err != nil {
			t.Fatalf("--profile %s: finish: %v", kind, err)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatalf("--profile %s: %v", kind, err)
		}
		// pprof's format: a gzipped protocol buffer
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("--profile %s wrote no gzipped profile: %v", kind, err)
		}
		raw, err := io.ReadAll(zr)
		if err != nil || len(raw) == 0 {
			t.Fatalf("--profile %s: %d bytes of profile, %v", kind, len(raw), err)
		}
		// finishing again writes nothing more
		if err := os.Remove(out); err != nil {
			t.Fatal(err)
		}
		if err := FinishProfile(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("--profile %s: a second finish wrote the profile again", kind)
		}
	}
	streams, _, _, _ := genericiooptions.NewTestIOStreams()
	cmd := NewCmdRoot(streams)
	out := filepath.Join(dir, "bad.pprof")
	cmd.SetArgs([]string{"version", "--profile", "goroutines", "--profile-output", out})
	err := cmd.Execute()
	if exitcode.Of(err) != exitcode.Usage {
		t.Errorf("--profile goroutines: exit %d (%v), want %d", exitcode.Of(err), err, exitcode.Usage)
	}
	if _, serr := os.Stat(out); !os.IsNotExist(serr) {
		t.Error("--profile goroutines wrote a file")
	}
}
