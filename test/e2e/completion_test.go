//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// completions splits cobra's __complete output into the choices (without
// descriptions) and the directive line.
func completions(out string) (choices []string, directive string) {
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.HasPrefix(line, ":") {
			directive = line
			continue
		}
		name, _, _ := strings.Cut(line, "\t")
		choices = append(choices, name)
	}
	sort.Strings(choices)
	return choices, directive
}

// completionHookDir is a directory holding the kubectl_complete-zdd of the
// repository, which kubectl 1.26+ runs for "kubectl zdd <TAB>"; it sits next
// to a link to the freshly built plugin, as in a release archive.
func completionHookDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	script, err := os.ReadFile(filepath.Join(repoRoot, "plugins", "kubectl_complete-zdd"))
	if err != nil {
		t.Fatalf("reading the completion hook: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "kubectl_complete-zdd"), script, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(pluginDir, "kubectl-zdd"), filepath.Join(dir, "kubectl-zdd")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCompletion asks for completions against the real cluster two ways:
// `kubectl zdd __complete ...` (what the plugin answers), and
// `kubectl __complete zdd ...` (kubectl's own plugin completion, which runs
// kubectl_complete-zdd found on PATH, exactly as a shell's TAB does).
func TestCompletion(t *testing.T) {
	env := newEnv(t)
	env.Apply(appManifest(AppSpec{Name: "web", Replicas: 1}))
	env.Apply(appManifest(AppSpec{Name: "api", Replicas: 1}))
	// a Deployment in another namespace must not be offered
	other := newEnv(t)
	other.Apply(appManifest(AppSpec{Name: "elsewhere", Replicas: 1}))

	hook := completionHookDir(t)
	ns := []string{"-n", env.NS}
	tests := []struct {
		name    string
		args    []string // after "zdd"; the last one is the word being completed
		want    []string // exact choices, sorted; nil: see contains
		contain []string // choices that must be among them
	}{
		{name: "subcommands", args: []string{""},
			contain: []string{"bluegreen", "canary", "completion", "lint", "rollback", "rollout", "status", "version"}},
		{name: "bluegreen subcommands", args: []string{"bluegreen", ""},
			contain: []string{"deploy", "init", "promote", "rollback", "status"}},
		{name: "flags of rollout", args: []string{"rollout", "--"},
			contain: []string{"--image", "--timeout", "--dry-run", "--namespace", "--kubeconfig"}},
		{name: "deployments for rollout", args: append(ns, "rollout", ""),
			want: []string{"deployment/api", "deployment/web"}},
		{name: "deployments by prefix", args: append(ns, "rollout", "deployment/w"),
			want: []string{"deployment/web"}},
		{name: "deployments for rollback", args: append(ns, "rollback", ""),
			want: []string{"deployment/api", "deployment/web"}},
		{name: "deployments and subcommands for canary", args: append(ns, "canary", ""),
			want: []string{"abort", "deployment/api", "deployment/web", "promote"}},
		{name: "deployments for canary abort", args: append(ns, "canary", "abort", ""),
			want: []string{"deployment/api", "deployment/web"}},
		{name: "services for bluegreen deploy", args: append(ns, "bluegreen", "deploy", ""),
			want: []string{"service/api", "service/web"}},
		{name: "services for bluegreen promote", args: append(ns, "bluegreen", "promote", "service/a"),
			want: []string{"service/api"}},
		{name: "deployments for --for of migrate", args: append(ns, "migrate", "--for", ""),
			want: []string{"deployment/api", "deployment/web"}},
		{name: "containers for --image", args: append(ns, "rollout", "deployment/web", "--image", ""),
			want: []string{"app="}},
		{name: "namespaces", args: []string{"rollout", "-n", env.NS[:len(env.NS)-3]},
			contain: []string{env.NS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(how string, r CmdResult) {
				t.Helper()
				if r.Code != 0 {
					t.Fatalf("%s: %s", how, r)
				}
				got, directive := completions(r.Stdout)
				if directive == "" {
					t.Errorf("%s: no directive line in\n%s", how, r.Stdout)
				}
				if tt.want != nil {
					if diff := cmp.Diff(tt.want, got); diff != "" {
						t.Errorf("%s (-want +got):\n%s", how, diff)
					}
					return
				}
				for _, c := range tt.contain {
					if !contains(got, c) {
						t.Errorf("%s: %q not among the choices %q", how, c, got)
					}
				}
			}
			// the plugin itself, run through kubectl
			check("kubectl zdd __complete", env.ZddWith(ZddOpts{NoNamespace: true}, append([]string{"__complete"}, tt.args...)...))
			// kubectl's plugin completion through kubectl_complete-zdd
			r := env.run("", []string{"PATH=" + hook + string(os.PathListSeparator) + pathOf(commandEnv())}, kubectlPath,
				append([]string{"__complete", "zdd"}, tt.args...)...)
			check("kubectl __complete zdd (kubectl_complete-zdd)", r)
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// pathOf returns the PATH entry of an environment.
func pathOf(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			return v
		}
	}
	return ""
}
