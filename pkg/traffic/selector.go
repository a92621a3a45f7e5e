package traffic

// The Service-selector router: blue-green's switch. A Service selects
// `app: X, <label>: <colour>`; switching is one merge patch of that one
// selector key, carrying the resourceVersion the caller read, so a concurrent
// change to the Service makes the patch fail with a Conflict instead of being
// overwritten. After the patch, the caller waits until the Service's
// EndpointSlices list only the new colour's pods, all ready.

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/kube"
)

// SelectorPatch is the JSON merge patch that sets selector[label] = colour on
// a Service, but only on resourceVersion rv of it (when rv is not empty).
// annotations, when not nil, are written in the same patch (nil values remove
// a key), so the selector and the record of who set it change atomically.
func SelectorPatch(label, colour, rv string, annotations map[string]*string) ([]byte, error) {
	meta := map[string]any{}
	if rv != "" {
		meta["resourceVersion"] = rv
	}
	if len(annotations) > 0 {
		meta["annotations"] = annotations
	}
	p := map[string]any{"spec": map[string]any{"selector": map[string]string{label: colour}}}
	if len(meta) > 0 {
		p["metadata"] = meta
	}
	return json.Marshal(p)
}

// ConflictError says the Service changed between the read and the patch of
// its selector: the switch was refused instead of overwriting that change.
type ConflictError struct {
	Service string
	Err     error
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("service %q was changed by someone else during the switch; not overwriting it: %v", e.Service, e.Err)
}
func (e *ConflictError) Unwrap() error { return e.Err }

// Guard is checked right before each selector patch; an error stops the switch.
type Guard func(ctx context.Context) error

// SelectorSwitch switches Services from one colour to another.
type SelectorSwitch struct {
	Client    kubernetes.Interface
	Namespace string
	Label     string
	// BeforePatch, when set, runs after the guard passed and right before the
	// patch of each Service (a test hook: the e2e suite edits the Service
	// there to prove a concurrent change is detected).
	BeforePatch func(ctx context.Context, service string) error
	// Annotations returns annotations to write in the same patch as the
	// selector of service (may be nil).
	Annotations func(service string) map[string]*string
	// Fence, when set, is checked right before every patch (a revert's
	// too); an error stops the switch.
	Fence func(ctx context.Context) error
	// OnPatched, when set, is given each Service as a patch of this switch
	// (or of its revert) left it.
	OnPatched func(svc *corev1.Service)
}

// UncertainError says a selector patch failed in a way that does not tell
// whether the API server applied it (a timeout, a connection reset after
// the request was sent), and the Service could not be read again to find
// out: the caller must not assume either colour.
type UncertainError struct {
	Service string
	To      string
	Err     error
}

func (e *UncertainError) Error() string {
	return fmt.Sprintf("switching service %q to %s: the patch may or may not have been applied, and the service could not be read again to tell: %v", e.Service, e.To, e.Err)
}
func (e *UncertainError) Unwrap() error { return e.Err }

// Switched records one Service whose selector was patched.
type Switched struct {
	Service         string
	ResourceVersion string    // of the Service after the patch
	PatchedAt       time.Time // when the patch was sent
}

// Switch patches the selector of every named Service from colour `from` to
// `to`. A Service already on `to` is left alone; one on any other colour is
// an error. guard runs right before every patch. If a later Service fails,
// the ones already switched are switched back (best effort) and the error
// says so.
func (s *SelectorSwitch) Switch(ctx context.Context, services []string, from, to string, guard Guard) ([]Switched, error) {
	var done []Switched
	for _, name := range services {
		sw, skipped, err := s.switchOne(ctx, name, from, to, guard)
		if err != nil {
			if len(done) > 0 {
				back := make([]string, 0, len(done))
				for _, d := range done {
					back = append(back, d.Service)
				}
				rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
				revert := &SelectorSwitch{Client: s.Client, Namespace: s.Namespace, Label: s.Label, Fence: s.Fence, OnPatched: s.OnPatched}
				_, rerr := revert.Switch(rctx, back, to, from, nil)
				cancel()
				if rerr != nil {
					return nil, fmt.Errorf("%w; and switching %s back to %s failed: %v", err, strings.Join(back, ", "), from, rerr)
				}
			}
			return nil, err
		}
		if !skipped {
			done = append(done, sw)
		}
	}
	return done, nil
}

func (s *SelectorSwitch) switchOne(ctx context.Context, name, from, to string, guard Guard) (Switched, bool, error) {
	key := s.Namespace + "/" + name
	svc, err := s.Client.CoreV1().Services(s.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return Switched{}, false, fmt.Errorf("switching service %q to %s: %w", key, to, err)
	}
	cur, has := svc.Spec.Selector[s.Label]
	switch {
	case has && cur == to:
		return Switched{Service: name, ResourceVersion: svc.ResourceVersion}, true, nil
	case !has && from != "":
		return Switched{}, false, fmt.Errorf("switching service %q to %s: its selector has no %q label", key, to, s.Label)
	case has && cur != from:
		return Switched{}, false, fmt.Errorf("switching service %q to %s: it selects %s=%s, expected %s", key, to, s.Label, cur, from)
	}
	if guard != nil {
		if err := guard(ctx); err != nil {
			return Switched{}, false, fmt.Errorf("switching service %q to %s: %w", key, to, err)
		}
	}
	if s.BeforePatch != nil {
		if err := s.BeforePatch(ctx, name); err != nil {
			return Switched{}, false, fmt.Errorf("switching service %q to %s: %w", key, to, err)
		}
	}
	if s.Fence != nil {
		if err := s.Fence(ctx); err != nil {
			return Switched{}, false, fmt.Errorf("switching service %q to %s: %w", key, to, err)
		}
	}
	var ann map[string]*string
	if s.Annotations != nil {
		ann = s.Annotations(name)
	}
	patch, err := SelectorPatch(s.Label, to, svc.ResourceVersion, ann)
	if err != nil {
		return Switched{}, false, err
	}
	at := time.Now()
	out, err := s.Client.CoreV1().Services(s.Namespace).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: kube.FieldManager})
	if apierrors.IsConflict(err) {
		return Switched{}, false, &ConflictError{Service: key, Err: err}
	}
	if err != nil {
		// a timeout or a reset after the request was sent does not say
		// whether the server applied the patch: read the Service again and
		// decide from its selector
		fresh, gerr := s.readAgain(ctx, name)
		switch {
		case gerr != nil:
			return Switched{}, false, &UncertainError{Service: key, To: to, Err: fmt.Errorf("%w; and reading it again: %v", err, gerr)}
		case fresh.Spec.Selector[s.Label] == to && fresh.ResourceVersion != svc.ResourceVersion:
			out = fresh
		default:
			return Switched{}, false, fmt.Errorf("switching service %q to %s: %w", key, to, err)
		}
	}
	if s.OnPatched != nil {
		s.OnPatched(out)
	}
	return Switched{Service: name, ResourceVersion: out.ResourceVersion, PatchedAt: at}, false, nil
}

// readAgain reads Service name after a patch whose outcome is unknown, with
// a few tries of its own (the connection that failed the patch may be
// failing the next request too).
func (s *SelectorSwitch) readAgain(ctx context.Context, name string) (*corev1.Service, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var last error
	for try := 0; try < 5; try++ {
		svc, err := s.Client.CoreV1().Services(s.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err == nil {
			return svc, nil
		}
		last = err
		select {
		case <-ctx.Done():
			return nil, last
		case <-time.After(time.Duration(try+1) * 200 * time.Millisecond):
		}
	}
	return nil, last
}

// Convergence is what a Service's EndpointSlices show against the pods it
// should now reach.
type Convergence struct {
	Ready    int      // ready endpoints of wanted pods
	NotReady []string // wanted pods listed but not ready
	Foreign  []string // endpoints of pods that are not wanted (the old colour)
}

// Converged reports whether the endpoints list only wanted pods, all ready,
// and at least min of them.
func (c Convergence) Converged(min int) bool {
	return len(c.Foreign) == 0 && len(c.NotReady) == 0 && c.Ready >= min && c.Ready > 0
}

func (c Convergence) String() string {
	s := fmt.Sprintf("%d ready", c.Ready)
	if len(c.NotReady) > 0 {
		s += fmt.Sprintf(", not ready: %s", strings.Join(c.NotReady, ","))
	}
	if len(c.Foreign) > 0 {
		s += fmt.Sprintf(", still listing other pods: %s", strings.Join(c.Foreign, ","))
	}
	return s
}

// Evaluate compares the endpoints of slices with the wanted pod names. An
// endpoint without a pod targetRef counts as foreign. Terminating endpoints
// that are no longer ready count against convergence like any other.
func Evaluate(slices []discoveryv1.EndpointSlice, wanted map[string]bool) Convergence {
	var c Convergence
	seen := map[string]bool{}
	for _, sl := range slices {
		for _, ep := range sl.Endpoints {
			name := ""
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
				name = ep.TargetRef.Name
			}
			if name == "" && len(ep.Addresses) > 0 {
				name = ep.Addresses[0]
			}
			if seen[name] {
				continue // a dual-stack Service lists a pod in two slices
			}
			seen[name] = true
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			switch {
			case !wanted[name]:
				c.Foreign = append(c.Foreign, name)
			case !ready:
				c.NotReady = append(c.NotReady, name)
			default:
				c.Ready++
			}
		}
	}
	sort.Strings(c.Foreign)
	sort.Strings(c.NotReady)
	return c
}

// ConvergenceWatch follows a Service's EndpointSlices and the pods it
// should reach (a kube.EndpointWatch). Start it before the selector patch,
// so that no time is spent listing after it, then Wait.
type ConvergenceWatch struct {
	sel       string
	min       int
	endpoints *kube.EndpointWatch
	last      Convergence
}

// WatchConvergence starts watching the EndpointSlices of service and the
// pods matching podSelector, and returns once both are synced.
func WatchConvergence(ctx context.Context, client kubernetes.Interface, namespace, service string, podSelector map[string]string, min int) (*ConvergenceWatch, error) {
	ew, err := kube.WatchEndpoints(ctx, client, namespace, service, kube.EndpointOptions{PodSelector: podSelector})
	if err != nil {
		return nil, err
	}
	return &ConvergenceWatch{sel: labels.SelectorFromSet(podSelector).String(), min: min, endpoints: ew}, nil
}

func (w *ConvergenceWatch) evaluate() bool {
	wanted := map[string]bool{}
	for _, p := range w.endpoints.Pods() {
		if p.DeletionTimestamp == nil && p.Status.Phase != corev1.PodFailed && p.Status.Phase != corev1.PodSucceeded {
			wanted[p.Name] = true
		}
	}
	sl := w.endpoints.Slices()
	list := make([]discoveryv1.EndpointSlice, 0, len(sl))
	for _, s := range sl {
		list = append(list, *s)
	}
	w.last = Evaluate(list, wanted)
	return w.last.Converged(w.min)
}

// Wait returns when the endpoints list only the wanted pods, all ready, and
// at least min of them: the time it first saw that.
func (w *ConvergenceWatch) Wait(ctx context.Context) (time.Time, error) {
	if err := w.endpoints.Wait(ctx, w.evaluate); err != nil {
		return time.Time{}, fmt.Errorf("waiting for the endpoints of service %q to list only pods %s (want %d ready; last seen %s): %w", w.endpoints.Service(), w.sel, w.min, w.last, err)
	}
	return time.Now(), nil
}

// Stop ends the watch.
func (w *ConvergenceWatch) Stop() { w.endpoints.Stop() }

// WaitConverged watches the EndpointSlices of service until they list only
// pods matching podSelector, all ready, and at least min of them. It returns
// when it was first seen converged.
func WaitConverged(ctx context.Context, client kubernetes.Interface, namespace, service string, podSelector map[string]string, min int) (time.Time, error) {
	w, err := WatchConvergence(ctx, client, namespace, service, podSelector, min)
	if err != nil {
		return time.Time{}, err
	}
	defer w.Stop()
	return w.Wait(ctx)
}
