package traffic

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/utils/ptr"
)

func TestSelectorPatch(t *testing.T) {
	tests := []struct {
		name string
		rv   string
		ann  map[string]*string
		want string
	}{
		{name: "selector only", want: `{"spec":{"selector":{"version":"green"}}}`},
		{name: "with resourceVersion precondition", rv: "42",
			want: `{"metadata":{"resourceVersion":"42"},"spec":{"selector":{"version":"green"}}}`},
		{name: "with annotations in the same patch", rv: "7", ann: map[string]*string{"zdd.dev/phase": ptr.To("switched"), "zdd.dev/result": nil},
			want: `{"metadata":{"annotations":{"zdd.dev/phase":"switched","zdd.dev/result":null},"resourceVersion":"7"},"spec":{"selector":{"version":"green"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := SelectorPatch("version", "green", tt.rv, tt.ann)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
		})
	}
}

func ep(pod string, ready bool) discoveryv1.Endpoint {
	return discoveryv1.Endpoint{Addresses: []string{"10.0.0." + pod}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready)},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Name: pod}}
}

func slice(name string, eps ...discoveryv1.Endpoint) discoveryv1.EndpointSlice {
	return discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name}, Endpoints: eps}
}

func TestEvaluate(t *testing.T) {
	green := map[string]bool{"g1": true, "g2": true, "g3": true}
	tests := []struct {
		name      string
		slices    []discoveryv1.EndpointSlice
		min       int
		want      Convergence
		converged bool
	}{
		{name: "only new pods, all ready", slices: []discoveryv1.EndpointSlice{slice("a", ep("g1", true), ep("g2", true), ep("g3", true))}, min: 3,
			want: Convergence{Ready: 3}, converged: true},
		{name: "old pod still listed", slices: []discoveryv1.EndpointSlice{slice("a", ep("g1", true), ep("g2", true), ep("g3", true), ep("b1", true))}, min: 3,
			want: Convergence{Ready: 3, Foreign: []string{"b1"}}},
		{name: "old pod listed not ready (terminating)", slices: []discoveryv1.EndpointSlice{slice("a", ep("g1", true), ep("b1", false))}, min: 1,
			want: Convergence{Ready: 1, Foreign: []string{"b1"}}},
		{name: "new pod not ready", slices: []discoveryv1.EndpointSlice{slice("a", ep("g1", true), ep("g2", false))}, min: 1,
			want: Convergence{Ready: 1, NotReady: []string{"g2"}}},
		{name: "fewer ready than the minimum", slices: []discoveryv1.EndpointSlice{slice("a", ep("g1", true), ep("g2", true))}, min: 3,
			want: Convergence{Ready: 2}},
		{name: "a pod in two slices (dual stack) counts once", slices: []discoveryv1.EndpointSlice{slice("v4", ep("g1", true), ep("g2", true)), slice("v6", ep("g1", true), ep("g2", true))}, min: 2,
			want: Convergence{Ready: 2}, converged: true},
		{name: "no endpoints at all never converges", min: 0, want: Convergence{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Evaluate(tt.slices, green)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Evaluate (-want +got):\n%s", diff)
			}
			if c := got.Converged(tt.min); c != tt.converged {
				t.Errorf("Converged(%d) = %v, want %v", tt.min, c, tt.converged)
			}
		})
	}
}

func svc(name, colour string) *corev1.Service {
	sel := map[string]string{"app": "web"}
	if colour != "" {
		sel["version"] = colour
	}
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", ResourceVersion: "5"}, Spec: corev1.ServiceSpec{Selector: sel}}
}

func selectorOf(t *testing.T, c *fake.Clientset, name string) string {
	t.Helper()
	s, err := c.CoreV1().Services("shop").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s.Spec.Selector["version"]
}

func TestSwitch(t *testing.T) {
	guardErr := errors.New("colour green has 1 ready pods, needs 3")
	tests := []struct {
		name      string
		services  []*corev1.Service
		guard     Guard
		conflict  string // a Service whose patch fails with a Conflict
		wantErr   string
		wantSel   map[string]string
		wantPatch int
	}{
		{name: "switches every service", services: []*corev1.Service{svc("web", "blue"), svc("web-admin", "blue")},
			wantSel: map[string]string{"web": "green", "web-admin": "green"}, wantPatch: 2},
		{name: "a service already on the target is left alone", services: []*corev1.Service{svc("web", "green")},
			wantSel: map[string]string{"web": "green"}, wantPatch: 0},
		{name: "a service on an unexpected colour is refused", services: []*corev1.Service{svc("web", "red")},
			wantErr: `switching service "shop/web" to green: it selects version=red, expected blue`, wantSel: map[string]string{"web": "red"}},
		{name: "a failing guard patches nothing", services: []*corev1.Service{svc("web", "blue")}, guard: func(context.Context) error { return guardErr },
			wantErr: `switching service "shop/web" to green: colour green has 1 ready pods, needs 3`, wantSel: map[string]string{"web": "blue"}},
		{name: "a conflict on the second service switches the first back", services: []*corev1.Service{svc("web", "blue"), svc("web-admin", "blue")}, conflict: "web-admin",
			wantErr: `service "shop/web-admin" was changed by someone else during the switch; not overwriting it`, wantSel: map[string]string{"web": "blue", "web-admin": "blue"}, wantPatch: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			var names []string
			for _, s := range tt.services {
				objs = append(objs, s)
				names = append(names, s.Name)
			}
			c := fake.NewClientset(objs...)
			if tt.conflict != "" {
				c.PrependReactor("patch", "services", func(a k8stesting.Action) (bool, runtime.Object, error) {
					if a.(k8stesting.PatchAction).GetName() == tt.conflict {
						return true, nil, apierrors.NewConflict(schema.GroupResource{Resource: "services"}, tt.conflict, errors.New("the object has been modified"))
					}
					return false, nil, nil
				})
			}
			sw := &SelectorSwitch{Client: c, Namespace: "shop", Label: "version"}
			_, err := sw.Switch(context.Background(), names, "blue", "green", tt.guard)
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
				if len(gotErr) > len(tt.wantErr) {
					gotErr = gotErr[:len(tt.wantErr)]
				}
			}
			if diff := cmp.Diff(tt.wantErr, gotErr); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if tt.conflict != "" {
				var ce *ConflictError
				if !errors.As(err, &ce) {
					t.Errorf("error %v is not a *ConflictError", err)
				}
			}
			got := map[string]string{}
			for _, n := range names {
				got[n] = selectorOf(t, c, n)
			}
			if diff := cmp.Diff(tt.wantSel, got); diff != "" {
				t.Errorf("selectors after the switch (-want +got):\n%s", diff)
			}
			patches := 0
			for _, a := range c.Actions() {
				if a.GetVerb() == "patch" {
					patches++
					var p map[string]map[string]any
					if err := json.Unmarshal(a.(k8stesting.PatchAction).GetPatch(), &p); err != nil {
						t.Fatal(err)
					}
					if p["metadata"]["resourceVersion"] == nil {
						t.Errorf("patch %s carries no resourceVersion precondition", a.(k8stesting.PatchAction).GetPatch())
					}
				}
			}
			if patches != tt.wantPatch {
				t.Errorf("%d patches sent, want %d", patches, tt.wantPatch)
			}
		})
	}
}

func pod(name, colour string) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "web", "version": colour}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
}

func TestConvergenceWatchWaitsForTheNewColourOnly(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sl := slice("web-abc", ep("b1", true), ep("b2", true))
	sl.Namespace = "shop"
	sl.Labels = map[string]string{discoveryv1.LabelServiceName: "web"}
	c := fake.NewClientset(pod("b1", "blue"), pod("b2", "blue"), pod("g1", "green"), pod("g2", "green"), &sl)
	w, err := WatchConvergence(ctx, c, "shop", "web", map[string]string{"app": "web", "version": "green"}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	type result struct {
		at  time.Time
		err error
	}
	res := make(chan result, 1)
	go func() { at, err := w.Wait(ctx); res <- result{at, err} }()

	steps := []struct {
		name string
		eps  []discoveryv1.Endpoint
	}{
		{name: "old and new listed", eps: []discoveryv1.Endpoint{ep("b1", true), ep("b2", true), ep("g1", true), ep("g2", true)}},
		{name: "only new, one not ready", eps: []discoveryv1.Endpoint{ep("g1", true), ep("g2", false)}},
	}
	for _, s := range steps {
		sl.Endpoints = s.eps
		if _, err := c.DiscoveryV1().EndpointSlices("shop").Update(ctx, &sl, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-res:
			t.Fatalf("after %q Wait returned (err %v); it must wait for only ready green endpoints", s.name, r.err)
		case <-time.After(300 * time.Millisecond):
		}
	}
	before := time.Now()
	sl.Endpoints = []discoveryv1.Endpoint{ep("g1", true), ep("g2", true)}
	if _, err := c.DiscoveryV1().EndpointSlices("shop").Update(ctx, &sl, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.at.Before(before) {
		t.Errorf("converged at %s, before the last update at %s", r.at, before)
	}
	// Both informers list and watch only what they need, in the namespace.
	seen := map[string]string{}
	for _, a := range c.Actions() {
		if a.GetVerb() != "list" && a.GetVerb() != "watch" {
			continue
		}
		var sel string
		switch a := a.(type) {
		case k8stesting.ListAction:
			sel = a.GetListRestrictions().Labels.String()
		case k8stesting.WatchAction:
			sel = a.GetWatchRestrictions().Labels.String()
		}
		seen[a.GetVerb()+" "+a.GetNamespace()+" "+a.GetResource().Resource] = sel
	}
	want := map[string]string{
		"list shop endpointslices":  discoveryv1.LabelServiceName + "=web",
		"watch shop endpointslices": discoveryv1.LabelServiceName + "=web",
		"list shop pods":            "app=web,version=green",
		"watch shop pods":           "app=web,version=green",
	}
	if diff := cmp.Diff(want, seen); diff != "" {
		t.Errorf("list and watch requests (-want +got):\n%s", diff)
	}
}
