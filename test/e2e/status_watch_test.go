//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// waitLine waits up to timeout for the background command to print, after
// since, a line containing substr; it fails the test (with the output so
// far) if none comes or the command ends first.
func waitLine(t *testing.T, b *bgCommand, since time.Time, substr string, timeout time.Duration) time.Time {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(timeout)
	for {
		if at, _, ok := b.firstLineMatching(since, substr); ok {
			return at
		}
		select {
		case <-b.done:
			t.Fatalf("%s ended (exit %d) before printing %q:\n%s", b.name, b.res.Code, substr, b.res)
		case <-deadline:
			_ = b.cmd.Process.Kill()
			<-b.done
			t.Fatalf("%s printed no line with %q within %s:\n%s", b.name, substr, timeout, b.res)
		case <-tick.C:
		}
	}
}

// TestStatusWatchAcrossAPIServerRestart: `kubectl zdd status -w` keeps
// watching while the kube-apiserver of a private cluster is stopped and
// started again, and prints the change of a record made after the restart.
// (It used to exit 1, "the watch was closed by the server", as soon as the
// server went away.)
func TestStatusWatchAcrossAPIServerRestart(t *testing.T) {
	t.Parallel()
	c := startPrivateCluster(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := c.env(ctx, "status-watch")

	// a Deployment whose record says a rollout is in flight at phase watch
	d := appDeployment(AppSpec{Replicas: 1})
	d.Annotations = map[string]string{state.KeyOperationID: "op-status-watch", state.KeyStrategy: "rollout", state.KeyPhase: "watch"}
	if _, err := c.client.AppsV1().Deployments(e.NS).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating deployment web: %v", err)
	}
	start := time.Now()
	w := startZdd(e, "status -w", "status", "-w")
	waitLine(t, w, start, "deployment/web", 30*time.Second)

	c.stopAPIServer()
	_, ready := c.startAPIServer()
	select {
	case <-w.done:
		t.Fatalf("status -w ended during the API server restart:\n%s", w.wait(t, time.Second))
	default:
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{state.KeyPhase: "analysis"}}})
	if _, err := c.client.AppsV1().Deployments(e.NS).Patch(ctx, "web", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("changing the record after the restart: %v", err)
	}
	at := waitLine(t, w, ready, "analysis", 30*time.Second)
	t.Logf("MEASURE status -w printed the change %s after the API server was ready again", at.Sub(ready).Round(time.Millisecond))

	_ = w.cmd.Process.Signal(os.Interrupt)
	r := w.wait(t, 10*time.Second)
	if strings.Contains(r.Stderr, "closed by the server") {
		t.Errorf("status -w said its watch was closed:\n%s", r)
	}
}
