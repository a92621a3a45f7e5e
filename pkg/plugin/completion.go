package plugin

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/gitops"
	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

const completionLong = `Print a shell completion script for kubectl zdd.

There are two ways to get completion:

1. Through kubectl (kubectl 1.26 or newer). Load kubectl's own completion
   (kubectl completion bash|zsh|fish|powershell) and put the executable
   kubectl_complete-zdd, shipped in every release archive next to the
   binary, on your PATH. kubectl then asks it when you press TAB after
   "kubectl zdd". With krew, link it once:

     ln -s "$(dirname "$(readlink -f "$(command -v kubectl-zdd)")")/kubectl_complete-zdd" \
       "${KREW_ROOT:-$HOME/.krew}/bin/"

2. For the binary called directly as kubectl-zdd: load the script this
   command prints.

Subcommands and flags are completed, and so are names read from the cluster
(with the usual --kubeconfig, --context and -n flags): deployments for
rollout, rollback, canary and --for; services for the bluegreen commands
and --service; deployments and services for status, resume, abort and
report; containers for --image; namespaces and contexts for -n and
--context.`

const completionExample = `  # bash (needs the bash-completion package)
  source <(kubectl zdd completion bash)

  # zsh
  kubectl zdd completion zsh > "${fpath[1]}/_kubectl-zdd"

  # fish
  kubectl zdd completion fish > ~/.config/fish/completions/kubectl-zdd.fish

  # PowerShell
  kubectl zdd completion powershell | Out-String | Invoke-Expression

  # what kubectl_complete-zdd asks for "kubectl zdd rollout <TAB>"
  kubectl zdd __complete rollout ""`

// CompletionOptions prints a shell completion script.
type CompletionOptions struct {
	Shell          string
	NoDescriptions bool
	root           *cobra.Command
	genericiooptions.IOStreams
}

var completionShells = []string{"bash", "zsh", "fish", "powershell"}

// NewCompletionOptions returns options with defaults set.
func NewCompletionOptions(streams genericiooptions.IOStreams) *CompletionOptions {
	return &CompletionOptions{IOStreams: streams}
}

// NewCmdCompletion builds `kubectl zdd completion SHELL`.
func NewCmdCompletion(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewCompletionOptions(streams)
	cmd := &cobra.Command{
		Use:                   "completion bash|zsh|fish|powershell",
		DisableFlagsInUseLine: true,
		Short:                 "Print a shell completion script for kubectl zdd",
		Long:                  completionLong,
		Example:               completionExample,
		ValidArgs:             completionShells,
		Args:                  cobra.ExactArgs(1),
		RunE:                  runSteps(f, o),
	}
	cmd.Flags().BoolVar(&o.NoDescriptions, "no-descriptions", o.NoDescriptions, "Leave the descriptions of the choices out of the completions")
	return cmd
}

// Complete takes the shell from the arguments.
func (o *CompletionOptions) Complete(_ Factory, cmd *cobra.Command, args []string) error {
	o.Shell = args[0]
	o.root = cmd.Root()
	return nil
}

// Validate checks the shell name.
func (o *CompletionOptions) Validate(*cobra.Command) error {
	for _, s := range completionShells {
		if o.Shell == s {
			return nil
		}
	}
	return exitcode.Usagef("kubectl zdd completion: unknown shell %q (want one of %s)", o.Shell, strings.Join(completionShells, ", "))
}

// Run writes the script. The script completes the executable kubectl-zdd;
// "kubectl zdd" itself is completed by kubectl through kubectl_complete-zdd.
func (o *CompletionOptions) Run(context.Context) error {
	root := o.root
	use := root.Use
	root.Use = "kubectl-zdd"
	defer func() { root.Use = use }()
	return generateCompletion(root, o.Shell, !o.NoDescriptions, o.Out)
}

func generateCompletion(root *cobra.Command, shell string, desc bool, w io.Writer) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, desc)
	case "zsh":
		if desc {
			return root.GenZshCompletion(w)
		}
		return root.GenZshCompletionNoDesc(w)
	case "fish":
		return root.GenFishCompletion(w, desc)
	case "powershell":
		if desc {
			return root.GenPowerShellCompletionWithDesc(w)
		}
		return root.GenPowerShellCompletion(w)
	}
	return fmt.Errorf("unknown shell %q", shell)
}

// completeFunc is the signature of a cobra ValidArgsFunction.
type completeFunc func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective)

// Kinds of object a completion lists.
const (
	kindDeployment = "deployment"
	kindService    = "service"
	kindIngress    = "ingress"
)

// argCompletions names, by command path below the root, what the positional
// argument of each command is. Commands that do not exist (yet) are skipped,
// and a command that set its own ValidArgsFunction keeps it.
var argCompletions = map[string][]string{
	"rollout":            {kindDeployment},
	"rollback":           {kindDeployment},
	"canary":             {kindDeployment},
	"canary promote":     {kindDeployment},
	"canary abort":       {kindDeployment},
	"canary status":      {kindDeployment},
	"bluegreen init":     {kindService},
	"bluegreen deploy":   {kindService},
	"bluegreen promote":  {kindService},
	"bluegreen rollback": {kindService},
	"bluegreen status":   {kindService},
	"bluegreen abort":    {kindService},
	"status":             {kindDeployment, kindService},
	"resume":             {kindDeployment, kindService},
	"abort":              {kindDeployment, kindService},
	"report":             {kindDeployment, kindService},
}

// flagNameCompletions names, by flag name, what a flag's value is, on every
// command that has that flag. The values are plain names unless typed is set.
var flagNameCompletions = map[string]struct {
	kind  string
	typed bool
}{
	"for":             {kindDeployment, true},
	"service":         {kindService, false},
	"preview-service": {kindService, false},
	"ingress":         {kindIngress, false},
}

// setupCompletion walks the command tree once it is built and wires the
// completion of arguments and flag values by command path, so that the
// subcommand files need not know about it.
func setupCompletion(root *cobra.Command, f Factory) {
	wireCompletion(root, newLister(f))
}

func wireCompletion(root *cobra.Command, l *lister) {
	registerFlagCompletion(root, "namespace", l.plainNames("namespace"))
	registerFlagCompletion(root, "context", l.kubeconfigNames("context"))
	registerFlagCompletion(root, "cluster", l.kubeconfigNames("cluster"))
	registerFlagCompletion(root, "user", l.kubeconfigNames("user"))
	walkCommands(root, func(c *cobra.Command) {
		path := strings.TrimPrefix(strings.TrimPrefix(c.CommandPath(), root.CommandPath()), " ")
		if kinds, ok := argCompletions[path]; ok && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = l.typedNames(kinds...)
		}
		for name, what := range flagNameCompletions {
			if what.typed {
				registerFlagCompletion(c, name, l.typedNames(what.kind))
			} else {
				registerFlagCompletion(c, name, l.plainNames(what.kind))
			}
		}
		registerFlagCompletion(c, "image", l.containerImages)
		registerFlagCompletion(c, "dry-run", fixedChoices("none", "client", "server"))
		registerFlagCompletion(c, "gitops", fixedChoices(gitops.Modes...))
		registerFlagCompletion(c, "traffic-router", fixedChoices(traffic.RouterKinds...))
	})
}

func walkCommands(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		walkCommands(sub, fn)
	}
}

// registerFlagCompletion sets fn for the named flag of c (its own flags or
// the persistent ones it defines) when the flag exists and has no
// completion yet.
func registerFlagCompletion(c *cobra.Command, name string, fn completeFunc) {
	fl := c.LocalNonPersistentFlags().Lookup(name)
	if fl == nil {
		fl = c.PersistentFlags().Lookup(name)
	}
	if fl == nil {
		return
	}
	if _, ok := c.GetFlagCompletionFunc(name); ok {
		return
	}
	_ = c.RegisterFlagCompletionFunc(name, fn)
}

func fixedChoices(choices ...string) completeFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		return filterPrefix(choices, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func filterPrefix(choices []string, prefix string) []string {
	var out []string
	for _, c := range choices {
		if strings.HasPrefix(c, prefix) {
			out = append(out, c)
		}
	}
	return out
}
