package plugin

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
)

var updateGitOpsGolden = flag.Bool("update-gitops", false, "rewrite testdata/gitops/*.golden")

// TestCommitChangeKustomization: the end of a blue-green deploy managed by
// one Argo CD application (its Service and colour): the manager is named
// once, the patch printed; a kustomization takes the image in images: and
// the other changes (the preStop sleep, the selector switch) as a patch
// per object in patches:, the written diff printed.
func TestCommitChangeKustomization(t *testing.T) {
	tmpl := func(image string) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}}}
	}
	c := gitops.Change{Namespace: "shop", Name: "web-green", Before: tmpl("registry.example/web:v1"), After: tmpl("registry.example/web:v2"),
		Selectors: []gitops.SelectorChange{{Service: "web", Label: "version", From: "blue", To: "green"}}}
	c.After.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	argo := gitops.Manager{Tool: "Argo CD", Owner: `application "shop"`}
	found := []gitops.Managed{{Object: `service "shop/web"`, Manager: argo}, {Object: `deployment "shop/web-blue"`, Manager: argo}}
	dir := t.TempDir()
	path := filepath.Join(dir, "kustomization.yaml")
	const kust = "resources:\n- web.yaml # both colours\nimages:\n- name: registry.example/web\n  newTag: v1\n"
	if err := os.WriteFile(path, []byte(kust), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := (&GitOpsFlags{Mode: gitops.ModeWarn, WriteBack: path}).commitChange(&out, c, found); err != nil {
		t.Fatal(err)
	}
	got := strings.ReplaceAll(out.String(), dir, "DIR")
	golden := filepath.Join("testdata", "gitops", "commit-kustomization.golden")
	if *updateGitOpsGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("output (-want +got):\n%s", diff)
	}
	data, _ := os.ReadFile(path)
	for _, w := range []string{"- web.yaml # both colours\nimages:\n- name: registry.example/web\n  newTag: v2\npatches:\n",
		"# written by kubectl zdd --write-back for deployment web-green\n", "seconds: 5\n",
		"# written by kubectl zdd --write-back for service web\n", "version: green\n"} {
		if !strings.Contains(string(data), w) {
			t.Errorf("kustomization after the write-back does not hold %q:\n%s", w, data)
		}
	}
	if strings.Contains(got, "note:") {
		t.Errorf("a note printed though the kustomization took every change:\n%s", got)
	}
}
