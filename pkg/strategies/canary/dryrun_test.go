package canary

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// TestDryRunPlanGolden: the client dry run's plan, step by step, against
// golden files; nothing is written to the (fake) cluster.
func TestDryRunPlanGolden(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			MinReplicas:    ptr.To(int32(2)), MaxReplicas: 10,
		},
	}
	for _, tc := range []struct {
		name   string
		cfg    Config
		hpa    bool
		golden string
	}{
		{"steps with pauses", Config{Steps: []int{10, 50, 100}, Pauses: []time.Duration{time.Minute}}, false, "dryrun_steps.golden"},
		{"manual holds after the first step", Config{Steps: []int{20, 100}, Manual: true}, false, "dryrun_manual.golden"},
		{"one weight held", Config{Steps: []int{30}, Hold: true}, false, "dryrun_weight.golden"},
		{"autoscaled stable", Config{Steps: []int{25, 50, 100}}, true, "dryrun_autoscaled.golden"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := []runtime.Object{stableDeployment(), webService("web", map[string]string{"app": "web"})}
			if tc.hpa {
				objs = append(objs, hpa)
			}
			cs := fake.NewClientset(objs...)
			c := &Canary{Client: cs, Dynamic: dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), kedaListKinds)}
			cfg := tc.cfg
			cfg.Namespace, cfg.Name, cfg.Images = "shop", "web", map[string]string{"app": "web:v2"}
			before := len(cs.Actions())
			cfg.DryRun = strategies.DryRunClient
			plan, err := c.DryRun(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range cs.Actions()[before:] {
				if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
					t.Errorf("the dry run wrote: %s %s", v, a.GetResource().Resource)
				}
			}
			var out bytes.Buffer
			plan.Print(&out)
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), out.String()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
