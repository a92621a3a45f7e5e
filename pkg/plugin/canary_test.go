package plugin

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

var updateCanaryGolden = flag.Bool("update-canary", false, "rewrite testdata/canary/*.golden")

// unreachableKubeconfig names a server nobody listens on: a command that got
// past its input checks and contacted the cluster would fail with exit 1,
// not 2.
func unreachableKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: c
  context: {cluster: c, namespace: shop}
current-context: c
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCanaryCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	streams, _, out, errOut := genericiooptions.NewTestIOStreams()
	root := NewCmdRoot(streams)
	root.SetArgs(append([]string{"--kubeconfig", unreachableKubeconfig(t)}, args...))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

func TestCanaryBadInput(t *testing.T) {
	img := []string{"--image", "app=web:v2"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"weight above 100", append([]string{"canary", "deployment/web", "--weight", "101"}, img...), "--weight: weight 101 is outside 0..100"},
		{"negative weight", append([]string{"canary", "deployment/web", "--weight=-1"}, img...), "--weight: weight -1 is outside 0..100"},
		{"steps not increasing", append([]string{"canary", "deployment/web", "--steps", "50,30"}, img...), `--steps "50,30": steps must increase: 30 comes after 50`},
		{"step above 100", append([]string{"canary", "deployment/web", "--steps", "50,130"}, img...), `--steps "50,130": weight 130 is outside 0..100`},
		{"weight and steps", append([]string{"canary", "deployment/web", "--weight", "10", "--steps", "10,20"}, img...), "--weight and --steps cannot be used together"},
		{"no weight", append([]string{"canary", "deployment/web"}, img...), "give --weight W or --steps W1,W2,..."},
		{"no new version", []string{"canary", "deployment/web", "--weight", "10"}, "give the new version: --image CONTAINER=IMAGE or -f FILE"},
		{"bad image flag", []string{"canary", "deployment/web", "--weight", "10", "--image", "web:v2"}, `--image "web:v2": want CONTAINER=IMAGE`},
		{"pauses do not match steps", append([]string{"canary", "deployment/web", "--steps", "10,50,100", "--pause", "1s,2s"}, img...), "2 pauses for 3 steps"},
		{"manual with a pause", append([]string{"canary", "deployment/web", "--steps", "10,50", "--pause", "1m", "--manual"}, img...), "use it with --pause 0"},
		{"unknown router", append([]string{"canary", "deployment/web", "--weight", "10", "--traffic-router", "traefik"}, img...), `--traffic-router "traefik": want one of replica-ratio, gateway-api, istio, smi, nginx, linkerd`},
		{"router without its object", append([]string{"canary", "deployment/web", "--weight", "10", "--traffic-router", "istio"}, img...), "--traffic-router istio needs --virtual-service NAME"},
		{"object of another router", append([]string{"canary", "deployment/web", "--weight", "10", "--traffic-router", "smi", "--traffic-split", "web", "--route", "web"}, img...), "--route belongs to --traffic-router gateway-api or linkerd, not smi"},
		{"not a deployment", append([]string{"canary", "service/web", "--weight", "10"}, img...), `argument "service/web": a canary releases a deployment, not a service`},
		{"bad track label", append([]string{"canary", "deployment/web", "--weight", "10", "--track-label", "=x"}, img...), `--track-label "=x": want KEY or KEY=VALUE`},
		{"missing analysis file", append([]string{"canary", "deployment/web", "--weight", "10", "--analysis", "/nonexistent/analysis.yaml"}, img...), "/nonexistent/analysis.yaml"},
		{"missing manifest", []string{"canary", "--weight", "10", "-f", "/nonexistent/web.yaml"}, "/nonexistent/web.yaml"},
		{"promote needs a deployment", []string{"canary", "promote"}, "accepts 1 arg(s), received 0"},
		{"abort of a pod", []string{"canary", "abort", "pod/web"}, `argument "pod/web": a canary releases a deployment, not a pod`},
		{"zero timeout", append([]string{"canary", "deployment/web", "--weight", "10", "--timeout", "0s"}, img...), "--timeout 0s must be positive"},
		{"zero deadline", append([]string{"canary", "deployment/web", "--weight", "10", "--deadline", "0s"}, img...), "--deadline 0s must be positive"},
		{"promote with a zero deadline", []string{"canary", "promote", "deployment/web", "--deadline", "0s"}, "--deadline 0s must be positive"},
		{"abort with a zero timeout", []string{"canary", "abort", "deployment/web", "--timeout", "0s"}, "--timeout 0s must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, _, err := runCanaryCmd(t, tt.args...)
			if code := exitcode.Of(err); code != exitcode.Usage {
				t.Errorf("exit code %d, want %d (err %v)", code, exitcode.Usage, err)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
			if stdout != "" {
				t.Errorf("bad input printed to stdout: %q", stdout)
			}
		})
	}
}

func TestCanaryHelpGolden(t *testing.T) {
	for _, args := range [][]string{{"canary"}, {"canary", "promote"}, {"canary", "abort"}} {
		name := strings.Join(args, "-")
		t.Run(name, func(t *testing.T) {
			stdout, _, err := runCanaryCmd(t, append(args, "--help")...)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "canary", name+"-help.golden")
			if *updateCanaryGolden {
				if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestCanaryHelpGolden -update-canary)", err)
			}
			if diff := cmp.Diff(string(want), stdout); diff != "" {
				t.Errorf("%s --help (-want +got):\n%s", strings.Join(args, " "), diff)
			}
			if !bytes.Contains(want, []byte("kubectl zdd canary")) {
				t.Errorf("help does not show the command as typed")
			}
		})
	}
}

// TestCanaryTimeoutIsPerWait: canary's --timeout reaches the engine's
// Config as the limit of each wait (as rollout's and blue-green's do), and
// --deadline is the whole run's limit: the context the run gets ends at
// --deadline, while Ctrl-C (the caller's context) only closes the interrupt
// channel.
func TestCanaryTimeoutIsPerWait(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		args                  []string
		wantWait, wantOverall time.Duration
	}{
		{"defaults", nil, 10 * time.Minute, 30 * time.Minute},
		{"both set", []string{"--timeout", "2m", "--deadline", "1h"}, 2 * time.Minute, time.Hour},
		{"timeout alone stays a per-wait limit", []string{"--timeout", "45s"}, 45 * time.Second, 30 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewCanaryOptions(genericiooptions.NewTestIOStreamsDiscard())
			cmd := &cobra.Command{Use: "canary"}
			addCanaryCommonFlags(cmd, &o.Timeout, &o.Deadline, &o.ForceUnlock)
			if err := cmd.Flags().Parse(tc.args); err != nil {
				t.Fatal(err)
			}
			o.Namespace, o.Name, o.Steps, o.Images = "shop", "web", "50,100", []string{"app=web:v2"}
			if err := o.Validate(cmd); err != nil {
				t.Fatal(err)
			}
			if o.config.Timeout != tc.wantWait {
				t.Errorf("Config.Timeout (each wait) = %s, want %s", o.config.Timeout, tc.wantWait)
			}
			if o.Deadline != tc.wantOverall {
				t.Errorf("--deadline = %s, want %s", o.Deadline, tc.wantOverall)
			}
			parent, interruptParent := context.WithCancel(context.Background())
			defer interruptParent()
			ctx, interrupt, cancel := canaryInterruptible(parent, o.Deadline)
			defer cancel()
			dl, ok := ctx.Deadline()
			if !ok || time.Until(dl) > tc.wantOverall || time.Until(dl) < tc.wantOverall-time.Minute {
				t.Errorf("the run's context ends in %s (set %v), want --deadline %s", time.Until(dl), ok, tc.wantOverall)
			}
			interruptParent()
			select {
			case <-interrupt:
			case <-time.After(5 * time.Second):
				t.Fatal("Ctrl-C did not close the interrupt channel")
			}
			if ctx.Err() != nil {
				t.Errorf("Ctrl-C ended the run's context (%v): it must only interrupt, not abort", ctx.Err())
			}
		})
	}
}
