package probes

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var web = &corev1.Container{Name: "web", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}, {Name: "admin", ContainerPort: 9000}}}

func httpProbe(port intstr.IntOrString) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: port}}}
}

func TestEqualWithDefaults(t *testing.T) {
	withDefaults := &corev1.Probe{
		ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromInt32(8080), Scheme: corev1.URISchemeHTTP}},
		PeriodSeconds: 10, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3, InitialDelaySeconds: 0,
	}
	tests := []struct {
		name string
		a, b *corev1.Probe
		want bool
	}{
		{"both nil", nil, nil, true},
		{"one nil", httpProbe(intstr.FromString("http")), nil, false},
		{"unset fields equal their defaults", httpProbe(intstr.FromInt32(8080)), withDefaults, true},
		{"named port equals its number", httpProbe(intstr.FromString("http")), withDefaults, true},
		{"numeric string port equals its number", httpProbe(intstr.FromString("8080")), withDefaults, true},
		{"empty path is /", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(8080)}}},
			&corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}}, true},
		{"other port", httpProbe(intstr.FromString("admin")), withDefaults, false},
		{"other path", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8080)}}}, withDefaults, false},
		{"other failureThreshold", func() *corev1.Probe { p := httpProbe(intstr.FromInt32(8080)); p.FailureThreshold = 6; return p }(), withDefaults, false},
		{"periodSeconds 10 equals unset", func() *corev1.Probe { p := httpProbe(intstr.FromInt32(8080)); p.PeriodSeconds = 10; return p }(), httpProbe(intstr.FromInt32(8080)), true},
		{"HTTPS is not HTTP", func() *corev1.Probe {
			p := httpProbe(intstr.FromInt32(8080))
			p.HTTPGet.Scheme = corev1.URISchemeHTTPS
			return p
		}(), withDefaults, false},
		{"tcp named port equals number", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}},
			&corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, TimeoutSeconds: 1}, true},
		{"grpc empty service equals none", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000, Service: ptr.To("")}}},
			&corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 9000}}}, true},
		{"http vs tcp", httpProbe(intstr.FromInt32(8080)), &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Equal(tt.a, tt.b, web); got != tt.want {
				t.Errorf("Equal = %v, want %v\n a: %+v\n b: %+v", got, tt.want, Defaulted(tt.a, web), Defaulted(tt.b, web))
			}
		})
	}
}

func TestDefaultedDoesNotChangeInput(t *testing.T) {
	p := httpProbe(intstr.FromString("http"))
	before := p.DeepCopy()
	_ = Defaulted(p, web)
	if diff := cmp.Diff(before, p); diff != "" {
		t.Errorf("input changed (-before +after):\n%s", diff)
	}
}

func TestFindPort(t *testing.T) {
	tests := []struct {
		name   string
		port   intstr.IntOrString
		want   int32
		wantOK bool
	}{
		{"named", intstr.FromString("admin"), 9000, true},
		{"number", intstr.FromInt32(8080), 8080, true},
		{"numeric string", intstr.FromString("9000"), 9000, true},
		{"unknown name", intstr.FromString("metrics"), 0, false},
		{"undeclared number", intstr.FromInt32(7070), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, ok := FindPort(web, tt.port)
			if n != tt.want || ok != tt.wantOK {
				t.Errorf("FindPort(%v) = %d, %v; want %d, %v", tt.port.String(), n, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestKillAfterReadyAfter(t *testing.T) {
	tests := []struct {
		name      string
		p         *corev1.Probe
		kill, rdy int64
	}{
		{"defaults", &corev1.Probe{}, 0 + 2*10 + 1, 0},
		{"delays", &corev1.Probe{InitialDelaySeconds: 15, PeriodSeconds: 5, TimeoutSeconds: 2, FailureThreshold: 4, SuccessThreshold: 3}, 15 + 3*5 + 2, 15 + 2*5},
		{"none", nil, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := []int64{KillAfter(tt.p), ReadyAfter(tt.p)}; !cmp.Equal(got, []int64{tt.kill, tt.rdy}) {
				t.Errorf("KillAfter, ReadyAfter = %v, want %v", got, []int64{tt.kill, tt.rdy})
			}
		})
	}
}

func TestPreStopOf(t *testing.T) {
	exec := func(cmd ...string) *corev1.Container {
		return &corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: cmd}}}}
	}
	tests := []struct {
		name string
		c    *corev1.Container
		want PreStop
	}{
		{"none", &corev1.Container{}, PreStop{}},
		{"sleep handler", &corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 7}}}}, PreStop{true, "sleep", 7, true}},
		{"sleep N", exec("sleep", "5"), PreStop{true, "exec", 5, true}},
		{"/bin/sleep Ns", exec("/bin/sleep", "15s"), PreStop{true, "exec", 15, true}},
		{"fraction rounds up", exec("sleep", "2.5"), PreStop{true, "exec", 3, true}},
		{"sh -c sleep", exec("sh", "-c", "sleep 10"), PreStop{true, "exec", 10, true}},
		{"sh -c script", exec("/bin/sh", "-c", "sleep 5 && nginx -s quit; sleep 3"), PreStop{true, "exec", 8, true}},
		{"bash -ec", exec("bash", "-ec", "echo bye; sleep 4"), PreStop{true, "exec", 4, true}},
		{"quoted inside script", exec("sh", "-c", "exec sleep '12'"), PreStop{true, "exec", 12, true}},
		{"no sleep", exec("nginx", "-s", "quit"), PreStop{true, "exec", 0, false}},
		{"sleep without number", exec("sleep", "infinity"), PreStop{true, "exec", 0, false}},
		{"httpGet", &corev1.Container{Lifecycle: &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/drain"}}}}, PreStop{true, "httpGet", 0, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, PreStopOf(tt.c)); diff != "" {
				t.Errorf("PreStopOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestGracePeriod(t *testing.T) {
	if got := GracePeriod(&corev1.PodSpec{}); got != 30 {
		t.Errorf("GracePeriod(unset) = %d, want 30", got)
	}
	if got := GracePeriod(&corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](0)}); got != 0 {
		t.Errorf("GracePeriod(0) = %d, want 0", got)
	}
}

func TestResolveRolling(t *testing.T) {
	p := func(s string) *intstr.IntOrString { v := intstr.Parse(s); return &v }
	tests := []struct {
		name                   string
		surge, unavail         *intstr.IntOrString
		replicas               int32
		wantSurge, wantUnavail int32
	}{
		{"defaults at 4", nil, nil, 4, 1, 1},
		{"defaults at 3: surge rounds up, unavailable down", nil, nil, 3, 1, 0},
		{"defaults at 1", nil, nil, 1, 1, 0},
		{"ints", p("2"), p("1"), 10, 2, 1},
		{"percent", p("50%"), p("50%"), 5, 3, 2},
		{"zero", p("0"), p("0%"), 5, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ResolveRolling(tt.surge, tt.unavail, DefaultMaxSurge, DefaultMaxUnavailable, tt.replicas)
			if got := []int32{r.Surge, r.Unavailable}; !cmp.Equal(got, []int32{tt.wantSurge, tt.wantUnavail}) {
				t.Errorf("surge, unavailable = %v, want %v", got, []int32{tt.wantSurge, tt.wantUnavail})
			}
		})
	}
}

func TestIsZero(t *testing.T) {
	for v, want := range map[string]bool{"0": true, "0%": true, "1": false, "25%": false, "10": false} {
		if got := IsZero(intstr.Parse(v)); got != want {
			t.Errorf("IsZero(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestMutableTag(t *testing.T) {
	tests := []struct {
		image  string
		want   bool
		reason string
	}{
		{"nginx", true, "no tag"},
		{"nginx:latest", true, "tag latest"},
		{"registry.example.com:5000/team/app", true, "no tag"},
		{"registry.example.com:5000/team/app:latest", true, "tag latest"},
		{"registry.example.com:5000/team/app:1.2.3", false, ""},
		{"nginx@sha256:0123", false, ""},
		{"nginx:latest@sha256:0123", false, ""},
		{"nginx:1.27", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			got, reason := MutableTag(tt.image)
			if got != tt.want || reason != tt.reason {
				t.Errorf("MutableTag(%q) = %v, %q; want %v, %q", tt.image, got, reason, tt.want, tt.reason)
			}
		})
	}
}
