// Package gitops finds the GitOps controller (Argo CD, Flux) that manages an
// object from its tracking labels and annotations, says what its next sync
// will revert of a release, and writes the change back to a local manifest
// or kustomization so it can be committed.
package gitops

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// Modes of --gitops.
const (
	ModeWarn   = "warn"
	ModeRefuse = "refuse"
	ModeIgnore = "ignore"
)

// Modes lists the --gitops values, the default first.
var Modes = []string{ModeWarn, ModeRefuse, ModeIgnore}

// ValidateMode checks a --gitops value.
func ValidateMode(m string) error {
	for _, v := range Modes {
		if m == v {
			return nil
		}
	}
	return exitcode.Usagef("--gitops %q: want one of %s", m, strings.Join(Modes, ", "))
}

// Tracking labels and annotations.
const (
	ArgoInstanceLabel      = "argocd.argoproj.io/instance"
	ArgoTrackingAnnotation = "argocd.argoproj.io/tracking-id"
	AppInstanceLabel       = "app.kubernetes.io/instance"
	FluxKustomizeName      = "kustomize.toolkit.fluxcd.io/name"
	FluxKustomizeNamespace = "kustomize.toolkit.fluxcd.io/namespace"
	FluxHelmName           = "helm.toolkit.fluxcd.io/name"
	FluxHelmNamespace      = "helm.toolkit.fluxcd.io/namespace"
	// FluxReconcileAnnotation "disabled" makes Flux leave the object alone.
	FluxReconcileAnnotation = "kustomize.toolkit.fluxcd.io/reconcile"
)

// Manager is the GitOps controller of an object.
type Manager struct {
	// Tool is "Argo CD" or "Flux".
	Tool string
	// Owner names the object that syncs it: `application "shop"`,
	// `kustomization "flux-system/apps"`, `helmrelease "shop/web"`.
	Owner string
	// Evidence is the label or annotation it was found by.
	Evidence string
}

func (m Manager) String() string {
	return fmt.Sprintf("%s (%s, %s)", m.Tool, m.Owner, m.Evidence)
}

// Detect returns the controller that manages obj, nil when none does. The
// label app.kubernetes.io/instance counts only with a managedFields entry of
// Argo CD beside it: Helm and many charts set that label too.
func Detect(obj metav1.Object) *Manager {
	labels, ann := obj.GetLabels(), obj.GetAnnotations()
	if id := ann[ArgoTrackingAnnotation]; id != "" {
		app, _, _ := strings.Cut(id, ":")
		return &Manager{Tool: "Argo CD", Owner: argoApp(app), Evidence: fmt.Sprintf("annotation %s=%s", ArgoTrackingAnnotation, id)}
	}
	if app := labels[ArgoInstanceLabel]; app != "" {
		return &Manager{Tool: "Argo CD", Owner: argoApp(app), Evidence: fmt.Sprintf("label %s=%s", ArgoInstanceLabel, app)}
	}
	if name := labels[FluxKustomizeName]; name != "" && ann[FluxReconcileAnnotation] != "disabled" {
		return &Manager{Tool: "Flux", Owner: fmt.Sprintf("kustomization %q", qualify(labels[FluxKustomizeNamespace], name)),
			Evidence: fmt.Sprintf("labels %s=%s, %s=%s", FluxKustomizeName, name, FluxKustomizeNamespace, labels[FluxKustomizeNamespace])}
	}
	if name := labels[FluxHelmName]; name != "" && ann[FluxReconcileAnnotation] != "disabled" {
		return &Manager{Tool: "Flux", Owner: fmt.Sprintf("helmrelease %q", qualify(labels[FluxHelmNamespace], name)),
			Evidence: fmt.Sprintf("labels %s=%s, %s=%s", FluxHelmName, name, FluxHelmNamespace, labels[FluxHelmNamespace])}
	}
	if app := labels[AppInstanceLabel]; app != "" {
		for _, e := range obj.GetManagedFields() {
			if strings.HasPrefix(e.Manager, "argocd") {
				return &Manager{Tool: "Argo CD", Owner: argoApp(app),
					Evidence: fmt.Sprintf("label %s=%s (Argo CD's default tracking label) and fields written by %q", AppInstanceLabel, app, e.Manager)}
			}
		}
	}
	return nil
}

// UntrackedLabels returns a copy of obj's labels without those by which a
// GitOps controller claims an object: a Deployment a release creates beside
// one it manages (a canary) carries them otherwise, and Argo CD with
// label tracking would take it for part of the application, not in Git,
// and prune it in the middle of the release. app.kubernetes.io/instance is
// dropped only where it is Argo CD's tracking label (see Detect).
func UntrackedLabels(obj metav1.Object) map[string]string {
	out := map[string]string{}
	for k, v := range obj.GetLabels() {
		out[k] = v
	}
	delete(out, ArgoInstanceLabel)
	if m := Detect(obj); m != nil && strings.Contains(m.Evidence, AppInstanceLabel) {
		delete(out, AppInstanceLabel)
	}
	return out
}

// argoApp names an Argo CD Application; "ns_name" is the form of an
// application outside Argo CD's own namespace.
func argoApp(app string) string {
	if ns, name, ok := strings.Cut(app, "_"); ok && ns != "" && name != "" {
		return fmt.Sprintf("application %q", ns+"/"+name)
	}
	return fmt.Sprintf("application %q", app)
}

func qualify(ns, name string) string {
	if ns == "" {
		return name
	}
	return ns + "/" + name
}

// Managed is one object a release changes, its controller, and what of
// that change the next sync will revert.
type Managed struct {
	Object  string // `deployment "shop/web"`
	Manager Manager
	Reverts string // "the pod template (the new images)"
}

// Target is an object a release is about to change.
type Target struct {
	Object  string
	Meta    metav1.Object
	Reverts string
}

// Find returns the targets a GitOps controller manages, in order.
func Find(targets []Target) []Managed {
	var out []Managed
	for _, t := range targets {
		if t.Meta == nil {
			continue
		}
		if m := Detect(t.Meta); m != nil {
			out = append(out, Managed{Object: t.Object, Manager: *m, Reverts: t.Reverts})
		}
	}
	return out
}

// Describe renders one finding: `deployment "shop/web" is managed by Argo CD
// (application "shop", label ...): its next sync will revert the pod
// template`.
func (m Managed) Describe() string {
	return fmt.Sprintf("%s is managed by %s: its next sync will revert %s unless the change is committed to Git", m.Object, m.Manager, m.Reverts)
}

// Preflight applies mode to the findings: under warn it returns the warning
// lines, under refuse a usage error (exit 2) naming --gitops, under ignore
// nothing.
func Preflight(mode string, found []Managed) ([]string, error) {
	if mode == ModeIgnore || len(found) == 0 {
		return nil, nil
	}
	lines := make([]string, 0, len(found))
	for _, m := range found {
		lines = append(lines, m.Describe())
	}
	if mode == ModeRefuse {
		return nil, exitcode.Usagef("%s; refused by --gitops=refuse (nothing was changed): commit the release to Git instead, or run with --gitops=warn", strings.Join(lines, "; "))
	}
	return lines, nil
}
