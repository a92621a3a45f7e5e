package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// Change is what a release changed in a Deployment's pod template and,
// when BeforeSpec and AfterSpec are both set, in the rest of its spec but
// the replicas, the selector and paused (the strategy, minReadySeconds,
// progressDeadlineSeconds, revisionHistoryLimit: what --fix may change).
type Change struct {
	Namespace, Name       string
	Before, After         *corev1.PodTemplateSpec
	BeforeSpec, AfterSpec *appsv1.DeploymentSpec
	// Selectors are the Services whose selector the release moved (a
	// blue-green switch), in the same namespace.
	Selectors []SelectorChange
}

// SelectorChange is a Service whose selector's Label went From one value
// To another.
type SelectorChange struct {
	Service, Label, From, To string
}

// renderService is a Service's manifest as far as a switch changes it.
func (c Change) renderService(s SelectorChange, value string) (string, error) {
	b, err := sigsyaml.Marshal(map[string]any{
		"apiVersion": "v1",
		"kind":       "Service",
		"metadata":   map[string]any{"name": s.Service, "namespace": c.Namespace},
		"spec":       map[string]any{"selector": map[string]any{s.Label: value}},
	})
	return string(b), err
}

// ImageChange is one container whose image a release changed.
type ImageChange struct {
	Container string
	Init      bool
	From, To  string
}

// Images lists the containers (init containers first) whose image changed.
func (c Change) Images() []ImageChange {
	var out []ImageChange
	diff := func(before, after []corev1.Container, init bool) {
		old := map[string]string{}
		for _, ct := range before {
			old[ct.Name] = ct.Image
		}
		for _, ct := range after {
			if o, ok := old[ct.Name]; ok && o != ct.Image {
				out = append(out, ImageChange{Container: ct.Name, Init: init, From: o, To: ct.Image})
			}
		}
	}
	diff(c.Before.Spec.InitContainers, c.After.Spec.InitContainers, true)
	diff(c.Before.Spec.Containers, c.After.Spec.Containers, false)
	return out
}

// render is the Deployment's manifest as far as a release changes it: its
// name and the part of its spec of specMap.
func (c Change) render(spec map[string]any) (string, error) {
	obj := map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": c.Name, "namespace": c.Namespace},
		"spec":       spec,
	}
	b, err := sigsyaml.Marshal(obj)
	return string(b), err
}

// Patch is the change as a unified diff of the Deployment's manifest (name
// and pod template), "" when the template did not change.
func (c Change) Patch() (string, error) {
	before, after, err := c.specs()
	if err != nil {
		return "", err
	}
	a, err := c.render(before)
	if err != nil {
		return "", err
	}
	b, err := c.render(after)
	if err != nil {
		return "", err
	}
	for _, sc := range c.Selectors {
		if sc.From == sc.To {
			continue
		}
		sa, err := c.renderService(sc, sc.From)
		if err != nil {
			return "", err
		}
		sb, err := c.renderService(sc, sc.To)
		if err != nil {
			return "", err
		}
		a, b = a+"---\n"+sa, b+"---\n"+sb
	}
	ref := "deployment/" + c.Name
	return unified(ref+" (before the release)", ref+" (after the release)", a, b)
}

func unified(from, to, a, b string) (string, error) {
	if a == b {
		return "", nil
	}
	return difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(a), B: difflib.SplitLines(b),
		FromFile: from, ToFile: to, Context: 3,
	})
}

// fileKind says what a write-back file holds.
type fileKind int

const (
	fileManifest fileKind = iota
	fileKustomization
)

// readFile parses a write-back file into its documents, keeping comments and
// the indentation of sequences.
func readFile(path string) ([]*kyaml.RNode, []byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, exitcode.Usagef("--write-back: %w", err)
	}
	nodes, err := (&kio.ByteReadWriter{Reader: bytes.NewReader(data), PreserveSeqIndent: true}).Read()
	if err != nil {
		return nil, nil, exitcode.Usagef("--write-back %s: not YAML: %w", path, err)
	}
	return nodes, data, nil
}

func kindOf(nodes []*kyaml.RNode, path string) fileKind {
	for _, n := range nodes {
		if n.GetKind() == "Kustomization" {
			return fileKustomization
		}
	}
	base := path[strings.LastIndex(path, "/")+1:]
	if base == "kustomization.yaml" || base == "kustomization.yml" || base == "Kustomization" {
		return fileKustomization
	}
	return fileManifest
}

// deploymentIn finds deployment namespace/name among the documents.
func deploymentIn(nodes []*kyaml.RNode, namespace, name string) *kyaml.RNode {
	return objectIn(nodes, "Deployment", namespace, name)
}

// objectIn finds the object of kind namespace/name among the documents (a
// document without a namespace matches any).
func objectIn(nodes []*kyaml.RNode, kind, namespace, name string) *kyaml.RNode {
	for _, n := range nodes {
		if n.GetKind() != kind || n.GetName() != name {
			continue
		}
		if ns := n.GetNamespace(); ns != "" && namespace != "" && ns != namespace {
			continue
		}
		return n
	}
	return nil
}

// CheckFile verifies before a release that --write-back FILE can take its
// change: a readable YAML file holding deployment namespace/name, or a
// kustomization. Every failure is a usage error naming the file.
func CheckFile(path, namespace, name string) error {
	nodes, _, err := readFile(path)
	if err != nil {
		return err
	}
	if kindOf(nodes, path) == fileKustomization {
		return nil
	}
	if deploymentIn(nodes, namespace, name) == nil {
		return exitcode.Usagef("--write-back %s: holds no deployment %q and is not a kustomization", path, name)
	}
	return nil
}

// WriteBack applies the change to path: in a manifest, every changed
// field of the Deployment (and the selector of a switched Service it
// holds); in a kustomization, the images in its images: entries (one added
// when none matches) and the other changed fields as a strategic-merge
// patch per object in its patches: (see kustpatch.go). A value that is replaced
// is replaced where it stands in the file, so its quoting, comments and
// everything around it stay byte for byte; when a field or an entry must be
// added, kyaml writes the file again, keeping comments, key order and the
// indentation of sequences. It returns the unified diff of the file ("" when
// nothing changed).
func WriteBack(path string, c Change) (string, error) {
	_, data, err := readFile(path)
	if err != nil {
		return "", err
	}
	docs, err := decodeDocs(data)
	if err != nil {
		return "", exitcode.Usagef("--write-back %s: not YAML: %w", path, err)
	}
	inPlace := &inPlaceSetter{}
	if err := applyChange(docs, path, c, inPlace.set); err != nil {
		return "", err
	}
	var out []byte
	if !inPlace.structural {
		out = inPlace.apply(data)
	} else {
		nodes, _, err := readFile(path)
		if err != nil {
			return "", err
		}
		if err := applyChange(nodes, path, c, kyamlSet); err != nil {
			return "", err
		}
		var buf bytes.Buffer
		if err := (&kio.ByteReadWriter{Writer: &buf, PreserveSeqIndent: true}).Write(nodes); err != nil {
			return "", fmt.Errorf("--write-back %s: %w", path, err)
		}
		out = buf.Bytes()
	}
	if bytes.Equal(out, data) {
		return "", nil
	}
	info, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(path, out, info.Mode().Perm()); err != nil {
		return "", fmt.Errorf("--write-back: %w", err)
	}
	return unified("a/"+path, "b/"+path, string(data), string(out))
}

// decodeDocs parses every document of data, with line and column of each
// node counted from the start of data.
func decodeDocs(data []byte) ([]*kyaml.RNode, error) {
	dec := kyaml.NewDecoder(bytes.NewReader(data))
	var docs []*kyaml.RNode
	for {
		var n kyaml.Node
		err := dec.Decode(&n)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if n.Kind == kyaml.DocumentNode && len(n.Content) == 1 {
			docs = append(docs, kyaml.NewRNode(n.Content[0]))
		}
	}
}

// applyChange sets the change's images in the documents through set.
func applyChange(nodes []*kyaml.RNode, path string, c Change, set setFunc) error {
	images := c.Images()
	if kindOf(nodes, path) == fileKustomization {
		var kust *kyaml.RNode
		for _, n := range nodes {
			if n.GetKind() == "Kustomization" || kust == nil {
				kust = n
			}
		}
		if kust == nil {
			return exitcode.Usagef("--write-back %s: empty kustomization", path)
		}
		for _, im := range images {
			if err := setKustomizeImage(kust, im, set); err != nil {
				return fmt.Errorf("--write-back %s: %w", path, err)
			}
		}
		patches, err := c.kustomizePatches()
		if err != nil {
			return err
		}
		for _, p := range patches {
			p.name = unprefixed(kust, p.name)
			if err := setKustomizePatch(kust, p, set); err != nil {
				return fmt.Errorf("--write-back %s: %w", path, err)
			}
		}
		return nil
	}
	dep := deploymentIn(nodes, c.Namespace, c.Name)
	if dep == nil {
		return exitcode.Usagef("--write-back %s: holds no deployment %q", path, c.Name)
	}
	before, after, err := c.specs()
	if err != nil {
		return err
	}
	w := &merger{set: set, path: path, dep: c.Name}
	if err := w.merge(dep, map[string]any{"spec": before}, map[string]any{"spec": after}); err != nil {
		if exitcode.Of(err) == exitcode.Usage {
			return err
		}
		return fmt.Errorf("--write-back %s: %w", path, err)
	}
	for _, sc := range c.Selectors {
		svc := objectIn(nodes, "Service", c.Namespace, sc.Service)
		if svc == nil || sc.From == sc.To {
			continue // the Service may be kept in another file
		}
		sel, err := svc.Pipe(kyaml.Lookup("spec", "selector"))
		if err != nil {
			return fmt.Errorf("--write-back %s: %w", path, err)
		}
		if sel == nil || sel.YNode().Kind != kyaml.MappingNode || sel.Field(sc.Label) == nil {
			continue // a selector without the colour: not the file's to switch
		}
		if err := set(sel, sc.Label, sc.To); err != nil {
			return fmt.Errorf("--write-back %s: %w", path, err)
		}
	}
	return nil
}

// IsKustomization says whether the write-back file is a kustomization
// (which takes a release's images in images: and its other changes as
// patches).
func IsKustomization(path string) (bool, error) {
	nodes, _, err := readFile(path)
	if err != nil {
		return false, err
	}
	return kindOf(nodes, path) == fileKustomization, nil
}

func fieldString(n *kyaml.RNode, field string) string {
	f := n.Field(field)
	if f == nil || f.Value == nil {
		return ""
	}
	return f.Value.YNode().Value
}
