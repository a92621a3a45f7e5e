package rolling

// The hold of a --fix release whose replaced pods lack the drain the fix
// adds (no preStop delay): a running pod's hooks cannot change, so the
// Deployment controller would stop those pods while kube-proxy still sends
// them requests. The release takes them out of the Services first:
//
//  1. the apply sets, beside the image and the fixes, a high
//     spec.minReadySeconds and maxSurge 100% / maxUnavailable 0: every new
//     pod comes up and becomes Ready (so it joins the Services' endpoints)
//     but not Available, so the controller removes no old pod;
//  2. once every new pod is ready and in every Service's EndpointSlices,
//     each Service's selector is narrowed to the new pods
//     (pod-template-hash=<new>), the slices are waited for until they hold
//     only new pods, and then kube-proxy is given holdSettle;
//  3. minReadySeconds and the surge are set back to the fixed values: the
//     controller scales the old ReplicaSet down, and its pods stop with no
//     traffic;
//  4. when the old pods are gone, each Service's selector is restored.
//
// Every temporary change is in the record (param hold) before it is made,
// so resume finishes the hold and abort, rollback and the automatic
// rollback undo it (the Services' selectors first, so the old pods serve
// again before the new ones leave).

import (
	"encoding/json"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/zdd-dev/kubectl-zdd/pkg/lint"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// ParamHold is the record of the hold (holdRecord as JSON); it is removed
// when the Services' selectors are restored.
const ParamHold = "hold"

// PhaseHold is recorded right before the Services are narrowed to the new
// pods.
const PhaseHold = "hold"

// holdSettle is how long kube-proxy is given, after the EndpointSlices
// hold only the new pods, before the old pods may stop: the sync lag of
// kube-proxy cannot be seen from the client. Measured on the real node of
// the e2e suite (iptables mode, 2 cores at a load average of 8): a deleted
// pod's endpoint left the node's rules 0.0-0.85 s after it left the ready
// endpoints (8 pods), and kube-proxy's own network-programming latency
// (kubeproxy_network_programming_duration_seconds, from a change to its
// rules) was under 2 s for 77 of 80 changes, under 3 s for 79, and 7-8 s
// once. 10 s covers that outlier; it is paid once, by the release that
// fixes the Deployment.
var holdSettle = 10 * time.Second

// holdMaxSeconds bounds the minReadySeconds of the hold (it must also stay
// below progressDeadlineSeconds, which the API server checks).
const holdMaxSeconds = 600

// holdRecord is what a hold changed, and what to put back.
type holdRecord struct {
	// Seconds is the minReadySeconds set while holding.
	Seconds int32 `json:"seconds"`
	// MinReadySeconds, MaxSurge and MaxUnavailable are the values the
	// release leaves when the hold ends.
	MinReadySeconds int32              `json:"minReadySeconds"`
	MaxSurge        intstr.IntOrString `json:"maxSurge"`
	MaxUnavailable  intstr.IntOrString `json:"maxUnavailable"`
	// Hash is the pod-template-hash of the new pods, and Services the
	// selectors of the Services narrowed to them, as they were before.
	Hash     string                       `json:"hash,omitempty"`
	Services map[string]map[string]string `json:"services,omitempty"`
}

// planHold says whether a --fix release of fixed over live needs the hold,
// and with what values: when the fixed template adds a preStop delay to a
// container that has none in live, live has pods, and Services send them
// traffic. nil: no hold.
func planHold(live, fixed *appsv1.Deployment, services []corev1.Service) *holdRecord {
	if live == nil || len(services) == 0 || live.Status.Replicas == 0 {
		return nil
	}
	if fixed.Spec.Strategy.Type != "" && fixed.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType {
		return nil
	}
	old := map[string]bool{}
	for i := range live.Spec.Template.Spec.Containers {
		c := &live.Spec.Template.Spec.Containers[i]
		old[c.Name] = lint.PreStopWaits(c)
	}
	adds := false
	for i := range fixed.Spec.Template.Spec.Containers {
		c := &fixed.Spec.Template.Spec.Containers[i]
		if waits, ok := old[c.Name]; ok && !waits && lint.PreStopWaits(c) {
			adds = true
		}
	}
	if !adds {
		return nil
	}
	h := &holdRecord{MinReadySeconds: fixed.Spec.MinReadySeconds, MaxSurge: intstr.FromString("25%"), MaxUnavailable: intstr.FromString("25%")}
	if ru := fixed.Spec.Strategy.RollingUpdate; ru != nil {
		if ru.MaxSurge != nil {
			h.MaxSurge = *ru.MaxSurge
		}
		if ru.MaxUnavailable != nil {
			h.MaxUnavailable = *ru.MaxUnavailable
		}
	}
	h.Seconds = holdMaxSeconds
	if pds := fixed.Spec.ProgressDeadlineSeconds; pds != nil && *pds-1 < h.Seconds {
		h.Seconds = *pds - 1
	}
	if h.Seconds <= h.MinReadySeconds || h.Seconds < 60 {
		// too short a progress deadline to hold through
		return nil
	}
	return h
}

// holdOf reads the hold of the record (nil: none).
func holdOf(op *state.Operation) (*holdRecord, error) {
	v := op.Params[ParamHold]
	if v == "" {
		return nil, nil
	}
	h := &holdRecord{}
	if err := json.Unmarshal([]byte(v), h); err != nil {
		return nil, fmt.Errorf("the record's param %s cannot be read: %w", state.ParamPrefix+ParamHold, err)
	}
	return h, nil
}

// setHold puts h in the record's params (nil removes it).
func setHold(op *state.Operation, h *holdRecord) {
	if h == nil {
		op.Params[ParamHold] = ""
		return
	}
	b, _ := json.Marshal(h)
	op.Params[ParamHold] = string(b)
}

// holdTyped puts the hold's values into the Deployment to apply.
func holdTyped(d *appsv1.Deployment, h *holdRecord) {
	d.Spec.MinReadySeconds = h.Seconds
	all, zero := intstr.FromString("100%"), intstr.FromInt32(0)
	d.Spec.Strategy.Type = appsv1.RollingUpdateDeploymentStrategyType
	d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &all, MaxUnavailable: &zero}
}

// holdObject puts the hold's values into a manifest to apply.
func holdObject(obj map[string]any, h *holdRecord) {
	_ = unstructured.SetNestedField(obj, int64(h.Seconds), "spec", "minReadySeconds")
	_ = unstructured.SetNestedMap(obj, map[string]any{
		"type":          "RollingUpdate",
		"rollingUpdate": map[string]any{"maxUnavailable": int64(0), "maxSurge": "100%"},
	}, "spec", "strategy")
}

// intstrJSON renders v for a JSON patch.
func intstrJSON(v intstr.IntOrString) any {
	if v.Type == intstr.String {
		return v.StrVal
	}
	return v.IntVal
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
