package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
	"github.com/zdd-dev/kubectl-zdd/pkg/strategies/rolling"
)

// templatePreflight is the preflight of a release that runs a new pod
// template beside a Deployment (canary): the lint rules on base with tmpl
// as its template, with the Services of the namespace that select it;
// only the findings on the pod template count (readiness, preStop, grace
// period: the Deployment's own rollout settings are not what the release
// uses). With fix, lint's mechanical fixes are applied to the template it
// returns, and each change is printed. An error finding left stops the
// release before any write (exit 2), unless force.
func templatePreflight(ctx context.Context, log io.Writer, client kubernetes.Interface, base *appsv1.Deployment, tmpl *corev1.PodTemplateSpec, fix, force bool) (*corev1.PodTemplateSpec, []string, error) {
	ref := base.Namespace + "/" + base.Name
	list, err := client.CoreV1().Services(base.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("preflight of deployment %q: listing services: %w", ref, err)
	}
	var services []corev1.Service
	for _, s := range list.Items {
		if len(s.Spec.Selector) > 0 && labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(tmpl.Labels)) {
			services = append(services, s)
		}
	}
	return preflightTemplate(log, base, tmpl, services, templateRelease{kind: "deployment", ref: ref, what: fmt.Sprintf("the pod template released beside deployment %q", ref)}, fix, force)
}

// templateRelease names what a template preflight judges: the object its
// refusal names (kind, ref) and the template's place in the release.
type templateRelease struct {
	kind, ref, what string
}

// preflightTemplate judges tmpl as the template of (a copy of) base behind
// services: the fixes with fix (printed, returned), then the error
// findings on the pod template, which stop the release (exit 2) unless
// force.
func preflightTemplate(log io.Writer, base *appsv1.Deployment, tmpl *corev1.PodTemplateSpec, services []corev1.Service, rel templateRelease, fix, force bool) (*corev1.PodTemplateSpec, []string, error) {
	ref := base.Namespace + "/" + base.Name
	d := base.DeepCopy()
	d.APIVersion, d.Kind = "apps/v1", "Deployment"
	d.Spec.Template = *tmpl.DeepCopy()
	var changes []string
	if fix {
		fixed, ch, err := rolling.FixDeployment(d, services)
		if err != nil {
			return nil, nil, exitcode.Usagef("--fix of %s %q: %w", rel.kind, rel.ref, err)
		}
		for _, c := range ch {
			// only the pod template is released
			if strings.Contains(c, "spec.strategy") || strings.Contains(c, "spec.progressDeadlineSeconds") || strings.Contains(c, "spec.revisionHistoryLimit") {
				continue
			}
			changes = append(changes, c)
			fmt.Fprintf(log, "fix: %s %q: %s\n", rel.kind, rel.ref, c)
		}
		d.Spec.Template = fixed.Spec.Template
	}
	findings, err := lint.AuditDeployment(d, services)
	if err != nil {
		return nil, nil, exitcode.Usagef("preflight of deployment %q: %w", ref, err)
	}
	var lines []string
	for _, f := range findings {
		if f.Severity != lint.Error || !strings.HasPrefix(f.Field, "spec.template.") {
			continue
		}
		field := f.Field
		if f.Container != "" {
			field = "container " + f.Container + ": " + field
		}
		lines = append(lines, fmt.Sprintf("  %s %s %s: %s", f.Severity, f.Rule, field, f.Message))
	}
	errs := len(lines)
	fmt.Fprintf(log, "preflight: %s: %d errors\n", rel.what, errs)
	for _, l := range lines {
		fmt.Fprintln(log, l)
	}
	if errs > 0 && !force {
		return nil, nil, exitcode.UsageError(strategies.PreflightError(rel.kind, rel.ref, errs, fix))
	}
	if errs > 0 {
		fmt.Fprintf(log, "preflight: going on despite %d errors (--force)\n", errs)
	}
	return &d.Spec.Template, changes, nil
}

// ParamFix ("true" with --fix) and ParamFixes (the changes it made, a JSON
// list) are recorded with the release, as rollout records them.
const (
	ParamFix   = rolling.ParamFix
	ParamFixes = rolling.ParamFixes
)

// recordFixes puts --fix and its changes into params (created when nil).
func recordFixes(params map[string]string, changes []string) (map[string]string, error) {
	if params == nil {
		params = map[string]string{}
	}
	params[ParamFix] = "true"
	if len(changes) == 0 {
		return params, nil
	}
	b, err := json.Marshal(changes)
	if err != nil {
		return nil, err
	}
	params[ParamFixes] = string(b)
	return params, nil
}
