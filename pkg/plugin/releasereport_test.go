package plugin

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zdd-dev/kubectl-zdd/pkg/downtime"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/report"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/terminal"
)

func releaseReportCmd(t *testing.T, args ...string) (*cobra.Command, *ReleaseReport) {
	t.Helper()
	rr := NewReleaseReport()
	cmd := &cobra.Command{Use: "rollout"}
	rr.AddFlags(cmd.Flags())
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return cmd, rr
}

// TestReleaseReportFlags: --report names an HTML file in a directory that
// exists; anything else is bad input naming the flag.
func TestReleaseReportFlags(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"none", nil, ""},
		{"html", []string{"--report", filepath.Join(dir, "web.html")}, ""},
		{"ascii", []string{"--ascii"}, ""},
		{"empty", []string{"--report", ""}, "--report: empty file name"},
		{"not html", []string{"--report", filepath.Join(dir, "web.png")}, "want a file name ending in .html"},
		{"no directory", []string{"--report", filepath.Join(dir, "missing", "web.html")}, "does not exist"},
		{"a directory", []string{"--report", dir + "/x.html"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd, rr := releaseReportCmd(t, tc.args...)
			err := rr.Validate(cmd)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || exitcode.Of(err) != exitcode.Usage {
				t.Fatalf("error %v (exit %d), want exit 2 with %q", err, exitcode.Of(err), tc.wantErr)
			}
		})
	}
	if err := os.Mkdir(filepath.Join(dir, "d.html"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, rr := releaseReportCmd(t, "--report", filepath.Join(dir, "d.html"))
	if err := rr.Validate(cmd); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("--report naming a directory: %v", err)
	}
}

// deploymentWithRecord is Deployment shop/web carrying the record of op.
func deploymentWithRecord(op *state.Operation) *appsv1.Deployment {
	ann := map[string]string{}
	for k, v := range op.Annotations() {
		if v != nil {
			ann[k] = *v
		}
	}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "web", Annotations: ann, ResourceVersion: "7"}}
}

// heardRelease feeds a recorder what a rollout's engine tells it.
func heardRelease(ev strategies.Events) {
	t0 := time.Now().Add(-10 * time.Second)
	ev.Phase(strategies.MarkApply)
	ev.Watched(downtime.Report{Service: "shop/web", MinReady: 2, Started: t0, Stopped: t0.Add(10 * time.Second), Timeline: []downtime.Sample{
		{Time: t0, Ready: 2, ByHash: map[string]int{"h1": 2}},
		{Time: t0.Add(4 * time.Second), Ready: 3, ByHash: map[string]int{"h1": 2, "h2": 1}},
		{Time: t0.Add(7 * time.Second), Ready: 2, ByHash: map[string]int{"h2": 2}},
	}})
}

// TestReleaseReportFinish: at the end of an operation this process ran,
// the summary is recorded on the object, the HTML file written, and the
// timeline drawn on a terminal only, never with -o json; the record of
// another process's operation gets no summary.
func TestReleaseReportFinish(t *testing.T) {
	now := time.Now().UTC()
	// written during the operation (the recording starts in the test)
	op := &state.Operation{ID: "op1", Strategy: "rollout", Phase: "done", Result: state.ResultSucceeded, StartTime: now.Truncate(time.Second), UpdateTime: now.Add(time.Second)}
	op.Holder = state.Identity(op.ID)
	for _, tc := range []struct {
		name      string
		tty, json bool
		holder    string
		updated   time.Time
		opID      string
		// lost: the operation's error says its Lease was lost; lostCtx:
		// its context ended for that
		lost, lostCtx bool
		wantTimeline  bool
		wantRecorded  bool
	}{
		{"terminal", true, false, op.Holder, op.UpdateTime, "", false, false, true, true},
		{"not a terminal", false, false, op.Holder, op.UpdateTime, "", false, false, false, true},
		{"json on a terminal", true, true, op.Holder, op.UpdateTime, "", false, false, false, true},
		{"a record with no holder (canary)", false, false, "", op.UpdateTime, "", false, false, false, true},
		{"the operation resumed", false, false, "ana@laptop pid 3 op op1", op.UpdateTime, "op1", false, false, false, true},
		{"another process's record", true, false, "bob@elsewhere pid 9 op op1", op.UpdateTime, "", false, false, true, false},
		{"a record written before", false, false, op.Holder, now.Add(-time.Hour), "", false, false, false, false},
		{"another operation's record", false, false, op.Holder, op.UpdateTime, "op0", false, false, false, false},
		// the Lease taken over mid-release: the run writes nothing more,
		// its summary neither; the picture is still drawn
		{"its lease lost (the error)", true, false, op.Holder, op.UpdateTime, "", true, false, true, false},
		{"its lease lost (the context)", true, false, op.Holder, op.UpdateTime, "", false, true, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := *op
			rec.Holder, rec.UpdateTime = tc.holder, tc.updated
			cs := fake.NewSimpleClientset(deploymentWithRecord(&rec))
			file := filepath.Join(t.TempDir(), "web.html")
			cmd, rr := releaseReportCmd(t, "--report", file, "--ascii")
			if err := rr.Validate(cmd); err != nil {
				t.Fatal(err)
			}
			rr.IsTerminal = func(io.Writer) bool { return tc.tty }
			rr.Width = 80
			heardRelease(rr.Events(cs, "shop", "web"))
			var out, errOut bytes.Buffer
			ctx := context.Background()
			if tc.lostCtx {
				c, cancel := context.WithCancelCause(ctx)
				cancel(&state.LostError{Lease: "shop/zdd-deployment-web", TakenBy: "another run"})
				ctx = c
			}
			rr.Finish(ctx, releaseEnd{Client: cs, Kind: "deployment", Namespace: "shop", Name: "web", Base: "web", Out: &out, ErrOut: &errOut, JSON: tc.json, OperationID: tc.opID, Lost: tc.lost})
			if (tc.lost || tc.lostCtx) && !strings.Contains(errOut.String(), "lease was lost") {
				t.Errorf("the lost lease's run does not say why it records no summary: %q", errOut.String())
			}

			drawn := strings.Contains(out.String(), "ready endpoints of service shop/web")
			if drawn != tc.wantTimeline {
				t.Errorf("timeline drawn: %v, want %v\n%s", drawn, tc.wantTimeline, out.String())
			}
			for _, l := range strings.Split(out.String(), "\n") {
				if w := terminal.StringWidth(l); w > 80 {
					t.Errorf("a line of %d columns:\n%s", w, l)
				}
				for _, r := range l {
					if r > 0x7e {
						t.Errorf("--ascii drew %q:\n%s", r, l)
						break
					}
				}
			}
			d, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			enc, recorded := d.Annotations[report.SummaryAnnotation]
			if recorded != tc.wantRecorded {
				t.Fatalf("summary recorded: %v, want %v (stderr %s)", recorded, tc.wantRecorded, errOut.String())
			}
			if recorded {
				sum, err := report.Decode(enc)
				if err != nil {
					t.Fatal(err)
				}
				if sum.Facts.OperationID != "op1" || sum.Facts.Strategy != "rollout" || sum.Facts.Result != state.ResultSucceeded || len(sum.Versions) != 2 || len(sum.Phases) != 1 {
					t.Errorf("summary facts %+v, %d versions, %d phases: want operation op1, two versions, the apply", sum.Facts, len(sum.Versions), len(sum.Phases))
				}
			}
			page, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("--report: %v", err)
			}
			if !bytes.Contains(page, []byte("<svg")) || !bytes.Contains(page, []byte(">apply<")) {
				t.Errorf("--report page has no chart with the apply phase")
			}
		})
	}
}

// TestReleaseReportNothingHeard: an operation that stopped before it did
// anything (another run held the lease) draws and records nothing.
func TestReleaseReportNothingHeard(t *testing.T) {
	op := &state.Operation{ID: "op1", Strategy: "rollout"}
	op.Holder = state.Identity(op.ID)
	cs := fake.NewSimpleClientset(deploymentWithRecord(op))
	rr := NewReleaseReport()
	rr.IsTerminal = func(io.Writer) bool { return true }
	rr.Events(cs, "shop", "web")
	var out bytes.Buffer
	rr.Finish(context.Background(), releaseEnd{Client: cs, Kind: "deployment", Namespace: "shop", Name: "web", Out: &out, ErrOut: &out})
	if out.Len() > 0 {
		t.Errorf("drew %q", out.String())
	}
	if len(cs.Actions()) > 0 {
		t.Errorf("called the API server: %v", cs.Actions())
	}
}
