//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

// blueGreenInGit is a blue-green web as a repository holds it: the Service
// on the live colour and both colours' Deployments, with comments.
const blueGreenInGit = `# web, synced by Argo CD application "shop"
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector:
    app: web
    version: blue # the live colour
  ports:
    - port: 80
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-blue
spec:
  replicas: 3
  selector:
    matchLabels: {app: web, version: blue}
  template:
    metadata:
      labels: {app: web, version: blue}
    spec:
      containers:
        - name: app
          image: registry.example/web:v1 # the live colour's image
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web-green
spec:
  replicas: 0
  selector:
    matchLabels: {app: web, version: green}
  template:
    metadata:
      labels: {app: web, version: green}
    spec:
      containers:
        - name: app
          image: registry.example/web:v1 # the idle colour's image
`

// TestGitOpsBlueGreenWriteBack: a blue-green Service and colour tracked by
// Argo CD. --gitops=refuse stops bluegreen deploy with exit 2 before any
// write (resourceVersions unchanged, no new colour, the file as it was); a
// --write-back file without the colour the deploy writes is refused the
// same way; the default warns naming Argo CD, deploys with --fix, prints
// the change to commit and writes it into the file: the new colour's image
// and its preStop sleep (a field other than the image) and the Service's
// switch, comments kept, the other colour untouched. A deploy with
// --manual-promote writes the idle colour's template, and bluegreen promote
// the switch.
func TestGitOpsBlueGreenWriteBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	d := appDeployment(AppSpec{Name: "web", Replicas: bgReplicas, NoPreStop: true, PodLabels: map[string]string{"version": "blue"}})
	d.Name = "web-blue"
	d.Spec.Selector.MatchLabels["version"] = "blue"
	s := appService(AppSpec{Name: "web", ServiceSelector: map[string]string{"app": "web", "version": "blue"}})
	e.Apply(toYAML(d, s))
	e.RolloutStatus("web-blue", 2*time.Minute)
	e.MustKubectl("label", "service/web", "deployment/web-blue", "argocd.argoproj.io/instance=shop")
	managed := `service "` + e.NS + `/web" is managed by Argo CD (application "shop", label argocd.argoproj.io/instance=shop)`
	file := writeTemp(t, "web.yaml", blueGreenInGit)
	serviceOnly := strings.SplitN(blueGreenInGit, "---\n", 2)[0]
	other := writeTemp(t, "service.yaml", serviceOnly)

	svcRV := func() string {
		t.Helper()
		svc, err := e.Client.CoreV1().Services(e.NS).Get(e.Ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return svc.ResourceVersion
	}
	beforeSvc, beforeDep := svcRV(), getDeployment(e, "web-blue").ResourceVersion
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--gitops=refuse", "--write-back", file}, []string{managed, "refused by --gitops=refuse (nothing was changed)"}},
		{[]string{"--write-back", other}, []string{"--write-back " + other + `: holds no deployment "web-green"`}},
	} {
		args := append([]string{"bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--fix", "--timeout", "2m"}, tc.args...)
		r := e.Zdd(args...)
		wantCode(t, strings.Join(tc.args, " "), r, 2)
		for _, w := range tc.want {
			if !strings.Contains(r.Stderr, w) {
				t.Errorf("%s: stderr does not say %q:\n%s", strings.Join(tc.args, " "), w, r.Stderr)
			}
		}
		if after := svcRV(); after != beforeSvc {
			t.Errorf("%s: service web changed: resourceVersion %s -> %s", strings.Join(tc.args, " "), beforeSvc, after)
		}
		if after := getDeployment(e, "web-blue").ResourceVersion; after != beforeDep {
			t.Errorf("%s: deployment web-blue changed: resourceVersion %s -> %s", strings.Join(tc.args, " "), beforeDep, after)
		}
		if _, err := e.Client.AppsV1().Deployments(e.NS).Get(e.Ctx, "web-green", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("%s: the new colour was created (get: %v)", strings.Join(tc.args, " "), err)
		}
	}
	if data, _ := os.ReadFile(file); string(data) != blueGreenInGit {
		t.Errorf("a refused deploy wrote %s:\n%s", file, data)
	}
	if data, _ := os.ReadFile(other); string(data) != serviceOnly {
		t.Errorf("a refused deploy wrote %s:\n%s", other, data)
	}

	// the default, warn: the deploy goes on and ends with the change to commit
	r := e.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v2", "--fix", "--timeout", "2m", "--write-back", file)
	wantCode(t, "bluegreen deploy --fix --write-back", r, 0)
	if !strings.Contains(r.Stderr, "warning: "+managed) {
		t.Errorf("no warning naming Argo CD on stderr:\n%s", r.Stderr)
	}
	for _, w := range []string{
		`commit this change to the manifest in Git, or Argo CD application "shop" reverts it at its next sync:`,
		"--- deployment/web-green (before the release)\n+++ deployment/web-green (after the release)\n",
		"-      - image: registry.example/web:v1\n+      - image: registry.example/web:v2\n",
		"-    version: blue\n+    version: green\n",
		"wrote the release's change to " + file + ":\n",
	} {
		if !strings.Contains(r.Stdout, w) {
			t.Errorf("stdout does not hold %q:\n%s", w, r.Stdout)
		}
	}
	data, _ := os.ReadFile(file)
	docs := strings.Split(string(data), "---\n")
	gitDocs := strings.Split(blueGreenInGit, "---\n")
	if len(docs) != 3 {
		t.Fatalf("%s after --write-back has %d documents, want 3:\n%s", file, len(docs), data)
	}
	if want := strings.Replace(gitDocs[0], "version: blue # the live colour", "version: green # the live colour", 1); docs[0] != want {
		t.Errorf("the Service in %s after --write-back:\n%s\nwant:\n%s", file, docs[0], want)
	}
	if docs[1] != gitDocs[1] {
		t.Errorf("the live colour web-blue in %s changed:\n%s", file, docs[1])
	}
	for _, w := range []string{"# the idle colour's image", "image: registry.example/web:v2 #", "preStop:", "sleep:"} {
		if !strings.Contains(docs[2], w) {
			t.Errorf("web-green in %s after --write-back does not hold %q:\n%s", file, w, docs[2])
		}
	}
	if c := getDeployment(e, "web-green").Spec.Template.Spec.Containers[0]; c.Image != "registry.example/web:v2" || c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		t.Errorf("web-green's container after the deploy: %+v", c)
	}

	// --manual-promote: the deploy writes the idle colour's template (blue
	// now), the promote the switch
	r = e.Zdd("bluegreen", "deploy", "service/web", "--image", "app=registry.example/web:v3", "--manual-promote", "--timeout", "2m", "--write-back", file)
	wantCode(t, "bluegreen deploy --manual-promote --write-back", r, 0)
	data, _ = os.ReadFile(file)
	docs = strings.Split(string(data), "---\n")
	if !strings.Contains(docs[0], "version: green # the live colour") || !strings.Contains(docs[1], "image: registry.example/web:v3 # the live colour's image") {
		t.Errorf("%s after deploy --manual-promote: want the Service still on green and web-blue on v3:\n%s", file, data)
	}
	r = e.Zdd("bluegreen", "promote", "service/web", "--timeout", "2m", "--write-back", file)
	wantCode(t, "bluegreen promote --write-back", r, 0)
	if !strings.Contains(r.Stderr, "warning: "+managed) || !strings.Contains(r.Stdout, "-    version: green\n+    version: blue\n") {
		t.Errorf("bluegreen promote: want the warning naming Argo CD and the switch to commit:\n%s", r)
	}
	data, _ = os.ReadFile(file)
	if docs = strings.Split(string(data), "---\n"); !strings.Contains(docs[0], "version: blue # the live colour") {
		t.Errorf("%s after promote: want the Service on blue:\n%s", file, data)
	}
}

// canaryInGit is web as a repository holds it.
const canaryInGit = `# web, synced by Flux kustomization "apps"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
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

// TestGitOpsCanaryWriteBackFix: a Deployment tracked by Flux. A canary
// under --gitops=refuse exits 2 before any write (resourceVersion
// unchanged, no canary, the file as it was); the default warns naming
// Flux, walks --fix's template to 100 and writes the new image and the
// preStop sleep --fix added into the manifest, comments kept.
func TestGitOpsCanaryWriteBackFix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Apply(appManifest(AppSpec{Replicas: 3, MaxUnavailable: "25%", MaxSurge: "25%", NoPreStop: true}))
	e.RolloutStatus("web", 2*time.Minute)
	e.MustKubectl("label", "deployment/web", "kustomize.toolkit.fluxcd.io/name=apps", "kustomize.toolkit.fluxcd.io/namespace=flux-system")
	managed := `deployment "` + e.NS + `/web" is managed by Flux (kustomization "flux-system/apps"`
	file := writeTemp(t, "web.yaml", canaryInGit)

	before := getDeployment(e, "web")
	r := e.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--fix", "--timeout", "2m", "--gitops=refuse", "--write-back", file)
	wantCode(t, "canary --gitops=refuse", r, 2)
	for _, w := range []string{managed, "refused by --gitops=refuse (nothing was changed)"} {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("canary --gitops=refuse: stderr does not say %q:\n%s", w, r.Stderr)
		}
	}
	if after := getDeployment(e, "web"); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("a refused canary wrote deployment web: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
	}
	if !e.deploymentGone("web-canary") {
		t.Error("a refused canary created web-canary")
	}
	if data, _ := os.ReadFile(file); string(data) != canaryInGit {
		t.Errorf("a refused canary wrote %s:\n%s", file, data)
	}

	r = e.Zdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "50,100", "--fix", "--timeout", "2m", "--write-back", file)
	wantCode(t, "canary --fix --write-back", r, 0)
	if !strings.Contains(r.Stderr, "warning: "+managed) {
		t.Errorf("no warning naming Flux on stderr:\n%s", r.Stderr)
	}
	if !strings.Contains(r.Stdout, "wrote the release's change to "+file+":\n") {
		t.Errorf("the write-back is not printed:\n%s", r.Stdout)
	}
	data, _ := os.ReadFile(file)
	got := string(data)
	for _, w := range []string{"# web, synced by Flux", "# the application\n", "image: " + canaryV2 + " # bumped by releases", "preStop:", "sleep:"} {
		if !strings.Contains(got, w) {
			t.Errorf("%s after --write-back does not hold %q:\n%s", file, w, got)
		}
	}
	if c := getDeployment(e, "web").Spec.Template.Spec.Containers[0]; c.Image != canaryV2 || c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
		t.Errorf("the stable's container after the canary: %+v", c)
	}
}

// TestGitOpsRolloutWriteBackFix: a rollout with --fix of a Deployment
// tracked by Argo CD whose pods have no preStop hook and whose strategy
// allows unavailable pods writes back what the release changed beyond the
// image: the preStop sleep and maxUnavailable 0, comments kept.
func TestGitOpsRolloutWriteBackFix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Apply(appManifest(AppSpec{Replicas: 3, MaxUnavailable: "1", MaxSurge: "1", NoPreStop: true}))
	e.RolloutStatus("web", 2*time.Minute)
	e.MustKubectl("label", "deployment/web", "argocd.argoproj.io/instance=shop")
	const inGit = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web # synced by Argo CD
spec:
  replicas: 3
  strategy:
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 1 # to be fixed
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: app
          image: registry.example/web:v1 # bumped by releases
`
	file := writeTemp(t, "web.yaml", inGit)
	r := e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--fix", "--timeout", "2m", "--write-back", file)
	wantCode(t, "rollout --fix --write-back", r, 0)
	if !strings.Contains(r.Stdout, `commit this change to the manifest in Git, or Argo CD application "shop" reverts it`) {
		t.Errorf("no change to commit naming Argo CD:\n%s", r.Stdout)
	}
	data, _ := os.ReadFile(file)
	got := string(data)
	for _, w := range []string{"name: web # synced by Argo CD", "maxUnavailable: 0 # to be fixed", "image: registry.example/web:v2 # bumped by releases", "preStop:", "sleep:"} {
		if !strings.Contains(got, w) {
			t.Errorf("%s after --write-back does not hold %q:\n%s", file, w, got)
		}
	}
	d := getDeployment(e, "web")
	if mu := d.Spec.Strategy.RollingUpdate.MaxUnavailable; mu == nil || mu.String() != "0" {
		t.Errorf("the live Deployment's maxUnavailable %v, want 0 (the file must follow it)", mu)
	}
}

// TestGitOpsRolloutWriteBackFixKustomization: rollout --fix --write-back
// given a Flux-style kustomization (a Deployment file it builds, images:,
// comments): the new tag goes to images:, --fix's preStop sleep, grace and
// maxUnavailable 0 to a patch in patches:, and `kubectl kustomize` of the
// folder then yields the Deployment as the release left it in the cluster.
func TestGitOpsRolloutWriteBackFixKustomization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.Apply(appManifest(AppSpec{Replicas: 3, MaxUnavailable: "1", MaxSurge: "1", NoPreStop: true}))
	e.RolloutStatus("web", 2*time.Minute)
	const deployment = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  strategy:
    rollingUpdate:
      maxSurge: 1
      maxUnavailable: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
        - name: app
          image: registry.example/web:v1
`
	const kust = `# web in production, synced by Flux
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - deployment.yaml # the base
images:
  # bumped by releases
  - name: registry.example/web
    newTag: v1
`
	dir := filepath.Dir(writeTemp(t, "kustomization.yaml", kust))
	if err := os.WriteFile(filepath.Join(dir, "deployment.yaml"), []byte(deployment), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "kustomization.yaml")
	r := e.Zdd("rollout", "deployment/web", "--image", "app=registry.example/web:v2", "--fix", "--timeout", "2m", "--write-back", path)
	wantCode(t, "rollout --fix --write-back kustomization.yaml", r, 0)
	if !strings.Contains(r.Stdout, "wrote the release's change to "+path) || strings.Contains(r.Stdout, "note:") {
		t.Errorf("want the written change printed and no note:\n%s", r.Stdout)
	}
	data, _ := os.ReadFile(path)
	for _, w := range []string{"# web in production, synced by Flux\n", "- deployment.yaml # the base\n", "# bumped by releases\n", "newTag: v2\n",
		"# written by kubectl zdd --write-back for deployment web\n"} {
		if !strings.Contains(string(data), w) {
			t.Errorf("%s after --write-back does not hold %q:\n%s", path, w, data)
		}
	}
	var built appsv1.Deployment
	if err := sigsyaml.UnmarshalStrict([]byte(e.MustKubectl("kustomize", dir).Stdout), &built); err != nil {
		t.Fatalf("kubectl kustomize %s: %v", dir, err)
	}
	live := getDeployment(e, "web")
	bc, lc := built.Spec.Template.Spec.Containers[0], live.Spec.Template.Spec.Containers[0]
	if bc.Image != lc.Image || lc.Image != "registry.example/web:v2" {
		t.Errorf("built image %q, live %q: want registry.example/web:v2 in both", bc.Image, lc.Image)
	}
	if lc.Lifecycle == nil || lc.Lifecycle.PreStop == nil || !equality.Semantic.DeepEqual(bc.Lifecycle, lc.Lifecycle) {
		t.Errorf("built lifecycle %+v, live %+v: want --fix's preStop in both", bc.Lifecycle, lc.Lifecycle)
	}
	if bg, lg := built.Spec.Template.Spec.TerminationGracePeriodSeconds, live.Spec.Template.Spec.TerminationGracePeriodSeconds; bg == nil || lg == nil || *bg != *lg {
		t.Errorf("built grace %v, live %v: want the same", bg, lg)
	}
	if ru := built.Spec.Strategy.RollingUpdate; ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" || ru.MaxSurge.String() != "1" {
		t.Errorf("built strategy %+v: want maxUnavailable 0 (--fix), maxSurge 1 kept", built.Spec.Strategy)
	}
}
