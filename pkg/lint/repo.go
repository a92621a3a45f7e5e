package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/cli-runtime/pkg/resource"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// A whole repository, linted with `-R -f .`, holds more than manifests:
// Helm charts, kustomizations, CI workflows, application settings. Folders
// are walked as kubectl walks them (.json, .yaml and .yml files, subfolders
// with -R), except that
//   - a folder holding a Chart.yaml is a Helm chart: it is rendered (see
//     helm.go) and not walked;
//   - a folder holding a kustomization file is built as -k builds it; the
//     files the build reads (its resources, patches, the kustomization
//     itself) are not also read as plain files, and a kustomization that
//     another one found in the walk builds (a base of an overlay) is not
//     built on its own.
// The objects of each chart and of each kustomization are audited apart
// from the rest (their own scope): they are deployed apart.

// input is one -f argument once expanded: standard input, or a local file.
type input struct {
	stdin bool
	path  string
}

// walked is what the -f arguments name.
type walked struct {
	inputs []input
	remote []string // URLs, read by the builder
	kusts  []string // kustomization folders, in walk order
	charts []string // chart folders, in walk order
}

// walk expands the -f arguments.
func walk(opts LoadOptions) (*walked, error) {
	w := &walked{}
	stdinUsed := false
	for _, name := range opts.Filenames {
		switch {
		case name == "-":
			if stdinUsed {
				return nil, exitcode.Usagef("-f -: standard input can be read only once")
			}
			stdinUsed = true
			if opts.Stdin == nil {
				return nil, exitcode.Usagef("-f -: no standard input")
			}
			w.inputs = append(w.inputs, input{stdin: true})
		case strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://"):
			w.remote = append(w.remote, name)
		default:
			if err := w.expand(name, opts.Recursive); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

// expand lists what a local -f argument names, as kubectl does: a glob
// pattern is expanded, a folder is walked (its subfolders only when
// recursive) for .json, .yaml and .yml files, and a file named explicitly is
// read whatever its extension. A folder that is a Helm chart or a
// kustomization is recorded as such.
func (w *walked) expand(name string, recursive bool) error {
	matches := []string{name}
	if _, err := os.Stat(name); os.IsNotExist(err) {
		m, gerr := filepath.Glob(name)
		if gerr != nil {
			return exitcode.Usagef("-f %s: bad pattern: %w", name, gerr)
		}
		if len(m) == 0 {
			return exitcode.Usagef("-f %s: no such file or folder", name)
		}
		matches = m
	}
	for _, root := range matches {
		err := filepath.Walk(root, func(path string, fi os.FileInfo, err error) error {
			if err != nil {
				return err
			}
			if fi.IsDir() {
				if path != root && !recursive {
					return filepath.SkipDir
				}
				if isFile(filepath.Join(path, chartFile)) {
					w.charts = append(w.charts, path)
					return filepath.SkipDir
				}
				if kustomizationFile(path) != "" {
					w.kusts = append(w.kusts, path)
				}
				return nil
			}
			if path != root {
				ext := filepath.Ext(path)
				if ext != ".json" && ext != ".yaml" && ext != ".yml" {
					return nil
				}
			}
			w.inputs = append(w.inputs, input{path: path})
			return nil
		})
		if err != nil {
			return exitcode.Usagef("-f %s: %w", name, err)
		}
	}
	return nil
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// kustomizationFile is the kustomization file of dir, "" when it has none.
func kustomizationFile(dir string) string {
	for _, n := range kustomizationNames {
		if p := filepath.Join(dir, n); isFile(p) {
			return p
		}
	}
	return ""
}

// kustomizationNames are the file names kustomize reads, in its order.
var kustomizationNames = []string{"kustomization.yaml", "kustomization.yml", "Kustomization"}

func absClean(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return filepath.Clean(p)
}

// units builds the kustomizations and renders the charts the walk found,
// adds their objects to l (each in its own scope) and returns the local
// files the builds read, which are not read again as plain files.
func (w *walked) units(l *Loaded, opts LoadOptions) (map[string]bool, error) {
	type build struct {
		dir      string
		rendered []byte
		reads    map[string]bool
	}
	var builds []build
	readByAny := map[string]bool{}
	for _, dir := range w.kusts {
		reads := map[string]bool{}
		rendered, err := buildKustomizationReads(dir, reads)
		if err != nil {
			return nil, exitcode.Usagef("building the kustomization %s: %w", dir, err)
		}
		builds = append(builds, build{dir, rendered, reads})
		for p := range reads {
			readByAny[p] = true
		}
	}
	for i, b := range builds {
		// A kustomization another one builds (a base) is linted through it.
		own := absClean(kustomizationFile(b.dir))
		top := true
		for j, o := range builds {
			if j != i && o.reads[own] {
				top = false
				break
			}
		}
		if !top {
			continue
		}
		first := len(l.Objects)
		if err := l.addKustomize(b.dir, b.rendered, opts.Namespace); err != nil {
			return nil, err
		}
		for k := first; k < len(l.Objects); k++ {
			l.Objects[k].scope = "kustomization " + b.dir
			l.Objects[k].rendered = "the kustomization " + b.dir
		}
	}
	for _, dir := range w.charts {
		rc, err := renderChart(dir, opts.Helm, opts.Namespace)
		if err != nil {
			return nil, exitcode.UsageError(err)
		}
		l.Notes = append(l.Notes, rc.notes...)
		objs, skipped, err := rc.objects(opts.Namespace, !l.dropRaw)
		if err != nil {
			return nil, err
		}
		l.Objects = append(l.Objects, objs...)
		l.Skipped = append(l.Skipped, skipped...)
	}
	return readByAny, nil
}

// addKustomize adds the objects of a kustomize build of dir (rendered), as
// kubectl's builder reads the stream, each with the file and line kustomize
// says it came from.
func (l *Loaded) addKustomize(dir string, rendered []byte, namespace string) error {
	b := resource.NewLocalBuilder().Unstructured().ContinueOnError().Stream(bytes.NewReader(rendered), dir)
	if namespace != "" {
		b = b.NamespaceParam(namespace).DefaultNamespace()
	}
	return l.visit(b, newKustomizeSources(dir))
}

// readInput reads one local input (or standard input).
func readInput(in input, stdin io.Reader) (src string, data []byte, err error) {
	if in.stdin {
		data, err := io.ReadAll(stdin)
		if err != nil {
			return "", nil, exitcode.Usagef("reading standard input: %w", err)
		}
		return stdinSource, data, nil
	}
	data, err = os.ReadFile(in.path)
	if err != nil {
		return "", nil, exitcode.Usagef("reading %s: %w", in.path, err)
	}
	return in.path, data, nil
}

// errNoInput is returned when neither -f nor -k names anything.
var errNoInput = errors.New("no input: give -f FILE|DIR|URL|- or -k DIR")

func checkLoadOptions(opts LoadOptions) error {
	if len(opts.Filenames) == 0 && opts.Kustomize == "" {
		return exitcode.UsageError(errNoInput)
	}
	if len(opts.Filenames) > 0 && opts.Kustomize != "" {
		return exitcode.Usagef("-f and -k cannot be used together")
	}
	return nil
}

// fmtNote is a note about a file that --fix cannot rewrite.
func renderedNote(file, by string) string {
	return fmt.Sprintf("%s: rendered by %s, not rewritten (fix the source the finding names)", file, by)
}

// jsoncSkip skips a .json file that is JSON with comments (or trailing
// commas), as tsconfig.json, VS Code and devcontainer settings are: not
// JSON, so not a manifest kubectl could read, and found in most
// repositories. One that holds an apiVersion and a kind is a manifest
// written wrong, and stays an error.
func jsoncSkip(src string, data []byte) (Skipped, bool) {
	if !strings.HasSuffix(src, ".json") || json.Valid(data) {
		return Skipped{}, false
	}
	plain := stripJSONC(data)
	if !json.Valid(plain) {
		return Skipped{}, false
	}
	var id struct {
		APIVersion any `json:"apiVersion"`
		Kind       any `json:"kind"`
	}
	if json.Unmarshal(plain, &id) == nil && id.APIVersion != nil && id.Kind != nil {
		return Skipped{}, false
	}
	return Skipped{Source: Source{File: src, Line: 1}, Reason: "not a Kubernetes object (JSON with comments, as tsconfig.json and editor settings are)"}, true
}

// stripJSONC removes the comments (// and /* */) and trailing commas of
// JSON with comments, leaving strings as they are.
func stripJSONC(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(data) && data[j] != '"' {
				if data[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(data) {
				return append(out, data[i:]...)
			}
			out = append(out, data[i:j+1]...)
			i = j
		case c == '/' && i+1 < len(data) && data[i+1] == '/':
			for i < len(data) && data[i] != '\n' {
				i++
			}
			if i < len(data) {
				out = append(out, '\n')
			}
		case c == '/' && i+1 < len(data) && data[i+1] == '*':
			end := bytes.Index(data[i+2:], []byte("*/"))
			if end < 0 {
				return out
			}
			i += end + 3
		case c == ',':
			// A comma followed, past blanks and comments, by } or ] is
			// dropped.
			j := i + 1
			for j < len(data) {
				switch {
				case data[j] == ' ' || data[j] == '\t' || data[j] == '\r' || data[j] == '\n':
					j++
					continue
				case data[j] == '/' && j+1 < len(data) && data[j+1] == '/':
					for j < len(data) && data[j] != '\n' {
						j++
					}
					continue
				case data[j] == '/' && j+1 < len(data) && data[j+1] == '*':
					if end := bytes.Index(data[j+2:], []byte("*/")); end >= 0 {
						j += end + 4
						continue
					}
				}
				break
			}
			if j < len(data) && (data[j] == '}' || data[j] == ']') {
				continue
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	return out
}
