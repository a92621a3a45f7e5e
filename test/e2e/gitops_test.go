//go:build e2e

package e2e

import (
	"maps"
	"os"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
		"wrote the release's change to " + manifest + ":\n--- a/" + manifest + "\n+++ b/" + manifest + "\n",
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

	// a canary beside it does not carry the application's tracking label
	// (Argo CD would prune it as an object missing from Git)
	e.mustZdd("canary", "deployment/web", "--image", "app=registry.example/web:v4", "--weight", "50")
	if l := e.deployment("web-canary").Labels; l["argocd.argoproj.io/instance"] != "" || l["app"] != "web" {
		t.Errorf("web-canary labels %v: want app=web and no argocd.argoproj.io/instance", l)
	}
	if l := e.deployment("web").Labels; l["argocd.argoproj.io/instance"] != "shop" {
		t.Errorf("the stable lost its tracking label: %v", l)
	}
	e.mustZdd("canary", "abort", "deployment/web")
}

// TestGitOpsFluxCanaryAndBlueGreen: a Deployment and Service from a Flux
// Kustomization. A canary walked to 100 warns, then sets the new tag in the
// kustomization's images: (--write-back), comments kept; a blue-green
// deploy under --gitops=refuse stops with exit 2 naming the Service and
// writes nothing.
func TestGitOpsFluxCanaryAndBlueGreen(t *testing.T) {
	t.Parallel()
	const n = 3
	e := canaryApp(t, n)
	flux := []string{"kustomize.toolkit.fluxcd.io/name=apps", "kustomize.toolkit.fluxcd.io/namespace=flux-system"}
	e.MustKubectl(append([]string{"label", "deployment/web"}, flux...)...)
	e.MustKubectl(append([]string{"label", "service/web"}, flux...)...)
	const kust = `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml   # web
images:
# set by releases
- name: registry.example/web
  newTag: v1
`
	path := writeTemp(t, "kustomization.yaml", kust)
	r := e.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--timeout", "3m", "--write-back", path)
	if r.Code != 0 {
		t.Fatalf("canary --write-back: %s", r)
	}
	managed := `deployment "` + e.NS + `/web" is managed by Flux (kustomization "flux-system/apps", labels kustomize.toolkit.fluxcd.io/name=apps, kustomize.toolkit.fluxcd.io/namespace=flux-system)`
	if !strings.Contains(r.Stderr, "warning: "+managed) {
		t.Errorf("no warning naming Flux on stderr:\n%s", r.Stderr)
	}
	if !strings.Contains(r.Stdout, `commit this change to the manifest in Git, or Flux kustomization "flux-system/apps" reverts it`) {
		t.Errorf("no change to commit on stdout:\n%s", r.Stdout)
	}
	want := strings.Replace(kust, "newTag: v1", "newTag: v2", 1)
	if data, _ := os.ReadFile(path); string(data) != want {
		t.Errorf("%s after --write-back:\n%s\nwant:\n%s", path, data, want)
	}

	svc, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := getDeployment(e, "web")
	r = e.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v3", "--gitops=refuse")
	if r.Code != 2 || !strings.Contains(r.Stderr, `service "`+e.NS+`/web" is managed by Flux`) || !strings.Contains(r.Stderr, "--gitops=refuse") {
		t.Errorf("bluegreen deploy --gitops=refuse: want exit 2 naming the service and the flag, got %s", r)
	}
	after, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
	if err != nil || after.ResourceVersion != svc.ResourceVersion {
		t.Errorf("a refused bluegreen deploy wrote service web (resourceVersion %s -> %s, %v)", svc.ResourceVersion, after.ResourceVersion, err)
	}
	// the deployment controller may still write the status of the finished
	// canary's rollout: spec (generation), labels and annotations must not move
	if d := getDeployment(e, "web"); d.Generation != before.Generation || !maps.Equal(d.Annotations, before.Annotations) || !maps.Equal(d.Labels, before.Labels) {
		t.Errorf("a refused bluegreen deploy wrote deployment web (generation %d -> %d, annotations %v -> %v)", before.Generation, d.Generation, before.Annotations, d.Annotations)
	}
}
