package lint

import (
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/resource"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// LoadOptions say where manifests are read from, as kubectl reads them:
// -f FILE|DIR|URL|- (repeatable), -R and -k DIR.
type LoadOptions struct {
	Filenames []string
	Recursive bool
	Kustomize string
	// Stdin is read when a filename is "-".
	Stdin io.Reader
	// Namespace, when set, is given to objects that name none (the -n flag).
	Namespace string
	// DropRaw leaves Object.Raw nil, which halves the memory a big input
	// takes; the rules and --fix on files read only the typed form and the
	// file bytes.
	DropRaw bool
	// Helm are the values given to the Helm charts found in folders.
	Helm HelmOptions
}

// Skipped is an object the linter cannot audit (an unknown kind): it is
// reported as a note, never as an error.
type Skipped struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Source     Source
	Reason     string
}

// String is the note printed on stderr for a skipped object.
func (s Skipped) String() string {
	where := ""
	if s.Source.File != "" {
		where = " (" + s.Source.File
		if s.Source.Line > 0 {
			where += ":" + strconv.Itoa(s.Source.Line)
		}
		where += ")"
	}
	if s.Kind == "" || s.APIVersion == "" {
		// A document that is not a Kubernetes object.
		return fmt.Sprintf("skipped a document%s: %s", where, s.Reason)
	}
	name := s.Name
	if s.Namespace != "" {
		name = s.Namespace + "/" + name
	}
	return fmt.Sprintf("skipped %s %s %q%s: %s", s.APIVersion, s.Kind, name, where, s.Reason)
}

// Loaded is what a load returns: the objects to audit, the objects skipped,
// and the raw content of every file read (for --fix).
type Loaded struct {
	Objects []Object
	Skipped []Skipped
	// Files maps a source name (a path, or "STDIN") to the bytes read.
	Files map[string][]byte
	// Notes are what the user should know beside the skipped objects: a
	// chart dependency that could not be rendered, what Helm warned about.
	Notes []string

	dropRaw bool
	// namespace is given to namespaced objects that name none.
	namespace string
}

// stdinSource is the source name cli-runtime gives standard input.
const stdinSource = "STDIN"

// LoadFiles reads manifests from files, folders, URLs, stdin and kustomize
// folders through cli-runtime's resource builder, without contacting a
// server. Every object carries the file and the line its document starts on
// (URLs and kustomize output carry only their source name). Malformed input
// is a usage error (exit 2) naming the file and line; an unknown kind is
// skipped with a reason.
//
// Local files and stdin are split into documents here (which is how each
// object gets its line), and the documents are decoded by local builders on
// every CPU at once; URLs and kustomize folders go through one builder as
// kubectl reads them. Folders are walked as kubectl walks them: files ending
// in .json, .yaml or .yml, subfolders only with Recursive.
func LoadFiles(opts LoadOptions) (*Loaded, error) {
	if err := checkLoadOptions(opts); err != nil {
		return nil, err
	}
	out := &Loaded{Files: map[string][]byte{}, dropRaw: opts.DropRaw, namespace: opts.Namespace}
	w, err := walk(opts)
	if err != nil {
		return nil, err
	}
	// Kustomizations and charts found in folders first: the files their
	// builds read are not read again.
	units := &Loaded{Files: map[string][]byte{}, dropRaw: opts.DropRaw, namespace: opts.Namespace}
	built, err := w.units(units, opts)
	if err != nil {
		return nil, err
	}
	for _, in := range w.inputs {
		if !in.stdin && built[absClean(in.path)] {
			continue
		}
		src, data, err := readInput(in, opts.Stdin)
		if err != nil {
			return nil, err
		}
		if sk, ok := jsoncSkip(src, data); ok {
			out.Skipped = append(out.Skipped, sk)
			continue
		}
		if err := out.decodeFile(src, data, opts.Namespace); err != nil {
			return nil, err
		}
	}
	out.Objects = append(out.Objects, units.Objects...)
	out.Skipped = append(out.Skipped, units.Skipped...)
	out.Notes = append(out.Notes, units.Notes...)
	if len(w.remote) > 0 {
		b := resource.NewLocalBuilder().Unstructured().ContinueOnError()
		if opts.Namespace != "" {
			b = b.NamespaceParam(opts.Namespace).DefaultNamespace()
		}
		b = b.FilenameParam(false, &resource.FilenameOptions{Filenames: w.remote})
		if err := out.visit(b, nil); err != nil {
			return nil, err
		}
	}
	if opts.Kustomize != "" {
		// Rendered here rather than by the builder's own kustomize visitor,
		// so that kustomize records where each object came from; the
		// builder then reads the rendered stream as it reads kubectl's.
		rendered, err := buildKustomization(opts.Kustomize)
		if err != nil {
			return nil, exitcode.UsageError(fmt.Errorf("reading manifests: %w", err))
		}
		first := len(out.Objects)
		if err := out.addKustomize(opts.Kustomize, rendered, opts.Namespace); err != nil {
			return nil, err
		}
		for k := first; k < len(out.Objects); k++ {
			out.Objects[k].rendered = "the kustomization " + opts.Kustomize
		}
	}
	return out, nil
}

// visit adds the objects a builder reads; ks, when set, gives each object of
// a kustomize build the file and line it came from.
func (l *Loaded) visit(b *resource.Builder, ks *kustomizeSources) error {
	err := b.Do().Visit(func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		if ks == nil {
			return l.add(info.Object, info.Source, nil)
		}
		var items []unstructured.Unstructured
		switch o := info.Object.(type) {
		case *unstructured.Unstructured:
			items = []unstructured.Unstructured{*o}
		case *unstructured.UnstructuredList:
			items = o.Items
		default:
			return exitcode.Usagef("%s: unexpected object %T", info.Source, info.Object)
		}
		for i := range items {
			src, ref := ks.source(&items[i])
			if err := l.addOne(&items[i], src, ref); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		var ee *exitcode.Error
		if errors.As(err, &ee) {
			return err
		}
		return exitcode.UsageError(fmt.Errorf("reading manifests: %w", err))
	}
	return nil
}

// decodeFile decodes every document of one file (or of stdin) and adds its
// objects, in order, with their lines. Documents are decoded in parallel.
func (l *Loaded) decodeFile(src string, data []byte, namespace string) error {
	l.Files[src] = data
	if err := checkSeparators(src, data); err != nil {
		return exitcode.UsageError(err)
	}
	file := src
	if src == stdinSource {
		file = "-"
	}
	docs := splitDocuments(data)
	type part struct {
		objs    []Object
		skipped []Skipped
		err     error
	}
	parts := make([]part, len(docs))
	dd := &docDecoder{namespace: namespace, keepRaw: !l.dropRaw}
	parallel(len(docs), func(i int) {
		parts[i].objs, parts[i].skipped, parts[i].err = dd.decode(&docs[i], file)
	})
	for i := range parts {
		if parts[i].err != nil {
			return explainLoadError(parts[i].err, src, data)
		}
		l.Objects = append(l.Objects, parts[i].objs...)
		l.Skipped = append(l.Skipped, parts[i].skipped...)
	}
	return nil
}

// parallel calls f(0) ... f(n-1) on every CPU.
func parallel(n int, f func(i int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n {
		workers = n
	}
	var wg sync.WaitGroup
	next := make(chan int, n)
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// add appends one decoded document (an object or a list) to the result.
func (l *Loaded) add(obj any, src string, doc *document) error {
	file := src
	if src == stdinSource {
		file = "-"
	}
	line := 0
	if doc != nil {
		line = doc.line
	}
	ref := func(line int) *docRef {
		if doc == nil {
			return nil
		}
		return &docRef{file: file, data: doc.data, startLine: doc.startLine, line: line}
	}
	switch o := obj.(type) {
	case *unstructured.Unstructured:
		return l.addOne(o, Source{File: file, Line: line}, ref(line))
	case *unstructured.UnstructuredList:
		var itemLines []int
		if doc != nil {
			itemLines = listItemLines(doc)
		}
		for i := range o.Items {
			itemLine := line
			if i < len(itemLines) {
				itemLine = itemLines[i]
			}
			if err := l.addOne(&o.Items[i], Source{File: file, Line: itemLine}, ref(itemLine)); err != nil {
				return err
			}
		}
	default:
		return exitcode.Usagef("%s: unexpected object %T", file, obj)
	}
	return nil
}

func (l *Loaded) addOne(u *unstructured.Unstructured, src Source, doc *docRef) error {
	if l.namespace != "" && u.GetNamespace() == "" && !clusterScoped[u.GetKind()] {
		u.SetNamespace(l.namespace)
	}
	obj, err := FromTyped(u)
	if errors.Is(err, ErrUnsupportedKind) {
		l.Skipped = append(l.Skipped, Skipped{
			APIVersion: u.GetAPIVersion(), Kind: u.GetKind(),
			Namespace: u.GetNamespace(), Name: u.GetName(),
			Source: src, Reason: "not a kind kubectl zdd lint audits",
		})
		if j, err := u.MarshalJSON(); err == nil {
			if o, ok := podLabelsOf(u.GroupVersionKind(), j, u.GetNamespace()); ok {
				o.Source, o.scope = src, ""
				l.Objects = append(l.Objects, o)
			}
		}
		return nil
	}
	if err != nil {
		where := src.File
		if src.Line > 0 {
			where += ":" + strconv.Itoa(src.Line)
		}
		if where != "" {
			return exitcode.Usagef("%s: %w", where, err)
		}
		return exitcode.UsageError(err)
	}
	if l.dropRaw {
		obj.Raw = nil
	} else if obj.Raw == nil {
		obj.Raw = u
	}
	obj.Source = src
	obj.doc = doc
	l.Objects = append(l.Objects, obj)
	return nil
}

// clusterScoped are the common kinds that have no namespace, so -n is not
// given to them.
var clusterScoped = map[string]bool{
	"Namespace": true, "Node": true, "PersistentVolume": true, "StorageClass": true,
	"ClusterRole": true, "ClusterRoleBinding": true, "CustomResourceDefinition": true,
	"PriorityClass": true, "IngressClass": true, "ValidatingWebhookConfiguration": true,
	"MutatingWebhookConfiguration": true, "APIService": true, "RuntimeClass": true,
}
