package plugin

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// lister reads names from the cluster the factory points at; its fields
// are functions so that a test can swap in a fake clientset.
type lister struct {
	client    func() (kubernetes.Interface, error)
	namespace func() (string, error)
	rawConfig func() (clientcmdapi.Config, error)
}

func newLister(f Factory) *lister {
	return &lister{
		client: func() (kubernetes.Interface, error) { return f.KubernetesClientSet() },
		namespace: func() (string, error) {
			ns, _, err := f.ToRawKubeConfigLoader().Namespace()
			return ns, err
		},
		rawConfig: func() (clientcmdapi.Config, error) { return f.ToRawKubeConfigLoader().RawConfig() },
	}
}

// completionTimeout bounds a call to the API server while the user waits
// for a TAB.
const completionTimeout = 5 * time.Second

func (l *lister) names(ctx context.Context, kind string) ([]string, error) {
	client, err := l.client()
	if err != nil {
		return nil, err
	}
	ns, err := l.namespace()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	var out []string
	switch kind {
	case kindDeployment:
		list, err := client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, d := range list.Items {
			out = append(out, d.Name)
		}
	case kindService:
		list, err := client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, s := range list.Items {
			out = append(out, s.Name)
		}
	case kindIngress:
		list, err := client.NetworkingV1().Ingresses(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, i := range list.Items {
			out = append(out, i.Name)
		}
	case "namespace":
		list, err := client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, err
		}
		for _, n := range list.Items {
			out = append(out, n.Name)
		}
	default:
		return nil, fmt.Errorf("no completion for %q", kind)
	}
	sort.Strings(out)
	return out, nil
}

func completionContext(c *cobra.Command) context.Context {
	if ctx := c.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}

// kubeconfigNames completes the contexts, clusters or users of the
// kubeconfig in use; it makes no network call.
func (l *lister) kubeconfigNames(what string) completeFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		cfg, err := l.rawConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		switch what {
		case "context":
			for n := range cfg.Contexts {
				names = append(names, n)
			}
		case "cluster":
			for n := range cfg.Clusters {
				names = append(names, n)
			}
		case "user":
			for n := range cfg.AuthInfos {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		return filterPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// plainNames completes bare object names (for flags such as --service).
func (l *lister) plainNames(kind string) completeFunc {
	return func(c *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		names, err := l.names(completionContext(c), kind)
		if err != nil {
			cobra.CompDebugln(fmt.Sprintf("listing %s: %v", kind, err), true)
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return filterPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// typedNames completes TYPE/NAME for the kinds given, in the form the
// commands take (deployment/web, service/web), for the first argument only.
func (l *lister) typedNames(kinds ...string) completeFunc {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var out []string
		for _, kind := range kinds {
			names, err := l.names(completionContext(c), kind)
			if err != nil {
				cobra.CompDebugln(fmt.Sprintf("listing %s: %v", kind, err), true)
				continue
			}
			for _, n := range names {
				out = append(out, kind+"/"+n)
			}
		}
		return filterPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

// containerImages completes --image CONTAINER= from the containers of the
// Deployment named in the first argument (deployment/NAME or NAME).
func (l *lister) containerImages(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 || strings.Contains(toComplete, "=") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	kind, name, found := strings.Cut(args[0], "/")
	if !found {
		kind, name = kindDeployment, args[0]
	}
	switch strings.ToLower(kind) {
	case "deployment", "deployments", "deploy", "deployment.apps", "deployments.apps":
	default:
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	client, err := l.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ns, err := l.namespace()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(completionContext(c), completionTimeout)
	defer cancel()
	d, err := client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		cobra.CompDebugln(fmt.Sprintf("reading deployment %q: %v", ns+"/"+name, err), true)
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []string
	for _, ctr := range d.Spec.Template.Spec.Containers {
		out = append(out, ctr.Name+"=")
	}
	return filterPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
