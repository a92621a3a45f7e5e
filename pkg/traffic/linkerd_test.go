package traffic

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

var (
	gammaRouteGVR   = schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	linkerdRouteGVR = schema.GroupVersionResource{Group: "policy.linkerd.io", Version: "v1beta3", Resource: "httproutes"}
)

// linkerdDiscovery serves the HTTPRoute of each group version given.
func linkerdDiscovery(groupVersions ...string) *fakediscovery.FakeDiscovery {
	d := &fakediscovery.FakeDiscovery{Fake: &kubefake.NewClientset().Fake}
	for _, gv := range groupVersions {
		d.Resources = append(d.Resources, &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{{Name: "httproutes", Namespaced: true}}})
	}
	return d
}

func routeObject(t *testing.T, apiVersion, name, spec string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: mustJSON(t, `{"spec":`+spec+`}`)}
	u.SetAPIVersion(apiVersion)
	u.SetKind("HTTPRoute")
	u.SetNamespace("shop")
	u.SetName(name)
	return u
}

const (
	gammaSpec        = `{"parentRefs":[{"group":"","kind":"Service","name":"web","port":80}],"rules":[{"backendRefs":[{"name":"web","port":80}]}]}`
	linkerdSpec      = `{"parentRefs":[{"group":"core","kind":"Service","name":"web","port":80}],"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}],"backendRefs":[{"name":"web","port":80}]}]}`
	gatewayOnlySpec  = `{"parentRefs":[{"name":"shop-gateway"}],"rules":[{"backendRefs":[{"name":"web","port":80}]}]}`
	otherServiceSpec = `{"parentRefs":[{"kind":"Service","name":"web"}],"rules":[{"backendRefs":[{"name":"api","port":80}]}]}`
)

func linkerdDynamic(objs ...runtime.Object) *dynamicfake.FakeDynamicClient {
	return dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{gammaRouteGVR: "HTTPRouteList", linkerdRouteGVR: "HTTPRouteList"}, objs...)
}

func TestLinkerdCheckFindsTheRoute(t *testing.T) {
	gamma := routeObject(t, "gateway.networking.k8s.io/v1", "web", gammaSpec)
	policy := routeObject(t, "policy.linkerd.io/v1beta3", "web", linkerdSpec)
	policyOnly := routeObject(t, "policy.linkerd.io/v1beta3", "mesh", linkerdSpec)
	atGateway := routeObject(t, "gateway.networking.k8s.io/v1", "edge", gatewayOnlySpec)
	elsewhere := routeObject(t, "gateway.networking.k8s.io/v1", "api", otherServiceSpec)
	both := []string{"gateway.networking.k8s.io/v1", "policy.linkerd.io/v1beta3"}
	tests := []struct {
		name         string
		route        string
		served       []string
		objs         []runtime.Object
		wantDescribe string
		wantErr      string
	}{
		{name: "gamma route, only the gateway api served", route: "web", served: both[:1], objs: []runtime.Object{gamma},
			wantDescribe: `httproute.gateway.networking.k8s.io "shop/web"`},
		{name: "policy route, only linkerd's api served", route: "web", served: both[1:], objs: []runtime.Object{policy},
			wantDescribe: `httproute.policy.linkerd.io "shop/web"`},
		{name: "both apis served, the name in one", route: "mesh", served: both, objs: []runtime.Object{gamma, policyOnly},
			wantDescribe: `httproute.policy.linkerd.io "shop/mesh"`},
		{name: "the name in both apis", route: "web", served: both, objs: []runtime.Object{gamma, policy},
			wantErr: `--route web: both gateway.networking.k8s.io and policy.linkerd.io hold an HTTPRoute "shop/web": name one with --route gateway.networking.k8s.io/web or --route policy.linkerd.io/web`},
		{name: "the name in both apis, qualified", route: "policy.linkerd.io/web", served: both, objs: []runtime.Object{gamma, policy},
			wantDescribe: `httproute.policy.linkerd.io "shop/web"`},
		{name: "qualified with the resource as kubectl writes it", route: "httproutes.gateway.networking.k8s.io/web", served: both, objs: []runtime.Object{gamma, policy},
			wantDescribe: `httproute.gateway.networking.k8s.io "shop/web"`},
		{name: "neither api served", route: "web", served: nil,
			wantErr: "--traffic-router linkerd: the cluster serves neither HTTPRoute Linkerd reads (httproutes.gateway.networking.k8s.io versions v1, v1beta1; httproutes.policy.linkerd.io versions v1beta3, v1beta2): are the Gateway API or Linkerd CRDs installed?"},
		{name: "qualified group not served", route: "policy.linkerd.io/web", served: both[:1], objs: []runtime.Object{gamma},
			wantErr: "--traffic-router linkerd: the cluster does not serve HTTPRoute (httproutes.policy.linkerd.io, versions v1beta3, v1beta2): is its CRD installed?"},
		{name: "route missing", route: "nope", served: both, objs: []runtime.Object{gamma},
			wantErr: `--traffic-router linkerd: httproute "shop/nope" not found (looked in gateway.networking.k8s.io and policy.linkerd.io)`},
		{name: "route attached to a gateway only", route: "edge", served: both[:1], objs: []runtime.Object{atGateway},
			wantErr: `httproute.gateway.networking.k8s.io "shop/edge" has no parentRef of kind Service: Linkerd applies a route's weights only when it is attached to the Service its clients call (parentRefs: [{group: core, kind: Service, name: web}])`},
		{name: "route to another service", route: "api", served: both[:1], objs: []runtime.Object{elsewhere},
			wantErr: `httproute.gateway.networking.k8s.io "shop/api" does not route to service "web" (nor to "web-stable" / "web-canary")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testCfg
			cfg.Kind, cfg.Name = RouterLinkerd, tt.route
			r, err := NewWeightRouter(cfg, linkerdDynamic(tt.objs...), linkerdDiscovery(tt.served...))
			if err != nil {
				t.Fatal(err)
			}
			err = r.Check(context.Background())
			got := ""
			if err != nil {
				got = err.Error()
				if exitcode.Of(err) != exitcode.Usage {
					t.Errorf("exit code %d, want %d (usage)", exitcode.Of(err), exitcode.Usage)
				}
			}
			if diff := cmp.Diff(tt.wantErr, got); diff != "" {
				t.Errorf("Check error (-want +got):\n%s", diff)
			}
			if tt.wantErr == "" && r.Describe() != tt.wantDescribe {
				t.Errorf("Describe() = %s, want %s", r.Describe(), tt.wantDescribe)
			}
		})
	}
}

func TestLinkerdRouteFlagSyntax(t *testing.T) {
	for _, bad := range []string{"example.com/web", "policy.linkerd.io/", "policy.linkerd.io/a/b", "/web"} {
		cfg := testCfg
		cfg.Kind, cfg.Name = RouterLinkerd, bad
		_, err := NewWeightRouter(cfg, nil, nil)
		want := `--route "` + bad + `": want NAME or GROUP/NAME with GROUP gateway.networking.k8s.io or policy.linkerd.io`
		if err == nil || err.Error() != want || exitcode.Of(err) != exitcode.Usage {
			t.Errorf("--route %q: got %v, want usage error %q", bad, err, want)
		}
	}
	cfg := testCfg
	cfg.Kind = RouterLinkerd
	if _, err := NewWeightRouter(cfg, nil, nil); err == nil || err.Error() != "--traffic-router linkerd needs --route NAME" {
		t.Errorf("no --route: got %v", err)
	}
}

// TestLinkerdSetWeight walks the weights on each kind of route and checks
// the whole spec after each write: the backendRefs become the weighted pair,
// the parentRefs and matches stay as they were.
func TestLinkerdSetWeight(t *testing.T) {
	tests := []struct {
		name       string
		apiVersion string
		gvr        schema.GroupVersionResource
		spec       string
		wantAt30   string
	}{
		{"gamma httproute", "gateway.networking.k8s.io/v1", gammaRouteGVR, gammaSpec,
			`{"parentRefs":[{"group":"","kind":"Service","name":"web","port":80}],"rules":[{"backendRefs":[{"name":"web-stable","port":80,"weight":70},{"name":"web-canary","port":80,"weight":30}]}]}`},
		{"policy.linkerd.io httproute", "policy.linkerd.io/v1beta3", linkerdRouteGVR, linkerdSpec,
			`{"parentRefs":[{"group":"core","kind":"Service","name":"web","port":80}],"rules":[{"matches":[{"path":{"type":"PathPrefix","value":"/"}}],"backendRefs":[{"name":"web-stable","port":80,"weight":70},{"name":"web-canary","port":80,"weight":30}]}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dyn := linkerdDynamic(routeObject(t, tt.apiVersion, "web", tt.spec))
			cfg := testCfg
			cfg.Kind, cfg.Name = RouterLinkerd, "web"
			r, _ := NewWeightRouter(cfg, dyn, linkerdDiscovery("gateway.networking.k8s.io/v1", "policy.linkerd.io/v1beta3"))
			ctx := context.Background()
			if err := r.Check(ctx); err != nil {
				t.Fatal(err)
			}
			for _, w := range []int{10, 30, 50, 100, 0} {
				if err := r.SetWeight(ctx, w); err != nil {
					t.Fatal(err)
				}
				got, err := r.Weight(ctx)
				if err != nil || got != w {
					t.Errorf("after SetWeight(%d): Weight = %d, %v", w, got, err)
				}
				if w == 30 {
					u, err := dyn.Resource(tt.gvr).Namespace("shop").Get(ctx, "web", metav1.GetOptions{})
					if err != nil {
						t.Fatal(err)
					}
					if diff := cmp.Diff(mustJSON(t, `{"spec":`+tt.wantAt30+`}`)["spec"], u.Object["spec"]); diff != "" {
						t.Errorf("spec at 30%% (-want +got):\n%s", diff)
					}
				}
			}
		})
	}
}
