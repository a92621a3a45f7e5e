package cli

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestUsageErrorsBeforeKubeconfig (issue 20): with a kubeconfig whose
// certificate files do not exist, a wrong command line is still told as a
// usage error (exit 2, the error naming the argument or flag), not as the
// kubeconfig's error: arguments and flags are checked before its
// credentials are read.
func TestUsageErrorsBeforeKubeconfig(t *testing.T) {
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	missing := filepath.Join(dir, "missing")
	config := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", certificate-authority: ` + missing + `/ca.crt}}]
users: [{name: u, user: {client-certificate: ` + missing + `/client.crt, client-key: ` + missing + `/client.key}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: shop}}]
current-context: x
`
	if err := os.WriteFile(kc, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"rollout"}, "missing deployment/NAME"},
		{[]string{"canary", "deployment/x", "--weight", "150"}, "--weight: weight 150 is outside 0..100"},
		{[]string{"bluegreen", "deploy", "deployment/web", "--image", "app=x:2"}, "want service/NAME"},
		{[]string{"resume", "web"}, "want TYPE/NAME"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, append(tc.args, "--kubeconfig", kc)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("want exit 2, got %v; stderr:\n%s", err, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr does not say %q:\n%s", tc.want, stderr.String())
			}
			if strings.Contains(stderr.String(), "client.crt") {
				t.Errorf("stderr tells the kubeconfig's error instead of the usage error:\n%s", stderr.String())
			}
			if stdout.Len() != 0 {
				t.Errorf("stdout should be empty, got %q", stdout.String())
			}
		})
	}
}
