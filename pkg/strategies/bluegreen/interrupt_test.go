package bluegreen

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// TestSwitchToInterrupted: Ctrl-C before the first selector patch switches
// no Service; Ctrl-C once the first is patched still switches every one, so
// Services that switch together are never left on different colours.
func TestSwitchToInterrupted(t *testing.T) {
	tests := []struct {
		name string
		// cancelAt is the Service whose pre-patch hook sees Ctrl-C
		cancelAt     string
		wantSwitched bool
		want         map[string]string
	}{
		{name: "before the first patch", cancelAt: "web", want: map[string]string{"web": "blue", "web-admin": "blue"}},
		{name: "between the two patches", cancelAt: "web-admin", wantSwitched: true, want: map[string]string{"web": "green", "web-admin": "green"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc := func(name string) *corev1.Service {
				return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
					Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web", "version": "blue"}}}
			}
			one := int32(1)
			green := &appsv1.Deployment{
				ObjectMeta: metav1.ObjectMeta{Name: "web-green", Namespace: "shop", Generation: 1},
				Spec:       appsv1.DeploymentSpec{Replicas: &one},
				Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1},
			}
			pod := &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: "web-green-1", Namespace: "shop", Labels: map[string]string{"app": "web", "version": "green"}},
				Status:     corev1.PodStatus{Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
			}
			client := fake.NewClientset(svc("web"), svc("web-admin"), green, pod)
			r := &Runner{Client: client, config: Config{Namespace: "shop", Service: "web", Colours: DefaultColours(), Timeout: 5 * time.Second}}
			parent, interrupt := context.WithCancel(context.Background())
			defer interrupt()
			s := &session{r: r, op: state.NewOperation(Strategy, time.Now()), rec: r.recorder(), sess: state.Under(parent, "service", "shop/web", nil)}
			s.ctx = s.sess.Context()
			defer s.sess.End()
			snap := &Snapshot{AppSelector: map[string]string{"app": "web"}, Services: []string{"web", "web-admin"}}
			hook := func(_ context.Context, name string) error {
				if name == tc.cancelAt {
					interrupt()
				}
				return nil
			}
			switched, err := s.switchTo(s.ctx, snap, "blue", "green", "web-green", 1, "test", hook)
			if err == nil || !errors.Is(err, context.Canceled) {
				t.Errorf("switchTo: want an error carrying context.Canceled, got %v", err)
			}
			if switched != tc.wantSwitched {
				t.Errorf("switched: want %v, got %v", tc.wantSwitched, switched)
			}
			got := map[string]string{}
			for _, name := range snap.Services {
				s, err := client.CoreV1().Services("shop").Get(context.Background(), name, metav1.GetOptions{})
				if err != nil {
					t.Fatal(err)
				}
				got[name] = s.Spec.Selector["version"]
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("selected colours (-want +got):\n%s", diff)
			}
			if !s.interrupted() {
				t.Error("the session does not report the interrupt")
			}
		})
	}
}

// TestSpecChange: the guard's check that nobody changed what deploy set in
// the new colour's Deployment.
func TestSpecChange(t *testing.T) {
	three, five := int32(3), int32(5)
	applied := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Generation: 2},
		Spec: appsv1.DeploymentSpec{Replicas: &three, Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:v2"}}}}},
	}
	tests := []struct {
		name string
		edit func(d *appsv1.Deployment)
		want string
	}{
		{name: "unchanged", edit: func(*appsv1.Deployment) {}},
		{name: "status only, same generation", edit: func(d *appsv1.Deployment) { d.Status.ReadyReplicas = 3 }},
		{name: "another spec field", edit: func(d *appsv1.Deployment) {
			d.Generation = 3
			d.Spec.RevisionHistoryLimit = &five
		}},
		{name: "image", edit: func(d *appsv1.Deployment) {
			d.Generation = 3
			d.Spec.Template.Spec.Containers[0].Image = "web:v3"
		}, want: "its pod template (images app=web:v3, deploy set app=web:v2)"},
		{name: "replicas", edit: func(d *appsv1.Deployment) {
			d.Generation = 3
			d.Spec.Replicas = &five
		}, want: "its replicas (5, deploy set 3)"},
		{name: "paused and a label", edit: func(d *appsv1.Deployment) {
			d.Generation = 3
			d.Spec.Paused = true
			d.Spec.Template.Labels = map[string]string{"x": "y"}
		}, want: "its pod template and paused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cur := applied.DeepCopy()
			tc.edit(cur)
			var got string
			if changed := specChange(applied, cur); changed != nil {
				got = changed.Change
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("specChange (-want +got):\n%s", diff)
			}
		})
	}
	if got := specChange(nil, applied); got != nil {
		t.Errorf("specChange with nothing applied: want nil, got %v", got)
	}
}
