package lint

import (
	"context"
	"fmt"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

// What live mode reads beyond the objects, their PDBs, Services and HPAs,
// for the rules on traffic, leader election, load balancers and meshes:
//   - the namespace's Ingresses, and its Gateway API HTTPRoutes and
//     GRPCRoutes, GKE BackendConfigs and AWS TargetGroupBindings where
//     those CRDs are served;
//   - the Namespace itself (its labels and annotations say whether pods get
//     a mesh proxy or an AWS readiness gate), when the user may read it;
//   - the pods of each workload: the containers and readiness gates that
//     admission webhooks added (mesh proxies, load-balancer gates);
//   - the Leases the pods of a Deployment with one replica or Recreate
//     hold, and whether its ServiceAccount may update Leases (a
//     LocalSubjectAccessReview: the API server's own answer, whatever
//     grants it).
// A read the user is not allowed, or a resource the cluster does not
// serve, leaves the rules that need it less informed, with a note; the
// lint still runs.

// liveCustom are the custom resources read where served.
var liveCustom = []struct {
	gvr  schema.GroupVersionResource
	kind string
}{
	{schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}, "HTTPRoute"},
	{schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "grpcroutes"}, "GRPCRoute"},
	{schema.GroupVersionResource{Group: "cloud.google.com", Version: "v1", Resource: "backendconfigs"}, "BackendConfig"},
	{schema.GroupVersionResource{Group: "elbv2.k8s.aws", Version: "v1beta1", Resource: "targetgroupbindings"}, "TargetGroupBinding"},
}

// notAllowed is the note for a read the user may not make.
func notAllowed(what, ns string, err error) string {
	return fmt.Sprintf("cannot list %s in namespace %q (%s): the rules that read them see none", what, ns, apierrors.ReasonForError(err))
}

// readTrafficContext adds the Ingresses, routes, BackendConfigs,
// TargetGroupBindings and the Namespace of ns as context.
func readTrafficContext(ctx context.Context, client kubernetes.Interface, dyn dynamic.Interface, ns string, out *Loaded,
	addContext func(obj runtime.Object, kind, ns, name string)) error {
	ings, err := client.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
	switch {
	case apierrors.IsForbidden(err):
		out.Notes = append(out.Notes, notAllowed("ingresses", ns, err))
	case err != nil:
		return fmt.Errorf("listing ingresses in namespace %q: %w", ns, err)
	default:
		for i := range ings.Items {
			addContext(&ings.Items[i], "Ingress", ns, ings.Items[i].Name)
		}
	}
	if dyn != nil {
		for _, c := range liveCustom {
			list, err := dyn.Resource(c.gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
			switch {
			case apierrors.IsNotFound(err):
				continue // the CRD is not served
			case apierrors.IsForbidden(err):
				out.Notes = append(out.Notes, notAllowed(c.gvr.Resource+"."+c.gvr.Group, ns, err))
				continue
			case err != nil:
				return fmt.Errorf("listing %s in namespace %q: %w", c.gvr.Resource, ns, err)
			}
			for i := range list.Items {
				addContext(&list.Items[i], c.kind, ns, list.Items[i].GetName())
			}
		}
	}
	// The Namespace is cluster-scoped: a user bound to a Role cannot read
	// it, which only leaves the rules without its labels.
	if n, err := client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err == nil {
		addContext(n, "Namespace", "", ns)
	}
	return nil
}

// readPodFacts reads, for every audited workload, what its running pods
// and the API server say (see liveFacts).
func readPodFacts(ctx context.Context, client kubernetes.Interface, out *Loaded, namespaces []string) error {
	type wl struct {
		o   *Object
		sel labels.Selector
		sa  string
		// leader: a Deployment with one replica or Recreate, for which the
		// Leases and the ServiceAccount's rights are read.
		leader bool
	}
	byNS := map[string][]*wl{}
	for i := range out.Objects {
		o := &out.Objects[i]
		if o.Context {
			continue
		}
		it := newItem(o)
		if it == nil || it.w == nil || it.w.job != nil {
			continue
		}
		var ls *metav1.LabelSelector
		leader := false
		switch t := o.Typed.(type) {
		case *appsv1.Deployment:
			ls = t.Spec.Selector
			leader = t.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType || t.Spec.Replicas == nil || *t.Spec.Replicas == 1
		case *appsv1.StatefulSet:
			ls = t.Spec.Selector
		case *appsv1.DaemonSet:
			ls = t.Spec.Selector
		case *appsv1.ReplicaSet:
			ls = t.Spec.Selector
		}
		sel, err := metav1.LabelSelectorAsSelector(ls)
		if ls == nil || err != nil || sel.Empty() {
			continue
		}
		byNS[o.Namespace] = append(byNS[o.Namespace], &wl{o: o, sel: sel, sa: serviceAccountOf(&it.w.tmpl.Spec), leader: leader})
		o.live = &liveFacts{}
	}
	for _, ns := range namespaces {
		wls := byNS[ns]
		if len(wls) == 0 {
			continue
		}
		// The pods, a page at a time; only their facts are kept.
		opts := metav1.ListOptions{Limit: 500}
		for {
			pods, err := client.CoreV1().Pods(ns).List(ctx, opts)
			if apierrors.IsForbidden(err) {
				out.Notes = append(out.Notes, notAllowed("pods", ns, err))
				break
			}
			if err != nil {
				return fmt.Errorf("listing pods in namespace %q: %w", ns, err)
			}
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.DeletionTimestamp != nil {
					continue
				}
				for _, w := range wls {
					if w.sel.Matches(labels.Set(p.Labels)) {
						w.o.live.pods = append(w.o.live.pods, podFactsOf(p))
					}
				}
			}
			if pods.Continue == "" {
				break
			}
			opts.Continue = pods.Continue
		}
		leaders := false
		for _, w := range wls {
			leaders = leaders || w.leader
		}
		if !leaders {
			continue
		}
		leases, err := client.CoordinationV1().Leases(ns).List(ctx, metav1.ListOptions{})
		switch {
		case apierrors.IsForbidden(err):
			out.Notes = append(out.Notes, notAllowed("leases", ns, err))
		case err != nil:
			return fmt.Errorf("listing leases in namespace %q: %w", ns, err)
		default:
			for _, w := range wls {
				if !w.leader {
					continue
				}
				for _, l := range leases.Items {
					if l.Spec.HolderIdentity != nil && holds(*l.Spec.HolderIdentity, w.o.live.pods) {
						w.o.live.leases = append(w.o.live.leases, l.Name)
					}
				}
				sort.Strings(w.o.live.leases)
			}
		}
		asked := map[string]*bool{}
		for _, w := range wls {
			if !w.leader {
				continue
			}
			ans, ok := asked[w.sa]
			if !ok {
				allowed, err := canUpdateLeases(ctx, client, ns, w.sa)
				switch {
				case apierrors.IsForbidden(err):
					out.Notes = append(out.Notes, fmt.Sprintf("cannot ask the API server whether ServiceAccount %q may update Leases in namespace %q (%s): leader-election-handoff relies on the Leases its pods hold", w.sa, ns, apierrors.ReasonForError(err)))
				case err != nil:
					return fmt.Errorf("asking whether ServiceAccount %q of namespace %q may update leases: %w", w.sa, ns, err)
				default:
					ans = &allowed
				}
				asked[w.sa] = ans
			}
			w.o.live.leaseWriter = ans
		}
	}
	return nil
}

// holds reports whether a Lease holder identity names one of the pods:
// client-go's leader election uses the hostname (the pod's name), alone or
// followed by "_" and a unique suffix (controller-runtime, the Kubernetes
// controllers).
func holds(holder string, pods []podFacts) bool {
	for _, p := range pods {
		if holder == p.name || strings.HasPrefix(holder, p.name+"_") {
			return true
		}
	}
	return false
}

// podFactsOf reads the facts of a running pod.
func podFactsOf(p *corev1.Pod) podFacts {
	f := podFacts{name: p.Name}
	cs, sidecars, env := podContainers(&p.Spec)
	f.containers, f.sidecars = cs, sidecars
	for _, proxy := range []string{istioProxy, linkerdProxy} {
		if e, ok := env[proxy]; ok {
			f.proxyEnv = e
		}
	}
	for _, g := range p.Spec.ReadinessGates {
		f.readinessGates = append(f.readinessGates, string(g.ConditionType))
	}
	return f
}

// canUpdateLeases asks the API server whether the ServiceAccount sa of ns
// may update Leases in ns.
func canUpdateLeases(ctx context.Context, client kubernetes.Interface, ns, sa string) (bool, error) {
	review := &authorizationv1.LocalSubjectAccessReview{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns},
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User:   "system:serviceaccount:" + ns + ":" + sa,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: "update", Group: "coordination.k8s.io", Resource: "leases",
			},
		},
	}
	got, err := client.AuthorizationV1().LocalSubjectAccessReviews(ns).Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		return false, err
	}
	return got.Status.Allowed, nil
}
