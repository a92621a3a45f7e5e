package plugin

import (
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/resource"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Factory gives a command the clients it needs, built when the command
// asks for them from the kubeconfig flags (genericclioptions.ConfigFlags:
// --kubeconfig, --context, -n, ...). It is the part of kubectl's
// Factory that kubectl zdd uses, with the same behaviour; cmdutil
// itself would link kubectl's whole command-line toolkit (a second scheme
// of every API group, OpenAPI validation, translations, Markdown help
// templates): about 3 MB of binary and a few milliseconds of start-up.
type Factory interface {
	genericclioptions.RESTClientGetter
	// KubernetesClientSet returns the typed clientset.
	KubernetesClientSet() (*kubernetes.Clientset, error)
	// DynamicClient returns the dynamic client (custom resources).
	DynamicClient() (dynamic.Interface, error)
	// NewBuilder returns a resource builder (files, folders, URLs, stdin,
	// kustomize folders and live objects, as kubectl reads them).
	NewBuilder() *resource.Builder
}

// NewFactory returns a Factory over the client getter (the root command's
// ConfigFlags).
func NewFactory(getter genericclioptions.RESTClientGetter) Factory {
	return &factory{RESTClientGetter: getter}
}

type factory struct {
	genericclioptions.RESTClientGetter
}

// restConfig is the getter's REST config with the defaults kubectl's
// factory sets (the default user agent among them).
func (f *factory) restConfig() (*rest.Config, error) {
	c, err := f.ToRESTConfig()
	if err != nil {
		return nil, err
	}
	if err := rest.SetKubernetesDefaults(c); err != nil {
		return nil, err
	}
	if c.QPS == 0 && c.RateLimiter == nil {
		// client-go's default limit (5 requests a second after a burst of
		// 10) held each write of a release's switch or step back by 200
		// ms: a blue-green deploy's end sent 8 requests in 0.6 s. A
		// release makes tens of requests in all (bench/scale.sh counts
		// them), so a higher limit only takes the waits away.
		c.QPS, c.Burst = clientQPS, clientBurst
	}
	c.Wrap(func(rt http.RoundTripper) http.RoundTripper { return uncompressedWatches{next: rt} })
	return c, nil
}

// The client's request rate limit, when the config sets none.
const (
	clientQPS   = 50
	clientBurst = 100
)

func (f *factory) KubernetesClientSet() (*kubernetes.Clientset, error) {
	c, err := f.restConfig()
	if err != nil {
		return nil, err
	}
	// the built-in types in protobuf, as the cluster's own controllers ask
	// for them: lists and watches of 1,000 pods decode in a fraction of
	// the memory and time of JSON; JSON stays acceptable for what has no
	// protobuf form
	c.ContentType = runtime.ContentTypeProtobuf
	c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	return kubernetes.NewForConfig(c)
}

func (f *factory) DynamicClient() (dynamic.Interface, error) {
	c, err := f.restConfig()
	if err != nil {
		return nil, err
	}
	return dynamic.NewForConfig(c)
}

func (f *factory) NewBuilder() *resource.Builder {
	return resource.NewBuilder(f.RESTClientGetter)
}
