package rolling

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

// TestFixInTheSameRelease: --fix puts lint's mechanical fixes into the one
// patch the release sends (beside the image), the preflight judges the
// fixed Deployment, and the changes are in the result and the record.
func TestFixInTheSameRelease(t *testing.T) {
	for _, src := range []string{"images", "manifest"} {
		t.Run(src, func(t *testing.T) {
			// a livenessProbe, which --fix copies as the missing
			// readinessProbe
			liveness := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080)}}}
			objs := fixtures()
			objs[0].(*appsv1.Deployment).Spec.Template.Spec.Containers[0].LivenessProbe = liveness
			client := fake.NewClientset(objs...)
			cfg := Config{Namespace: "shop", Name: "web", Timeout: time.Minute, DryRun: DryRunClient, Fix: true}
			if src == "images" {
				cfg.Images = map[string]string{"app": "shop:v3"}
			} else {
				m := manifest()
				c := m.Object["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)
				c["livenessProbe"] = map[string]any{"httpGet": map[string]any{"path": "/healthz", "port": int64(8080)}}
				cfg.Manifest, cfg.ManifestSource = m, "web.yaml"
			}
			// the real preflight: the Service "web" sends the container
			// traffic, so its missing preStop is an error --fix removes
			r := fixedRollout(client, nil)
			r.Lint = nil
			res, err := r.Run(context.Background(), cfg)
			if err != nil {
				t.Fatalf("the fixed release was refused: %v", err)
			}
			// the grace period (30 s by default) already covers the sleep
			// and the drain; a manifest without progressDeadlineSeconds
			// gets it too
			for _, w := range []string{"set spec.strategy.rollingUpdate.maxUnavailable to 0", `added a preStop sleep of 5s to container "app"`, `added a readinessProbe to container "app", a copy of its livenessProbe`} {
				if !slices.Contains(res.Fixes, w) {
					t.Errorf("fixes %q lack %q", res.Fixes, w)
				}
			}
			var patch string
			for _, s := range res.Plan {
				if s.Patch != "" && strings.Contains(s.Patch, "shop:v3") {
					patch = s.Patch
					break
				}
			}
			for _, w := range []string{`"preStop":{"sleep":{"seconds":5}}`, `"maxUnavailable":0`, `"image":"shop:v3"`, `"readinessProbe":{"httpGet":{"path":"/healthz","port":8080}}`, `zdd.dev/param.fixes`} {
				if !strings.Contains(patch, w) {
					t.Errorf("the release's patch lacks %s:\n%s", w, patch)
				}
			}
			for _, f := range res.Findings {
				if f.Rule == "prestop-missing" || f.Rule == "grace-period-too-short" {
					t.Errorf("the preflight judged the unfixed Deployment: %+v", f)
				}
			}
			if w := writes(client); len(w) > 0 {
				t.Errorf("a dry run wrote: %v", w)
			}
		})
	}
}

// TestWithoutFixPreflightRefuses: the same release without --fix is
// refused by the real preflight (exit 2, nothing written).
func TestWithoutFixPreflightRefuses(t *testing.T) {
	client := fake.NewClientset(fixtures()...)
	r := fixedRollout(client, nil)
	r.Lint = nil
	_, err := r.Run(context.Background(), Config{Namespace: "shop", Name: "web", Timeout: time.Minute, Images: map[string]string{"app": "shop:v3"}})
	if err == nil || !strings.Contains(err.Error(), "add --fix") {
		t.Fatalf("error %v, want a refusal naming --fix", err)
	}
	if w := writes(client); len(w) > 0 {
		t.Errorf("a refused release wrote: %v", w)
	}
}

func TestFixParams(t *testing.T) {
	p, err := requestParams(Config{Images: map[string]string{"app": "v2"}, Fix: true, Params: map[string]string{"probe": `{"url":"http://x/"}`, ParamImages: "overridden?"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p[ParamFix] != "true" || p["probe"] != `{"url":"http://x/"}` {
		t.Errorf("params %v: want fix and probe recorded", p)
	}
	var images map[string]string
	if err := json.Unmarshal([]byte(p[ParamImages]), &images); err != nil || images["app"] != "v2" {
		t.Errorf("an extra param replaced the release's own: %v", p[ParamImages])
	}
}
