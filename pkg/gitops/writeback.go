package gitops

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/kustomize/kyaml/kio"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// Change is what a release changed in a Deployment's pod template.
type Change struct {
	Namespace, Name string
	Before, After   *corev1.PodTemplateSpec
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
// name and pod template, without the fields the API server adds to a
// template that is never written (creationTimestamp, pod-template-hash).
func (c Change) render(t *corev1.PodTemplateSpec) (string, error) {
	tmpl, err := runtime.DefaultUnstructuredConverter.ToUnstructured(t)
	if err != nil {
		return "", err
	}
	if md, ok := tmpl["metadata"].(map[string]any); ok {
		delete(md, "creationTimestamp")
		if l, ok := md["labels"].(map[string]any); ok {
			delete(l, "pod-template-hash")
		}
	}
	obj := map[string]any{
		"apiVersion": "apps/v1",
		"kind":       "Deployment",
		"metadata":   map[string]any{"name": c.Name, "namespace": c.Namespace},
		"spec":       map[string]any{"template": tmpl},
	}
	b, err := sigsyaml.Marshal(obj)
	return string(b), err
}

// Patch is the change as a unified diff of the Deployment's manifest (name
// and pod template), "" when the template did not change.
func (c Change) Patch() (string, error) {
	a, err := c.render(c.Before)
	if err != nil {
		return "", err
	}
	b, err := c.render(c.After)
	if err != nil {
		return "", err
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
	for _, n := range nodes {
		if n.GetKind() != "Deployment" || n.GetName() != name {
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

// WriteBack applies the change's images to path: in a manifest, the image
// of each changed container of the Deployment; in a kustomization, its
// images: entries (one added when none matches). A value that is replaced
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

// setFunc sets field of the mapping m to value ("" removes it); an empty
// field says that the caller adds a node to the document itself.
type setFunc func(m *kyaml.RNode, field, value string) error

func kyamlSet(m *kyaml.RNode, field, value string) error {
	if field == "" {
		return nil
	}
	if value == "" {
		return m.PipeE(kyaml.Clear(field))
	}
	if f := m.Field(field); f != nil && f.Value != nil && f.Value.YNode().Kind == kyaml.ScalarNode {
		f.Value.YNode().Value = value // keeps its style and comments
		return nil
	}
	return m.PipeE(kyaml.SetField(field, kyaml.NewStringRNode(value)))
}

// inPlaceSetter records replacements of existing scalars by their position
// in the file; anything else marks the change structural.
type inPlaceSetter struct {
	edits      []*kyaml.Node
	values     []string
	structural bool
}

func (s *inPlaceSetter) set(m *kyaml.RNode, field, value string) error {
	if field == "" {
		s.structural = true
		return nil
	}
	f := m.Field(field)
	switch {
	case f == nil && value == "":
		return nil
	case f == nil || value == "" || f.Value.YNode().Kind != kyaml.ScalarNode:
		s.structural = true
		return nil
	case f.Value.YNode().Value == value:
		return nil
	}
	n := f.Value.YNode()
	switch n.Style {
	case 0, kyaml.DoubleQuotedStyle, kyaml.SingleQuotedStyle:
	default:
		s.structural = true
		return nil
	}
	s.edits = append(s.edits, n)
	s.values = append(s.values, value)
	return nil
}

// apply replaces each recorded scalar in data, last first.
func (s *inPlaceSetter) apply(data []byte) []byte {
	lineStart := []int{0}
	for i, b := range data {
		if b == '\n' {
			lineStart = append(lineStart, i+1)
		}
	}
	type span struct {
		from, to int
		text     string
	}
	var spans []span
	for i, n := range s.edits {
		from := lineStart[n.Line-1] + n.Column - 1
		to := from + len(n.Value)
		text := s.values[i]
		switch n.Style {
		case kyaml.DoubleQuotedStyle:
			to = from + 1 + bytes.IndexByte(data[from+1:], '"') + 1
			text = `"` + text + `"`
		case kyaml.SingleQuotedStyle:
			to = from + 1 + bytes.IndexByte(data[from+1:], '\'') + 1
			text = "'" + text + "'"
		}
		spans = append(spans, span{from, to, text})
	}
	sort.Slice(spans, func(i, j int) bool { return spans[i].from > spans[j].from })
	out := append([]byte(nil), data...)
	for _, sp := range spans {
		out = append(out[:sp.from], append([]byte(sp.text), out[sp.to:]...)...)
	}
	return out
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
		return nil
	}
	dep := deploymentIn(nodes, c.Namespace, c.Name)
	if dep == nil {
		return exitcode.Usagef("--write-back %s: holds no deployment %q", path, c.Name)
	}
	for _, im := range images {
		list := "containers"
		if im.Init {
			list = "initContainers"
		}
		ct, err := dep.Pipe(kyaml.Lookup("spec", "template", "spec", list, "[name="+im.Container+"]"))
		if err != nil {
			return fmt.Errorf("--write-back %s: %w", path, err)
		}
		if ct == nil {
			return exitcode.Usagef("--write-back %s: deployment %q has no %s %q", path, c.Name, strings.TrimSuffix(list, "s"), im.Container)
		}
		if err := set(ct, "image", im.To); err != nil {
			return fmt.Errorf("--write-back %s: %w", path, err)
		}
	}
	return nil
}

// splitImage cuts an image reference into repository, tag and digest.
func splitImage(ref string) (repo, tag, digest string) {
	repo, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo, tag = repo[:i], repo[i+1:]
	}
	return repo, tag, digest
}

// setKustomizeImage points the kustomization's images: entry of the old
// image at the new one: the entry whose newName (or, without one, name) is
// the old image's repository.
func setKustomizeImage(kust *kyaml.RNode, im ImageChange, set setFunc) error {
	oldRepo, _, _ := splitImage(im.From)
	newRepo, newTag, newDigest := splitImage(im.To)
	var entry *kyaml.RNode
	if list := kust.Field("images"); list != nil && list.Value.YNode().Kind == kyaml.SequenceNode {
		elems, err := list.Value.Elements()
		if err != nil {
			return err
		}
		for _, e := range elems {
			name := fieldString(e, "name")
			if nn := fieldString(e, "newName"); nn != "" {
				name = nn
			}
			if name == oldRepo {
				entry = e
				break
			}
		}
	}
	if entry == nil {
		// a new entry: set learns that the change adds to the file
		if err := set(kust, "", ""); err != nil {
			return err
		}
		list, err := kust.Pipe(kyaml.LookupCreate(kyaml.SequenceNode, "images"))
		if err != nil {
			return err
		}
		entry = kyaml.NewMapRNode(&map[string]string{"name": oldRepo})
		if err := list.PipeE(kyaml.Append(entry.YNode())); err != nil {
			return err
		}
	}
	if newRepo != fieldString(entry, "name") || fieldString(entry, "newName") != "" {
		if err := set(entry, "newName", newRepo); err != nil {
			return err
		}
	}
	if err := set(entry, "newTag", newTag); err != nil {
		return err
	}
	return set(entry, "digest", newDigest)
}

func fieldString(n *kyaml.RNode, field string) string {
	f := n.Field(field)
	if f == nil || f.Value == nil {
		return ""
	}
	return f.Value.YNode().Value
}
