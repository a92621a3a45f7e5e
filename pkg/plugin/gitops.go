package plugin

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/bluegreen"
)

// GitOpsFlags are --gitops and, for the commands that end a release,
// --write-back.
type GitOpsFlags struct {
	Mode      string
	WriteBack string
}

func (g *GitOpsFlags) addFlags(cmd *cobra.Command, writeBack bool) {
	if g.Mode == "" {
		g.Mode = gitops.ModeWarn
	}
	cmd.Flags().StringVar(&g.Mode, "gitops", g.Mode, "Objects managed by Argo CD or Flux (their next sync reverts the release): warn, refuse (exit 2 before any write) or ignore")
	if writeBack {
		cmd.Flags().StringVar(&g.WriteBack, "write-back", g.WriteBack, "After a release, write its change (images, other template fields, a blue-green switch) into this local manifest, or into a kustomization (images: and a strategic-merge patch in patches:), keeping comments")
	}
}

// validate checks --gitops and that --write-back FILE can take the change
// of deployment namespace/name, or with no name that it is a YAML file
// (read only; exit 2 naming the file).
func (g *GitOpsFlags) validate(namespace, name string) error {
	if err := gitops.ValidateMode(g.Mode); err != nil {
		return err
	}
	if g.WriteBack != "" && name != "" {
		return gitops.CheckFile(g.WriteBack, namespace, name)
	}
	if g.WriteBack != "" {
		// blue-green: the Deployment is known in Run (the idle colour);
		// here the file must be there and YAML
		_, err := gitops.IsKustomization(g.WriteBack)
		return err
	}
	return nil
}

// preflight reads the targets, prints a warning per GitOps-managed one
// (--gitops=warn) or refuses (--gitops=refuse: exit 2), and returns what
// it found. An object that cannot be read is left to the release to report.
func (g *GitOpsFlags) preflight(w io.Writer, targets []gitops.Target) ([]gitops.Managed, error) {
	if g.Mode == gitops.ModeIgnore {
		return nil, nil
	}
	found := gitops.Find(targets)
	lines, err := gitops.Preflight(g.Mode, found)
	if err != nil {
		return nil, err
	}
	// on a terminal the warnings fit its width like the release's steps
	w = fitTerminal(w)
	for _, l := range lines {
		fmt.Fprintf(w, "warning: %s (--gitops=refuse stops here, --gitops=ignore hides this)\n", l)
	}
	return found, nil
}

// deploymentTarget reads a Deployment a release changes; nil when it is
// not there (the release names that itself).
func deploymentTarget(ctx context.Context, client kubernetes.Interface, ns, name, reverts string) (*appsv1.Deployment, []gitops.Target) {
	d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil
	}
	return d, []gitops.Target{{Object: fmt.Sprintf("deployment %q", ns+"/"+name), Meta: d, Reverts: reverts}}
}

// blueGreenTargets are the Service a blue-green switch repoints and the
// Deployments of its colours (the pods it selects, whatever their colour),
// from snap when the caller read it (Discover), else read here.
func blueGreenTargets(ctx context.Context, client kubernetes.Interface, ns, service, colourLabel string, snap *bluegreen.Snapshot) []gitops.Target {
	var svc *corev1.Service
	var deps []appsv1.Deployment
	if snap != nil {
		svc, deps = snap.Service, snap.Deployments
	} else {
		var err error
		if svc, err = client.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{}); err != nil {
			return nil
		}
	}
	targets := []gitops.Target{{Object: fmt.Sprintf("service %q", ns+"/"+service), Meta: svc, Reverts: "its selector (the switch to the new colour)"}}
	sel := maps.Clone(svc.Spec.Selector)
	delete(sel, colourLabel)
	if len(sel) == 0 {
		return targets
	}
	if snap == nil {
		list, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return targets
		}
		deps = list.Items
	}
	for i := range deps {
		d := &deps[i]
		if labels.SelectorFromSet(sel).Matches(labels.Set(d.Spec.Template.Labels)) {
			targets = append(targets, gitops.Target{Object: fmt.Sprintf("deployment %q", ns+"/"+d.Name), Meta: d,
				Reverts: "its replicas and pod template (the colours this release scales and updates)"})
		}
	}
	return targets
}

// releaseEnd prints, after a release that changed the Deployment's pod
// template (or, with --fix, its strategy), the change to commit: as a
// unified patch of the manifest when a GitOps controller manages it, and
// written into --write-back FILE when given.
func (g *GitOpsFlags) releaseEnd(ctx context.Context, w io.Writer, client kubernetes.Interface, before *appsv1.Deployment, found []gitops.Managed) error {
	if before == nil || (len(found) == 0 && g.WriteBack == "") {
		return nil
	}
	after, err := client.AppsV1().Deployments(before.Namespace).Get(ctx, before.Name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %q for the change to commit: %w", before.Namespace+"/"+before.Name, err)
	}
	change := gitops.Change{Namespace: before.Namespace, Name: before.Name, Before: &before.Spec.Template, After: &after.Spec.Template,
		BeforeSpec: &before.Spec, AfterSpec: &after.Spec}
	return g.commitChange(w, change, found)
}

// commitChange prints the change to commit when a GitOps controller
// manages what the release changed, and writes it into --write-back FILE.
func (g *GitOpsFlags) commitChange(w io.Writer, change gitops.Change, found []gitops.Managed) error {
	patch, err := change.Patch()
	if err != nil || patch == "" {
		// the template is as it was: a canary holding at a step, nothing to commit
		return err
	}
	// on a terminal the prose fits its width like the release's steps; the
	// patch stays as written, to be applied
	prose := fitTerminal(w)
	if len(found) > 0 {
		// one name per manager (a blue-green Service and its colours are
		// often in one application)
		var managers []string
		for _, m := range found {
			if n := m.Manager.Tool + " " + m.Manager.Owner; !slices.Contains(managers, n) {
				managers = append(managers, n)
			}
		}
		fmt.Fprintf(prose, "commit this change to the manifest in Git, or %s reverts it at its next sync:\n", strings.Join(managers, ", "))
		fmt.Fprint(w, patch)
	}
	if g.WriteBack == "" {
		return nil
	}
	patch, err = gitops.WriteBack(g.WriteBack, change)
	if err != nil {
		return err
	}
	if patch == "" {
		fmt.Fprintf(prose, "%s already holds the release's change: nothing written\n", g.WriteBack)
		return nil
	}
	fmt.Fprintf(prose, "wrote the release's change to %s:\n", g.WriteBack)
	fmt.Fprint(w, patch)
	return nil
}

// blueGreenChange is where a blue-green deploy's change to commit starts:
// the colour it deploys, that colour's Deployment as it was (the live
// colour's, under the deployed colour's name and label, when it had none),
// and the Services it switches.
type blueGreenChange struct {
	label, from, to string
	services        []string
	before          *appsv1.Deployment
}

// blueGreenBefore is the Service and its colours before a deploy, from
// snap (Discover's read); nil when they could not be read (the deploy names
// that itself).
func blueGreenBefore(snap *bluegreen.Snapshot, cfg bluegreen.Config) *blueGreenChange {
	if snap == nil || snap.ActiveDep == nil {
		return nil
	}
	before := snap.IdleDep
	if before == nil {
		before = snap.ActiveDep.DeepCopy()
		before.Name = snap.IdleName
		before.Spec.Template.Labels = maps.Clone(before.Spec.Template.Labels)
		if before.Spec.Template.Labels == nil {
			before.Spec.Template.Labels = map[string]string{}
		}
		before.Spec.Template.Labels[cfg.Colours.Label] = snap.Idle
	}
	return &blueGreenChange{label: cfg.Colours.Label, from: snap.Active, to: snap.Idle, services: snap.Services, before: before}
}

// blueGreenRead is the first read of a blue-green deploy or promote: the
// Service and its colours, shared by the GitOps check, the preflight and
// the operation itself (the Runner's Prefetched). nil when they cannot be
// read: the operation reads again and names the reason.
func blueGreenRead(ctx context.Context, r *bluegreen.Runner, cfg bluegreen.Config) *bluegreen.Snapshot {
	if cfg.Colours.Validate() != nil {
		return nil
	}
	snap, err := bluegreen.Discover(ctx, r.Client, cfg.Namespace, cfg.Service, cfg.Services, cfg.Colours)
	if err != nil {
		return nil
	}
	return snap
}

// blueGreenCommit prints and writes back (releaseEnd's way) the change of a
// deploy: the deployed colour's template and spec, and the selectors of
// the Services it switched (none under --manual-promote).
func (g *GitOpsFlags) blueGreenCommit(ctx context.Context, w io.Writer, client kubernetes.Interface, c *blueGreenChange, found []gitops.Managed) error {
	if c == nil || (len(found) == 0 && g.WriteBack == "") {
		return nil
	}
	ns, name := c.before.Namespace, c.before.Name
	after, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading deployment %q for the change to commit: %w", ns+"/"+name, err)
	}
	change := gitops.Change{Namespace: ns, Name: name, Before: &c.before.Spec.Template, After: &after.Spec.Template,
		BeforeSpec: &c.before.Spec, AfterSpec: &after.Spec}
	for _, s := range c.services {
		svc, err := client.CoreV1().Services(ns).Get(ctx, s, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading service %q for the change to commit: %w", ns+"/"+s, err)
		}
		if svc.Spec.Selector[c.label] == c.to {
			change.Selectors = append(change.Selectors, gitops.SelectorChange{Service: s, Label: c.label, From: c.from, To: c.to})
		}
	}
	return g.commitChange(w, change, found)
}
