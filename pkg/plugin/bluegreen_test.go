package plugin

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// bgUnreachableKubeconfig names a cluster on a closed loopback port: a command
// that contacted it would fail with a connection error (exit 1), so an exit 2
// proves the input was refused before anything was sent.
func bgUnreachableKubeconfig(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubeconfig")
	cfg := `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
contexts:
- name: c
  context: {cluster: c, namespace: shop, user: u}
current-context: c
users:
- name: u
  user: {token: not-a-real-token}
`
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBlueGreenBadInputExits2(t *testing.T) {
	kc := bgUnreachableKubeconfig(t)
	dir := t.TempDir()
	twoDeps := filepath.Join(dir, "two.yaml")
	dep := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: %s}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: app, image: x}]}\n"
	if err := os.WriteFile(twoDeps, []byte(strings.ReplaceAll(dep, "%s", "a")+"---\n"+strings.ReplaceAll(dep, "%s", "b")), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{name: "not a service", args: []string{"deploy", "deployment/web", "--image", "app=x:2"}, wantErr: `argument "deployment/web": want service/NAME`},
		{name: "nothing to deploy", args: []string{"deploy", "service/web"}, wantErr: "nothing to deploy: give --image CONTAINER=IMAGE or -f FILE"},
		{name: "image and file", args: []string{"deploy", "service/web", "--image", "app=x:2", "-f", twoDeps}, wantErr: "give either --image or -f, not both"},
		{name: "malformed image", args: []string{"deploy", "service/web", "--image", "app"}, wantErr: `--image "app": want CONTAINER=IMAGE`},
		{name: "one colour", args: []string{"deploy", "service/web", "--image", "app=x:2", "--colors", "blue"}, wantErr: `--colors "blue": want exactly two colours`},
		{name: "the same colour twice", args: []string{"promote", "svc/web", "--colors", "blue,blue"}, wantErr: `--colors "blue,blue": want two different colours`},
		{name: "zero replicas", args: []string{"deploy", "service/web", "--image", "app=x:2", "--replicas", "0"}, wantErr: "--replicas 0: must be at least 1"},
		{name: "negative min-ready", args: []string{"promote", "service/web", "--min-ready", "-1"}, wantErr: "--min-ready -1: must not be negative"},
		{name: "a file with two deployments", args: []string{"deploy", "service/web", "-f", twoDeps}, wantErr: "want exactly one Deployment, found 2"},
		{name: "a missing manifest", args: []string{"deploy", "service/web", "-f", filepath.Join(dir, "nope.yaml")}, wantErr: "nope.yaml"},
		{name: "a missing analysis file", args: []string{"deploy", "service/web", "--image", "app=x:2", "--analysis", filepath.Join(dir, "slo.yaml")}, wantErr: "slo.yaml"},
		{name: "manual promote with post-switch flags", args: []string{"deploy", "service/web", "--image", "app=x:2", "--manual-promote", "--delete-old"}, wantErr: "--manual-promote stops before the switch"},
		{name: "zero timeout", args: []string{"rollback", "service/web", "--timeout", "0s"}, wantErr: "--timeout 0s: must be positive"},
		{name: "unknown output", args: []string{"status", "service/web", "-o", "yaml"}, wantErr: `--output "yaml": want json, or nothing`},
		{name: "no argument", args: []string{"init"}, wantErr: "accepts 1 arg(s), received 0"},
		{name: "unknown flag", args: []string{"deploy", "service/web", "--colour", "x"}, wantErr: "unknown flag: --colour"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			root := NewCmdRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			root.SetArgs(append(append([]string{"bluegreen"}, tt.args...), "--kubeconfig", kc))
			err := root.Execute()
			if err == nil {
				t.Fatalf("no error; stdout:\n%s", out.String())
			}
			if code := exitcode.Of(err); code != exitcode.Usage {
				t.Errorf("exit code %d, want %d (error: %v)", code, exitcode.Usage, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
			if out.Len() != 0 {
				t.Errorf("stdout should be empty, got:\n%s", out.String())
			}
		})
	}
}

func TestBlueGreenHelpSaysKubectlZdd(t *testing.T) {
	for _, sub := range []string{"init", "deploy", "promote", "rollback", "status"} {
		t.Run(sub, func(t *testing.T) {
			var out bytes.Buffer
			root := NewCmdRoot(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out})
			root.SetArgs([]string{"bluegreen", sub, "--help"})
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), "kubectl zdd bluegreen "+sub) {
				t.Errorf("help does not show 'kubectl zdd bluegreen %s':\n%s", sub, out.String())
			}
			if strings.Contains(out.String(), "kubectl-zdd") {
				t.Errorf("help says kubectl-zdd:\n%s", out.String())
			}
		})
	}
}
