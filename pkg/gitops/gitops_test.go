package gitops

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

var update = flag.Bool("update-gitops", false, "rewrite testdata/*.golden")

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run with -update-gitops to create): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", name, diff)
	}
}

func TestDetect(t *testing.T) {
	argoManaged := []metav1.ManagedFieldsEntry{{Manager: "argocd-controller", Operation: metav1.ManagedFieldsOperationApply}}
	tests := []struct {
		name    string
		labels  map[string]string
		ann     map[string]string
		managed []metav1.ManagedFieldsEntry
		want    string
	}{
		{name: "argo instance label", labels: map[string]string{ArgoInstanceLabel: "shop"},
			want: `Argo CD (application "shop", label argocd.argoproj.io/instance=shop)`},
		{name: "argo tracking-id annotation, app in another namespace", ann: map[string]string{ArgoTrackingAnnotation: "team-a_shop:apps/Deployment:shop/web"},
			want: `Argo CD (application "team-a/shop", annotation argocd.argoproj.io/tracking-id=team-a_shop:apps/Deployment:shop/web)`},
		{name: "app.kubernetes.io/instance written by argo", labels: map[string]string{AppInstanceLabel: "shop"}, managed: argoManaged,
			want: `Argo CD (application "shop", label app.kubernetes.io/instance=shop (Argo CD's default tracking label) and fields written by "argocd-controller")`},
		{name: "app.kubernetes.io/instance alone (helm sets it too)", labels: map[string]string{AppInstanceLabel: "shop", "app.kubernetes.io/managed-by": "Helm"},
			managed: []metav1.ManagedFieldsEntry{{Manager: "helm"}}},
		{name: "flux kustomization", labels: map[string]string{FluxKustomizeName: "apps", FluxKustomizeNamespace: "flux-system"},
			want: `Flux (kustomization "flux-system/apps", labels kustomize.toolkit.fluxcd.io/name=apps, kustomize.toolkit.fluxcd.io/namespace=flux-system)`},
		{name: "flux helmrelease", labels: map[string]string{FluxHelmName: "web", FluxHelmNamespace: "shop"},
			want: `Flux (helmrelease "shop/web", labels helm.toolkit.fluxcd.io/name=web, helm.toolkit.fluxcd.io/namespace=shop)`},
		{name: "flux with reconcile disabled", labels: map[string]string{FluxKustomizeName: "apps", FluxKustomizeNamespace: "flux-system"},
			ann: map[string]string{FluxReconcileAnnotation: "disabled"}},
		{name: "no labels", labels: map[string]string{"app": "web"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Labels: tt.labels, Annotations: tt.ann, ManagedFields: tt.managed}}
			got := ""
			if m := Detect(d); m != nil {
				got = m.String()
			}
			if got != tt.want {
				t.Errorf("Detect = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPreflightModes(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{ArgoInstanceLabel: "shop"}}}
	found := Find([]Target{
		{Object: `deployment "shop/web"`, Meta: d, Reverts: "its pod template (the new images)"},
		{Object: `service "shop/web"`, Meta: &corev1.Service{}, Reverts: "its selector"},
	})
	want := `deployment "shop/web" is managed by Argo CD (application "shop", label argocd.argoproj.io/instance=shop): its next sync will revert its pod template (the new images) unless the change is committed to Git`
	lines, err := Preflight(ModeWarn, found)
	if err != nil || len(lines) != 1 || lines[0] != want {
		t.Errorf("warn: got %q, %v; want [%q]", lines, err, want)
	}
	_, err = Preflight(ModeRefuse, found)
	if exitcode.Of(err) != exitcode.Usage || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "refused by --gitops=refuse (nothing was changed)") {
		t.Errorf("refuse: want a usage error naming the manager and --gitops=refuse, got %v", err)
	}
	if lines, err := Preflight(ModeIgnore, found); lines != nil || err != nil {
		t.Errorf("ignore: got %q, %v", lines, err)
	}
	if lines, err := Preflight(ModeRefuse, nil); lines != nil || err != nil {
		t.Errorf("refuse with nothing managed: got %q, %v", lines, err)
	}
	if err := ValidateMode("sometimes"); err == nil || err.Error() != `--gitops "sometimes": want one of warn, refuse, ignore` {
		t.Errorf("ValidateMode: %v", err)
	}
}

func template(app, migrate string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "pod-template-hash": "abc"}},
		Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "migrate", Image: migrate}},
			Containers: []corev1.Container{
				{Name: "app", Image: app, Ports: []corev1.ContainerPort{{ContainerPort: 8080}}},
				{Name: "sidecar", Image: "registry.example/proxy:1.0"},
			},
		},
	}
}

var change = Change{Namespace: "shop", Name: "web",
	Before: template("registry.example/web:v1", "mirror.example/web-migrate:v1"),
	After:  template("registry.example/web:v2", "mirror.example/web-migrate:v2@sha256:0123")}

func TestPatchGolden(t *testing.T) {
	got, err := change.Patch()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "patch.golden", got)
	if same, _ := (Change{Name: "web", Before: change.Before, After: change.Before}).Patch(); same != "" {
		t.Errorf("patch of an unchanged template = %q, want none", same)
	}
}

// writeBack copies a fixture to a temporary file, writes the change back
// and compares the file and the printed patch with their golden files.
func writeBack(t *testing.T, fixture, name string, c Change) {
	t.Helper()
	writeBackGolden(t, fixture, name, fixture, c)
}

func writeBackGolden(t *testing.T, fixture, name, goldenName string, c Change) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := CheckFile(path, c.Namespace, c.Name); err != nil {
		t.Fatalf("CheckFile: %v", err)
	}
	patch, err := WriteBack(path, c)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	golden(t, goldenName+".want", string(out))
	golden(t, goldenName+".patch", strings.ReplaceAll(patch, path, name))
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o640 {
		t.Errorf("file mode %v, want 0640 kept", info.Mode().Perm())
	}
	again, err := WriteBack(path, c)
	if err != nil || again != "" {
		t.Errorf("a second write-back of the same change: patch %q, %v; want nothing", again, err)
	}
}

func TestWriteBackManifestKeepsComments(t *testing.T) {
	c := change
	c.Before = template("registry.example/web:v1", "registry.example/web-migrate:v1")
	c.After = template("registry.example/web:v2", "registry.example/web-migrate:v2")
	writeBack(t, "manifest.yaml", "web.yaml", c)
}

func TestWriteBackKustomization(t *testing.T) {
	writeBack(t, "kustomization.yaml", "kustomization.yaml", change)
}

// A tag that only changes is replaced where it stands: the rest of the
// file, spacing before comments included, stays byte for byte.
func TestWriteBackKustomizationTagInPlace(t *testing.T) {
	c := change
	c.After = template("registry.example/web:v2", "mirror.example/web-migrate:v2")
	writeBackGolden(t, "kustomization.yaml", "kustomization.yaml", "kustomization-tags.yaml", c)
}

func TestWriteBackKustomizationAddsImages(t *testing.T) {
	writeBack(t, "kustomization-noimages.yaml", "kustomization.yaml", change)
}

func TestWriteBackBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	other := write("other.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n")
	broken := write("broken.yaml", "kind: [\n")
	noApp := write("noapp.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers:\n      - name: other\n        image: x:1\n")
	tests := []struct {
		name, path, want string
		check            bool
	}{
		{"missing file", filepath.Join(dir, "nope.yaml"), "--write-back: open " + filepath.Join(dir, "nope.yaml") + ": no such file or directory", true},
		{"not YAML", broken, "--write-back " + broken + ": not YAML", true},
		{"another deployment", other, "--write-back " + other + `: holds no deployment "web" and is not a kustomization`, true},
		{"no such container", noApp, "--write-back " + noApp + `: deployment "web" has no initContainer "migrate"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(tt.path)
			var err error
			if tt.check {
				err = CheckFile(tt.path, "shop", "web")
			} else {
				_, err = WriteBack(tt.path, change)
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || exitcode.Of(err) != exitcode.Usage {
				t.Errorf("got %v (exit %d), want a usage error starting %q", err, exitcode.Of(err), tt.want)
			}
			if after, _ := os.ReadFile(tt.path); string(after) != string(before) {
				t.Errorf("the file changed on bad input")
			}
		})
	}
}

func TestUntrackedLabels(t *testing.T) {
	argo := []metav1.ManagedFieldsEntry{{Manager: "argocd-controller"}}
	tests := []struct {
		name    string
		labels  map[string]string
		managed []metav1.ManagedFieldsEntry
		want    map[string]string
	}{
		{"argo instance label dropped", map[string]string{"app": "web", ArgoInstanceLabel: "shop"}, nil, map[string]string{"app": "web"}},
		{"app.kubernetes.io/instance as argo's tracking label dropped", map[string]string{"app": "web", AppInstanceLabel: "shop"}, argo, map[string]string{"app": "web"}},
		{"app.kubernetes.io/instance of helm kept", map[string]string{"app": "web", AppInstanceLabel: "shop"}, nil, map[string]string{"app": "web", AppInstanceLabel: "shop"}},
		{"flux labels kept (flux prunes by its inventory)", map[string]string{FluxKustomizeName: "apps"}, nil, map[string]string{FluxKustomizeName: "apps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Labels: tt.labels, ManagedFields: tt.managed}}
			if diff := cmp.Diff(tt.want, UntrackedLabels(d)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(d.Labels) != len(tt.labels) {
				t.Error("UntrackedLabels changed the object's labels")
			}
		})
	}
}

// fixed is the template of TestWriteBackFixFields after the release: a new
// image, a preStop sleep, a longer grace, readiness from liveness, one env
// value changed and one added (what --fix and --env change).
func fixTemplates() (before, after *corev1.PodTemplateSpec) {
	grace := int64(30)
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
	before = &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "pod-template-hash": "abc"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []corev1.Container{{Name: "app", Image: "registry.example/web:v1",
				Env:           []corev1.EnvVar{{Name: "MODE", Value: "blue"}},
				LivenessProbe: probe}},
		},
	}
	after = before.DeepCopy()
	grace45 := int64(45)
	after.Spec.TerminationGracePeriodSeconds = &grace45
	ct := &after.Spec.Containers[0]
	ct.Image = "registry.example/web:v2"
	ct.Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 10}}}
	ct.ReadinessProbe = probe.DeepCopy()
	ct.Env = []corev1.EnvVar{{Name: "MODE", Value: "green"}, {Name: "DRAIN", Value: "10"}}
	return before, after
}

func fixSpecs() (before, after *appsv1.DeploymentSpec) {
	quarter := intstr.FromString("25%")
	before = &appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &quarter, MaxUnavailable: &quarter}}}
	after = before.DeepCopy()
	zero := intstr.FromInt32(0)
	after.Strategy.RollingUpdate.MaxUnavailable = &zero
	return before, after
}

// TestWriteBackFixFields: the fields other than images a release changed
// (a preStop sleep, terminationGracePeriodSeconds, a readiness probe, env,
// the strategy's maxUnavailable) are in the patch printed and written to
// the manifest, its comments kept; the grace that only changes is
// replaced where it stands.
func TestWriteBackFixFields(t *testing.T) {
	c := Change{Namespace: "shop", Name: "web"}
	c.Before, c.After = fixTemplates()
	c.BeforeSpec, c.AfterSpec = fixSpecs()
	patch, err := c.Patch()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "patch-fix.golden", patch)
	other, err := c.OtherFields()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"spec.strategy.rollingUpdate.maxUnavailable",
		"spec.template.spec.containers[name=app].env[name=DRAIN]",
		"spec.template.spec.containers[name=app].env[name=MODE].value",
		"spec.template.spec.containers[name=app].lifecycle",
		"spec.template.spec.containers[name=app].readinessProbe",
		"spec.template.spec.terminationGracePeriodSeconds",
	}
	if diff := cmp.Diff(want, other); diff != "" {
		t.Errorf("OtherFields (-want +got):\n%s", diff)
	}
	writeBack(t, "manifest-fix.yaml", "web.yaml", c)
}

// TestWriteBackScalarsInPlace: a change of scalars only (the grace, an env
// value, the image) is made where each value stands: the rest of the file
// stays byte for byte, an int stays an int and a quoted string quoted.
func TestWriteBackScalarsInPlace(t *testing.T) {
	c := Change{Namespace: "shop", Name: "web"}
	c.Before, _ = fixTemplates()
	c.After = c.Before.DeepCopy()
	grace := int64(120)
	c.After.Spec.TerminationGracePeriodSeconds = &grace
	c.After.Spec.Containers[0].Env[0].Value = "green"
	c.After.Spec.Containers[0].Image = "registry.example/web:v3"
	data, err := os.ReadFile(filepath.Join("testdata", "manifest-fix.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "web.yaml")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteBack(path, c); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := strings.NewReplacer("terminationGracePeriodSeconds: 30 #", "terminationGracePeriodSeconds: 120 #",
		`value: "blue" #`, `value: "green" #`, "web:v1", "web:v3").Replace(string(data))
	if string(got) != want {
		t.Errorf("after write-back:\n%s\nwant:\n%s", got, want)
	}
}

// TestWriteBackBlueGreen: a blue-green deploy's change, the new colour's
// template (its image, a preStop sleep from --fix) and the switch of the
// Service's selector, is printed as one patch and written to the file
// holding both, comments kept; the other colour is left as it is.
func TestWriteBackBlueGreen(t *testing.T) {
	tmpl := func(image string) *corev1.PodTemplateSpec {
		return &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "version": "green"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
		}
	}
	c := Change{Namespace: "shop", Name: "web-green", Before: tmpl("registry.example/web:v1"), After: tmpl("registry.example/web:v2"),
		Selectors: []SelectorChange{{Service: "web", Label: "version", From: "blue", To: "green"}, {Service: "web-admin", Label: "version", From: "blue", To: "green"}}}
	c.After.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 5}}}
	patch, err := c.Patch()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "patch-bluegreen.golden", patch)
	writeBack(t, "bluegreen.yaml", "web.yaml", c)
}

// secondFix is a release after fixTemplates' one: a new image, MODE
// changed again, DRAIN removed, a longer grace.
func secondFix(first *corev1.PodTemplateSpec) *corev1.PodTemplateSpec {
	after := first.DeepCopy()
	grace := int64(60)
	after.Spec.TerminationGracePeriodSeconds = &grace
	ct := &after.Spec.Containers[0]
	ct.Image = "registry.example/web:v3"
	ct.Env = []corev1.EnvVar{{Name: "MODE", Value: "red"}}
	return after
}

// TestWriteBackKustomizationFixFields: into a kustomization (with
// comments and a patch of its own), a release's images go to images: and
// its other changed fields (--fix's preStop, grace, readiness probe and
// maxUnavailable; env) to one strategic-merge patch in patches:, marked as
// written by kubectl zdd; a second release updates that same entry (the
// fields of both, an env var removed as a deletion) rather than add one.
func TestWriteBackKustomizationFixFields(t *testing.T) {
	c := Change{Namespace: "shop", Name: "web"}
	c.Before, c.After = fixTemplates()
	c.BeforeSpec, c.AfterSpec = fixSpecs()
	writeBack(t, "kustomization-fix.yaml", "kustomization.yaml", c)

	// the second write-back starts from the first one's file
	first, err := os.ReadFile(filepath.Join("testdata", "kustomization-fix.yaml.want"))
	if err != nil {
		t.Fatal(err)
	}
	second := Change{Namespace: "shop", Name: "web", Before: c.After, After: secondFix(c.After)}
	dir := t.TempDir()
	path := filepath.Join(dir, "kustomization.yaml")
	if err := os.WriteFile(path, first, 0o640); err != nil {
		t.Fatal(err)
	}
	patch, err := WriteBack(path, second)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := os.ReadFile(path)
	golden(t, "kustomization-fix2.yaml.want", string(out))
	golden(t, "kustomization-fix2.yaml.patch", strings.ReplaceAll(patch, path, "kustomization.yaml"))
	if n := strings.Count(string(out), "# written by kubectl zdd --write-back for deployment web"); n != 1 {
		t.Errorf("%d patches marked for deployment web after a second write-back, want the one updated", n)
	}
}

// TestWriteBackKustomizationEmptyLists: a kustomization whose patches:
// and images: are empty (null, or [] in flow style) gets its entries as
// block lists where those fields stand, comments kept (yaml.v3 moves the
// line comment of a flow [] to the next key).
func TestWriteBackKustomizationEmptyLists(t *testing.T) {
	entries := "- target:\n    kind: Deployment\n    name: web\n  patch: |\n    # written by kubectl zdd --write-back for deployment web\n"
	for _, tt := range []struct{ kust, patches, images string }{
		{"resources:\n- deployment.yaml\npatches: # none yet\nimages:\n", "\npatches: # none yet\n" + entries, "\nimages:\n- name: registry.example/web\n  newTag: v2\n"},
		{"resources:\n- deployment.yaml\npatches: [] # none yet\nimages: []\n", "\npatches:\n" + entries, "\nimages: # none yet\n- name: registry.example/web\n  newTag: v2\n"},
	} {
		path := filepath.Join(t.TempDir(), "kustomization.yaml")
		if err := os.WriteFile(path, []byte(tt.kust), 0o644); err != nil {
			t.Fatal(err)
		}
		c := Change{Namespace: "shop", Name: "web"}
		c.Before, c.After = fixTemplates()
		if _, err := WriteBack(path, c); err != nil {
			t.Fatalf("%q: %v", tt.kust, err)
		}
		got, _ := os.ReadFile(path)
		for _, w := range []string{tt.patches, tt.images} {
			if !strings.Contains(string(got), w) {
				t.Errorf("%q after write-back does not hold %q:\n%s", tt.kust, w, got)
			}
		}
	}
}
