// Package probes audits the pieces of a pod spec that decide whether a pod
// can be taken out of and put into service without dropping requests:
// probes, preStop hooks, the termination grace period, and the rolling-update
// settings of the workload around it. Everything here is a pure function over
// typed objects; the lint rules (pkg/lint) build their findings from it.
package probes

import (
	"reflect"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Kubernetes' defaults for the fields of a probe (see the core/v1 API
// reference; the API server fills them in when an object is created).
const (
	DefaultPeriodSeconds    = 10
	DefaultTimeoutSeconds   = 1
	DefaultSuccessThreshold = 1
	DefaultFailureThreshold = 3
	// DefaultTerminationGracePeriodSeconds is a pod's grace period when its
	// spec leaves terminationGracePeriodSeconds unset.
	DefaultTerminationGracePeriodSeconds = 30
)

// Defaulted returns a copy of p with every field the API server would default
// filled in: initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1,
// successThreshold 1, failureThreshold 3, httpGet scheme HTTP and path "/",
// grpc service "". When c is not nil, a named port of an httpGet or tcpSocket
// handler that c declares is replaced by its number, so that a probe of "http"
// and a probe of 8080 compare equal when "http" is 8080. Defaulted(nil) is nil.
func Defaulted(p *corev1.Probe, c *corev1.Container) *corev1.Probe {
	if p == nil {
		return nil
	}
	d := p.DeepCopy()
	if d.PeriodSeconds == 0 {
		d.PeriodSeconds = DefaultPeriodSeconds
	}
	if d.TimeoutSeconds == 0 {
		d.TimeoutSeconds = DefaultTimeoutSeconds
	}
	if d.SuccessThreshold == 0 {
		d.SuccessThreshold = DefaultSuccessThreshold
	}
	if d.FailureThreshold == 0 {
		d.FailureThreshold = DefaultFailureThreshold
	}
	if h := d.HTTPGet; h != nil {
		if h.Scheme == "" {
			h.Scheme = corev1.URISchemeHTTP
		}
		if h.Path == "" {
			h.Path = "/"
		}
		if len(h.HTTPHeaders) == 0 {
			h.HTTPHeaders = nil
		}
		h.Port = numbered(h.Port, c)
	}
	if t := d.TCPSocket; t != nil {
		t.Port = numbered(t.Port, c)
	}
	if g := d.GRPC; g != nil && g.Service != nil && *g.Service == "" {
		g.Service = nil
	}
	if e := d.Exec; e != nil && len(e.Command) == 0 {
		e.Command = nil
	}
	return d
}

func numbered(port intstr.IntOrString, c *corev1.Container) intstr.IntOrString {
	if port.Type != intstr.String || c == nil {
		return port
	}
	if n, ok := FindPort(c, port); ok {
		return intstr.FromInt32(n)
	}
	return port
}

// Equal says whether two probes of container c behave the same once
// Kubernetes' defaults are filled in. Two nil probes are equal.
func Equal(a, b *corev1.Probe, c *corev1.Container) bool {
	if a == nil || b == nil {
		return a == b
	}
	// Cheap checks first: most probe pairs differ in timing or handler.
	if TimingOf(a) != TimingOf(b) || a.InitialDelaySeconds != b.InitialDelaySeconds ||
		(a.HTTPGet == nil) != (b.HTTPGet == nil) || (a.TCPSocket == nil) != (b.TCPSocket == nil) ||
		(a.GRPC == nil) != (b.GRPC == nil) || (a.Exec == nil) != (b.Exec == nil) {
		return false
	}
	return reflect.DeepEqual(Defaulted(a, c), Defaulted(b, c))
}

// Port is the port a probe handler targets. ok is false for an exec probe
// (or a probe with no handler), which targets no port.
func Port(p *corev1.Probe) (port intstr.IntOrString, ok bool) {
	switch {
	case p == nil:
		return port, false
	case p.HTTPGet != nil:
		return p.HTTPGet.Port, true
	case p.TCPSocket != nil:
		return p.TCPSocket.Port, true
	case p.GRPC != nil:
		return intstr.FromInt32(p.GRPC.Port), true
	}
	return port, false
}

// PortField is the field of a probe that holds its port, relative to the
// probe ("httpGet.port", "tcpSocket.port", "grpc.port"), or "" for none.
func PortField(p *corev1.Probe) string {
	switch {
	case p == nil:
		return ""
	case p.HTTPGet != nil:
		return "httpGet.port"
	case p.TCPSocket != nil:
		return "tcpSocket.port"
	case p.GRPC != nil:
		return "grpc.port"
	}
	return ""
}

// FindPort resolves port against the ports container c declares: a name is
// looked up among the named ports (as the kubelet does), a number must be one
// of the declared containerPorts. ok is false when c does not declare it.
func FindPort(c *corev1.Container, port intstr.IntOrString) (int32, bool) {
	if c == nil {
		return 0, false
	}
	for _, p := range c.Ports {
		if port.Type == intstr.String {
			if p.Name != "" && p.Name == port.StrVal {
				return p.ContainerPort, true
			}
		} else if p.ContainerPort == port.IntVal {
			return p.ContainerPort, true
		}
	}
	if port.Type == intstr.String {
		// A numeric string ("8080") is a number to the kubelet.
		if n, err := strconv.Atoi(port.StrVal); err == nil {
			return FindPort(c, intstr.FromInt32(int32(n)))
		}
	}
	return 0, false
}

// KillAfter is the earliest time, in seconds after a container starts, at
// which its liveness probe p can have failed failureThreshold times in a row
// and so make the kubelet restart it: initialDelaySeconds +
// (failureThreshold-1) * periodSeconds + timeoutSeconds (the last failing
// probe ends when it times out).
func KillAfter(p *corev1.Probe) int64 {
	if p == nil {
		return 0
	}
	t := TimingOf(p)
	return int64(p.InitialDelaySeconds) + int64(t.FailureThreshold-1)*int64(t.PeriodSeconds) + int64(t.TimeoutSeconds)
}

// Timing is the timing fields of a probe with defaults filled in.
type Timing struct {
	PeriodSeconds, TimeoutSeconds, SuccessThreshold, FailureThreshold int32
}

// TimingOf reads the timing of p with Kubernetes' defaults for unset fields,
// without copying the probe.
func TimingOf(p *corev1.Probe) Timing {
	t := Timing{DefaultPeriodSeconds, DefaultTimeoutSeconds, DefaultSuccessThreshold, DefaultFailureThreshold}
	if p == nil {
		return t
	}
	if p.PeriodSeconds != 0 {
		t.PeriodSeconds = p.PeriodSeconds
	}
	if p.TimeoutSeconds != 0 {
		t.TimeoutSeconds = p.TimeoutSeconds
	}
	if p.SuccessThreshold != 0 {
		t.SuccessThreshold = p.SuccessThreshold
	}
	if p.FailureThreshold != 0 {
		t.FailureThreshold = p.FailureThreshold
	}
	return t
}

// ReadyAfter is the earliest time, in seconds after a container starts, at
// which its readiness probe p can have succeeded successThreshold times in a
// row: initialDelaySeconds + (successThreshold-1) * periodSeconds. A
// container with no readiness probe is ready as soon as it runs (0).
func ReadyAfter(p *corev1.Probe) int64 {
	if p == nil {
		return 0
	}
	t := TimingOf(p)
	return int64(p.InitialDelaySeconds) + int64(t.SuccessThreshold-1)*int64(t.PeriodSeconds)
}

// GracePeriod is the pod's terminationGracePeriodSeconds, 30 when unset.
func GracePeriod(spec *corev1.PodSpec) int64 {
	if spec == nil || spec.TerminationGracePeriodSeconds == nil {
		return DefaultTerminationGracePeriodSeconds
	}
	return *spec.TerminationGracePeriodSeconds
}

// Rolling is the resolved rolling-update budget of a workload.
type Rolling struct {
	// MaxSurge and MaxUnavailable are the settings as written, with
	// Kubernetes' defaults (25% each for a Deployment) when unset.
	MaxSurge, MaxUnavailable intstr.IntOrString
	// Surge and Unavailable are the pod counts they resolve to for replicas
	// pods: a percentage of maxSurge rounds up, of maxUnavailable rounds down,
	// as the Deployment controller does.
	Surge, Unavailable int32
}

// DefaultMaxSurge and DefaultMaxUnavailable are a Deployment's defaults.
var (
	DefaultMaxSurge       = intstr.FromString("25%")
	DefaultMaxUnavailable = intstr.FromString("25%")
)

// ResolveRolling fills in defSurge and defUnavailable for unset values and
// resolves both against replicas. A malformed percentage resolves to 0.
func ResolveRolling(maxSurge, maxUnavailable *intstr.IntOrString, defSurge, defUnavailable intstr.IntOrString, replicas int32) Rolling {
	r := Rolling{MaxSurge: defSurge, MaxUnavailable: defUnavailable}
	if maxSurge != nil {
		r.MaxSurge = *maxSurge
	}
	if maxUnavailable != nil {
		r.MaxUnavailable = *maxUnavailable
	}
	if n, err := intstr.GetScaledValueFromIntOrPercent(&r.MaxSurge, int(replicas), true); err == nil {
		r.Surge = int32(n)
	}
	if n, err := intstr.GetScaledValueFromIntOrPercent(&r.MaxUnavailable, int(replicas), false); err == nil {
		r.Unavailable = int32(n)
	}
	return r
}

// IsZero says whether an int-or-percent setting is 0 or "0%" whatever the
// replica count.
func IsZero(v intstr.IntOrString) bool {
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	s := strings.TrimSpace(v.StrVal)
	return s == "0%" || s == "0"
}

// Image describes the reference of a container image.
type Image struct {
	Tag    string
	Digest string
}

// ParseImage splits an image reference ("registry:5000/team/app:1.2@sha256:...")
// into its tag and digest; a registry port is not a tag.
func ParseImage(ref string) Image {
	var img Image
	if i := strings.IndexByte(ref, '@'); i >= 0 {
		img.Digest = ref[i+1:]
		ref = ref[:i]
	}
	last := ref
	if i := strings.LastIndexByte(ref, '/'); i >= 0 {
		last = ref[i+1:]
	}
	if i := strings.LastIndexByte(last, ':'); i >= 0 {
		img.Tag = last[i+1:]
	}
	return img
}

// MutableTag says whether an image reference can point at different code
// tomorrow: no digest, and no tag or the tag "latest". reason is "no tag" or
// "tag latest".
func MutableTag(ref string) (mutable bool, reason string) {
	img := ParseImage(ref)
	switch {
	case img.Digest != "":
		return false, ""
	case img.Tag == "":
		return true, "no tag"
	case img.Tag == "latest":
		return true, "tag latest"
	}
	return false, ""
}
