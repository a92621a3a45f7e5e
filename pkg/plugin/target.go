package plugin

// What every command shares between its arguments and the cluster: the
// one TYPE/NAME parser, the namespace, and the clients, built only in Run.
// Complete and Validate never read the kubeconfig's credentials, so a usage
// error is said (exit 2) even when the kubeconfig cannot be used.

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// kindOf maps the spellings kubectl accepts for a type to the kind
// kubectl zdd works on.
var kindOf = map[string]string{
	"deployment": kindDeployment, "deployments": kindDeployment, "deploy": kindDeployment,
	"deployment.apps": kindDeployment, "deployments.apps": kindDeployment,
	"service": kindService, "services": kindService, "svc": kindService,
}

// target is how a command reads its TYPE/NAME argument: the kinds it
// takes, the kind of a bare NAME ("" when NAME alone is refused), and
// what a wrong kind is told.
type target struct {
	kinds []string
	bare  string
	// wrongKind is the sentence for another kind, with %s the kind typed
	wrongKind string
}

var (
	// deploymentArg: rollout, rollback, migrate --for, analyze --for
	deploymentArg = target{kinds: []string{kindDeployment}, wrongKind: "want deployment/NAME"}
	// canaryArg: canary and its promote and abort
	canaryArg = target{kinds: []string{kindDeployment}, wrongKind: "a canary releases a deployment, not a %s"}
	// serviceArg: the bluegreen subcommands (NAME alone is a Service)
	serviceArg = target{kinds: []string{kindService}, bare: kindService, wrongKind: "want service/NAME (blue-green is driven from the Service)"}
	// recordArg: resume, abort, report, status: an operation's object
	recordArg = target{kinds: []string{kindDeployment, kindService}, wrongKind: "operations are recorded on deployments and services, not %q"}
	// analyzeArg: analyze --for
	analyzeArg = target{kinds: []string{kindDeployment}, wrongKind: "only a deployment can be analysed, not %q"}
)

// parse reads arg: the kind (one of t.kinds) and the name; an error that
// says what is wanted (the caller names the argument or flag).
func (t target) parse(arg string) (kind, name string, err error) {
	typ, name, ok := strings.Cut(arg, "/")
	if !ok {
		if t.bare == "" {
			return "", "", fmt.Errorf("want %s", t.want())
		}
		typ, name = t.bare, arg
	}
	kind = kindOf[strings.ToLower(typ)]
	known := false
	for _, k := range t.kinds {
		known = known || k == kind
	}
	if !known {
		msg := t.wrongKind
		if strings.Contains(msg, "%") {
			msg = fmt.Sprintf(msg, typ)
		}
		return "", "", errors.New(msg)
	}
	if name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("want %s", t.want())
	}
	return kind, name, nil
}

// want names the form wanted: "deployment/NAME", "TYPE/NAME, e.g. ...".
func (t target) want() string {
	if len(t.kinds) == 1 {
		return t.kinds[0] + "/NAME"
	}
	return "TYPE/NAME, e.g. deployment/web or service/web"
}

// parseTarget is target.parse of the command's argument, as a usage error
// of cmd (exit 2) naming it.
func parseTarget(cmd *cobra.Command, t target, arg string) (kind, name string, err error) {
	kind, name, err = t.parse(arg)
	if err != nil {
		return "", "", usageErrorf(cmd, "argument %q: %v", arg, err)
	}
	return kind, name, nil
}

// parseName is parseTarget for a command of one kind: the name.
func parseName(cmd *cobra.Command, t target, arg string) (string, error) {
	_, name, err := parseTarget(cmd, t, arg)
	return name, err
}

// parseFlagName is parseName of a flag's value (--for deployment/NAME).
func parseFlagName(cmd *cobra.Command, t target, flag, value string) (string, error) {
	_, name, err := t.parse(value)
	if err != nil {
		return "", usageErrorf(cmd, "--%s %q: %v", flag, value, err)
	}
	return name, nil
}

// missingTarget is the usage error of a command run without its TYPE/NAME.
func missingTarget(cmd *cobra.Command, t target, or string) error {
	return usageErrorf(cmd, "missing %s%s", t.want(), or)
}

// namespaceOf is the namespace the command works in (-n, else the
// context's, else "default") and whether -n set it. It reads the
// kubeconfig without checking its credentials: those are read when Run
// builds the clients, after the arguments and flags are known good.
func namespaceOf(f Factory) (string, bool, error) {
	loader := f.ToRawKubeConfigLoader()
	ns, explicit, err := loader.Namespace()
	if err == nil || !clientcmd.IsConfigurationInvalid(err) {
		if err != nil {
			return "", false, exitcode.Usagef("reading the namespace from the kubeconfig: %w", err)
		}
		return ns, explicit, nil
	}
	raw, rerr := loader.RawConfig()
	if rerr != nil {
		return "", false, exitcode.Usagef("reading the namespace from the kubeconfig: %w", err)
	}
	name := raw.CurrentContext
	if cf, ok := f.(*factory); ok {
		if flags, ok := cf.RESTClientGetter.(*genericclioptions.ConfigFlags); ok && flags.Context != nil && *flags.Context != "" {
			name = *flags.Context
		}
	}
	if c := raw.Contexts[name]; c != nil && c.Namespace != "" {
		return c.Namespace, false, nil
	}
	return "default", false, nil
}

// connect builds the clients Run needs from the kubeconfig, leaving those
// already set; dyn may be nil when the command needs no dynamic client.
// Without a Factory (a test that sets its own clients) it does nothing.
func connect(f Factory, client *kubernetes.Interface, dyn *dynamic.Interface) error {
	if f == nil {
		return nil
	}
	if *client == nil {
		c, err := f.KubernetesClientSet()
		if err != nil {
			return exitcode.Usagef("reading the kubeconfig: %w", err)
		}
		*client = c
	}
	if dyn != nil && *dyn == nil {
		d, err := f.DynamicClient()
		if err != nil {
			return exitcode.Usagef("reading the kubeconfig: %w", err)
		}
		*dyn = d
	}
	return nil
}
