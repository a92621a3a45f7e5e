package plugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

// TestFitWriter: each line wider than the width is broken at spaces, its
// continuation indented; lines that fit, and a line not yet ended, pass
// unchanged; nothing is wider than the width.
func TestFitWriter(t *testing.T) {
	var out bytes.Buffer
	f := &fitWriter{w: &out, width: 40}
	long := `capacity: service "shop/web": minimum ready endpoints 3 of 3 desired (100%), 0.0s with none ready`
	if _, err := f.Write([]byte("short line\n" + long + "\n  requests: 20 sent in 1.0s, 0 failed, p50 1ms, p99 2ms; v1 20 ok\npart")); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	want := "short line\n" +
		"capacity: service \"shop/web\": minimum\n" +
		"  ready endpoints 3 of 3 desired (100%),\n" +
		"  0.0s with none ready\n" +
		"  requests: 20 sent in 1.0s, 0 failed,\n" +
		"    p50 1ms, p99 2ms; v1 20 ok\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	for _, l := range strings.Split(got, "\n") {
		if terminal.StringWidth(l) > 40 {
			t.Errorf("line of %d columns: %q", terminal.StringWidth(l), l)
		}
	}
	if _, err := f.Write([]byte(" ended\n")); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "\npart ended\n") {
		t.Errorf("the line written in two parts: %q", out.String())
	}
	if w := fitTerminal(&out); w != &out {
		t.Error("a writer that is not a terminal was wrapped")
	}
}
