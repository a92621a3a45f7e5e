package traffic

import (
	"context"
	"errors"
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

func TestReplicaSplit(t *testing.T) {
	tests := []struct {
		name           string
		total          int32
		weight         int
		canary, stable int32
	}{
		{"zero weight keeps all stable", 3, 0, 0, 3},
		{"10% of 3 rounds up to one", 3, 10, 1, 2},
		{"30% of 3", 3, 30, 1, 2},
		{"50% of 3 rounds up", 3, 50, 2, 1},
		{"100% moves all", 3, 100, 3, 0},
		{"1% of 10 is at least one", 10, 1, 1, 9},
		{"25% of 4 exactly", 4, 25, 1, 3},
		{"26% of 4 rounds up", 4, 26, 2, 2},
		{"99% of 10", 10, 99, 10, 0},
		{"no replicas", 0, 50, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, s := ReplicaSplit(tt.total, tt.weight)
			if diff := cmp.Diff([2]int32{tt.canary, tt.stable}, [2]int32{c, s}); diff != "" {
				t.Errorf("ReplicaSplit(%d, %d) [canary stable] (-want +got):\n%s", tt.total, tt.weight, diff)
			}
		})
	}
}

func TestEffectiveWeight(t *testing.T) {
	tests := []struct {
		name         string
		canary, all  int
		wantPercents int
	}{
		{"one of three", 1, 3, 33},
		{"two of three", 2, 3, 67},
		{"none ready", 0, 0, 0},
		{"all", 3, 3, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := EffectiveWeight(tt.canary, tt.all); got != tt.wantPercents {
				t.Errorf("EffectiveWeight(%d, %d) = %d, want %d", tt.canary, tt.all, got, tt.wantPercents)
			}
		})
	}
}

var testCfg = RouterConfig{Namespace: "shop", Service: "web", Stable: "web-stable", Canary: "web-canary"}

func TestRewrites(t *testing.T) {
	tests := []struct {
		name    string
		rewrite rewriteFunc
		read    readFunc
		in      string
		weight  int
		want    string
		matched bool
	}{
		{
			name: "httproute: the service becomes the weighted pair, port kept, other rules untouched", rewrite: rewriteHTTPRoute, read: readHTTPRoute, weight: 30, matched: true,
			in:   `{"spec":{"rules":[{"backendRefs":[{"name":"web","port":80}]},{"backendRefs":[{"name":"other","port":81}]}]}}`,
			want: `{"spec":{"rules":[{"backendRefs":[{"name":"web-stable","port":80,"weight":70},{"name":"web-canary","port":80,"weight":30}]},{"backendRefs":[{"name":"other","port":81}]}]}}`,
		},
		{
			name: "httproute: an existing pair is reweighted", rewrite: rewriteHTTPRoute, read: readHTTPRoute, weight: 50, matched: true,
			in:   `{"spec":{"rules":[{"backendRefs":[{"name":"web-stable","port":80,"weight":90},{"name":"web-canary","port":80,"weight":10}]}]}}`,
			want: `{"spec":{"rules":[{"backendRefs":[{"name":"web-stable","port":80,"weight":50},{"name":"web-canary","port":80,"weight":50}]}]}}`,
		},
		{
			name: "httproute: a route to another service does not match", rewrite: rewriteHTTPRoute, read: readHTTPRoute, weight: 50, matched: false,
			in:   `{"spec":{"rules":[{"backendRefs":[{"name":"api","port":80}]}]}}`,
			want: `{"spec":{"rules":[{"backendRefs":[{"name":"api","port":80}]}]}}`,
		},
		{
			name: "virtualservice: FQDN host matched, subset dropped", rewrite: rewriteVirtualService, read: readVirtualService, weight: 10, matched: true,
			in:   `{"spec":{"hosts":["web"],"http":[{"route":[{"destination":{"host":"web.shop.svc.cluster.local","subset":"v1","port":{"number":80}}}]}]}}`,
			want: `{"spec":{"hosts":["web"],"http":[{"route":[{"destination":{"host":"web-stable","port":{"number":80}},"weight":90},{"destination":{"host":"web-canary","port":{"number":80}},"weight":10}]}]}}`,
		},
		{
			name: "virtualservice: a host in another namespace does not match", rewrite: rewriteVirtualService, read: readVirtualService, weight: 10, matched: false,
			in:   `{"spec":{"http":[{"route":[{"destination":{"host":"web.other.svc.cluster.local"}}]}]}}`,
			want: `{"spec":{"http":[{"route":[{"destination":{"host":"web.other.svc.cluster.local"}}]}]}}`,
		},
		{
			name: "trafficsplit: empty backends of the root service get the pair", rewrite: rewriteTrafficSplit, read: readTrafficSplit, weight: 100, matched: true,
			in:   `{"spec":{"service":"web"}}`,
			want: `{"spec":{"service":"web","backends":[{"service":"web-stable","weight":0},{"service":"web-canary","weight":100}]}}`,
		},
		{
			name: "trafficsplit: existing pair reweighted", rewrite: rewriteTrafficSplit, read: readTrafficSplit, weight: 30, matched: true,
			in:   `{"spec":{"service":"web","backends":[{"service":"web-stable","weight":100},{"service":"web-canary","weight":0}]}}`,
			want: `{"spec":{"service":"web","backends":[{"service":"web-stable","weight":70},{"service":"web-canary","weight":30}]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := mustJSON(t, tt.in)
			matched, err := tt.rewrite(obj, testCfg, tt.weight)
			if err != nil {
				t.Fatal(err)
			}
			if matched != tt.matched {
				t.Errorf("matched = %v, want %v", matched, tt.matched)
			}
			if diff := cmp.Diff(mustJSON(t, tt.want), obj); diff != "" {
				t.Errorf("rewritten object (-want +got):\n%s", diff)
			}
			if w, ok := tt.read(obj, testCfg); tt.matched && (!ok || w != tt.weight) {
				t.Errorf("read back weight = %d ok=%v, want %d", w, ok, tt.weight)
			}
		})
	}
}

func mustJSON(t *testing.T, s string) map[string]any {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON([]byte(`{"apiVersion":"x/v1","kind":"X","metadata":{"name":"n"},` + s[1:])); err != nil {
		t.Fatalf("bad test JSON %s: %v", s, err)
	}
	return u.Object
}

func discoveryWith(groupVersions ...string) *fakediscovery.FakeDiscovery {
	d := &fakediscovery.FakeDiscovery{Fake: &kubefake.NewClientset().Fake}
	for _, gv := range groupVersions {
		res := map[string]string{"gateway.networking.k8s.io/v1": "httproutes", "networking.istio.io/v1beta1": "virtualservices", "split.smi-spec.io/v1alpha2": "trafficsplits"}[gv]
		d.Resources = append(d.Resources, &metav1.APIResourceList{GroupVersion: gv, APIResources: []metav1.APIResource{{Name: res, Namespaced: true}}})
	}
	return d
}

func TestCheckMissingCRDAndObject(t *testing.T) {
	route := &unstructured.Unstructured{Object: mustJSON(t, `{"spec":{"rules":[{"backendRefs":[{"name":"web","port":80}]}]}}`)}
	route.SetAPIVersion("gateway.networking.k8s.io/v1")
	route.SetKind("HTTPRoute")
	route.SetNamespace("shop")
	route.SetName("web")
	gvrs := map[schema.GroupVersionResource]string{{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}: "HTTPRouteList"}
	tests := []struct {
		name     string
		kind     string
		object   string
		disc     *fakediscovery.FakeDiscovery
		wantErr  string
		wantCode int
	}{
		{"gateway api present and route found", RouterGatewayAPI, "web", discoveryWith("gateway.networking.k8s.io/v1"), "", 0},
		{"gateway api CRD missing", RouterGatewayAPI, "web", discoveryWith(), "--traffic-router gateway-api: the cluster does not serve HTTPRoute (httproutes.gateway.networking.k8s.io, versions v1, v1beta1): is its CRD installed?", exitcode.Usage},
		{"route missing", RouterGatewayAPI, "nope", discoveryWith("gateway.networking.k8s.io/v1"), `httproute "shop/nope" not found`, exitcode.Usage},
		{"istio CRD missing", RouterIstio, "web", discoveryWith("gateway.networking.k8s.io/v1"), "--traffic-router istio: the cluster does not serve VirtualService (virtualservices.networking.istio.io, versions v1, v1beta1, v1alpha3): is its CRD installed?", exitcode.Usage},
		{"smi CRD missing", RouterSMI, "web", discoveryWith(), "--traffic-router smi: the cluster does not serve TrafficSplit (trafficsplits.split.smi-spec.io, versions v1alpha4, v1alpha3, v1alpha2): is its CRD installed?", exitcode.Usage},
		{"nginx ingress missing", RouterNGINX, "web", discoveryWith(), `ingress "shop/web" not found`, exitcode.Usage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), gvrs, route.DeepCopy())
			cfg := testCfg
			cfg.Kind, cfg.Name = tt.kind, tt.object
			r, err := NewWeightRouter(cfg, dyn, tt.disc)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Check(context.Background())
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tt.wantErr, got); diff != "" {
				t.Errorf("Check error (-want +got):\n%s", diff)
			}
			if code := exitcode.Of(err); code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
		})
	}
}

func TestUnknownRouterIsUsage(t *testing.T) {
	_, err := NewWeightRouter(RouterConfig{Kind: "traefik", Name: "x", Service: "web"}, nil, nil)
	if exitcode.Of(err) != exitcode.Usage {
		t.Fatalf("want usage error, got %v", err)
	}
	_, err = NewWeightRouter(RouterConfig{Kind: RouterGatewayAPI, Service: "web"}, nil, nil)
	if exitcode.Of(err) != exitcode.Usage || err.Error() != "--traffic-router gateway-api needs --route NAME" {
		t.Fatalf("want usage error naming --route, got %v", err)
	}
}

func TestSetWeightGatewayAPIRoundTrip(t *testing.T) {
	route := &unstructured.Unstructured{Object: mustJSON(t, `{"spec":{"rules":[{"backendRefs":[{"name":"web","port":80}]}]}}`)}
	route.SetAPIVersion("gateway.networking.k8s.io/v1")
	route.SetKind("HTTPRoute")
	route.SetNamespace("shop")
	route.SetName("web")
	gvrs := map[schema.GroupVersionResource]string{{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}: "HTTPRouteList"}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), gvrs, route)
	cfg := testCfg
	cfg.Kind, cfg.Name = RouterGatewayAPI, "web"
	r, _ := NewWeightRouter(cfg, dyn, discoveryWith("gateway.networking.k8s.io/v1"))
	ctx := context.Background()
	for _, w := range []int{10, 30, 50, 100, 0} {
		if err := r.SetWeight(ctx, w); err != nil {
			t.Fatal(err)
		}
		got, err := r.Weight(ctx)
		if err != nil || got != w {
			t.Errorf("after SetWeight(%d): Weight = %d, %v", w, got, err)
		}
	}
	var missing *MissingAPIError
	r2, _ := NewWeightRouter(cfg, dyn, discoveryWith())
	if err := r2.SetWeight(ctx, 10); !errors.As(err, &missing) {
		t.Errorf("SetWeight without the CRD: want MissingAPIError, got %v", err)
	}
}

func TestNGINXCanaryIngress(t *testing.T) {
	ing := &unstructured.Unstructured{Object: mustJSON(t, `{"metadata":{"annotations":{"nginx.ingress.kubernetes.io/rewrite-target":"/"}},"spec":{"ingressClassName":"nginx","rules":[{"host":"shop.example","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}}`)}
	ing.SetAPIVersion("networking.k8s.io/v1")
	ing.SetKind("Ingress")
	ing.SetNamespace("shop")
	ing.SetName("web")
	ing.SetAnnotations(map[string]string{"nginx.ingress.kubernetes.io/rewrite-target": "/"})
	dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), ing)
	cfg := testCfg
	cfg.Kind, cfg.Name = RouterNGINX, "web"
	r, _ := NewWeightRouter(cfg, dyn, nil)
	ctx := context.Background()
	if err := r.Check(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.SetWeight(ctx, 30); err != nil {
		t.Fatal(err)
	}
	primary, _ := dyn.Resource(ingressGVR).Namespace("shop").Get(ctx, "web", metav1.GetOptions{})
	canary, err := dyn.Resource(ingressGVR).Namespace("shop").Get(ctx, "web-canary", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	backend := func(u *unstructured.Unstructured) string {
		rules, _, _ := unstructured.NestedSlice(u.Object, "spec", "rules")
		paths, _, _ := unstructured.NestedSlice(rules[0].(map[string]any), "http", "paths")
		s, _, _ := unstructured.NestedString(paths[0].(map[string]any), "backend", "service", "name")
		return s
	}
	if diff := cmp.Diff([]string{"web-stable", "web-canary"}, []string{backend(primary), backend(canary)}); diff != "" {
		t.Errorf("backends [primary canary] (-want +got):\n%s", diff)
	}
	wantAnn := map[string]string{NGINXCanaryAnnotation: "true", NGINXCanaryWeightAnnotation: "30", "nginx.ingress.kubernetes.io/rewrite-target": "/"}
	if diff := cmp.Diff(wantAnn, canary.GetAnnotations()); diff != "" {
		t.Errorf("canary ingress annotations (-want +got):\n%s", diff)
	}
	if err := r.SetWeight(ctx, 70); err != nil {
		t.Fatal(err)
	}
	if w, err := r.Weight(ctx); err != nil || w != 70 {
		t.Errorf("Weight = %d, %v; want 70", w, err)
	}
}
