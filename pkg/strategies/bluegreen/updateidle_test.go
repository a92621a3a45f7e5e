package bluegreen

import (
	"context"
	"errors"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestUpdateIdle: the idle colour's template, replicas and pause are set by
// one patch that tests the generation read. Status writes in between (the
// deployment controller's) do not stop it; a spec change by another writer
// in between does, named, and the other writer's spec stays.
func TestUpdateIdle(t *testing.T) {
	for _, tc := range []struct {
		name        string
		between     func(d *appsv1.Deployment)
		wantChanged bool
	}{
		{name: "status written in between", between: func(d *appsv1.Deployment) { d.Status.ObservedGeneration++ }},
		{name: "spec changed in between", between: func(d *appsv1.Deployment) {
			d.Generation++
			d.Spec.Template.Spec.Containers[0].Image = "web:other"
		}, wantChanged: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := bgCluster(t, 4)
			green, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web-green", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			green.Spec.Paused = true
			if err := cs.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), green, "shop"); err != nil {
				t.Fatal(err)
			}
			patches := 0
			cs.PrependReactor("patch", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
				if patches++; patches == 1 {
					// another write lands between updateIdle's read and its patch
					cur, _ := cs.Tracker().Get(appsv1.SchemeGroupVersion.WithResource("deployments"), "shop", "web-green")
					d := cur.(*appsv1.Deployment).DeepCopy()
					tc.between(d)
					if err := cs.Tracker().Update(appsv1.SchemeGroupVersion.WithResource("deployments"), d, "shop"); err != nil {
						t.Fatal(err)
					}
				}
				return false, nil, nil
			})
			r := &Runner{Client: cs, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(), Timeout: 5 * time.Second}}
			s := &session{r: r, op: state.NewOperation(Strategy, time.Now()), rec: r.recorder(), sess: state.Under(context.Background(), "service", "shop/web", nil)}
			s.ctx = s.sess.Context()
			defer s.sess.End()
			tmpl := green.Spec.Template.DeepCopy()
			tmpl.Spec.Containers[0].Image = "web:v3"
			applied, err := r.updateIdle(s, "web-green", "green", tmpl, 5)
			got, _ := cs.AppsV1().Deployments("shop").Get(context.Background(), "web-green", metav1.GetOptions{})
			if tc.wantChanged {
				var changed *kube.ChangedError
				if !errors.As(err, &changed) {
					t.Fatalf("updateIdle over another writer's spec change: err %v, want a ChangedError", err)
				}
				if img := got.Spec.Template.Spec.Containers[0].Image; img != "web:other" {
					t.Errorf("the other writer's image was overwritten: %q", img)
				}
				return
			}
			if err != nil {
				t.Fatalf("updateIdle: %v", err)
			}
			if patches != 1 {
				t.Errorf("%d patches, want 1 (no retry)", patches)
			}
			for _, d := range []*appsv1.Deployment{applied, got} {
				if d.Spec.Template.Spec.Containers[0].Image != "web:v3" || *d.Spec.Replicas != 5 || d.Spec.Paused {
					t.Errorf("deployment after updateIdle: image %q replicas %d paused %v, want web:v3, 5, false", d.Spec.Template.Spec.Containers[0].Image, *d.Spec.Replicas, d.Spec.Paused)
				}
			}
		})
	}
}
