package lint

import (
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/kustomize/api/konfig"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// The annotations kustomize writes when a kustomization asks for them with
// buildMetadata: [originAnnotations, transformerAnnotations].
const (
	originAnnotation         = "config.kubernetes.io/origin"
	transformationAnnotation = "alpha.config.kubernetes.io/transformations"
)

// buildKustomization renders the kustomization folder dir as kubectl's
// builder does (krusty, legacy resource order), with the origin and
// transformer annotations turned on whatever the kustomization says, so that
// each object names the file it came from and the kustomizations whose
// patches ran over it.
func buildKustomization(dir string) ([]byte, error) { return buildKustomizationReads(dir, nil) }

// buildKustomizationReads is buildKustomization that also records, in
// reads (when not nil), the absolute path of every file the build read.
func buildKustomizationReads(dir string, reads map[string]bool) ([]byte, error) {
	opts := krusty.MakeDefaultOptions()
	opts.Reorder = krusty.ReorderOptionLegacy
	m, err := krusty.MakeKustomizer(opts).Run(originFS{FileSystem: filesys.MakeFsOnDisk(), reads: reads}, dir)
	if err != nil {
		return nil, err
	}
	return m.AsYaml()
}

// originFS is the disk, except that every kustomization file read from it
// asks for origin and transformer annotations, and that the files read are
// recorded in reads when it is set.
type originFS struct {
	filesys.FileSystem
	reads map[string]bool
}

func (fs originFS) ReadFile(path string) ([]byte, error) {
	data, err := fs.FileSystem.ReadFile(path)
	if err == nil && fs.reads != nil {
		fs.reads[absClean(path)] = true
	}
	if err != nil || !isKustomizationFile(path) {
		return data, err
	}
	return withBuildMetadata(data), nil
}

func isKustomizationFile(path string) bool {
	base := filepath.Base(path)
	for _, n := range konfig.RecognizedKustomizationFileNames() {
		if base == n {
			return true
		}
	}
	return false
}

// withBuildMetadata adds originAnnotations and transformerAnnotations to a
// kustomization's buildMetadata. A file that cannot be parsed is returned as
// it is, for kustomize to report.
func withBuildMetadata(data []byte) []byte {
	var k map[string]any
	if err := sigsyaml.Unmarshal(data, &k); err != nil || k == nil {
		return data
	}
	have := map[string]bool{}
	list, _ := k["buildMetadata"].([]any)
	for _, v := range list {
		if s, ok := v.(string); ok {
			have[s] = true
		}
	}
	for _, want := range []string{"originAnnotations", "transformerAnnotations"} {
		if !have[want] {
			list = append(list, want)
		}
	}
	k["buildMetadata"] = list
	out, err := sigsyaml.Marshal(k)
	if err != nil {
		return data
	}
	return out
}

// kustOrigin is the value of the origin annotation (and of each entry of
// the transformations annotation).
type kustOrigin struct {
	Path         string `json:"path,omitempty"`
	Repo         string `json:"repo,omitempty"`
	ConfiguredIn string `json:"configuredIn,omitempty"`
	ConfiguredBy struct {
		Kind string `json:"kind,omitempty"`
	} `json:"configuredBy,omitempty"`
}

// kustSource is where an object of a kustomize build came from, for
// locating its findings: the patches that may have set a field, in the order
// kustomize applied them.
type kustSource struct {
	patches []*patchDoc
}

// patchDoc is one patch document: a strategic-merge patch (an object) or a
// JSON 6902 patch (a list of operations).
type patchDoc struct {
	file      string // the patch file, or the kustomization of an inline patch
	startLine int    // file line of data's first line
	line      int    // file line the patch starts on
	data      []byte
	json6902  bool

	parsed bool
	node   *kyaml.Node
}

// kustomizeSources reads the origin annotations kustomize left on the
// objects of a build of root and removes them. It caches the files it reads.
type kustomizeSources struct {
	root  string
	files map[string]*kustFile
	kusts map[string]*kustPatches
}

func newKustomizeSources(root string) *kustomizeSources {
	return &kustomizeSources{root: root, files: map[string]*kustFile{}, kusts: map[string]*kustPatches{}}
}

// kustFile is a file a resource came from, split into documents.
type kustFile struct {
	docs []kustDoc
}

type kustDoc struct {
	kind, name string
	doc        document
}

// kustPatches are the patches one kustomization file declares, in the
// order its transformers apply them.
type kustPatches struct {
	patches []kustPatch
}

type kustPatch struct {
	targetKind, targetName string // from target:, or the patch's own kind and name
	doc                    *patchDoc
}

// source returns the source of u (its file and line, the document to
// locate fields in) and removes the annotations kustomize added. The
// source is the kustomize folder with no line when the origin is unknown or
// remote.
func (k *kustomizeSources) source(u *unstructured.Unstructured) (Source, *docRef) {
	src := Source{File: k.root}
	ann := u.GetAnnotations()
	originText, hasOrigin := ann[originAnnotation]
	transText := ann[transformationAnnotation]
	if hasOrigin || transText != "" {
		delete(ann, originAnnotation)
		delete(ann, transformationAnnotation)
		if len(ann) == 0 {
			ann = nil
		}
		u.SetAnnotations(ann)
	}
	var origin kustOrigin
	if !hasOrigin || sigsyaml.Unmarshal([]byte(originText), &origin) != nil || origin.Repo != "" {
		return src, nil
	}
	ref := &docRef{file: k.root}
	if origin.Path != "" {
		file := filepath.Clean(filepath.Join(k.root, origin.Path))
		src.File, ref.file = file, file
		if d, ok := k.find(file, u.GetKind(), u.GetName()); ok {
			src.Line = d.line
			ref.data, ref.startLine, ref.line = d.data, d.startLine, d.line
		}
	} else if origin.ConfiguredIn != "" {
		// Made by a generator: the kustomization that configures it.
		file := filepath.Clean(filepath.Join(k.root, origin.ConfiguredIn))
		src.File, ref.file = file, file
	}
	var trans []kustOrigin
	if transText != "" {
		_ = sigsyaml.Unmarshal([]byte(transText), &trans)
	}
	ks := &kustSource{}
	seen := map[string]bool{}
	for _, t := range trans {
		if !strings.HasPrefix(t.ConfiguredBy.Kind, "Patch") || t.ConfiguredIn == "" || t.Repo != "" || seen[t.ConfiguredIn] {
			continue
		}
		seen[t.ConfiguredIn] = true
		kp := k.patchesOf(filepath.Clean(filepath.Join(k.root, t.ConfiguredIn)))
		for _, p := range kp.patches {
			if p.targets(u.GetKind(), u.GetName(), ref) {
				ks.patches = append(ks.patches, p.doc)
			}
		}
	}
	if len(ks.patches) > 0 {
		ref.kust = ks
	}
	return src, ref
}

// find returns the document of file that holds the object kind/name: the
// one of that kind and name, else the one of that kind whose name the
// object's name contains (kustomize adds prefixes and suffixes), longest
// first, else the first of that kind.
func (k *kustomizeSources) find(file, kind, name string) (document, bool) {
	f, ok := k.files[file]
	if !ok {
		f = &kustFile{}
		k.files[file] = f
		if data, err := os.ReadFile(file); err == nil {
			for _, d := range splitDocuments(data) {
				var id struct {
					Kind     string `json:"kind"`
					Metadata struct {
						Name string `json:"name"`
					} `json:"metadata"`
				}
				_ = sigsyaml.Unmarshal(d.data, &id)
				f.docs = append(f.docs, kustDoc{kind: id.Kind, name: id.Metadata.Name, doc: d})
			}
		}
	}
	best := -1
	for i, d := range f.docs {
		if d.kind != kind {
			continue
		}
		switch {
		case d.name == name:
			return d.doc, true
		case best < 0:
			best = i
		case d.name != "" && strings.Contains(name, d.name) && len(d.name) > len(f.docs[best].name):
			best = i
		}
	}
	if best < 0 {
		return document{}, false
	}
	return f.docs[best].doc, true
}

// names reports whether a patch that names name (at its kustomization's
// level) is about the object called final, read from a document called
// original.
func names(name, final, original string) bool {
	return name == "" || name == final || name == original || strings.Contains(final, name)
}
