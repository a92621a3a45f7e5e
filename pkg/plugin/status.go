package plugin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
	"github.com/zdd-dev/kubectl-zdd/pkg/state"
)

// StatusOptions shows the operations in flight, or last finished, from the
// records kubectl zdd keeps in annotations, with the Lease that guards each.
type StatusOptions struct {
	Output        string
	Watch         bool
	AllNamespaces bool

	Kind      string // "deployment" or "service" when a TYPE/NAME was given
	Name      string
	Namespace string
	Client    kubernetes.Interface
	factory   Factory
	Now       func() time.Time

	genericiooptions.IOStreams
}

// NewStatusOptions returns options with defaults set.
func NewStatusOptions(streams genericiooptions.IOStreams) *StatusOptions {
	return &StatusOptions{IOStreams: streams, Now: time.Now}
}

// NewCmdStatus builds `kubectl zdd status`.
func NewCmdStatus(f Factory, streams genericiooptions.IOStreams) *cobra.Command {
	o := NewStatusOptions(streams)
	cmd := &cobra.Command{
		Use:   "status [TYPE/NAME]",
		Short: "Show the release operations in flight or last finished",
		Long: `Show every kubectl zdd operation in flight, or last finished, in the namespace
(or in all namespaces with -A), read from the zdd.dev/ annotations on the
Deployments (rollout, canary) and Services (blue-green) it manages: strategy,
phase, versions, colours or weights, ready counts, start time, and the Lease
holder with whether it is still renewing. A holder that stopped renewing
usually means the client died: run 'kubectl zdd resume' or 'kubectl zdd abort'.`,
		Example: `  # Every operation in the current namespace
  kubectl zdd status

  # One Deployment's operation, as JSON
  kubectl zdd status deployment/web -o json

  # Watch operations change in all namespaces
  kubectl zdd status -A -w`,
		Args: cobra.MaximumNArgs(1),
		RunE: runSteps(f, o),
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", o.Output, "Output format: '' (table), wide (the table with the operation id and every recorded parameter, shortened), json or yaml (the whole record)")
	cmd.Flags().BoolVarP(&o.Watch, "watch", "w", o.Watch, "After listing, watch for changes and print each changed operation")
	cmd.Flags().BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces, "Show operations in all namespaces")
	return cmd
}

// Complete reads the optional TYPE/NAME and the namespace.
func (o *StatusOptions) Complete(f Factory, cmd *cobra.Command, args []string) error {
	var err error
	if len(args) == 1 {
		if o.Kind, o.Name, err = parseTarget(cmd, recordArg, args[0]); err != nil {
			return err
		}
	}
	o.factory = f
	o.Namespace, _, err = namespaceOf(f)
	return err
}

// Validate checks the flags.
func (o *StatusOptions) Validate(cmd *cobra.Command) error {
	switch o.Output {
	case "", "wide", "json", "yaml":
	default:
		return usageErrorf(cmd, "unknown --output %q (want json, yaml or wide, or nothing for a table)", o.Output)
	}
	if o.AllNamespaces && o.Name != "" {
		return usageErrorf(cmd, "a TYPE/NAME cannot be combined with --all-namespaces")
	}
	if o.Watch && o.Output != "" && o.Output != "wide" {
		return usageErrorf(cmd, "--watch prints a table; it cannot be combined with --output %s", o.Output)
	}
	return nil
}

// OperationStatus is one row of `kubectl zdd status`, and its JSON form.
type OperationStatus struct {
	Kind      string           `json:"kind"`
	Namespace string           `json:"namespace"`
	Name      string           `json:"name"`
	Operation *state.Operation `json:"operation"`
	Ready     string           `json:"ready"`
	Lease     *state.LeaseInfo `json:"lease,omitempty"`
	// Requests is what the operation's request probe measured (--probe),
	// nil when it had none or has not ended.
	Requests *RequestsRecord `json:"requests,omitempty"`
}

// StatusList is the JSON/YAML document of `kubectl zdd status -o json`.
type StatusList struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []OperationStatus `json:"items"`
}

func (o *StatusOptions) listNamespace() string {
	if o.AllNamespaces {
		return metav1.NamespaceAll
	}
	return o.Namespace
}

// Run lists (and with -w watches) the operations.
func (o *StatusOptions) Run(ctx context.Context) error {
	if err := connect(o.factory, &o.Client, nil); err != nil {
		return err
	}
	items, err := o.collect(ctx)
	if err != nil {
		return err
	}
	if o.Name != "" && len(items) == 0 {
		return exitcode.Failedf("%s %q carries no kubectl zdd operation", o.Kind, o.Namespace+"/"+o.Name)
	}
	switch o.Output {
	case "json":
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(StatusList{APIVersion: "zdd.dev/v1", Kind: "OperationStatusList", Items: items})
	case "yaml":
		b, err := yaml.Marshal(StatusList{APIVersion: "zdd.dev/v1", Kind: "OperationStatusList", Items: items})
		if err != nil {
			return err
		}
		_, err = o.Out.Write(b)
		return err
	}
	if len(items) == 0 && !o.Watch {
		where := fmt.Sprintf("namespace %q", o.Namespace)
		if o.AllNamespaces {
			where = "any namespace"
		}
		fmt.Fprintf(o.Out, "No kubectl zdd operations in %s.\n", where)
		return nil
	}
	tw := tabwriter.NewWriter(o.Out, 0, 4, 2, ' ', 0)
	wide := o.Output == "wide"
	printStatusHeader(tw, o.AllNamespaces, wide)
	for _, it := range items {
		printStatusRow(tw, it, o.AllNamespaces, wide, o.Now())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if !o.Watch {
		return nil
	}
	return o.watch(ctx, tw, items)
}

func (o *StatusOptions) collect(ctx context.Context) ([]OperationStatus, error) {
	ns := o.listNamespace()
	var items []OperationStatus
	if o.Kind == "" || o.Kind == "deployment" {
		var deps []appsv1.Deployment
		if o.Name != "" {
			d, err := o.Client.AppsV1().Deployments(ns).Get(ctx, o.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil, exitcode.Usagef("deployment %q not found", ns+"/"+o.Name)
			}
			if err != nil {
				return nil, fmt.Errorf("reading deployment %q: %w", ns+"/"+o.Name, err)
			}
			deps = []appsv1.Deployment{*d}
		} else {
			list, err := o.Client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, fmt.Errorf("listing deployments: %w", err)
			}
			deps = list.Items
		}
		for i := range deps {
			if it, ok := o.deploymentStatus(ctx, &deps[i]); ok {
				items = append(items, it)
			}
		}
	}
	if o.Kind == "" || o.Kind == "service" {
		var svcs []corev1.Service
		if o.Name != "" {
			s, err := o.Client.CoreV1().Services(ns).Get(ctx, o.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return nil, exitcode.Usagef("service %q not found", ns+"/"+o.Name)
			}
			if err != nil {
				return nil, fmt.Errorf("reading service %q: %w", ns+"/"+o.Name, err)
			}
			svcs = []corev1.Service{*s}
		} else {
			list, err := o.Client.CoreV1().Services(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, fmt.Errorf("listing services: %w", err)
			}
			svcs = list.Items
		}
		for i := range svcs {
			if it, ok := o.serviceStatus(ctx, &svcs[i]); ok {
				items = append(items, it)
			}
		}
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	return items, nil
}

func (o *StatusOptions) lease(ctx context.Context, kind, ns, name string) *state.LeaseInfo {
	info, ok, err := state.Describe(ctx, o.Client.CoordinationV1(), ns, state.LeaseName(kind, name), o.Now())
	if err != nil || !ok {
		return nil
	}
	return &info
}

func (o *StatusOptions) deploymentStatus(ctx context.Context, d *appsv1.Deployment) (OperationStatus, bool) {
	op, ok := state.FromAnnotations(d.Annotations)
	if !ok {
		return OperationStatus{}, false
	}
	desired := int32(1)
	if d.Spec.Replicas != nil {
		desired = *d.Spec.Replicas
	}
	return OperationStatus{
		Kind: "Deployment", Namespace: d.Namespace, Name: d.Name, Operation: op,
		Ready:    fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desired),
		Lease:    o.lease(ctx, "deployment", d.Namespace, d.Name),
		Requests: requestsOf(d.Annotations, op.ID),
	}, true
}

func (o *StatusOptions) serviceStatus(ctx context.Context, s *corev1.Service) (OperationStatus, bool) {
	op, ok := state.FromAnnotations(s.Annotations)
	if !ok {
		return OperationStatus{}, false
	}
	ready := "?"
	slices, err := o.Client.DiscoveryV1().EndpointSlices(s.Namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + s.Name})
	if err == nil {
		n, total := 0, 0
		for _, sl := range slices.Items {
			for _, ep := range sl.Endpoints {
				total++
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					n++
				}
			}
		}
		ready = fmt.Sprintf("%d/%d endpoints", n, total)
	}
	return OperationStatus{
		Kind: "Service", Namespace: s.Namespace, Name: s.Name, Operation: op, Ready: ready,
		Lease:    o.lease(ctx, "service", s.Namespace, s.Name),
		Requests: requestsOf(s.Annotations, op.ID),
	}, true
}
