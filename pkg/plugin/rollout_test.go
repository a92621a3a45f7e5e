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
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// A kubeconfig naming a server nothing listens on: every case below must be
// refused before the cluster is contacted.
const rolloutTestKubeconfig = `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: shop}}]
current-context: x
`

func TestRolloutRollbackMigrateBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	kc := write("kubeconfig", rolloutTestKubeconfig)
	retry := write("retry.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: m}\nspec:\n  backoffLimit: 2\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: x}]\n")
	okJob := write("ok.yaml", "apiVersion: batch/v1\nkind: Job\nmetadata: {name: m}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: m, image: x}]\n")
	oneDep := write("one.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\n")
	twoDeps := write("two.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: b}\n")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "no deployment", args: []string{"rollout", "--image", "app=x:1"}, want: "missing deployment/NAME (or -f FILE)"},
		{name: "nothing to release", args: []string{"rollout", "deployment/web"}, want: "nothing to release: give --image CONTAINER=IMAGE or -f FILE"},
		{name: "image without equals", args: []string{"rollout", "deployment/web", "--image", "x:1"}, want: `--image "x:1": want CONTAINER=IMAGE`},
		{name: "same container twice", args: []string{"rollout", "deployment/web", "--image", "app=x:1", "--image", "app=x:2"}, want: `container "app" is named more than once`},
		{name: "not a deployment", args: []string{"rollout", "service/web", "--image", "app=x:1"}, want: `argument "service/web": want deployment/NAME`},
		{name: "bad dry-run", args: []string{"rollout", "deployment/web", "--image", "app=x:1", "--dry-run=maybe"}, want: `--dry-run "maybe": want none, client or server`},
		{name: "bad output", args: []string{"rollout", "deployment/web", "--image", "app=x:1", "-o", "yaml"}, want: `--output "yaml": want json`},
		{name: "bad timeout", args: []string{"rollout", "deployment/web", "--image", "app=x:1", "--timeout", "0s"}, want: "--timeout 0s: must be more than 0"},
		{name: "analysis-during alone", args: []string{"rollout", "deployment/web", "--image", "app=x:1", "--analysis-during"}, want: "--analysis-during needs --analysis FILE"},
		{name: "image and file", args: []string{"rollout", "-f", oneDep, "--image", "app=x:1"}, want: "--image and -f cannot be used together"},
		{name: "file without a deployment", args: []string{"rollout", "-f", okJob}, want: "want exactly one Deployment, found 0"},
		{name: "file names another deployment", args: []string{"rollout", "deployment/api", "-f", oneDep}, want: `holds deployment "web", but the argument names "api"`},
		{name: "two deployments", args: []string{"rollout", "-f", twoDeps}, want: "want exactly one Deployment, found 2"},
		{name: "retrying migration job", args: []string{"rollout", "deployment/web", "--image", "app=x:1", "--migration-job", retry}, want: "spec.backoffLimit is 2"},
		{name: "missing migration file", args: []string{"rollout", "deployment/web", "--image", "app=x:1", "--migration-job", filepath.Join(dir, "nope.yaml")}, want: "nope.yaml"},
		{name: "migrate bad phase", args: []string{"migrate", "-f", okJob, "--for", "deployment/web", "--phase", "shrink"}, want: `--phase "shrink": want expand or contract`},
		{name: "migrate without --for", args: []string{"migrate", "-f", okJob}, want: "name the Deployment with --for deployment/NAME"},
		{name: "migrate retrying job", args: []string{"migrate", "-f", retry, "--for", "deployment/web"}, want: "can retry"},
		{name: "rollback negative revision", args: []string{"rollback", "deployment/web", "--to-revision", "-1"}, want: "--to-revision -1: must be 0 or more"},
		{name: "rollback no argument", args: []string{"rollback"}, want: "accepts 1 arg(s)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
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
			if out.Len() != 0 {
				t.Errorf("stdout should be empty on bad input, got %q", out.String())
			}
		})
	}
}

func TestProgressPrinter(t *testing.T) {
	var out bytes.Buffer
	p := newProgressPrinter(&out, false, "shop/web")
	p.Update(progressFor(1, 3))
	p.Update(progressFor(1, 3)) // unchanged: not printed again
	p.Update(progressFor(3, 3))
	want := "deployment \"shop/web\": updated 1/3, ready 1/3, available 1/3 (r)\n" +
		"deployment \"shop/web\": updated 3/3, ready 3/3, available 3/3 (r)\n"
	if out.String() != want {
		t.Errorf("plain progress:\n%q\nwant\n%q", out.String(), want)
	}
	out.Reset()
	tty := newProgressPrinter(&out, true, "shop/web")
	tty.Update(progressFor(1, 3))
	_, _ = tty.Write([]byte("step\n"))
	tty.Update(progressFor(2, 3))
	tty.Finish()
	wantTTY := "\r\033[Kdeployment \"shop/web\": updated 1/3, ready 1/3, available 1/3 (r)" +
		"\r\033[Kstep\n" +
		"\r\033[Kdeployment \"shop/web\": updated 2/3, ready 2/3, available 2/3 (r)\n"
	if out.String() != wantTTY {
		t.Errorf("live progress:\n%q\nwant\n%q", out.String(), wantTTY)
	}
}

func progressFor(n, of int32) kube.Progress {
	return kube.Progress{Desired: of, Updated: n, Ready: n, Available: n, Reason: "r"}
}
