// Package lint audits Kubernetes objects for the settings zero downtime
// depends on. Rules are pure functions over typed objects (see rules*.go);
// loading manifests and live objects, printing and fixing live beside them.
package lint

import (
	"encoding/json"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Severity of a finding. The order matters: --fail-on compares with >=.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
)

func (s Severity) String() string {
	switch s {
	case Error:
		return "error"
	case Warning:
		return "warning"
	default:
		return "info"
	}
}

// MarshalJSON writes the severity as its name.
func (s Severity) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// UnmarshalJSON reads a severity name.
func (s *Severity) UnmarshalJSON(b []byte) error {
	var name string
	if err := json.Unmarshal(b, &name); err != nil {
		return err
	}
	v, err := ParseSeverity(name)
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverity reads "error", "warning" or "info".
func ParseSeverity(name string) (Severity, error) {
	switch strings.ToLower(name) {
	case "error":
		return Error, nil
	case "warning":
		return Warning, nil
	case "info":
		return Info, nil
	}
	return Info, fmt.Errorf("unknown severity %q (want error, warning or info)", name)
}

// Source is where an object came from: a file and the line its document
// starts on. Both are empty for a live object.
type Source struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// Object is one object to audit: its identity, its typed form (apps/v1
// Deployment, core/v1 Service, ... after converting old API versions to their
// modern equivalents), the unstructured form it was read as, and its source.
type Object struct {
	Kind      string
	Namespace string
	Name      string
	Typed     runtime.Object
	Raw       *unstructured.Unstructured
	Source    Source
	// Context marks an object read only for the cross-object rules (in live
	// mode, the namespace's Services, PDBs and HPAs around the objects asked
	// for): Audit reads it but reports nothing on it.
	Context bool

	// doc is the document the object was read from, when it is known: a
	// finding then names the line of its field (see locate.go).
	doc *docRef
	// scope separates objects that are deployed apart: the output of each
	// kustomization and of each Helm chart found in a folder is audited on
	// its own (its Services, PDBs, HPAs... are matched only with its
	// workloads); "" is the plain files, URLs and standard input.
	scope string
	// rendered names what rendered the object ("the Helm chart DIR", "the
	// kustomization DIR") when it was not read from a file as it is: --fix
	// does not rewrite it.
	rendered string
	// live is what LoadLive learnt from the cluster about a workload's pods,
	// beyond the object itself (nil for files).
	live *liveFacts
}

// liveFacts are facts of a live workload's running pods.
type liveFacts struct {
	// pods are the workload's pods (those its selector matches).
	pods []podFacts
	// leases are the Leases its pods hold (holderIdentity names a pod).
	leases []string
	// leaseWriter is set when the API server said (LocalSubjectAccessReview)
	// whether the pods' ServiceAccount may update Leases.
	leaseWriter *bool
}

// podFacts are the facts the rules read of one pod, as the cluster runs it
// (with what admission webhooks added: mesh sidecars, readiness gates).
type podFacts struct {
	name string
	// containers and sidecars (init containers that keep running, native
	// sidecars) by name.
	containers []string
	sidecars   []string
	// readinessGates are the condition types of its readiness gates.
	readinessGates []string
	// env of the mesh proxy container, when there is one.
	proxyEnv map[string]string
}

// Ref is "Kind namespace/name" (or "Kind name" without a namespace).
func (o Object) Ref() string {
	if o.Namespace == "" {
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// Finding is one problem found. The JSON field names are a stable schema
// (see docs/lint-json.md).
type Finding struct {
	Rule      string   `json:"rule"`
	Severity  Severity `json:"severity"`
	Kind      string   `json:"kind"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name"`
	Container string   `json:"container,omitempty"`
	Field     string   `json:"field"`
	Message   string   `json:"message"`
	Hint      string   `json:"hint"`
	File      string   `json:"file,omitempty"`
	Line      int      `json:"line,omitempty"`
	// FieldLine is the line, in File, of the field at fault (or of its
	// closest parent written there, when the field is left to its default).
	FieldLine int `json:"fieldLine,omitempty"`
}

// Options tune an audit.
type Options struct {
	// DrainSeconds is the time a pod needs, after its preStop hook, to finish
	// in-flight requests (--drain-seconds, default 10).
	DrainSeconds int
	// Live is set when the objects were read from a cluster: the cross-object
	// rules then know the input holds every PDB, Service and HPA around them.
	Live bool
	// Disabled and Enabled list rule ids (--disable, --enable). A rule that
	// is off by default runs only when enabled.
	Disabled []string
	Enabled  []string
}

// RuleInfo describes a rule for --help, SARIF's rules list and the docs.
type RuleInfo struct {
	ID          string   `json:"id"`
	Severity    Severity `json:"severity"`
	Description string   `json:"description"`
	Hint        string   `json:"hint"`
}

// The functions the rest of the project calls (implemented in audit.go):
//
//	func Audit(objs []Object, opts Options) []Finding   // all enabled rules, zdd.dev/ignore honoured, sorted by source, object, rule
//	func Rules() []RuleInfo                             // every rule, sorted by id
//	func FromTyped(obj runtime.Object) (Object, error)  // an Object from a typed or unstructured object (used by rollout's preflight)
