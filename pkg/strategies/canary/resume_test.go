package canary

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

func record(phase, result string) *state.Operation {
	return &state.Operation{ID: "20261127-083000-abcdef", Strategy: Strategy, Phase: phase, Result: result, FromRevision: "1",
		Params: map[string]string{ParamSteps: "10,50,100", ParamReplicas: "4"}}
}

func TestResumeAction(t *testing.T) {
	type want struct {
		Action string
		From   int
		Code   int
	}
	tests := []struct {
		name   string
		op     *state.Operation
		exists bool
		want   want
	}{
		{"start before the canary existed", record("start", ""), false, want{actRestart, 0, 0}},
		{"start with the canary created", record("start", ""), true, want{actWalk, 0, 0}},
		{"step 1 walks again from its index", record("step-1", ""), true, want{actWalk, 0, 0}},
		{"last step walks its pause, then promotes", record("step-3", ""), true, want{actWalk, 2, 0}},
		{"promote finishes", record("promote", ""), true, want{actPromote, 0, 0}},
		{"promote after the canary was removed finishes", record("promote", ""), false, want{actPromote, 0, 0}},
		{"done is nothing", record("done", state.ResultSucceeded), false, want{actNothing, 0, 0}},
		{"aborted is nothing", record("aborted", state.ResultAborted), true, want{actNothing, 0, 0}},
		{"paused (held) is nothing", record("step-1", state.ResultPaused), true, want{actNothing, 0, 0}},
		{"interrupted (Ctrl-C) at step 2 walks again from its index", record("step-2", state.ResultInterrupted), true, want{actWalk, 1, 0}},
		{"interrupted before the canary existed restarts", record("start", state.ResultInterrupted), false, want{actRestart, 0, 0}},
		{"failed (another writer) at step 1 walks again", record("step-1", state.ResultFailed), true, want{actWalk, 0, 0}},
		{"step beyond the steps", record("step-4", ""), true, want{"", 0, exitcode.Usage}},
		{"step without the canary", record("step-2", ""), false, want{"", 0, exitcode.Usage}},
		{"unknown phase", record("switch", ""), true, want{"", 0, exitcode.Usage}},
		{"bad steps", func() *state.Operation { o := record("step-1", ""); o.Params[ParamSteps] = "50,10"; return o }(), true, want{"", 0, exitcode.Usage}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, from, err := resumeAction(tc.op, tc.exists)
			got := want{a, from, exitcode.Of(err)}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("resumeAction (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAbortAction(t *testing.T) {
	type want struct {
		Action string
		Code   int
	}
	tests := []struct {
		name            string
		op              *state.Operation
		exists, changed bool
		want            want
	}{
		{"step in flight", record("step-2", ""), true, false, want{actAbort, 0}},
		{"start without the canary", record("start", ""), false, false, want{actNoCanary, 0}},
		{"promote before the stable changed", record("promote", ""), true, false, want{actAbort, 0}},
		{"promote after the stable changed restores it first", record("promote", ""), true, true, want{actRestore, 0}},
		{"promote after the stable changed and the canary was removed", record("promote", ""), false, true, want{actRestore, 0}},
		{"held", record("step-1", state.ResultPaused), true, false, want{actAbort, 0}},
		{"failed", record("step-1", state.ResultFailed), true, false, want{actAbort, 0}},
		{"interrupted", record("step-1", state.ResultInterrupted), true, false, want{actAbort, 0}},
		{"succeeded", record("done", state.ResultSucceeded), false, true, want{actNothing, exitcode.Usage}},
		{"aborted", record("aborted", state.ResultAborted), true, false, want{actNothing, exitcode.Usage}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := abortAction(tc.op, tc.exists, tc.changed)
			if diff := cmp.Diff(tc.want, want{a, exitcode.Of(err)}); diff != "" {
				t.Errorf("abortAction (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResumeRejectsAService(t *testing.T) {
	env := strategies.Env{}
	tgt := strategies.Target{Namespace: "shop", Kind: "service", Name: "web"}
	op := record("step-1", "")
	for name, f := range map[string]func(context.Context, strategies.Env, strategies.Target, *state.Operation) error{
		"resume": resumer{}.Resume, "abort": resumer{}.Abort,
	} {
		if err := f(context.Background(), env, tgt, op); exitcode.Of(err) != exitcode.Usage {
			t.Errorf("%s of a canary recorded on a service: exit %d (%v), want %d", name, exitcode.Of(err), err, exitcode.Usage)
		}
	}
}

func TestSplitInterrupt(t *testing.T) {
	leaseLost := errors.New("the lease was lost")
	tests := []struct {
		name          string
		cause         error // what ends the caller's context
		wantInterrupt bool
		wantCause     error // of the work context, nil: still running
	}{
		{"ctrl-c stops at the next consistent point", context.Canceled, true, nil},
		{"a lost lease ends the work at once", leaseLost, false, leaseLost},
		{"a deadline ends the work at once", context.DeadlineExceeded, false, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel := context.WithCancelCause(context.Background())
			work, interrupt, stop := splitInterrupt(parent)
			defer stop()
			cancel(tc.cause)
			select {
			case <-interrupt:
			case <-work.Done():
			case <-time.After(5 * time.Second):
				t.Fatal("neither the interrupt nor the end of the work context came")
			}
			gotInterrupt := false
			select {
			case <-interrupt:
				gotInterrupt = true
			default:
			}
			if gotInterrupt != tc.wantInterrupt || context.Cause(work) != tc.wantCause {
				t.Errorf("interrupt %v, work cause %v; want %v, %v", gotInterrupt, context.Cause(work), tc.wantInterrupt, tc.wantCause)
			}
		})
	}
}

func TestRecordedTemplate(t *testing.T) {
	tmpl := &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "track": "canary"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:v2"}}},
	}
	enc, err := encodeTemplate(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeTemplate(enc)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(tmpl, got); diff != "" {
		t.Errorf("pod template after a round trip through the record (-want +got):\n%s", diff)
	}
	for name, bad := range map[string]string{
		"none recorded": "",
		"not json":      "{",
		"no containers": `{"metadata":{"labels":{"app":"web"}}}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeTemplate(bad); err == nil || !strings.Contains(err.Error(), ParamTemplate) {
				t.Errorf("decodeTemplate(%q) = %v, want an error naming the %s param", bad, err, ParamTemplate)
			}
		})
	}
}

func TestLostLease(t *testing.T) {
	contact := &state.LostError{Lease: "shop/zdd-deployment-web", Contact: true, Err: errors.New("connection refused")}
	taken := &state.LostError{Lease: "shop/zdd-deployment-web", TakenBy: "another run"}
	tests := []struct {
		name  string
		cause error // nil: the context is live
		err   error // the error of the step
		want  *state.LostError
	}{
		{name: "live"},
		{name: "--timeout is not a lost lease", cause: context.DeadlineExceeded},
		{name: "ctrl-c is not a lost lease", cause: context.Canceled},
		{name: "contact with the API server lost", cause: contact, want: contact},
		{name: "taken over (the lock's context, or resume's)", cause: taken, want: taken},
		{name: "a write refused by the fence", err: fmt.Errorf("updating deployment: %w", taken), want: taken},
		{name: "another error", err: errors.New("boom")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			if tc.cause != nil {
				cancel(tc.cause)
			}
			c := &Canary{}
			if got := c.lost(ctx, tc.err); got != tc.want {
				t.Errorf("lost = %v, want %v", got, tc.want)
			}
		})
	}
}
