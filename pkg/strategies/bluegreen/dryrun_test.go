package bluegreen

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/strategies"
)

// TestPlanGolden: the client dry run of init, deploy, promote and rollback
// against golden files; nothing is written to the (fake) cluster.
func TestPlanGolden(t *testing.T) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web-blue"},
			MinReplicas:    ptr.To(int32(2)), MaxReplicas: 6,
		},
	}
	green := deployment("web-green", colour("web", "green"), true)
	green.Spec.Replicas = ptr.To(int32(0))
	for _, tc := range []struct {
		name, operation string
		objs            []runtime.Object
		cfg             Config
	}{
		{"init", OperationInit, []runtime.Object{service("web", map[string]string{"app": "web"}), deployment("web", map[string]string{"app": "web"}, false)}, Config{}},
		{"deploy", OperationDeploy, []runtime.Object{service("web", colour("web", "blue")), deployment("web-blue", colour("web", "blue"), true), hpa}, Config{Images: map[string]string{"web": "nginx:1.28"}}},
		{"deploy-manual", OperationDeploy, []runtime.Object{service("web", colour("web", "blue")), deployment("web-blue", colour("web", "blue"), true), green}, Config{Images: map[string]string{"web": "nginx:1.28"}, ManualPromote: true}},
		{"promote", OperationPromote, []runtime.Object{service("web", colour("web", "blue")), deployment("web-blue", colour("web", "blue"), true), deployment("web-green", colour("web", "green"), true)}, Config{DeleteOld: true}},
		{"rollback", OperationRollback, []runtime.Object{service("web", colour("web", "green")), deployment("web-blue", colour("web", "blue"), true), deployment("web-green", colour("web", "green"), true)}, Config{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(tc.objs...)
			cfg := tc.cfg
			cfg.Namespace, cfg.Service, cfg.Colours, cfg.DryRun = "shop", "web", DefaultColours(), strategies.DryRunClient
			r := &Runner{Client: cs}
			before := len(cs.Actions())
			plan, err := r.Plan(context.Background(), tc.operation, cfg)
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
			path := filepath.Join("testdata", "plan-"+tc.name+".golden")
			if *update {
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
