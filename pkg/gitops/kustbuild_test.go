package gitops

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	sigsyaml "sigs.k8s.io/yaml"
)

// build runs kustomize (krusty, as kubectl kustomize does) over dir and
// returns its Deployment web.
func build(t *testing.T, dir string) *appsv1.Deployment {
	t.Helper()
	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build of the written kustomization: %v", err)
	}
	if m.Size() != 1 {
		t.Fatalf("kustomize build: %d objects, want the one Deployment", m.Size())
	}
	y, err := m.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := sigsyaml.UnmarshalStrict(y, &d); err != nil {
		t.Fatalf("kustomize build: %v\n%s", err, y)
	}
	return &d
}

// TestWriteBackKustomizationBuilds: kustomize build of a kustomization a
// release was written back into yields the Deployment as the release left
// it: the new image (images:), --fix's preStop sleep, grace, readiness
// probe and maxUnavailable 0 and the env (the patch zdd wrote), beside what
// the kustomization did before (its namespace, its own replicas patch);
// after a second release written into the same file, the Deployment as
// the second release left it (the patch updated: a longer grace, an env
// value changed, another removed).
func TestWriteBackKustomizationBuilds(t *testing.T) {
	dir := t.TempDir()
	for from, to := range map[string]string{"manifest-fix.yaml": "deployment.yaml", "kustomization-fix.yaml": "kustomization.yaml"} {
		data, err := os.ReadFile(filepath.Join("testdata", from))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kust := filepath.Join(dir, "kustomization.yaml")
	c := Change{Namespace: "shop", Name: "web"}
	c.Before, c.After = fixTemplates()
	c.BeforeSpec, c.AfterSpec = fixSpecs()
	if d := build(t, dir); cmp.Diff(c.Before.Spec, d.Spec.Template.Spec) != "" {
		t.Fatalf("the fixture does not build to the release's before:\n%s", cmp.Diff(c.Before.Spec, d.Spec.Template.Spec))
	}
	second := Change{Namespace: "shop", Name: "web", Before: c.After, After: secondFix(c.After)}
	for _, step := range []struct {
		name string
		c    Change
	}{{"first release", c}, {"second release", second}} {
		if _, err := WriteBack(kust, step.c); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		d := build(t, dir)
		if diff := cmp.Diff(step.c.After.Spec, d.Spec.Template.Spec); diff != "" {
			t.Errorf("%s: the built pod spec is not the release's (-want +got):\n%s", step.name, diff)
		}
		if mu := d.Spec.Strategy.RollingUpdate; mu == nil || mu.MaxUnavailable == nil || mu.MaxUnavailable.String() != "0" {
			t.Errorf("%s: built strategy %+v, want maxUnavailable 0", step.name, d.Spec.Strategy)
		}
		if d.Namespace != "shop" || d.Spec.Replicas == nil || *d.Spec.Replicas != 5 {
			t.Errorf("%s: built namespace %q replicas %v: the kustomization's own namespace and patch must still apply", step.name, d.Namespace, d.Spec.Replicas)
		}
	}
}

// TestWriteBackKustomizationBlueGreen: a blue-green deploy written back
// into a kustomization: the new colour's preStop sleep goes into its patch
// and the switch into a patch of the Service's selector; kustomize build
// then yields the Service on green and web-green with the sleep.
func TestWriteBackKustomizationBlueGreen(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "bluegreen.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kust := "# web in blue-green\nresources:\n  - web.yaml\n"
	for name, s := range map[string]string{"web.yaml": string(data), "kustomization.yaml": kust} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := func() *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "version": "green"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:v1"}}},
		}
	}
	c := Change{Namespace: "shop", Name: "web-green", Before: tmpl(), After: tmpl(),
		Selectors: []SelectorChange{{Service: "web", Label: "version", From: "blue", To: "green"}}}
	c.After.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	path := filepath.Join(dir, "kustomization.yaml")
	patch, err := WriteBack(path, c)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	golden(t, "kustomization-bluegreen.yaml.want", string(out))
	golden(t, "kustomization-bluegreen.yaml.patch", strings.ReplaceAll(patch, path, "kustomization.yaml"))

	m, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build: %v", err)
	}
	for _, r := range m.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		switch r.GetName() {
		case "web":
			var svc corev1.Service
			if err := sigsyaml.UnmarshalStrict(y, &svc); err != nil {
				t.Fatal(err)
			}
			if want := map[string]string{"app": "web", "version": "green"}; !cmp.Equal(want, svc.Spec.Selector) {
				t.Errorf("built service web selects %v, want %v", svc.Spec.Selector, want)
			}
		case "web-green":
			var d appsv1.Deployment
			if err := sigsyaml.UnmarshalStrict(y, &d); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(c.After.Spec, d.Spec.Template.Spec); diff != "" {
				t.Errorf("built web-green pod spec (-want +got):\n%s", diff)
			}
		}
	}
}

// TestWriteBackKustomizationNamePrefix: with a namePrefix (and suffix) the
// Deployment is prod-web-eu in the cluster and web in the files the
// kustomization builds; the patch targets web, and kustomize build yields
// prod-web-eu with the release's fields.
func TestWriteBackKustomizationNamePrefix(t *testing.T) {
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "manifest-fix.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	kust := "namePrefix: prod-\nnameSuffix: -eu\nresources:\n  - deployment.yaml\n"
	for name, s := range map[string]string{"deployment.yaml": string(data), "kustomization.yaml": kust} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c := Change{Namespace: "shop", Name: "prod-web-eu"}
	c.Before, c.After = fixTemplates()
	if _, err := WriteBack(filepath.Join(dir, "kustomization.yaml"), c); err != nil {
		t.Fatal(err)
	}
	d := build(t, dir)
	if d.Name != "prod-web-eu" {
		t.Errorf("built deployment %q, want prod-web-eu", d.Name)
	}
	if diff := cmp.Diff(c.After.Spec, d.Spec.Template.Spec); diff != "" {
		t.Errorf("the built pod spec is not the release's (-want +got):\n%s", diff)
	}
}
