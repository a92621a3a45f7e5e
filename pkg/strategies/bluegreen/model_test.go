package bluegreen

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func service(name string, sel map[string]string) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Spec: corev1.ServiceSpec{Selector: sel}}
}

func deployment(name string, podLabels map[string]string, colourInSelector bool) *appsv1.Deployment {
	sel := map[string]string{"app": podLabels["app"]}
	if colourInSelector {
		sel["version"] = podLabels["version"]
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: sel},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}},
	}
}

func colour(app, c string) map[string]string { return map[string]string{"app": app, "version": c} }

func TestDiscover(t *testing.T) {
	web := map[string]string{"app": "web", "version": "blue"}
	type want struct {
		Active, Idle, IdleName, Base, ActiveDep, IdleDep string
		Services                                         []string
	}
	tests := []struct {
		name    string
		objs    []runtime.Object
		extra   []string
		want    *want
		wantErr string // the start of the usage error
	}{
		{name: "live colour with no idle deployment yet",
			objs: []runtime.Object{service("web", web), deployment("web-blue", colour("web", "blue"), true)},
			want: &want{Active: "blue", Idle: "green", IdleName: "web-green", Base: "web", ActiveDep: "web-blue", Services: []string{"web"}}},
		{name: "both colours, and services with the same app switch together; the preview does not",
			objs: []runtime.Object{service("web", web), service("web-admin", web), service("web-preview", colour("web", "green")), service("other", colour("api", "blue")),
				deployment("web-blue", colour("web", "blue"), true), deployment("web-green", colour("web", "green"), true)},
			want: &want{Active: "blue", Idle: "green", IdleName: "web-green", Base: "web", ActiveDep: "web-blue", IdleDep: "web-green", Services: []string{"web", "web-admin"}}},
		{name: "service not found", objs: nil, wantErr: `service "shop/web" not found`},
		{name: "service without the colour label",
			objs:    []runtime.Object{service("web", map[string]string{"app": "web"}), deployment("web", map[string]string{"app": "web"}, false)},
			wantErr: `service "shop/web" selects app=web, with no "version" label: it is not blue-green yet`},
		{name: "a colour that is not one of the two",
			objs:    []runtime.Object{service("web", colour("web", "red")), deployment("web-red", colour("web", "red"), true)},
			wantErr: `service "shop/web" selects version=red, which is neither of the colours blue and green`},
		{name: "no deployment serves the live colour",
			objs:    []runtime.Object{service("web", web), deployment("web-green", colour("web", "green"), true)},
			wantErr: `service "shop/web" selects version=blue, but no deployment has pods labelled app=web,version=blue; exactly one deployment must serve the live colour`},
		{name: "two deployments serve the live colour",
			objs:    []runtime.Object{service("web", web), deployment("web-blue", colour("web", "blue"), true), deployment("web-blue-2", colour("web", "blue"), true)},
			wantErr: `service "shop/web" selects version=blue, but 2 deployments serve it: web-blue, web-blue-2; exactly one deployment must serve the live colour`},
		{name: "two deployments of the idle colour",
			objs: []runtime.Object{service("web", web), deployment("web-blue", colour("web", "blue"), true),
				deployment("web-green", colour("web", "green"), true), deployment("web-green-2", colour("web", "green"), true)},
			wantErr: `service "shop/web": 2 deployments have pods of the idle colour version=green: web-green, web-green-2; at most one may`},
		{name: "the idle deployment's name is taken by a deployment without the colour",
			objs:    []runtime.Object{service("web", web), deployment("web-blue", colour("web", "blue"), true), deployment("web-green", map[string]string{"app": "other"}, false)},
			wantErr: `deployment "shop/web-green" exists but its pods are not labelled app=web,version=green`},
		{name: "a deployment whose selector lacks the colour",
			objs:    []runtime.Object{service("web", web), deployment("web-blue", colour("web", "blue"), false)},
			wantErr: `deployment "shop/web-blue" serves service "shop/web" but its selector does not carry the "version" label`},
		{name: "--service on another colour",
			objs:  []runtime.Object{service("web", web), service("api", colour("api", "green")), deployment("web-blue", colour("web", "blue"), true)},
			extra: []string{"api"}, wantErr: `service "shop/api" selects app=api,version=green, but service "shop/web" selects version=blue`},
		{name: "--service that does not exist",
			objs:  []runtime.Object{service("web", web), deployment("web-blue", colour("web", "blue"), true)},
			extra: []string{"nope"}, wantErr: `--service "nope": service "shop/nope" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(tt.objs...)
			snap, err := Discover(context.Background(), c, "shop", "web", tt.extra, DefaultColours())
			for _, a := range c.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" {
					t.Errorf("Discover changed the cluster: %s %s", v, a.GetResource().Resource)
				}
			}
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want %q", tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Errorf("error:\n got %q\nwant %q...", err, tt.wantErr)
				}
				if code := exitcode.Of(err); code != exitcode.Usage {
					t.Errorf("exit code %d, want %d", code, exitcode.Usage)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := &want{Active: snap.Active, Idle: snap.Idle, IdleName: snap.IdleName, Base: snap.Base, ActiveDep: snap.ActiveDep.Name, Services: snap.Services}
			if snap.IdleDep != nil {
				got.IdleDep = snap.IdleDep.Name
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("snapshot (-want +got):\n%s", diff)
			}
		})
	}
}

func TestColourCopy(t *testing.T) {
	src := deployment("web", map[string]string{"app": "web"}, false)
	src.Annotations = map[string]string{"deployment.kubernetes.io/revision": "4", "zdd.dev/phase": "done", "team": "shop"}
	src.ResourceVersion, src.UID = "99", "abc"
	got := colourCopy(src, "web-blue", "version", "blue")
	want := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web-blue", Namespace: "shop", Labels: map[string]string{"version": "blue"}, Annotations: map[string]string{"team": "shop"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](3), Selector: &metav1.LabelSelector{MatchLabels: colour("web", "blue")},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: colour("web", "blue")},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx:1.27"}}}}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("colourCopy (-want +got):\n%s", diff)
	}
	if src.Spec.Template.Labels["version"] != "" || src.Spec.Selector.MatchLabels["version"] != "" {
		t.Error("colourCopy changed its source")
	}
}

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	st := &Status{Service: "shop/web", Services: []string{"web", "web-admin"}, Label: "version", Live: "green",
		Preview: "web-preview (selects version=blue)",
		Colours: []ColourStatus{
			{Colour: "blue", Deployment: "web-blue", Images: "web=nginx:1.27", Replicas: 0, Ready: 0},
			{Colour: "green", Deployment: "web-green", Images: "web=nginx:1.28", Replicas: 3, Ready: 3, Live: true},
		},
		Operation: &state.Operation{ID: "20261127-075900-abcdef", Strategy: Strategy, Phase: "scale-down-delay",
			Params: map[string]string{ParamActive: "green", ParamPrevious: "blue", ParamTarget: "green"}},
		Lease: &state.LeaseInfo{Holder: "me@host pid 1", RenewTime: now.Add(-5 * time.Second), Expires: now.Add(25 * time.Second), Renewing: true},
	}
	none := &Status{Service: "shop/web", Services: []string{"web"}, Label: "version", Live: "blue",
		Colours: []ColourStatus{{Colour: "blue", Deployment: "web-blue", Images: "web=nginx:1.27", Replicas: 3, Ready: 3, Live: true}, {Colour: "green"}}}
	tests := []struct {
		name   string
		st     *Status
		asJSON bool
	}{
		{name: "in-flight", st: st},
		{name: "in-flight-json", st: st, asJSON: true},
		{name: "no-idle-colour", st: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := PrintStatus(&b, tt.st, tt.asJSON, now); err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "status-"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, b.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("%s (-want +got):\n%s", golden, diff)
			}
		})
	}
}
