package plugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/probe"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// releaseProbeCmd is a command with the release probe's flags, parsed
// from args.
func releaseProbeCmd(t *testing.T, args ...string) (*cobra.Command, *ReleaseProbe) {
	t.Helper()
	rp := NewReleaseProbe()
	rp.Env = func(v string) string {
		if v == "ZDD_TEST_TOKEN" {
			return "s3cret-token"
		}
		return ""
	}
	cmd := &cobra.Command{Use: "rollout"}
	rp.AddFlags(cmd.Flags())
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return cmd, rp
}

func TestReleaseProbeFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" valid
		want    probe.Params
	}{
		{name: "no probe", args: nil},
		{name: "defaults", args: []string{"--probe", "http://shop.example/healthz"},
			want: probe.Params{URL: "http://shop.example/healthz", Rate: 20, Timeout: "2s", Expect: "200-399", MaxFailed: 0}},
		{name: "every setting", args: []string{"--probe", "https://shop.example/", "--probe-rate", "50", "--probe-timeout", "500ms", "--probe-expect", "200,204",
			"--probe-version-header", "X-Version", "--max-failed-requests", "3", "--probe-header", "Authorization: Bearer ${ZDD_TEST_TOKEN}", "--probe-header", "X-Team: shop"},
			want: probe.Params{URL: "https://shop.example/", Rate: 50, Timeout: "500ms", Expect: "200,204", VersionHeader: "X-Version", MaxFailed: 3,
				Headers: []probe.HeaderParam{{Name: "Authorization", Value: "Bearer ${ZDD_TEST_TOKEN}"}, {Name: "X-Team"}}}},
		{name: "a setting without --probe", args: []string{"--max-failed-requests", "2"}, wantErr: "--max-failed-requests needs --probe URL"},
		{name: "header without --probe", args: []string{"--probe-header", "A: b"}, wantErr: "--probe-header needs --probe URL"},
		{name: "empty probe", args: []string{"--probe", ""}, wantErr: "--probe: empty URL"},
		{name: "not http", args: []string{"--probe", "ftp://x/"}, wantErr: "want http:// or https://"},
		{name: "rate", args: []string{"--probe", "http://x/", "--probe-rate", "0"}, wantErr: "--probe-rate 0: want 1 to 1000"},
		{name: "timeout", args: []string{"--probe", "http://x/", "--probe-timeout", "0s"}, wantErr: "--probe-timeout 0s"},
		{name: "negative budget", args: []string{"--probe", "http://x/", "--max-failed-requests", "-1"}, wantErr: "--max-failed-requests -1: must not be negative"},
		{name: "bad expect", args: []string{"--probe", "http://x/", "--probe-expect", "7xx"}, wantErr: "--probe-expect"},
		// the value may be a secret written as is: never echoed
		{name: "bad header names only the name", args: []string{"--probe", "http://x/", "--probe-header", "Bad Name: hunter2"}, wantErr: `--probe-header "Bad Name"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd, rp := releaseProbeCmd(t, tc.args...)
			err := rp.Validate(cmd)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || exitcode.Of(err) != exitcode.Usage {
					t.Fatalf("error %v (exit %d), want exit 2 with %q", err, exitcode.Of(err), tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows a header value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			params, err := rp.Params()
			if err != nil {
				t.Fatal(err)
			}
			if tc.want.URL == "" {
				if rp.Enabled() || params != nil {
					t.Fatalf("a probe without --probe: %v", params)
				}
				return
			}
			got, err := probe.DecodeParams(params[ParamProbe])
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("recorded params (-want +got):\n%s", diff)
			}
			if strings.Contains(params[ParamProbe], "shop\"") || strings.Contains(params[ParamProbe], "s3cret") {
				t.Errorf("the record holds a header value: %s", params[ParamProbe])
			}
		})
	}
}

// TestReleaseProbeTripsAndRedacts: the probe's budget trips the release's
// tripwire with the failures by kind, the report and the failure lines
// never show an expanded header value, and the requests line and the
// recorded annotation say what was measured.
func TestReleaseProbeTripsAndRedacts(t *testing.T) {
	srv := newProbeServer(t, 2)
	cmd, rp := releaseProbeCmd(t, "--probe", srv.URL, "--probe-rate", "50", "--probe-header", "Authorization: Bearer ${ZDD_TEST_TOKEN}", "--probe-version-header", "X-Version")
	if err := rp.Validate(cmd); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	tw, err := rp.Start(context.Background(), &log)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-tw.Tripped():
	case <-time.After(10 * time.Second):
		t.Fatal("the budget of 0 never tripped on a server failing every other request")
	}
	if err := strategies.Tripped(tw); err == nil {
		t.Fatal("tripped, but no cause")
	}
	var be *probe.BudgetError
	if !errors.As(tw.Cause(), &be) || be.Failed < 1 || be.MaxFailed != 0 || !strings.Contains(be.Error(), "status 503") || !strings.Contains(be.Error(), "more than --max-failed-requests 0") {
		t.Errorf("cause %v, want a budget error with its kinds", tw.Cause())
	}
	rep := rp.Stop()
	if rp.Stop() != rep {
		t.Error("a second Stop gave another report")
	}
	if srv.auth.Load() != "Bearer s3cret-token" {
		t.Errorf("the server got Authorization %q, want the expanded value", srv.auth.Load())
	}
	var out bytes.Buffer
	printRequests(&out, rep)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := requestsPatch("op-1", rep)
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"log": log.String(), "requests line": out.String(), "json": string(b), "annotation": string(patch), "cause": tw.Cause().Error()} {
		if strings.Contains(text, "s3cret") {
			t.Errorf("the %s shows the header value:\n%s", what, text)
		}
	}
	if !strings.Contains(out.String(), "failed (status 503 ") || !strings.Contains(out.String(), "--max-failed-requests 0: exceeded") || !strings.Contains(out.String(), "v1 ") {
		t.Errorf("requests line:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "\n  ") || !strings.Contains(out.String(), "status 503 x") {
		t.Errorf("the failures are not listed with time, kind and count:\n%s", out.String())
	}
	var ann map[string]map[string]map[string]string
	if err := json.Unmarshal(patch, &ann); err != nil {
		t.Fatal(err)
	}
	rec := requestsOf(ann["metadata"]["annotations"], "op-1")
	if rec == nil || rec.Failed != rep.Failed || rec.Sent != rep.Sent {
		t.Errorf("recorded requests %+v, want those of %+v", rec, rep)
	}
	if requestsOf(ann["metadata"]["annotations"], "op-2") != nil {
		t.Error("the requests of another operation were read as this one's")
	}
}

func TestPrintRequestsWithoutProbe(t *testing.T) {
	var out bytes.Buffer
	printRequests(&out, nil)
	if got, want := out.String(), "requests: not measured (no --probe URL)\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCapacityLine(t *testing.T) {
	if got, want := capacityLine("shop/web", 2, 3, 0, 12.34, ""), `capacity: service "shop/web": minimum ready endpoints 2 of 3 desired (66%), a capacity dip, 0.0s with none ready, watched for 12.3s`; got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if got := capacityLine("shop/web", 3, 3, 0, 1, ""); strings.Contains(got, "dip") {
		t.Errorf("a full capacity called a dip: %q", got)
	}
}

// TestRolloutProbeFlagsNeedProbe: the release commands refuse a probe
// setting without --probe before reading anything (exit 2).
func TestRolloutProbeFlagsNeedProbe(t *testing.T) {
	_, stderr, code := runZdd(context.Background(), "rollout", "deployment/web", "--image", "app=v2", "--probe-rate", "5")
	if code != exitcode.Usage || !strings.Contains(stderr, "--probe-rate needs --probe URL") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
