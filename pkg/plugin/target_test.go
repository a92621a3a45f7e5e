package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// TestTargetParse: the one TYPE/NAME parser, as each kind of command reads
// its argument.
func TestTargetParse(t *testing.T) {
	cases := []struct {
		t              target
		in, kind, name string
		wantErr        string
	}{
		{recordArg, "deployment/web", "deployment", "web", ""},
		{recordArg, "deploy/web", "deployment", "web", ""},
		{recordArg, "deployments.apps/web", "deployment", "web", ""},
		{recordArg, "svc/front", "service", "front", ""},
		{recordArg, "web", "", "", "want TYPE/NAME"},
		{recordArg, "pod/x", "", "", `operations are recorded on deployments and services, not "pod"`},
		{recordArg, "service/", "", "", "want TYPE/NAME"},
		{deploymentArg, "Deployment/web", "deployment", "web", ""},
		{deploymentArg, "service/web", "", "", "want deployment/NAME"},
		{deploymentArg, "deployment/a/b", "", "", "want deployment/NAME"},
		{canaryArg, "service/web", "", "", "a canary releases a deployment, not a service"},
		{serviceArg, "web", "service", "web", ""},
		{serviceArg, "svc/web", "service", "web", ""},
		{serviceArg, "deployment/web", "", "", "want service/NAME"},
		{analyzeArg, "service/web", "", "", "only a deployment can be analysed"},
	}
	for _, tc := range cases {
		kind, name, err := tc.t.parse(tc.in)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("parse(%q): %v", tc.in, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("parse(%q): error %v, want one containing %q", tc.in, err, tc.wantErr)
		case kind != tc.kind || name != tc.name:
			t.Errorf("parse(%q) = %q, %q, want %q, %q", tc.in, kind, name, tc.kind, tc.name)
		}
	}
}

// A kubeconfig whose certificate and key files do not exist: any use of
// its credentials fails.
const brokenCertKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", certificate-authority: /nonexistent/zdd/ca.crt}}]
users: [{name: u, user: {client-certificate: /nonexistent/zdd/client.crt, client-key: /nonexistent/zdd/client.key}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: shop}}]
current-context: x
`

// TestUsageBeforeKubeconfig: arguments and flags are checked before the
// kubeconfig's credentials are read, so a usage error is said (exit 2)
// even when the kubeconfig cannot be used; a good command line then gets
// the kubeconfig's error, also exit 2.
func TestUsageBeforeKubeconfig(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(brokenCertKubeconfig), 0o600); err != nil {
		t.Fatal(err)
	}
	img := []string{"--image", "app=x:2"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"rollout"}, "missing deployment/NAME"},
		{append([]string{"rollout", "deployment/web", "--timeout", "0s"}, img...), "--timeout 0s: must be more than 0"},
		{[]string{"canary", "deployment/x", "--weight", "150"}, "--weight: weight 150 is outside 0..100"},
		{[]string{"canary", "--weight", "10"}, "missing deployment/NAME"},
		{[]string{"canary", "promote", "deployment/x", "--timeout", "0s"}, "--timeout 0s must be positive"},
		{[]string{"canary", "abort", "service/x"}, "a canary releases a deployment, not a service"},
		{[]string{"bluegreen", "deploy", "service/web"}, "nothing to deploy"},
		{[]string{"rollback", "deployment/web", "--to-revision", "-1"}, "--to-revision -1: must be 0 or more"},
		{[]string{"resume", "pod/web"}, "operations are recorded on deployments and services"},
		{[]string{"abort", "deployment/web", "--timeout", "0s"}, "--timeout 0s: must be positive"},
		{[]string{"status", "-o", "xml"}, `unknown --output "xml"`},
		{[]string{"report", "web"}, "want TYPE/NAME"},
		{[]string{"migrate", "-f", "job.yaml", "--for", "service/web"}, `--for "service/web": want deployment/NAME`},
		// a good command line: the kubeconfig's own error, still exit 2
		{append([]string{"rollout", "deployment/web"}, img...), "client.crt"},
		{[]string{"status"}, "client.crt"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := NewCmdRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			cmd.SetArgs(append(tc.args, "--kubeconfig", kc))
			err := cmd.ExecuteContext(context.Background())
			if code := exitcode.Of(err); code != exitcode.Usage {
				t.Fatalf("exit code %d (%v), want 2", code, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err.Error(), tc.want)
			}
		})
	}
}
