// Package bluegreen releases a Deployment as two colours behind one Service:
// the new colour is brought up beside the live one, checked, and the
// Service's selector is switched to it in one guarded patch; the old colour
// stays up until the Service's endpoints have moved and the post-switch
// analysis passed, so a rollback is one selector patch away.
//
// Model: a Service selects `app: X, <label>: <colour>` (label "version",
// colours "blue" and "green" by default). Each colour is a Deployment
// `<base>-<colour>` whose selector and pod labels carry the colour. The live
// colour is the one in the Service selector; exactly one Deployment must
// serve it.
package bluegreen

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// Strategy is the name recorded in the operation annotations.
const Strategy = "bluegreen"

// Keys of the strategy's params in the operation record (zdd.dev/param.<key>).
const (
	ParamActive   = "active"
	ParamPrevious = "previous"
	ParamTarget   = "target"
)

// PreviewLabel marks a preview Service with the name of the Service it
// previews; such Services are never switched.
const PreviewLabel = "zdd.dev/preview-of"

// Colours names the colour label and the two colours.
type Colours struct {
	Label string
	Names [2]string
}

// DefaultColours: version=blue|green.
func DefaultColours() Colours { return Colours{Label: "version", Names: [2]string{"blue", "green"}} }

// Other returns the colour that is not c ("" when c is not one of the two).
func (c Colours) Other(colour string) string {
	switch colour {
	case c.Names[0]:
		return c.Names[1]
	case c.Names[1]:
		return c.Names[0]
	}
	return ""
}

// Validate checks the colour names are two different label values.
func (c Colours) Validate() error {
	if c.Label == "" {
		return exitcode.Usagef("--color-label must not be empty")
	}
	if c.Names[0] == "" || c.Names[1] == "" || c.Names[0] == c.Names[1] {
		return exitcode.Usagef("--colors %q: want two different colours, e.g. blue,green", strings.Join(c.Names[:], ","))
	}
	return nil
}

// Snapshot is what Discover found: the Service, its colours and their
// Deployments, and every Service that switches with it.
type Snapshot struct {
	Service     *corev1.Service
	AppSelector map[string]string // the selector without the colour label
	Active      string
	Idle        string
	ActiveDep   *appsv1.Deployment
	IdleDep     *appsv1.Deployment // nil when the idle colour has no Deployment yet
	IdleName    string             // the idle Deployment's name (existing or to create)
	Base        string
	Services    []string // primary first
	// Deployments and ServiceObjects are what was read: every Deployment
	// of the namespace, and the switched Services by name.
	Deployments    []appsv1.Deployment
	ServiceObjects map[string]*corev1.Service
}

// Key is "namespace/name" of the primary Service.
func (s *Snapshot) Key() string { return s.Service.Namespace + "/" + s.Service.Name }

// PreviewName is the name of the preview Service of service.
func PreviewName(service string) string { return service + "-preview" }

// Selector returns the pod selector of colour.
func (s *Snapshot) Selector(label, colour string) map[string]string {
	m := maps.Clone(s.AppSelector)
	if m == nil {
		m = map[string]string{}
	}
	m[label] = colour
	return m
}

// Discover reads the Service and Deployments and checks the model: the
// Service selects one of the two colours, exactly one Deployment serves the
// live colour, at most one the idle colour, and every Service that switches
// with it selects the same colour. Anything else is a usage error (exit 2)
// that says what was found. Discover only reads.
func Discover(ctx context.Context, client kubernetes.Interface, ns, service string, extra []string, colours Colours) (*Snapshot, error) {
	key := ns + "/" + service
	svc, err := client.CoreV1().Services(ns).Get(ctx, service, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, exitcode.Usagef("service %q not found", key)
	}
	if err != nil {
		return nil, fmt.Errorf("reading service %q: %w", key, err)
	}
	active, ok := svc.Spec.Selector[colours.Label]
	if !ok {
		return nil, exitcode.Usagef("service %q selects %s, with no %q label: it is not blue-green yet; run 'kubectl zdd bluegreen init service/%s' first",
			key, formatSelector(svc.Spec.Selector), colours.Label, service)
	}
	if colours.Other(active) == "" {
		return nil, exitcode.Usagef("service %q selects %s=%s, which is neither of the colours %s and %s (see --colors)",
			key, colours.Label, active, colours.Names[0], colours.Names[1])
	}
	snap := &Snapshot{Service: svc, Active: active, Idle: colours.Other(active)}
	snap.AppSelector = maps.Clone(svc.Spec.Selector)
	delete(snap.AppSelector, colours.Label)
	if len(snap.AppSelector) == 0 {
		return nil, exitcode.Usagef("service %q selects only %s=%s: it needs an app label beside the colour", key, colours.Label, active)
	}

	deps, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing deployments in %q: %w", ns, err)
	}
	activeSel := labels.SelectorFromSet(snap.Selector(colours.Label, active))
	idleSel := labels.SelectorFromSet(snap.Selector(colours.Label, snap.Idle))
	var act, idle []*appsv1.Deployment
	for i := range deps.Items {
		d := &deps.Items[i]
		if d.DeletionTimestamp != nil {
			continue
		}
		l := labels.Set(d.Spec.Template.Labels)
		switch {
		case activeSel.Matches(l):
			act = append(act, d)
		case idleSel.Matches(l):
			idle = append(idle, d)
		}
	}
	if len(act) != 1 {
		what := "no deployment has pods labelled " + formatSelector(snap.Selector(colours.Label, active))
		if len(act) > 1 {
			what = fmt.Sprintf("%d deployments serve it: %s", len(act), names(act))
		}
		return nil, exitcode.Usagef("service %q selects %s=%s, but %s; exactly one deployment must serve the live colour",
			key, colours.Label, active, what)
	}
	snap.ActiveDep = act[0]
	snap.Base = strings.TrimSuffix(act[0].Name, "-"+active)
	snap.IdleName = snap.Base + "-" + snap.Idle
	switch len(idle) {
	case 0:
		for i := range deps.Items {
			if deps.Items[i].Name == snap.IdleName {
				return nil, exitcode.Usagef("deployment %q exists but its pods are not labelled %s; it cannot be the %s colour of service %q",
					ns+"/"+snap.IdleName, formatSelector(snap.Selector(colours.Label, snap.Idle)), snap.Idle, key)
			}
		}
	case 1:
		snap.IdleDep = idle[0]
		snap.IdleName = idle[0].Name
	default:
		return nil, exitcode.Usagef("service %q: %d deployments have pods of the idle colour %s=%s: %s; at most one may",
			key, len(idle), colours.Label, snap.Idle, names(idle))
	}
	for _, d := range []*appsv1.Deployment{snap.ActiveDep, snap.IdleDep} {
		if d == nil {
			continue
		}
		if d.Spec.Selector == nil || d.Spec.Selector.MatchLabels[colours.Label] == "" {
			return nil, exitcode.Usagef("deployment %q serves service %q but its selector does not carry the %q label, so its pods of both colours would be mixed",
				ns+"/"+d.Name, key, colours.Label)
		}
	}

	svcs, objs, err := switchedServices(ctx, client, svc, extra, colours.Label, active)
	if err != nil {
		return nil, err
	}
	snap.Services, snap.ServiceObjects, snap.Deployments = svcs, objs, deps.Items
	return snap, nil
}

// switchedServices returns the primary Service, the ones named with
// --service, and every other Service (except previews) whose selector is the
// same app with the colour label. All must select the live colour.
func switchedServices(ctx context.Context, client kubernetes.Interface, primary *corev1.Service, extra []string, label, active string) ([]string, map[string]*corev1.Service, error) {
	ns := primary.Namespace
	app := maps.Clone(primary.Spec.Selector)
	delete(app, label)
	out := []string{primary.Name}
	objs := map[string]*corev1.Service{primary.Name: primary}
	seen := map[string]bool{primary.Name: true}
	list, err := client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("listing services in %q: %w", ns, err)
	}
	byName := map[string]*corev1.Service{}
	var auto []string
	for i := range list.Items {
		s := &list.Items[i]
		byName[s.Name] = s
		if seen[s.Name] || s.Labels[PreviewLabel] != "" || s.Name == PreviewName(primary.Name) {
			continue
		}
		if _, has := s.Spec.Selector[label]; !has {
			continue
		}
		other := maps.Clone(s.Spec.Selector)
		delete(other, label)
		if maps.Equal(other, app) {
			auto = append(auto, s.Name)
		}
	}
	sort.Strings(auto)
	for _, name := range append(append([]string{}, extra...), auto...) {
		if seen[name] {
			continue
		}
		seen[name] = true
		s, ok := byName[name]
		if !ok {
			return nil, nil, exitcode.Usagef("--service %q: service %q not found", name, ns+"/"+name)
		}
		if got, has := s.Spec.Selector[label]; !has || got != active {
			return nil, nil, exitcode.Usagef("service %q selects %s, but service %q selects %s=%s: services that switch together must select the same colour",
				ns+"/"+name, formatSelector(s.Spec.Selector), ns+"/"+primary.Name, label, active)
		}
		out = append(out, name)
		objs[name] = s
	}
	return out, objs, nil
}

func names(ds []*appsv1.Deployment) string {
	n := make([]string, len(ds))
	for i, d := range ds {
		n[i] = d.Name
	}
	sort.Strings(n)
	return strings.Join(n, ", ")
}

func formatSelector(m map[string]string) string {
	if len(m) == 0 {
		return "nothing"
	}
	return labels.SelectorFromSet(m).String()
}

// colourCopy returns a new Deployment named name with src's spec, whose
// selector and pod labels carry label=colour. Server-set metadata, the
// revision and zdd.dev/ annotations are not copied.
func colourCopy(src *appsv1.Deployment, name, label, colour string) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Name:        name,
			Namespace:   src.Namespace,
			Labels:      maps.Clone(src.Labels),
			Annotations: map[string]string{},
		},
		Spec: *src.Spec.DeepCopy(),
	}
	if d.Labels == nil {
		d.Labels = map[string]string{}
	}
	d.Labels[label] = colour
	for k, v := range src.Annotations {
		if k == "deployment.kubernetes.io/revision" || k == corev1.LastAppliedConfigAnnotation || strings.HasPrefix(k, "zdd.dev/") {
			continue
		}
		d.Annotations[k] = v
	}
	if d.Spec.Selector == nil {
		d.Spec.Selector = &metav1.LabelSelector{}
	}
	if d.Spec.Selector.MatchLabels == nil {
		d.Spec.Selector.MatchLabels = map[string]string{}
	}
	d.Spec.Selector.MatchLabels[label] = colour
	if d.Spec.Template.Labels == nil {
		d.Spec.Template.Labels = map[string]string{}
	}
	d.Spec.Template.Labels[label] = colour
	d.Spec.Paused = false
	return d
}

// Images lists container=image of a pod template, sorted by container.
func Images(t *corev1.PodTemplateSpec) string {
	var parts []string
	for _, c := range t.Spec.Containers {
		parts = append(parts, c.Name+"="+c.Image)
	}
	return strings.Join(parts, ",")
}
