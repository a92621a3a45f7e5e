package traffic

import (
	"context"
	"errors"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	clienttesting "k8s.io/client-go/testing"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// TestSetWeightAnotherWriter: the route is edited by someone else between
// Check (or the last SetWeight) and the next SetWeight. The fake tracker
// refuses an update whose resourceVersion is not the stored one, as the API
// server does.
func TestSetWeightAnotherWriter(t *testing.T) {
	gvr := schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	tests := []struct {
		name string
		// edit changes the stored route after the first SetWeight(50)
		edit        func(u *unstructured.Unstructured)
		wantChanged *kube.ChangedError
		// wantWeights are the backendRefs weights stored at the end
		wantWeights []int64
	}{
		{"nobody else", nil, nil, []int64{70, 30}},
		{"an annotation is retried over", func(u *unstructured.Unstructured) {
			u.SetAnnotations(map[string]string{"example.com/note": "x"})
		}, nil, []int64{70, 30}},
		{"the weights edited stop the write", func(u *unstructured.Unstructured) {
			refs := u.Object["spec"].(map[string]any)["rules"].([]any)[0].(map[string]any)["backendRefs"].([]any)
			refs[0].(map[string]any)["weight"] = int64(90)
			refs[1].(map[string]any)["weight"] = int64(10)
		}, &kube.ChangedError{Object: `httproute "shop/web"`, Fields: []string{"spec.rules"}}, []int64{90, 10}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			route := &unstructured.Unstructured{Object: mustJSON(t, `{"spec":{"rules":[{"backendRefs":[{"name":"web","port":80}]}]}}`)}
			route.SetAPIVersion("gateway.networking.k8s.io/v1")
			route.SetKind("HTTPRoute")
			route.SetNamespace("shop")
			route.SetName("web")
			route.SetResourceVersion("1")
			dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{gvr: "HTTPRouteList"}, route)
			// as the API server: an update must carry the stored
			// resourceVersion, and each update makes a new one
			dyn.PrependReactor("update", "httproutes", func(a clienttesting.Action) (bool, runtime.Object, error) {
				u := a.(clienttesting.UpdateAction).GetObject().(*unstructured.Unstructured)
				stored, err := dyn.Tracker().Get(gvr, "shop", u.GetName())
				if err != nil {
					return true, nil, err
				}
				rv := stored.(metav1.Object).GetResourceVersion()
				if u.GetResourceVersion() != rv {
					return true, nil, apierrors.NewConflict(gvr.GroupResource(), u.GetName(), errors.New("the object has been modified"))
				}
				n, _ := strconv.Atoi(rv)
				u.SetResourceVersion(strconv.Itoa(n + 1))
				return false, nil, nil
			})
			cfg := testCfg
			cfg.Kind, cfg.Name = RouterGatewayAPI, "web"
			r, err := NewWeightRouter(cfg, dyn, discoveryWith("gateway.networking.k8s.io/v1"))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			if err := r.Check(ctx); err != nil {
				t.Fatal(err)
			}
			if err := r.SetWeight(ctx, 50); err != nil {
				t.Fatal(err)
			}
			if tt.edit != nil {
				cur, err := dyn.Resource(gvr).Namespace("shop").Get(ctx, "web", metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				tt.edit(cur)
				if _, err := dyn.Resource(gvr).Namespace("shop").Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			err = r.SetWeight(ctx, 30)
			var changed *kube.ChangedError
			if errors.As(err, &changed) {
				changed.From, changed.To, changed.Seen = "", "", nil // long values are left out anyway
			} else if err != nil {
				t.Fatalf("SetWeight(30): %v", err)
			}
			if diff := cmp.Diff(tt.wantChanged, changed); diff != "" {
				t.Errorf("SetWeight(30) after the edit (-want +got):\n%s", diff)
			}
			cur, err := dyn.Resource(gvr).Namespace("shop").Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			refs := cur.Object["spec"].(map[string]any)["rules"].([]any)[0].(map[string]any)["backendRefs"].([]any)
			var got []int64
			for _, ref := range refs {
				w, _ := toInt64(ref.(map[string]any)["weight"])
				got = append(got, w)
			}
			if diff := cmp.Diff(tt.wantWeights, got); diff != "" {
				t.Errorf("stored weights [stable canary] (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNGINXSetWeightAnotherWriter: the canary Ingress's canary-weight edited
// by someone else since the last SetWeight stops the next one; another
// annotation does not.
func TestNGINXSetWeightAnotherWriter(t *testing.T) {
	tests := []struct {
		name       string
		annotation string // set on web-canary to "x" (or 90 for the weight) between the writes
		wantErr    bool
		wantWeight string
	}{
		{"an unrelated annotation", "example.com/note", false, "60"},
		{"the canary weight edited", NGINXCanaryWeightAnnotation, true, "90"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ing := &unstructured.Unstructured{Object: mustJSON(t, `{"spec":{"ingressClassName":"nginx","rules":[{"host":"shop.example","http":{"paths":[{"path":"/","pathType":"Prefix","backend":{"service":{"name":"web","port":{"number":80}}}}]}}]}}`)}
			ing.SetAPIVersion("networking.k8s.io/v1")
			ing.SetKind("Ingress")
			ing.SetNamespace("shop")
			ing.SetName("web")
			dyn := dynamicfake.NewSimpleDynamicClient(runtime.NewScheme(), ing)
			cfg := testCfg
			cfg.Kind, cfg.Name = RouterNGINX, "web"
			r, _ := NewWeightRouter(cfg, dyn, nil)
			ctx := context.Background()
			if err := r.SetWeight(ctx, 30); err != nil {
				t.Fatal(err)
			}
			canaries := dyn.Resource(ingressGVR).Namespace("shop")
			cur, err := canaries.Get(ctx, "web-canary", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			a := cur.GetAnnotations()
			a[tt.annotation] = "x"
			if tt.annotation == NGINXCanaryWeightAnnotation {
				a[tt.annotation] = "90"
			}
			cur.SetAnnotations(a)
			if _, err := canaries.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
			err = r.SetWeight(ctx, 60)
			var changed *kube.ChangedError
			if got := errors.As(err, &changed); got != tt.wantErr {
				t.Fatalf("SetWeight(60) after the edit: %v, want a ChangedError: %v", err, tt.wantErr)
			}
			if changed != nil && (changed.From != "30" || changed.To != "90") {
				t.Errorf("ChangedError %+v, want from 30 to 90", changed)
			}
			cur, _ = canaries.Get(ctx, "web-canary", metav1.GetOptions{})
			if got := cur.GetAnnotations()[NGINXCanaryWeightAnnotation]; got != tt.wantWeight {
				t.Errorf("canary-weight %q, want %q", got, tt.wantWeight)
			}
		})
	}
}
