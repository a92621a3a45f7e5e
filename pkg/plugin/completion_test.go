package plugin

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

func TestCompletionScripts(t *testing.T) {
	tests := []struct {
		shell string
		want  []string // each must appear in the script
	}{
		{"bash", []string{"# bash completion V2 for kubectl-zdd", "complete -o default -F __start_kubectl-zdd kubectl-zdd", "__complete"}},
		{"zsh", []string{"#compdef kubectl-zdd", "__complete"}},
		{"fish", []string{"complete -c kubectl-zdd", "__complete"}},
		{"powershell", []string{"Register-ArgumentCompleter -CommandName 'kubectl-zdd'", "__complete"}},
	}
	for _, tt := range tests {
		t.Run(tt.shell, func(t *testing.T) {
			streams, _, out, errOut := genericiooptions.NewTestIOStreams()
			root := NewCmdRoot(streams)
			root.SetArgs([]string{"completion", tt.shell})
			if err := root.Execute(); err != nil {
				t.Fatalf("completion %s: %v", tt.shell, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("completion %s: script lacks %q", tt.shell, w)
				}
			}
			if errOut.Len() != 0 {
				t.Errorf("completion %s wrote to stderr: %q", tt.shell, errOut.String())
			}
			if root.Use != "zdd" {
				t.Errorf("root Use after completion = %q, want it restored to %q", root.Use, "zdd")
			}
		})
	}
}

func TestCompletionBadInput(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantMsg string
	}{
		{"unknown shell", []string{"completion", "tcsh"}, `unknown shell "tcsh"`},
		{"no shell", []string{"completion"}, "accepts 1 arg(s), received 0"},
		{"two shells", []string{"completion", "bash", "zsh"}, "accepts 1 arg(s), received 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			streams, _, out, _ := genericiooptions.NewTestIOStreams()
			root := NewCmdRoot(streams)
			root.SetArgs(tt.args)
			err := root.Execute()
			if got := exitcode.Of(err); got != exitcode.Usage {
				t.Fatalf("exit code = %d (err %v), want %d", got, err, exitcode.Usage)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not say %q", err, tt.wantMsg)
			}
			if out.Len() != 0 {
				t.Errorf("printed a script on bad input: %q", out.String())
			}
		})
	}
}

// completionTree is a command tree with the paths and flags the real
// subcommands have, wired the way NewCmdRoot wires the real one.
func completionTree(t *testing.T, l *lister) *cobra.Command {
	t.Helper()
	run := func(*cobra.Command, []string) {}
	root := &cobra.Command{Use: "zdd", Run: run}
	root.PersistentFlags().StringP("namespace", "n", "", "")
	root.PersistentFlags().String("context", "", "")

	rollout := &cobra.Command{Use: "rollout", Run: run}
	rollout.Flags().StringArray("image", nil, "")
	rollout.Flags().String("dry-run", "none", "")
	rollout.Flags().String("gitops", "warn", "")
	migrate := &cobra.Command{Use: "migrate", Run: run}
	migrate.Flags().String("for", "", "")
	bluegreen := &cobra.Command{Use: "bluegreen"}
	deploy := &cobra.Command{Use: "deploy", Run: run}
	deploy.Flags().StringArray("service", nil, "")
	bluegreen.AddCommand(deploy)
	status := &cobra.Command{Use: "status", Run: run}
	own := &cobra.Command{Use: "canary", Run: run,
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"its-own"}, cobra.ShellCompDirectiveNoFileComp
		}}
	own.Flags().String("traffic-router", "", "")
	root.AddCommand(rollout, migrate, bluegreen, status, own)
	wireCompletion(root, l)
	return root
}

func fakeLister(objs ...runtime.Object) *lister {
	client := fake.NewClientset(objs...)
	return &lister{
		client:    func() (kubernetes.Interface, error) { return client, nil },
		namespace: func() (string, error) { return "shop", nil },
		rawConfig: func() (clientcmdapi.Config, error) {
			return clientcmdapi.Config{Contexts: map[string]*clientcmdapi.Context{"prod": {}, "kind-dev": {}}}, nil
		},
	}
}

func TestWiredCompletion(t *testing.T) {
	deploy := func(ns, name string, containers ...string) *appsv1.Deployment {
		d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
		for _, c := range containers {
			d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: c})
		}
		return d
	}
	svc := func(ns, name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	}
	ns := func(name string) *corev1.Namespace {
		return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	}
	l := fakeLister(
		deploy("shop", "web", "web", "sidecar"), deploy("shop", "api", "api"), deploy("other", "elsewhere", "x"),
		svc("shop", "web"), svc("shop", "web-preview"), svc("other", "not-mine"),
		ns("shop"), ns("other"),
	)
	tests := []struct {
		name string
		args []string
		want []string // completions, then the directive line
	}{
		{"subcommands", []string{""}, []string{"bluegreen", "canary", "completion", "help", "migrate", "rollout", "status", ":4"}},
		{"deployments for rollout", []string{"rollout", ""}, []string{"deployment/api", "deployment/web", ":4"}},
		{"deployments by prefix", []string{"rollout", "deployment/w"}, []string{"deployment/web", ":4"}},
		{"only the first argument", []string{"rollout", "deployment/web", ""}, []string{":4"}},
		{"services for bluegreen deploy", []string{"bluegreen", "deploy", ""}, []string{"service/web", "service/web-preview", ":4"}},
		{"--service takes plain names", []string{"bluegreen", "deploy", "service/web", "--service", "web-"}, []string{"web-preview", ":4"}},
		{"--for of migrate", []string{"migrate", "--for", ""}, []string{"deployment/api", "deployment/web", ":4"}},
		{"--image containers", []string{"rollout", "deployment/web", "--image", ""}, []string{"web=", "sidecar=", ":6"}},
		{"--image after = is free text", []string{"rollout", "deployment/web", "--image", "web="}, []string{":4"}},
		{"--dry-run values", []string{"rollout", "--dry-run", ""}, []string{"none", "client", "server", ":4"}},
		{"--gitops values", []string{"rollout", "--gitops", ""}, []string{"warn", "refuse", "ignore", ":4"}},
		{"--traffic-router values", []string{"canary", "--traffic-router", "l"}, []string{"linkerd", ":4"}},
		{"status takes both kinds", []string{"status", ""}, []string{"deployment/api", "deployment/web", "service/web", "service/web-preview", ":4"}},
		{"namespaces", []string{"rollout", "-n", ""}, []string{"other", "shop", ":4"}},
		{"contexts from kubeconfig", []string{"rollout", "--context", "k"}, []string{"kind-dev", ":4"}},
		{"a command's own completion is kept", []string{"canary", ""}, []string{"its-own", ":4"}},
		{"flags of rollout", []string{"rollout", "--"}, []string{"--context", "--namespace", "--dry-run", "--gitops", "--help", "--image", ":4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := completionTree(t, l)
			var out, errOut bytes.Buffer
			root.SetOut(&out)
			root.SetErr(&errOut)
			root.SetArgs(append([]string{cobra.ShellCompNoDescRequestCmd}, tt.args...))
			if err := root.Execute(); err != nil {
				t.Fatalf("__complete %q: %v", tt.args, err)
			}
			got := strings.Split(strings.TrimSpace(out.String()), "\n")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("__complete %q (-want +got):\n%s", tt.args, diff)
			}
		})
	}
}
