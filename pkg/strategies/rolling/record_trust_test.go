package rolling

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/analysis"
	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube/kubetest"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// TestResumeTrustsTheRecordOnlySoFar: a record whose analysis reads a
// variable that is neither named with --allow-env nor prefixed ZDD_ is
// refused (exit 2) before anything runs or is written; the URLs and Jobs
// of an acceptable record are put to the confirmation, and a refusal runs
// nothing (exit 2); a confirmed one runs with only the allowed variables.
// Before, resume sent any variable of the operator's environment to the
// recorded URL, without asking.
func TestResumeTrustsTheRecordOnlySoFar(t *testing.T) {
	var requests atomic.Int32
	var token atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		token.Store(r.Header.Get("X-Token"))
		fmt.Fprint(w, "0")
	}))
	defer srv.Close()
	t.Setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
	t.Setenv("ZDD_METRICS_TOKEN", "zdd-token")
	t.Setenv("METRICS_TOKEN", "metrics-token")
	tests := []struct {
		name     string
		variable string
		allow    []string
		confirm  bool
		wantCode int
		want     string // in the error
		wantSent string // the header the server got ("" none)
	}{
		{name: "a variable not allowed", variable: "AWS_SECRET_ACCESS_KEY", confirm: true, wantCode: exitcode.Usage, want: "reads the environment variable AWS_SECRET_ACCESS_KEY"},
		{name: "not confirmed", variable: "ZDD_METRICS_TOKEN", wantCode: exitcode.Usage, want: "not confirmed"},
		{name: "a ZDD_ variable, confirmed", variable: "ZDD_METRICS_TOKEN", confirm: true, wantSent: "zdd-token"},
		{name: "allowed with --allow-env, confirmed", variable: "METRICS_TOKEN", allow: []string{"METRICS_TOKEN"}, confirm: true, wantSent: "metrics-token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			requests.Store(0)
			token.Store("")
			spec, err := analysis.Parse([]byte("interval: 1ms\nmetrics:\n- name: m\n  max: 1\n  http:\n    url: " + srv.URL + "\n    headers: {X-Token: \"${" + tc.variable + "}\"}\n"))
			if err != nil {
				t.Fatal(err)
			}
			enc, err := analysis.EncodeParam(spec)
			if err != nil {
				t.Fatal(err)
			}
			objs := fixtures()
			d := objs[0].(*appsv1.Deployment)
			// the record of a rollout killed while it watched revision 2
			op := &state.Operation{ID: "op", Strategy: Strategy, Phase: PhaseWatch, FromRevision: "1", ToRevision: "2",
				Params: map[string]string{ParamImages: `{"app":"shop:v2"}`, ParamAnalysis: enc, ParamTemplate: templateFingerprint(&d.Spec.Template)}}
			for k, v := range op.Annotations() {
				if v != nil {
					d.Annotations[k] = *v
				}
			}
			cs := kubetest.NewStrict(objs...)
			cs.Simulate()
			var asked []strategies.Confirmation
			var log bytes.Buffer
			env := strategies.Env{Kube: cs, Log: &log, Timeout: 20 * time.Second, AllowEnv: tc.allow,
				Confirm: func(c strategies.Confirmation) error {
					asked = append(asked, c)
					if !tc.confirm {
						return exitcode.Usagef("not confirmed")
					}
					return nil
				}}
			before := len(cs.Writes())
			err = resumer{}.Resume(context.Background(), env, strategies.Target{Namespace: "shop", Kind: "deployment", Name: "web"}, op)
			if got := exitcode.Of(err); got != tc.wantCode || tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("resume: want exit %d saying %q, got %v\n%s", tc.wantCode, tc.want, err, log.String())
			}
			if tc.wantCode != 0 {
				if w := cs.Writes()[before:]; len(w) > 0 {
					t.Errorf("a refused resume wrote: %v", w)
				}
				if n := requests.Load(); n > 0 {
					t.Errorf("a refused resume sent %d requests", n)
				}
				return
			}
			if len(asked) != 1 || len(asked[0].URLs) != 1 || !strings.Contains(asked[0].URLs[0], srv.URL) {
				t.Errorf("confirmation asked: %+v", asked)
			}
			if got, _ := token.Load().(string); got != tc.wantSent {
				t.Errorf("the server got %q, want %q", got, tc.wantSent)
			}
		})
	}
}

// TestResumeStopsWhenItsLeaseIsTakenOver: under resume, the caller's lease
// is the fence: taken over while the recorded analysis runs (and fails),
// the resume neither rolls back nor records anything more (exit 3), and a
// context ended by the lost lease is not taken for Ctrl-C. Before, resume's
// context ended with a plain error that the strategies took for an
// interrupt, and wrote on.
func TestResumeStopsWhenItsLeaseIsTakenOver(t *testing.T) {
	cs := kubetest.NewStrict(fixtures()...)
	cs.Simulate()
	var after atomic.Int64
	after.Store(-1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		other := &state.Lock{Client: cs.CoordinationV1(), Namespace: "shop", Name: state.LeaseName("deployment", "web"), Holder: "another run"}
		if err := other.Acquire(r.Context(), true); err != nil {
			t.Errorf("the other run could not take the lease: %v", err)
		}
		after.Store(int64(len(cs.Writes())))
		fmt.Fprint(w, "5") // failing: resume would roll back
	}))
	defer srv.Close()
	spec, err := analysis.Parse([]byte("interval: 1ms\nmetrics:\n- name: m\n  max: 1\n  http:\n    url: " + srv.URL + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := analysis.EncodeParam(spec)
	dep, _ := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	op := &state.Operation{ID: "op", Strategy: Strategy, Phase: PhaseAnalysis, FromRevision: "1", ToRevision: "2",
		Params: map[string]string{ParamImages: `{"app":"shop:v2"}`, ParamAnalysis: enc, ParamTemplate: templateFingerprint(&dep.Spec.Template)}}
	w := &state.RecordWriter{Object: state.DeploymentCarrier(cs, "shop", "web")}
	if err := w.Save(context.Background(), op); err != nil {
		t.Fatal(err)
	}
	lock := &state.Lock{Client: cs.CoordinationV1(), Namespace: "shop", Name: state.LeaseName("deployment", "web"), Holder: "resume run"}
	if err := lock.Acquire(context.Background(), true); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := lock.Context(context.Background())
	defer cancel(nil)
	var log bytes.Buffer
	env := strategies.Env{Kube: cs, Log: &log, Timeout: 20 * time.Second, Fence: lock}
	err = resumer{}.Resume(ctx, env, strategies.Target{Namespace: "shop", Kind: "deployment", Name: "web"}, op)
	if exitcode.Of(err) != exitcode.NeedsPerson || !strings.Contains(err.Error(), `taken over by "another run"`) {
		t.Fatalf("resume: want exit 3 naming the other run, got %v\n%s", err, log.String())
	}
	if n := after.Load(); n < 0 {
		t.Fatal("the recorded analysis never ran")
	} else if ws := cs.Writes()[n:]; len(ws) > 0 {
		t.Errorf("writes after the takeover: %v\n%s", ws, log.String())
	}
	if got := recordOn(t, cs); got.Phase != PhaseAnalysis || got.Result != "" {
		t.Errorf("record: phase %q result %q, want analysis in flight", got.Phase, got.Result)
	}
}
