package plugin

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// syncBuffer is a bytes.Buffer safe for the watch's goroutines and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond (a test of something the watch goroutines do) for up
// to 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func recordedDeployment(phase string) *appsv1.Deployment {
	op := &state.Operation{ID: "op-1", Strategy: "rollout", Phase: phase, FromRevision: "1", ToRevision: "2"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", ResourceVersion: "10", Annotations: annotated(op)},
		Spec:       appsv1.DeploymentSpec{Replicas: ptr.To[int32](3)},
	}
}

// TestStatusWatchOutlivesAClosedWatch: the server closes the watch of
// `kubectl zdd status -w` (as it does routinely, and when it restarts). The
// command watches again and prints the change that comes on the new watch,
// instead of ending with "the watch was closed by the server".
func TestStatusWatchOutlivesAClosedWatch(t *testing.T) {
	cs := fake.NewClientset(recordedDeployment("watch"))
	first, second := watch.NewFake(), watch.NewFake()
	var calls atomic.Int32
	cs.PrependWatchReactor("deployments", func(k8stesting.Action) (bool, watch.Interface, error) {
		switch calls.Add(1) {
		case 1:
			return true, first, nil
		case 2:
			return true, second, nil
		}
		return true, watch.NewFake(), nil
	})
	var out syncBuffer
	o := NewStatusOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &out})
	o.Client, o.Namespace, o.Kind, o.Watch = cs, "shop", "deployment", true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()

	waitFor(t, "the first watch", func() bool { return calls.Load() >= 1 })
	if !strings.Contains(out.String(), "deployment/web") {
		t.Fatalf("the table before watching lacks deployment/web:\n%s", out.String())
	}
	first.Stop() // the server closes the watch
	waitFor(t, "a second watch after the first was closed", func() bool { return calls.Load() >= 2 })
	select {
	case err := <-done:
		t.Fatalf("status -w ended when the server closed its watch: %v\n%s", err, out.String())
	default:
	}
	d := recordedDeployment("analysis")
	d.ResourceVersion = "11"
	second.Modify(d)
	waitFor(t, "the row of the change made after the watch was closed", func() bool {
		return strings.Contains(out.String(), "analysis")
	})
	cancel()
	if err := <-done; err != nil {
		t.Errorf("status -w after Ctrl-C: %v, want nil", err)
	}
	if n := strings.Count(out.String(), "deployment/web"); n != 2 {
		t.Errorf("deployment/web printed %d times, want 2 (the table, then the change):\n%s", n, out.String())
	}
}

// TestStatusWatchRefused: a watch the Role does not allow ends the command
// with an error naming the watch and the refusal, instead of retrying
// forever in silence.
func TestStatusWatchRefused(t *testing.T) {
	cs := fake.NewClientset(recordedDeployment("watch"))
	cs.PrependWatchReactor("deployments", func(k8stesting.Action) (bool, watch.Interface, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", errors.New("user cannot watch resource"))
	})
	var out syncBuffer
	o := NewStatusOptions(genericiooptions.IOStreams{Out: &out, ErrOut: &out})
	o.Client, o.Namespace, o.Kind, o.Watch = cs, "shop", "deployment", true
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := o.Run(ctx)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("status -w with the watch refused: err %v (context %v), want the refusal at once", err, ctx.Err())
	}
	for _, want := range []string{"watching deployments", "forbidden", "cannot watch"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
