package lint

import (
	"encoding/json"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Kinds that are not in k8s.io/api and that the rules read: only the
// fields they need, decoded from manifests (unknown fields are ignored)
// and from live objects read with the dynamic client.

// GatewayRoute is a Gateway API HTTPRoute or GRPCRoute: where it sends
// traffic, its timeouts and its session persistence.
type GatewayRoute struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              GatewayRouteSpec `json:"spec"`
}

// GatewayRouteSpec is the part of a route's spec the rules read.
type GatewayRouteSpec struct {
	Rules []GatewayRouteRule `json:"rules,omitempty"`
}

// GatewayRouteRule is one rule of a route.
type GatewayRouteRule struct {
	BackendRefs        []GatewayBackendRef        `json:"backendRefs,omitempty"`
	Timeouts           *GatewayRouteTimeouts      `json:"timeouts,omitempty"`
	SessionPersistence *GatewaySessionPersistence `json:"sessionPersistence,omitempty"`
}

// GatewayBackendRef names a backend (a Service unless group or kind say
// otherwise).
type GatewayBackendRef struct {
	Group     *string `json:"group,omitempty"`
	Kind      *string `json:"kind,omitempty"`
	Name      string  `json:"name"`
	Namespace *string `json:"namespace,omitempty"`
	Port      *int32  `json:"port,omitempty"`
}

// GatewayRouteTimeouts are a rule's timeouts (Gateway API durations).
type GatewayRouteTimeouts struct {
	Request        *string `json:"request,omitempty"`
	BackendRequest *string `json:"backendRequest,omitempty"`
}

// GatewaySessionPersistence is a rule's session persistence (GEP-1619).
type GatewaySessionPersistence struct {
	SessionName *string `json:"sessionName,omitempty"`
	Type        *string `json:"type,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (r *GatewayRoute) DeepCopyObject() runtime.Object { return deepCopyJSON(r, &GatewayRoute{}) }

// BackendConfig is a GKE BackendConfig: its connection draining.
type BackendConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              BackendConfigSpec `json:"spec"`
}

// BackendConfigSpec is the part of a BackendConfig's spec the rules read.
type BackendConfigSpec struct {
	ConnectionDraining *struct {
		DrainingTimeoutSec int64 `json:"drainingTimeoutSec,omitempty"`
	} `json:"connectionDraining,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (b *BackendConfig) DeepCopyObject() runtime.Object { return deepCopyJSON(b, &BackendConfig{}) }

// TargetGroupBinding is an AWS Load Balancer Controller TargetGroupBinding:
// the Service whose pods it registers, and how.
type TargetGroupBinding struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Spec              TargetGroupBindingSpec `json:"spec"`
}

// TargetGroupBindingSpec is the part of a TargetGroupBinding's spec the
// rules read.
type TargetGroupBindingSpec struct {
	TargetType *string `json:"targetType,omitempty"`
	ServiceRef struct {
		Name string `json:"name"`
	} `json:"serviceRef"`
}

// DeepCopyObject implements runtime.Object.
func (t *TargetGroupBinding) DeepCopyObject() runtime.Object {
	return deepCopyJSON(t, &TargetGroupBinding{})
}

// deepCopyJSON copies in into out through JSON (the types above hold only
// JSON values).
func deepCopyJSON[T runtime.Object](in T, out T) runtime.Object {
	data, err := json.Marshal(in)
	if err == nil {
		err = json.Unmarshal(data, out)
	}
	if err != nil {
		return nil
	}
	return out
}

// PodLabels are the labels of the pods of an object the linter does not
// audit but whose pods a Service may select: a bare Pod, a
// ReplicationController. It is read as context (Object.Context), so that
// such a Service is not reported as selecting nothing.
type PodLabels struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	Labels            map[string]string `json:"podLabels,omitempty"`
}

// DeepCopyObject implements runtime.Object.
func (p *PodLabels) DeepCopyObject() runtime.Object { return deepCopyJSON(p, &PodLabels{}) }

// podLabelsOf reads the pod labels of a core/v1 Pod or
// ReplicationController document (j, its JSON) as a context object.
func podLabelsOf(gvk schema.GroupVersionKind, j []byte, namespace string) (Object, bool) {
	if gvk.Group != "" || gvk.Version != "v1" || (gvk.Kind != "Pod" && gvk.Kind != "ReplicationController") {
		return Object{}, false
	}
	var doc struct {
		Metadata metav1.ObjectMeta `json:"metadata"`
		Spec     struct {
			Template *struct {
				Metadata metav1.ObjectMeta `json:"metadata"`
			} `json:"template"`
		} `json:"spec"`
	}
	if json.Unmarshal(j, &doc) != nil {
		return Object{}, false
	}
	lbl := doc.Metadata.Labels
	if gvk.Kind == "ReplicationController" {
		if doc.Spec.Template == nil {
			return Object{}, false
		}
		lbl = doc.Spec.Template.Metadata.Labels
	}
	if len(lbl) == 0 {
		return Object{}, false
	}
	ns := doc.Metadata.Namespace
	if ns == "" {
		ns = namespace
	}
	pl := &PodLabels{ObjectMeta: metav1.ObjectMeta{Name: doc.Metadata.Name, Namespace: ns}, Labels: lbl}
	return Object{Kind: gvk.Kind, Namespace: ns, Name: doc.Metadata.Name, Typed: pl, Context: true}, true
}
