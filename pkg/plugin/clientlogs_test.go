package plugin

import (
	"io"
	"os"
	"strings"
	"testing"

	"k8s.io/klog/v2"
)

// stderrOf returns what f wrote to the process's stderr.
func stderrOf(t *testing.T, f func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	f()
	klog.Flush()
	os.Stderr = saved
	_ = w.Close()
	b, _ := io.ReadAll(r)
	return string(b)
}

// TestClientLogs: at --v 0 the client library's info and error lines (a
// watch that ended during an API server outage) reach neither stderr nor a
// file; at --v 2 its lines of level 2 reach stderr.
func TestClientLogs(t *testing.T) {
	if err := clientLogs(-1); err == nil {
		t.Error("clientLogs(-1): no error")
	}
	got := stderrOf(t, func() {
		if err := clientLogs(0); err != nil {
			t.Fatal(err)
		}
		klog.InfoS("Warning: watch ended with error", "err", "very short watch")
		klog.ErrorS(nil, "Failed to watch")
	})
	if got != "" {
		t.Errorf("at --v 0 the client library printed:\n%s", got)
	}
	got = stderrOf(t, func() {
		if err := clientLogs(2); err != nil {
			t.Fatal(err)
		}
		klog.V(2).InfoS("level two line")
		klog.V(3).InfoS("level three line")
	})
	if !strings.Contains(got, "level two line") || strings.Contains(got, "level three line") {
		t.Errorf("at --v 2, stderr:\n%s", got)
	}
}
