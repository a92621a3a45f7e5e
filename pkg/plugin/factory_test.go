package plugin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/pflag"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// TestFactory drives the Factory as the root command does, from parsed
// kubeconfig flags, against a fake API server: the namespace comes from -n,
// and the typed, dynamic and builder clients reach the server named by
// --server with kubectl's default user agent.
func TestFactory(t *testing.T) {
	var mu sync.Mutex
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.UserAgent())
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/apis/apps/v1/namespaces/shop/deployments/web":
			w.Write([]byte(`{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}`))
		case "/apis/example.com/v1/namespaces/shop/widgets/w":
			w.Write([]byte(`{"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "shop"}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()

	kubeconfig := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kubeconfig, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flags := genericclioptions.NewConfigFlags(true)
	fs := pflag.NewFlagSet("zdd", pflag.ContinueOnError)
	flags.AddFlags(fs)
	if err := fs.Parse([]string{"--kubeconfig", kubeconfig, "--server", srv.URL, "-n", "shop"}); err != nil {
		t.Fatal(err)
	}
	f := NewFactory(flags)

	ns, explicit, err := f.ToRawKubeConfigLoader().Namespace()
	if err != nil || ns != "shop" || !explicit {
		t.Errorf("Namespace() = %q, %v, %v, want shop, true, nil", ns, explicit, err)
	}
	cs, err := f.KubernetesClientSet()
	if err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil || d.Name != "web" {
		t.Errorf("typed get: %v, %v", d, err)
	}
	dyn, err := f.DynamicClient()
	if err != nil {
		t.Fatal(err)
	}
	u, err := dyn.Resource(schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}).Namespace("shop").Get(context.Background(), "w", metav1.GetOptions{})
	if err != nil || u.GetName() != "w" {
		t.Errorf("dynamic get: %v, %v", u, err)
	}
	if f.NewBuilder() == nil {
		t.Error("NewBuilder() = nil")
	}

	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("requests: %q, want 2", got)
	}
	for i, want := range []string{"GET /apis/apps/v1/namespaces/shop/deployments/web ", "GET /apis/example.com/v1/namespaces/shop/widgets/w "} {
		if !strings.HasPrefix(got[i], want) {
			t.Errorf("request %d: %q, want %q...", i, got[i], want)
		}
		// kubectl's default: "<binary>/<version> (<os>/<arch>) kubernetes/<commit>"
		if ua := strings.TrimPrefix(got[i], want); !strings.Contains(ua, "/") || !strings.Contains(ua, " kubernetes/") {
			t.Errorf("request %d: user agent %q, want the default Kubernetes user agent", i, ua)
		}
	}
}

type configGetter struct {
	genericclioptions.RESTClientGetter
	c *rest.Config
}

func (g configGetter) ToRESTConfig() (*rest.Config, error) { return rest.CopyConfig(g.c), nil }

// The release's clients are not held to client-go's default 5 requests a
// second; a limit the config sets stays.
func TestClientRateLimit(t *testing.T) {
	for _, tc := range []struct {
		name       string
		in         *rest.Config
		qps        float32
		burst      int
		keepsLimit bool
	}{
		{name: "none set", in: &rest.Config{Host: "https://x"}, qps: clientQPS, burst: clientBurst},
		{name: "set by the config", in: &rest.Config{Host: "https://x", QPS: 7, Burst: 9}, qps: 7, burst: 9},
		{name: "a rate limiter of its own", in: &rest.Config{Host: "https://x", RateLimiter: flowcontrol.NewFakeAlwaysRateLimiter()}, keepsLimit: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &factory{RESTClientGetter: configGetter{c: tc.in}}
			c, err := f.restConfig()
			if err != nil {
				t.Fatal(err)
			}
			if tc.keepsLimit {
				if c.RateLimiter == nil || c.QPS != 0 {
					t.Errorf("the config's rate limiter was replaced: QPS %v, limiter %v", c.QPS, c.RateLimiter)
				}
				return
			}
			if c.QPS != tc.qps || c.Burst != tc.burst {
				t.Errorf("QPS/burst: want %v/%d, got %v/%d", tc.qps, tc.burst, c.QPS, c.Burst)
			}
		})
	}
}
