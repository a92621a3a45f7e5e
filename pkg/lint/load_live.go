package lint

import (
	"context"
	"fmt"
	"sort"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// LiveOptions say which live objects to audit, as kubectl get names them:
// TYPE/NAME arguments, or a TYPE with a label selector, in one namespace or
// all of them.
type LiveOptions struct {
	Args          []string
	Namespace     string
	AllNamespaces bool
	Selector      string
	// Dynamic, when set, reads the custom resources the rules look at
	// (Gateway API routes, GKE BackendConfigs, AWS TargetGroupBindings)
	// where their CRDs are served.
	Dynamic dynamic.Interface
}

// LoadLive reads the objects the arguments name from the cluster through
// builder (a non-local resource builder), then the PodDisruptionBudgets,
// Services and HorizontalPodAutoscalers of their namespaces, which are added
// as Context objects for the cross-object rules. An object that does not
// exist, or a bad argument, is a usage error.
func LoadLive(ctx context.Context, builder *resource.Builder, client kubernetes.Interface, opts LiveOptions) (*Loaded, error) {
	if len(opts.Args) == 0 {
		return nil, exitcode.Usagef("no objects named: give TYPE/NAME, or TYPE with -l or a name")
	}
	r := builder.Unstructured().
		NamespaceParam(opts.Namespace).DefaultNamespace().
		AllNamespaces(opts.AllNamespaces).
		LabelSelectorParam(opts.Selector).
		ResourceTypeOrNameArgs(true, opts.Args...).
		ContinueOnError().
		Latest().
		Flatten().
		Do()
	if err := r.Err(); err != nil {
		return nil, exitcode.Usagef("reading %v: %w", opts.Args, err)
	}
	infos, err := r.Infos()
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, exitcode.UsageError(err)
		}
		return nil, fmt.Errorf("reading %v from the cluster: %w", opts.Args, err)
	}
	out := &Loaded{Files: map[string][]byte{}}
	type id struct{ kind, ns, name string }
	have := map[id]bool{}
	namespaces := map[string]bool{}
	for _, info := range infos {
		u, ok := info.Object.(*unstructured.Unstructured)
		if !ok {
			continue
		}
		if err := out.addOne(u, Source{}, nil); err != nil {
			return nil, err
		}
		have[id{u.GetKind(), u.GetNamespace(), u.GetName()}] = true
		if u.GetNamespace() != "" {
			namespaces[u.GetNamespace()] = true
		}
	}
	// The cross-object rules need every PDB, Service and HPA around the
	// objects: read them, and mark those not asked for as context.
	nsList := make([]string, 0, len(namespaces))
	for ns := range namespaces {
		nsList = append(nsList, ns)
	}
	sort.Strings(nsList)
	addContext := func(obj runtime.Object, kind, ns, name string) {
		if have[id{kind, ns, name}] {
			return
		}
		have[id{kind, ns, name}] = true
		o, err := FromTyped(obj)
		if err != nil {
			return
		}
		o.Context = true
		out.Objects = append(out.Objects, o)
	}
	for _, ns := range nsList {
		pdbs, err := client.PolicyV1().PodDisruptionBudgets(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing poddisruptionbudgets in namespace %q: %w", ns, err)
		}
		for i := range pdbs.Items {
			p := &pdbs.Items[i]
			addContext(p, "PodDisruptionBudget", ns, p.Name)
		}
		svcs, err := client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing services in namespace %q: %w", ns, err)
		}
		for i := range svcs.Items {
			s := &svcs.Items[i]
			addContext(s, "Service", ns, s.Name)
		}
		hpas, err := client.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing horizontalpodautoscalers in namespace %q: %w", ns, err)
		}
		for i := range hpas.Items {
			h := &hpas.Items[i]
			addContext(h, "HorizontalPodAutoscaler", ns, h.Name)
		}
		if err := readTrafficContext(ctx, client, opts.Dynamic, ns, out, addContext); err != nil {
			return nil, err
		}
	}
	if err := readPodFacts(ctx, client, out, nsList); err != nil {
		return nil, err
	}
	return out, nil
}
