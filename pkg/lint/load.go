package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/cli-runtime/pkg/resource"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"

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

// document is one non-empty document of a file: its bytes and the line
// (1-based) of its first significant line.
type document struct {
	data []byte
	// startLine is the file line of data's first byte.
	startLine int
	// line is the line the object starts on (first line that is not blank
	// or a comment).
	line int
	json bool
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// splitDocuments splits a file into the documents the builder decodes, in
// the same order, without parsing YAML: a JSON stream is split with a JSON
// decoder, YAML on "---" lines exactly as apimachinery's YAMLReader does.
// Documents that hold only blanks and comments are left out, as the builder
// leaves them out.
func splitDocuments(data []byte) []document {
	data = bytes.TrimPrefix(data, bom)
	if docs, ok := splitJSON(data); ok {
		return docs
	}
	return splitYAML(data, significant)
}

func splitJSON(data []byte) ([]document, bool) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	var docs []document
	for {
		var raw json.RawMessage
		start := dec.InputOffset()
		if err := dec.Decode(&raw); err != nil {
			if err == io.EOF {
				return docs, true
			}
			return nil, false
		}
		// skip whitespace between the previous value and this one
		off := int(start)
		for off < len(data) && (data[off] == ' ' || data[off] == '\t' || data[off] == '\r' || data[off] == '\n') {
			off++
		}
		l := 1 + bytes.Count(data[:off], []byte("\n"))
		docs = append(docs, document{data: raw, startLine: l, line: l, json: true})
	}
}

// splitYAML splits on lines starting with "---" and keeps the documents keep
// says are not empty.
func splitYAML(data []byte, keep func([]byte) bool) []document {
	var docs []document
	lineNo := 0
	docStart, docStartLine := 0, 1
	flush := func(end int) {
		chunk := data[docStart:end]
		if len(chunk) > 0 && keep(chunk) {
			docs = append(docs, document{data: chunk, startLine: docStartLine, line: docStartLine + firstSignificantLine(chunk)})
		}
	}
	for pos := 0; pos < len(data); {
		lineNo++
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		if bytes.HasPrefix(data[pos:], []byte("---")) {
			flush(pos)
			docStart, docStartLine = next, lineNo+1
		}
		pos = next
	}
	flush(len(data))
	return docs
}

// significant reports whether a YAML document holds anything but blank
// lines, comments and document markers.
func significant(doc []byte) bool {
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		t := bytes.TrimSpace(line)
		if len(t) == 0 || t[0] == '#' || bytes.Equal(t, []byte("...")) {
			continue
		}
		if bytes.Equal(t, []byte("null")) || bytes.Equal(t, []byte("~")) {
			continue
		}
		return true
	}
	return false
}

// firstSignificantLine is the 0-based index of a document's first line that
// is neither blank nor a comment.
func firstSignificantLine(doc []byte) int {
	n := 0
	for len(doc) > 0 {
		line := doc
		if i := bytes.IndexByte(doc, '\n'); i >= 0 {
			line, doc = doc[:i], doc[i+1:]
		} else {
			doc = nil
		}
		t := bytes.TrimSpace(line)
		if len(t) > 0 && t[0] != '#' {
			return n
		}
		n++
	}
	return 0
}

var yamlLineRE = regexp.MustCompile(`line (\d+): `)

// explainLoadError turns a decoding error into a usage error that names the
// file and the line of the problem: the decoder's own messages give lines
// relative to the document, or none at all.
func explainLoadError(err error, src string, data []byte) error {
	var loc located
	if errors.As(err, &loc) {
		return exitcode.UsageError(err)
	}
	if perr := checkDocuments(src, data); perr != nil {
		return exitcode.UsageError(perr)
	}
	name := src
	if src == stdinSource {
		name = "-"
	}
	return exitcode.UsageError(fmt.Errorf("%s: %w", name, err))
}

// checkDocuments parses a file document by document, as the builder does,
// and returns the first problem with its file line.
func checkDocuments(src string, data []byte) error {
	name := src
	if src == stdinSource {
		name = "-"
	}
	data = bytes.TrimPrefix(data, bom)
	if docs, ok := splitJSON(data); ok {
		for _, d := range docs {
			if err := checkObject(d.data); err != nil {
				return fmt.Errorf("%s:%d: %w", name, d.line, err)
			}
		}
		return nil
	}
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(data))
		for {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				if err == io.EOF {
					break
				}
				off := int(dec.InputOffset())
				var se *json.SyntaxError
				if errors.As(err, &se) {
					off = int(se.Offset)
				} else if errors.Is(err, io.ErrUnexpectedEOF) {
					off = len(bytes.TrimRight(data, " \t\r\n"))
				}
				if off > len(data) {
					off = len(data)
				}
				return fmt.Errorf("%s:%d: malformed JSON: %w", name, 1+bytes.Count(data[:off], []byte("\n")), err)
			}
		}
	}
	for pos, lineNo := 0, 1; pos < len(data); lineNo++ {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		line := data[pos:next]
		if bytes.HasPrefix(line, []byte("---")) {
			rest := strings.TrimSpace(string(line[3:]))
			if rest != "" && rest[0] != '#' {
				return fmt.Errorf("%s:%d: malformed YAML: invalid document separator %q", name, lineNo, strings.TrimSpace(string(line)))
			}
		}
		pos = next
	}
	for _, d := range splitYAML(data, func([]byte) bool { return true }) {
		j, err := sigsyaml.YAMLToJSON(d.data)
		if _, skipped := unconvertible(&d, name); err != nil && skipped {
			continue
		}
		if err != nil {
			line := d.line
			text := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
			text = strings.TrimPrefix(text, "yaml: ")
			if m := yamlLineRE.FindStringSubmatchIndex(text); m != nil {
				n, _ := strconv.Atoi(text[m[2]:m[3]])
				line = d.startLine + n - 1
				text = text[:m[0]] + text[m[1]:]
			}
			return fmt.Errorf("%s:%d: malformed YAML: %s", name, line, text)
		}
		j = bytes.TrimSpace(j)
		if len(j) == 0 || bytes.Equal(j, []byte("null")) {
			continue
		}
		if err := checkObject(j); err != nil {
			return fmt.Errorf("%s:%d: %w", name, d.line, err)
		}
	}
	return nil
}

// checkSeparators rejects a "---" line followed by anything but a comment,
// as apimachinery's YAML reader does.
func checkSeparators(src string, data []byte) error {
	name := src
	if src == stdinSource {
		name = "-"
	}
	for pos, lineNo := 0, 1; pos < len(data); lineNo++ {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end >= 0 {
			next = pos + end + 1
		}
		if line := data[pos:next]; bytes.HasPrefix(line, []byte("---")) {
			rest := strings.TrimSpace(string(line[3:]))
			if rest != "" && rest[0] != '#' {
				return fmt.Errorf("%s:%d: malformed YAML: invalid document separator %q", name, lineNo, strings.TrimSpace(string(line)))
			}
		}
		pos = next
	}
	return nil
}

// checkObject checks a decoded document: only an object of a kind the
// linter reads that lacks its apiVersion is a problem; other documents
// without an apiVersion or a kind are skipped with a note.
func checkObject(j []byte) error {
	var m map[string]any
	if err := json.Unmarshal(j, &m); err != nil {
		return nil
	}
	kind, _ := m["kind"].(string)
	apiVersion, _ := m["apiVersion"].(string)
	_, err := missingIdentity(apiVersion, kind)
	return err
}

// listItemLines returns the file line of every item of a kind List document.
func listItemLines(doc *document) []int {
	node, err := kyaml.Parse(string(doc.data))
	if err != nil {
		return nil
	}
	items, err := node.Pipe(kyaml.Lookup("items"))
	if err != nil || items == nil || items.YNode().Kind != kyaml.SequenceNode {
		return nil
	}
	var lines []int
	for _, item := range items.YNode().Content {
		lines = append(lines, doc.startLine+item.Line-1)
	}
	return lines
}
