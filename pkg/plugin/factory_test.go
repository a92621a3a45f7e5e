package plugin

import (
	"testing"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

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
