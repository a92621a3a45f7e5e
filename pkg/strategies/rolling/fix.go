package rolling

import (
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"

	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
)

// fixDrainSeconds is the drain budget the preflight audits with, and so
// the one --fix sizes the grace period for.
const fixDrainSeconds = 10

// fixObject applies lint's mechanical fixes (--fix) to a Deployment given
// as unstructured content, for the findings of the rules on it with the
// Services that send it traffic; it returns the fixed content (obj is not
// changed) and a description of each change.
func fixObject(obj map[string]any, services []corev1.Service) (map[string]any, []string, error) {
	d := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, d); err != nil {
		return nil, nil, err
	}
	d.APIVersion, d.Kind = "apps/v1", "Deployment"
	findings, err := lint.AuditDeployment(d, services)
	if err != nil {
		return nil, nil, err
	}
	var fixable []lint.Finding
	for _, f := range findings {
		if lint.Fixable(f.Rule) && f.Kind == "Deployment" {
			fixable = append(fixable, f)
		}
	}
	if len(fixable) == 0 {
		return obj, nil, nil
	}
	node, err := kyaml.FromMap(runtime.DeepCopyJSON(obj))
	if err != nil {
		return nil, nil, err
	}
	changes, err := lint.FixNode(node, "Deployment", fixable, fixDrainSeconds)
	if err != nil {
		return nil, nil, err
	}
	fixed, err := node.Map()
	if err != nil {
		return nil, nil, err
	}
	// kyaml's numbers are ints; the JSON round trip gives the types the
	// converters and patches expect
	b, err := json.Marshal(fixed)
	if err != nil {
		return nil, nil, err
	}
	out := map[string]any{}
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, nil, err
	}
	return out, changes, nil
}

// fixTyped is fixObject over a typed Deployment.
func fixTyped(d *appsv1.Deployment, services []corev1.Service) (*appsv1.Deployment, []string, error) {
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
	if err != nil {
		return nil, nil, err
	}
	fixed, changes, err := fixObject(obj, services)
	if err != nil || len(changes) == 0 {
		return d, changes, err
	}
	out := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(fixed, out); err != nil {
		return nil, nil, err
	}
	return out, changes, nil
}

// fixPatch is the strategic merge patch from live to desired (images set,
// --fix-strategy and --fix applied): what an --image release with --fix
// sends instead of the images alone.
func fixPatch(live, desired *appsv1.Deployment) (map[string]any, error) {
	a, err := json.Marshal(live)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(desired)
	if err != nil {
		return nil, err
	}
	p, err := strategicpatch.CreateTwoWayMergePatch(a, b, appsv1.Deployment{})
	if err != nil {
		return nil, fmt.Errorf("computing the patch: %w", err)
	}
	out := map[string]any{}
	if err := json.Unmarshal(p, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// FixDeployment applies lint's mechanical fixes (--fix) to d, judged with
// the Services that send it traffic: the fixed copy and each change (d is
// not changed). The release commands that run a new pod template beside a
// Deployment (canary, blue-green) fix their template with it.
func FixDeployment(d *appsv1.Deployment, services []corev1.Service) (*appsv1.Deployment, []string, error) {
	return fixTyped(d.DeepCopy(), services)
}
