package traffic

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// Router kinds accepted by --traffic-router.
const (
	RouterReplicaRatio = "replica-ratio"
	RouterGatewayAPI   = "gateway-api"
	RouterIstio        = "istio"
	RouterSMI          = "smi"
	RouterNGINX        = "nginx"
	RouterLinkerd      = "linkerd"
)

// RouterKinds lists the --traffic-router values, replica ratio first.
var RouterKinds = []string{RouterReplicaRatio, RouterGatewayAPI, RouterIstio, RouterSMI, RouterNGINX, RouterLinkerd}

// RouterObjectFlag names the flag that carries the routed object of a kind.
var RouterObjectFlag = map[string]string{
	RouterGatewayAPI: "route",
	RouterIstio:      "virtual-service",
	RouterSMI:        "traffic-split",
	RouterNGINX:      "ingress",
	RouterLinkerd:    "route",
}

// WeightRouter sets an exact split of traffic, in percent, between the
// stable and the canary Services.
type WeightRouter interface {
	// Kind is one of RouterKinds.
	Kind() string
	// Describe names the routed object: `httproute "shop/web"`.
	Describe() string
	// Check verifies, without changing anything, that the router's API is
	// served, that the object exists and that it routes to the Service (or
	// already to its stable/canary pair). Every failure is a usage error.
	Check(ctx context.Context) error
	// SetWeight routes weight percent to the canary and the rest to the stable.
	SetWeight(ctx context.Context, weight int) error
	// Weight reads the canary's current share in percent.
	Weight(ctx context.Context) (int, error)
}

// RouterConfig says what a router routes.
type RouterConfig struct {
	Kind      string
	Name      string // the HTTPRoute, VirtualService, TrafficSplit or Ingress
	Namespace string
	Service   string // the Service users reach today
	Stable    string // the Service of the stable pods only (SERVICE-stable)
	Canary    string // the Service of the canary pods only (SERVICE-canary)
}

// StableServiceName and CanaryServiceName are the Services a weighted router
// sends traffic to.
func StableServiceName(service string) string { return service + "-stable" }
func CanaryServiceName(service string) string { return service + "-canary" }

// NewWeightRouter returns the router of cfg.Kind; an unknown kind is a usage error.
func NewWeightRouter(cfg RouterConfig, dyn dynamic.Interface, disc discovery.DiscoveryInterface) (WeightRouter, error) {
	if cfg.Stable == "" {
		cfg.Stable = StableServiceName(cfg.Service)
	}
	if cfg.Canary == "" {
		cfg.Canary = CanaryServiceName(cfg.Service)
	}
	if cfg.Name == "" {
		if f, ok := RouterObjectFlag[cfg.Kind]; ok {
			return nil, exitcode.Usagef("--traffic-router %s needs --%s NAME", cfg.Kind, f)
		}
	}
	switch cfg.Kind {
	case RouterGatewayAPI:
		return &crdRouter{cfg: cfg, dyn: dyn, disc: disc, kind: "HTTPRoute", group: "gateway.networking.k8s.io", resource: "httproutes",
			versions: []string{"v1", "v1beta1"}, rewrite: rewriteHTTPRoute, read: readHTTPRoute}, nil
	case RouterIstio:
		return &crdRouter{cfg: cfg, dyn: dyn, disc: disc, kind: "VirtualService", group: "networking.istio.io", resource: "virtualservices",
			versions: []string{"v1", "v1beta1", "v1alpha3"}, rewrite: rewriteVirtualService, read: readVirtualService}, nil
	case RouterSMI:
		return &crdRouter{cfg: cfg, dyn: dyn, disc: disc, kind: "TrafficSplit", group: "split.smi-spec.io", resource: "trafficsplits",
			versions: []string{"v1alpha4", "v1alpha3", "v1alpha2"}, rewrite: rewriteTrafficSplit, read: readTrafficSplit}, nil
	case RouterNGINX:
		return &nginxRouter{cfg: cfg, dyn: dyn}, nil
	case RouterLinkerd:
		return newLinkerdRouter(cfg, dyn, disc)
	}
	return nil, exitcode.Usagef("unknown --traffic-router %q (want one of %s)", cfg.Kind, strings.Join(RouterKinds, ", "))
}

// MissingAPIError says the cluster does not serve a router's API (its CRD is
// not installed).
type MissingAPIError struct {
	Kind     string
	Group    string
	Resource string
	Versions []string
}

func (e *MissingAPIError) Error() string {
	return fmt.Sprintf("the cluster does not serve %s (%s.%s, versions %s): is its CRD installed?",
		e.Kind, e.Resource, e.Group, strings.Join(e.Versions, ", "))
}

// ServedVersion asks discovery which of versions (in order of preference) of
// group serves resource; a *MissingAPIError when none does.
func ServedVersion(disc discovery.DiscoveryInterface, kind, group, resource string, versions []string) (schema.GroupVersionResource, error) {
	for _, v := range versions {
		list, err := disc.ServerResourcesForGroupVersion(group + "/" + v)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return schema.GroupVersionResource{}, fmt.Errorf("discovering %s/%s: %w", group, v, err)
		}
		for _, r := range list.APIResources {
			if r.Name == resource {
				return schema.GroupVersionResource{Group: group, Version: v, Resource: resource}, nil
			}
		}
	}
	return schema.GroupVersionResource{}, &MissingAPIError{Kind: kind, Group: group, Resource: resource, Versions: versions}
}

// rewriteFunc points obj's routes to the Service (or its stable/canary pair)
// at the stable/canary pair with the given canary weight; matched is false
// when nothing in obj routes to them.
type rewriteFunc func(obj map[string]any, cfg RouterConfig, weight int) (matched bool, err error)

// readFunc returns the canary share of obj; ok is false when obj does not
// route to the pair.
type readFunc func(obj map[string]any, cfg RouterConfig) (weight int, ok bool)

// crdRouter edits one custom object through the dynamic client.
type crdRouter struct {
	cfg                   RouterConfig
	dyn                   dynamic.Interface
	disc                  discovery.DiscoveryInterface
	kind, group, resource string
	versions              []string
	// label names the object's type in messages; "" is the lower-case kind
	label   string
	gvr     schema.GroupVersionResource
	rewrite rewriteFunc
	read    readFunc
	// seen is the object as Check read it or SetWeight last wrote it: the
	// next write carries its resourceVersion, and a conflict whose re-read
	// shows another spec is another writer's change.
	seen *unstructured.Unstructured
}

func (r *crdRouter) Kind() string { return r.cfg.Kind }

func (r *crdRouter) Describe() string {
	label := r.label
	if label == "" {
		label = strings.ToLower(r.kind)
	}
	return fmt.Sprintf("%s %q", label, r.cfg.Namespace+"/"+r.cfg.Name)
}

func (r *crdRouter) resolve() error {
	if r.gvr.Resource != "" {
		return nil
	}
	gvr, err := ServedVersion(r.disc, r.kind, r.group, r.resource, r.versions)
	if err != nil {
		return err
	}
	r.gvr = gvr
	return nil
}

func (r *crdRouter) get(ctx context.Context) (*unstructured.Unstructured, error) {
	obj, err := r.dyn.Resource(r.gvr).Namespace(r.cfg.Namespace).Get(ctx, r.cfg.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, exitcode.Usagef("%s not found", r.Describe())
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", r.Describe(), err)
	}
	return obj, nil
}

func (r *crdRouter) Check(ctx context.Context) error {
	if err := r.resolve(); err != nil {
		var missing *MissingAPIError
		if errors.As(err, &missing) {
			return exitcode.UsageError(fmt.Errorf("--traffic-router %s: %w", r.Kind(), err))
		}
		return err
	}
	obj, err := r.get(ctx)
	if err != nil {
		return err
	}
	r.seen = obj
	matched, err := r.rewrite(obj.DeepCopy().Object, r.cfg, 0)
	if err != nil {
		return exitcode.UsageError(fmt.Errorf("%s: %w", r.Describe(), err))
	}
	if !matched {
		return exitcode.Usagef("%s does not route to service %q (nor to %q / %q)", r.Describe(), r.cfg.Service, r.cfg.Stable, r.cfg.Canary)
	}
	return nil
}

// SetWeight rewrites the routed object from the version it last saw, with
// that version's resourceVersion as a precondition. On a conflict it reads
// the object again: a change of its spec by someone else is a
// *kube.ChangedError (nothing is written), any other change (labels,
// annotations, status) is taken as the new base and the write retried.
func (r *crdRouter) SetWeight(ctx context.Context, weight int) error {
	if err := ValidateWeight(weight); err != nil {
		return exitcode.UsageError(err)
	}
	if err := r.resolve(); err != nil {
		return err
	}
	base := r.seen
	if base == nil {
		obj, err := r.get(ctx)
		if err != nil {
			return err
		}
		base = obj
	}
	for attempt := 0; ; attempt++ {
		obj := base.DeepCopy()
		matched, err := r.rewrite(obj.Object, r.cfg, weight)
		if err != nil {
			return fmt.Errorf("setting weight %d%% in %s: %w", weight, r.Describe(), err)
		}
		if !matched {
			return fmt.Errorf("setting weight %d%% in %s: it no longer routes to service %q", weight, r.Describe(), r.cfg.Service)
		}
		out, err := r.dyn.Resource(r.gvr).Namespace(r.cfg.Namespace).Update(ctx, obj, metav1.UpdateOptions{FieldManager: kube.FieldManager})
		if err == nil {
			r.seen = out
			return nil
		}
		if !apierrors.IsConflict(err) || attempt >= 10 {
			return fmt.Errorf("setting weight %d%% in %s: %w", weight, r.Describe(), err)
		}
		cur, gerr := r.get(ctx)
		if gerr != nil {
			return gerr
		}
		if changed := specChange(r.Describe(), base.Object, cur.Object, cur); changed != nil {
			return fmt.Errorf("setting weight %d%% in %s: %w", weight, r.Describe(), changed)
		}
		base = cur
	}
}

func (r *crdRouter) Weight(ctx context.Context) (int, error) {
	if err := r.resolve(); err != nil {
		return 0, err
	}
	obj, err := r.get(ctx)
	if err != nil {
		return 0, err
	}
	w, ok := r.read(obj.Object, r.cfg)
	if !ok {
		return 0, fmt.Errorf("%s does not route to service %q", r.Describe(), r.cfg.Service)
	}
	return w, nil
}

// pairRefs builds the two weighted references that replace the matched ones:
// base is a copy of the first matched reference (its port and other fields
// are kept), setName writes the target name into a copy.
func pairRefs(base map[string]any, cfg RouterConfig, weight int, setName func(ref map[string]any, name string), weightKey string) []any {
	stable := deepCopyMap(base)
	canary := deepCopyMap(base)
	setName(stable, cfg.Stable)
	setName(canary, cfg.Canary)
	stable[weightKey] = int64(100 - weight)
	canary[weightKey] = int64(weight)
	return []any{stable, canary}
}

// replaceMatched rewrites a list of references: the ones match accepts are
// replaced, at the position of the first, by the stable/canary pair.
func replaceMatched(list []any, match func(ref map[string]any) bool, pair func(first map[string]any) []any) ([]any, bool) {
	out := make([]any, 0, len(list)+1)
	var done bool
	for _, item := range list {
		ref, ok := item.(map[string]any)
		if !ok || !match(ref) {
			out = append(out, item)
			continue
		}
		if !done {
			out = append(out, pair(ref)...)
			done = true
		}
	}
	return out, done
}

// shareOf returns the canary share from the weights of the matched refs.
func shareOf(list []any, name func(ref map[string]any) string, weightKey string, cfg RouterConfig) (int, bool) {
	var stable, canary int64
	var found bool
	for _, item := range list {
		ref, ok := item.(map[string]any)
		if !ok {
			continue
		}
		w, has := toInt64(ref[weightKey])
		if !has {
			w = 1 // an unweighted reference counts as weight 1 in every router API here
		}
		switch name(ref) {
		case cfg.Canary:
			canary += w
			found = true
		case cfg.Stable, cfg.Service:
			stable += w
			found = true
		}
	}
	if !found {
		return 0, false
	}
	if stable+canary == 0 {
		return 0, true
	}
	return int((canary*100 + (stable+canary)/2) / (stable + canary)), true
}

func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int64:
		return n, true
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case float64:
		return int64(n), true
	}
	return 0, false
}

func deepCopyMap(m map[string]any) map[string]any {
	u := unstructured.Unstructured{Object: m}
	return u.DeepCopy().Object
}

func isOneOf(name string, names ...string) bool { return slices.Contains(names, name) }
