//go:build e2e

package e2e

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var linkerdRouteGVR = schema.GroupVersionResource{Group: "policy.linkerd.io", Version: "v1beta3", Resource: "httproutes"}

// meshHTTPRoute is a Gateway API HTTPRoute attached to Service web (GAMMA),
// the route Linkerd 2.14+ reads for the traffic of meshed clients of web.
const meshHTTPRoute = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs:
  - group: ""
    kind: Service
    name: web
    port: 80
  rules:
  - backendRefs:
    - name: web
      port: 80
`

// linkerdPolicyRoute is the same route in Linkerd's own API.
const linkerdPolicyRoute = `apiVersion: policy.linkerd.io/v1beta3
kind: HTTPRoute
metadata:
  name: web
spec:
  parentRefs:
  - group: core
    kind: Service
    name: web
    port: 80
  rules:
  - matches:
    - path:
        type: PathPrefix
        value: /
    backendRefs:
    - name: web
      port: 80
`

// TestCanaryLinkerd walks a canary on the two HTTPRoutes Linkerd reads:
// the GAMMA route through its steps to promote --full, then (with a
// policy.linkerd.io route of the same name beside it) a refused ambiguous
// --route, and a --weight on the policy route named GROUP/NAME, aborted.
func TestCanaryLinkerd(t *testing.T) {
	t.Parallel()
	const n = 4
	env := canaryApp(t, n)
	env.installCRDs([]string{gatewayAPICRD(t), "testdata/crds/linkerd-httproute.yaml"}, []string{"httproutes.gateway.networking.k8s.io", "httproutes.policy.linkerd.io"})
	env.Apply(meshHTTPRoute)
	name := func(m map[string]any) string { s, _ := m["name"].(string); return s }
	routeOf := func(gvr schema.GroupVersionResource) func() []string {
		return func() []string {
			return weightsOf(env.getObject(gvr, "web"), []string{"spec", "rules"}, "backendRefs", name)
		}
	}
	gamma, policy := routeOf(httpRouteGVR), routeOf(linkerdRouteGVR)
	parents := func(gvr schema.GroupVersionResource) []any {
		p, _, _ := unstructured.NestedSlice(env.getObject(gvr, "web").Object, "spec", "parentRefs")
		return p
	}
	gammaParents := parents(httpRouteGVR)
	watch := env.WatchDowntime("web")

	r := env.mustZdd("canary", "deployment/web", "--image", "app="+canaryV2, "--steps", "10,50,100", "--manual", "--traffic-router", "linkerd", "--route", "web")
	if diff := cmp.Diff([]string{"web-stable=90", "web-canary=10"}, gamma()); diff != "" {
		t.Errorf("gamma httproute backendRefs at step 1 (-want +got):\n%s", diff)
	}
	if want := `httproute.gateway.networking.k8s.io "` + env.NS + `/web" routes 10% to the canary`; !strings.Contains(r.Stdout, want) {
		t.Errorf("step 1 output does not say %q:\n%s", want, r.Stdout)
	}
	env.mustZdd("canary", "promote", "deployment/web")
	if diff := cmp.Diff([]string{"web-stable=50", "web-canary=50"}, gamma()); diff != "" {
		t.Errorf("gamma httproute backendRefs at step 2 (-want +got):\n%s", diff)
	}
	if c := env.deployment("web-canary"); *c.Spec.Replicas != 2 {
		t.Errorf("canary replicas at 50%% of %d = %d, want 2", n, *c.Spec.Replicas)
	}
	env.mustZdd("canary", "promote", "deployment/web")
	if diff := cmp.Diff([]string{"web-stable=0", "web-canary=100"}, gamma()); diff != "" {
		t.Errorf("gamma httproute backendRefs at step 3 (-want +got):\n%s", diff)
	}
	env.mustZdd("canary", "promote", "deployment/web", "--full")
	rep := watch.Stop()
	if diff := cmp.Diff([]string{"web-stable=100", "web-canary=0"}, gamma()); diff != "" {
		t.Errorf("gamma httproute backendRefs after promote --full (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(gammaParents, parents(httpRouteGVR)); diff != "" {
		t.Errorf("gamma httproute parentRefs changed by the release (-before +after):\n%s", diff)
	}
	if d := env.deployment("web"); d.Spec.Template.Spec.Containers[0].Image != canaryV2 || d.Status.ReadyReplicas != n {
		t.Errorf("stable after promote --full: image %q ready %d", d.Spec.Template.Spec.Containers[0].Image, d.Status.ReadyReplicas)
	}
	if !env.deploymentGone("web-canary") {
		t.Error("web-canary is still there after promote --full")
	}
	if rep.MinReady < n {
		t.Errorf("ready endpoints of web fell to %d, below %d", rep.MinReady, n)
	}

	// Both APIs now hold a route "web": a bare --route is refused, nothing written.
	env.Apply(linkerdPolicyRoute)
	before := env.deployment("web")
	gammaRV, policyRV := env.getObject(httpRouteGVR, "web").GetResourceVersion(), env.getObject(linkerdRouteGVR, "web").GetResourceVersion()
	const v3 = "registry.example/web:v3"
	r = env.Zdd("canary", "deployment/web", "--image", "app="+v3, "--weight", "20", "--traffic-router", "linkerd", "--route", "web")
	if want := "--route web: both gateway.networking.k8s.io and policy.linkerd.io hold an HTTPRoute"; r.Code != 2 || !strings.Contains(r.Stderr, want) {
		t.Errorf("ambiguous --route: want exit 2 and %q, got %s", want, r)
	}
	if after := env.deployment("web"); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("the refused canary wrote deployment web (resourceVersion %s -> %s)", before.ResourceVersion, after.ResourceVersion)
	}
	if !env.deploymentGone("web-canary") {
		t.Error("the refused canary created web-canary")
	}
	if g, p := env.getObject(httpRouteGVR, "web").GetResourceVersion(), env.getObject(linkerdRouteGVR, "web").GetResourceVersion(); g != gammaRV || p != policyRV {
		t.Errorf("the refused canary wrote a route: resourceVersions gamma %s -> %s, policy %s -> %s", gammaRV, g, policyRV, p)
	}

	// Named with its group, the policy.linkerd.io route carries the weight.
	r = env.mustZdd("canary", "deployment/web", "--image", "app="+v3, "--weight", "20", "--traffic-router", "linkerd", "--route", "policy.linkerd.io/web")
	if diff := cmp.Diff([]string{"web-stable=80", "web-canary=20"}, policy()); diff != "" {
		t.Errorf("policy httproute backendRefs at 20%% (-want +got):\n%s", diff)
	}
	if want := `httproute.policy.linkerd.io "` + env.NS + `/web" routes 20% to the canary`; !strings.Contains(r.Stdout, want) {
		t.Errorf("output does not say %q:\n%s", want, r.Stdout)
	}
	if g := env.getObject(httpRouteGVR, "web").GetResourceVersion(); g != gammaRV {
		t.Errorf("a canary on the policy route wrote the gamma route (resourceVersion %s -> %s)", gammaRV, g)
	}
	env.mustZdd("canary", "abort", "deployment/web")
	if diff := cmp.Diff([]string{"web-stable=100", "web-canary=0"}, policy()); diff != "" {
		t.Errorf("policy httproute backendRefs after abort (-want +got):\n%s", diff)
	}
	if d := env.deployment("web"); d.Spec.Template.Spec.Containers[0].Image != canaryV2 || d.Status.ReadyReplicas != n {
		t.Errorf("stable after abort: image %q ready %d, want %s and %d", d.Spec.Template.Spec.Containers[0].Image, d.Status.ReadyReplicas, canaryV2, n)
	}
}

// TestCanaryLinkerdServiceProfileWarning: a Linkerd ServiceProfile of the
// Service is named with a warning (it may take precedence over the
// HTTPRoute's weights), in the dry run's plan and in a real run; without
// one there is no warning.
func TestCanaryLinkerdServiceProfileWarning(t *testing.T) {
	t.Parallel()
	env := canaryApp(t, 2)
	env.installCRDs([]string{gatewayAPICRD(t), "testdata/crds/linkerd-httproute.yaml", "testdata/crds/linkerd-serviceprofile.yaml"},
		[]string{"httproutes.gateway.networking.k8s.io", "httproutes.policy.linkerd.io", "serviceprofiles.linkerd.io"})
	env.Apply(meshHTTPRoute)
	args := []string{"canary", "deployment/web", "--image", "app=" + canaryV2, "--weight", "50", "--traffic-router", "linkerd", "--route", "web"}
	warning := `Linkerd ServiceProfile "` + env.NS + `/web.` + env.NS + `.svc.cluster.local" exists for service "` + env.NS + `/web"`

	r := env.mustZdd(append(args, "--dry-run=client")...)
	if strings.Contains(r.Stdout, "ServiceProfile") {
		t.Errorf("a warning with no ServiceProfile:\n%s", r.Stdout)
	}
	env.Apply("apiVersion: linkerd.io/v1alpha2\nkind: ServiceProfile\nmetadata:\n  name: web." + env.NS + ".svc.cluster.local\nspec:\n  routes: []\n")
	r = env.mustZdd(append(args, "--dry-run=client")...)
	if !strings.Contains(r.Stdout, warning) {
		t.Errorf("the dry run's plan lacks %q:\n%s", warning, r.Stdout)
	}
	r = env.mustZdd(append(args, "--timeout", "2m")...)
	if !strings.Contains(r.Stdout, "preflight: warning: "+warning) {
		t.Errorf("the release's preflight lacks %q:\n%s", warning, r.Stdout)
	}
}
