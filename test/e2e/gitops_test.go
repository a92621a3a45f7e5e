//go:build e2e

package e2e

import (
	"os"
	"strings"
	"testing"
)

// webManifestInGit is the manifest of web as a repository holds it, with the
// comments and layout a write-back must keep.
const webManifestInGit = `# web, synced by Argo CD application "shop"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # the front end
spec:
  replicas: 3
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        # the application
        - name: app
          image: registry.example/web:v1 # bumped by releases
`

// TestGitOpsArgoManagedDeployment: a Deployment with Argo CD's tracking
// label. --gitops=refuse stops rollout and canary with exit 2 before any
// write; the default warns, releases, prints the patch to commit and writes
// the new image into a local manifest (--write-back), comments kept;
// --gitops=ignore says nothing.
func TestGitOpsArgoManagedDeployment(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	startApp(e, AppSpec{})
	e.MustKubectl("label", "deployment/web", "argocd.argoproj.io/instance=shop")
	managed := `deployment "` + e.NS + `/web" is managed by Argo CD (application "shop", label argocd.argoproj.io/instance=shop)`
	manifest := writeTemp(t, "web.yaml", webManifestInGit)

	before := getDeployment(e, "web")
	for _, args := range [][]string{
		{"rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--gitops=refuse", "--write-back", manifest},
		{"canary", "deployment/web", "--image", "app=registry.example/web:v2", "--weight", "10", "--gitops=refuse"},
		{"rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--gitops=sometimes"},
		{"rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--write-back", writeTemp(t, "other.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n")},
	} {
		r := e.Zdd(args...)
		want := []string{managed, "refused by --gitops=refuse (nothing was changed)"}
		switch {
		case strings.Contains(strings.Join(args, " "), "sometimes"):
			want = []string{`--gitops "sometimes": want one of warn, refuse, ignore`}
		case !strings.Contains(strings.Join(args, " "), "refuse"):
			want = []string{`holds no deployment "web" and is not a kustomization`}
		}
		if r.Code != 2 {
			t.Errorf("%s: exit %d, want 2: %s", strings.Join(args, " "), r.Code, r)
		}
		for _, w := range want {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("%s: stderr does not say %q:\n%s", strings.Join(args, " "), w, r.Stderr)
			}
		}
	}
	if after := getDeployment(e, "web"); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("refused releases wrote deployment web: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
	}
	if !e.deploymentGone("web-canary") {
		t.Error("a refused canary created web-canary")
	}
	if data, _ := os.ReadFile(manifest); string(data) != webManifestInGit {
		t.Errorf("a refused rollout wrote %s:\n%s", manifest, data)
	}

	// the default, warn: the release goes on and ends with the change to commit
	r := e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--timeout", "2m", "--write-back", manifest)
	if r.Code != 0 {
		t.Fatalf("rollout --write-back: %s", r)
	}
	if !strings.Contains(r.Stderr, "warning: "+managed+": its next sync will revert its pod template") {
		t.Errorf("no warning naming Argo CD on stderr:\n%s", r.Stderr)
	}
	for _, w := range []string{
		`commit this change to the manifest in Git, or Argo CD application "shop" reverts it at its next sync:`,
		"--- deployment/web (before the release)\n+++ deployment/web (after the release)\n",
		"\n-      - image: registry.example/web:v1\n+      - image: registry.example/web:v2\n",
		"wrote the release's images to " + manifest + ":\n--- a/" + manifest + "\n+++ b/" + manifest + "\n",
		"\n-          image: registry.example/web:v1 # bumped by releases\n+          image: registry.example/web:v2 # bumped by releases\n",
	} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("stdout does not hold %q:\n%s", w, r.Stdout)
		}
	}
	want := strings.Replace(webManifestInGit, "web:v1 #", "web:v2 #", 1)
	if data, _ := os.ReadFile(manifest); string(data) != want {
		t.Errorf("%s after --write-back:\n%s\nwant (comments and layout kept):\n%s", manifest, data, want)
	}
	if got := imageOf(getDeployment(e, "web")); got != "registry.example/web:v2" {
		t.Errorf("image %q after the release, want registry.example/web:v2", got)
	}

	// --gitops=ignore: no warning, no patch
	r = e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v3", "--timeout", "2m", "--gitops=ignore")
	if r.Code != 0 || strings.Contains(r.Stderr, "Argo CD") || strings.Contains(r.Stdout, "commit this change") {
		t.Errorf("rollout --gitops=ignore: want exit 0 and nothing about Argo CD, got %s", r)
	}
}
