package kubetest

import (
	"fmt"
	"maps"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
)

var (
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	podsGVR        = schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	servicesGVR    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	slicesGVR      = schema.GroupVersionResource{Group: "discovery.k8s.io", Version: "v1", Resource: "endpointslices"}
)

// simPodLabel marks the pods Simulate makes with their Deployment's name.
const simPodLabel = "kubetest.zdd.dev/deployment"

// Simulate turns on a small control plane: after every write, each
// Deployment has exactly its replicas of pods with its pod template's
// labels, all ready at once (a template change replaces them), its status
// says it is fully rolled out at its generation, and each Service with a
// selector has one EndpointSlice listing the ready pods it selects. Its
// own writes are not in Writes.
func (s *Strict) Simulate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.simulate = true
	s.reconcile()
}

func (s *Strict) reconcile() {
	if !s.simulate {
		return
	}
	tr := s.Tracker()
	dl, err := tr.List(deploymentsGVR, appsv1.SchemeGroupVersion.WithKind("Deployment"), "")
	if err != nil {
		panic(err)
	}
	pl, err := tr.List(podsGVR, corev1.SchemeGroupVersion.WithKind("Pod"), "")
	if err != nil {
		panic(err)
	}
	pods := pl.(*corev1.PodList).Items
	owned := map[string][]corev1.Pod{}
	for _, p := range pods {
		if d := p.Labels[simPodLabel]; d != "" {
			owned[p.Namespace+"/"+d] = append(owned[p.Namespace+"/"+d], p)
		}
	}
	for _, d := range dl.(*appsv1.DeploymentList).Items {
		want := int(ptr.Deref(d.Spec.Replicas, 1))
		lbls := maps.Clone(d.Spec.Template.Labels)
		if lbls == nil {
			lbls = map[string]string{}
		}
		lbls[simPodLabel] = d.Name
		var keep []corev1.Pod
		for _, p := range owned[d.Namespace+"/"+d.Name] {
			if maps.Equal(p.Labels, lbls) && len(keep) < want {
				keep = append(keep, p)
				continue
			}
			_ = tr.Delete(podsGVR, p.Namespace, p.Name)
		}
		for i := 0; len(keep) < want; i++ {
			name := fmt.Sprintf("%s-g%d-%d", d.Name, d.Generation, i)
			if _, err := tr.Get(podsGVR, d.Namespace, name); err == nil {
				continue
			}
			p := corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: d.Namespace, Labels: maps.Clone(lbls), ResourceVersion: s.next()},
				Spec:       *d.Spec.Template.Spec.DeepCopy(),
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: fmt.Sprintf("10.1.%d.%d", s.rv%250, i+1),
					Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
			}
			if err := tr.Create(podsGVR, &p, d.Namespace); err != nil && !apierrors.IsAlreadyExists(err) {
				panic(err)
			}
			keep = append(keep, p)
		}
		n := int32(want)
		st := appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n,
			Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: "NewReplicaSetAvailable"}}}
		if !apiequality.Semantic.DeepEqual(st, d.Status) {
			d.Status = st
			d.ResourceVersion = s.next()
			if err := tr.Update(deploymentsGVR, &d, d.Namespace); err != nil {
				panic(err)
			}
		}
	}
	pl, _ = tr.List(podsGVR, corev1.SchemeGroupVersion.WithKind("Pod"), "")
	pods = pl.(*corev1.PodList).Items
	sl, _ := tr.List(servicesGVR, corev1.SchemeGroupVersion.WithKind("Service"), "")
	for _, svc := range sl.(*corev1.ServiceList).Items {
		if len(svc.Spec.Selector) == 0 {
			continue
		}
		sel := labels.SelectorFromSet(svc.Spec.Selector)
		var eps []discoveryv1.Endpoint
		for _, p := range pods {
			if p.Namespace != svc.Namespace || p.DeletionTimestamp != nil || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			eps = append(eps, discoveryv1.Endpoint{Addresses: []string{p.Status.PodIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
				TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}})
		}
		sort.Slice(eps, func(i, j int) bool { return eps[i].TargetRef.Name < eps[j].TargetRef.Name })
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: svc.Name + "-sim", Namespace: svc.Namespace, Labels: map[string]string{discoveryv1.LabelServiceName: svc.Name}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   eps,
		}
		cur, err := tr.Get(slicesGVR, svc.Namespace, es.Name)
		switch {
		case apierrors.IsNotFound(err):
			es.ResourceVersion = s.next()
			if err := tr.Create(slicesGVR, es, svc.Namespace); err != nil {
				panic(err)
			}
		case err != nil:
			panic(err)
		case !apiequality.Semantic.DeepEqual(cur.(*discoveryv1.EndpointSlice).Endpoints, eps):
			es.ResourceVersion = s.next()
			if err := tr.Update(slicesGVR, es, svc.Namespace); err != nil {
				panic(err)
			}
		}
	}
}
