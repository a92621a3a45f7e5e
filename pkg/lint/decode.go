package lint

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	sigsjson "sigs.k8s.io/json"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// Documents of local files and stdin are decoded here directly, without a
// resource builder: the YAML is turned into JSON (fastjson.go, or
// sigs.k8s.io/yaml for what that does not take), and the JSON is decoded
// case-sensitively, as the API machinery decodes it, straight into the typed
// object of its kind. Objects of old API versions and kind Lists go through
// the unstructured form as before.

// peek is what is read of a document before its kind is known.
type peek struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	// Items makes a document with items a list, as the builder's
	// unstructured decoder does.
	Items []rawJSON `json:"items"`
}

// rawJSON keeps the bytes of a JSON value (json.RawMessage for
// sigs.k8s.io/json).
type rawJSON []byte

func (r *rawJSON) UnmarshalJSON(b []byte) error {
	*r = append((*r)[:0], b...)
	return nil
}

// docDecoder decodes the documents of local files.
type docDecoder struct {
	// namespace is given to namespaced objects that name none (-n).
	namespace string
	keepRaw   bool
}

// decode decodes one document into its objects (several for a list) and
// the objects it skips. file is the name findings carry.
func (dd *docDecoder) decode(d *document, file string) ([]Object, []Skipped, error) {
	objs, skipped, err := dd.decodeDoc(d, file)
	if err != nil {
		if sk, ok := templateDoc(d, file); ok {
			return nil, []Skipped{sk}, nil
		}
	}
	return objs, skipped, err
}

// templatePlaceholder is what a template that is not a Helm chart leaves
// in its text: envsubst's ${VAR}, or a {{ }} action of a script's template.
func templatePlaceholder(data []byte) bool {
	return bytes.Contains(data, []byte("${")) || bytes.Contains(data, []byte("{{"))
}

// templateDoc skips a document that is well-formed YAML (or JSON) but
// cannot be decoded because placeholders stand where values go (a port of
// ${PORT}, a label key {{cell}}): a template a script fills in, linted once
// rendered. Malformed YAML stays an error, and so does a document without
// placeholders.
func templateDoc(d *document, file string) (Skipped, bool) {
	if !templatePlaceholder(d.data) {
		return Skipped{}, false
	}
	rn, err := kyaml.Parse(string(d.data))
	if err != nil {
		return Skipped{}, false
	}
	kind, apiVersion, name := nodeIdentity(rn.YNode())
	return Skipped{APIVersion: apiVersion, Kind: kind, Name: name, Source: Source{File: file, Line: d.line},
		Reason: "a template with ${...} or {{...}} placeholders, not yet a Kubernetes object: lint what it renders"}, true
}

// nodeIdentity reads kind, apiVersion and metadata.name of a YAML mapping.
func nodeIdentity(root *kyaml.Node) (kind, apiVersion, name string) {
	str := func(m *kyaml.Node, key string) string {
		if v := mapValue(m, key); v != nil && v.Kind == kyaml.ScalarNode {
			return v.Value
		}
		return ""
	}
	return str(root, "kind"), str(root, "apiVersion"), str(mapValue(root, "metadata"), "name")
}

func (dd *docDecoder) decodeDoc(d *document, file string) ([]Object, []Skipped, error) {
	j, fast, err := documentJSON(d)
	if err != nil {
		if sk, ok := unconvertible(d, file); ok {
			return nil, []Skipped{sk}, nil
		}
		return nil, nil, err
	}
	if fast && d.line == d.startLine+firstSignificantLine(d.data) {
		// The common case: a typed object of a modern API version, whose
		// kind and apiVersion are read off its lines, decoded in one go.
		if o, ok := dd.direct(j, d, file); ok {
			return o, nil, nil
		}
	}
	var p peek
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &p); err != nil {
		if reason := notAnObject(j); reason != "" {
			return nil, []Skipped{{Source: Source{File: file, Line: d.line}, Reason: reason}}, nil
		}
		return nil, nil, err
	}
	if p.Items == nil {
		if reason, err := missingIdentity(p.APIVersion, p.Kind); err != nil {
			return nil, nil, err
		} else if reason != "" {
			return nil, []Skipped{{APIVersion: p.APIVersion, Kind: p.Kind, Namespace: p.Metadata.Namespace, Name: p.Metadata.Name,
				Source: Source{File: file, Line: d.line}, Reason: reason}}, nil
		}
		ref := &docRef{file: file, data: d.data, startLine: d.startLine, line: d.line, fast: fast}
		o, sk, err := dd.object(j, &p, Source{File: file, Line: d.line}, ref)
		return o, sk, err
	}
	if p.Kind == "" && p.APIVersion == "" {
		// A mapping with an items list but no identity: some other YAML.
		reason, _ := missingIdentity("", "")
		return nil, []Skipped{{Source: Source{File: file, Line: d.line}, Reason: reason}}, nil
	}
	var lines []int
	if !d.json {
		lines = listItemLines(d)
	}
	var objs []Object
	var skipped []Skipped
	for i, item := range p.Items {
		line := d.line
		if i < len(lines) {
			line = lines[i]
		}
		var ip peek
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(item, &ip); err != nil {
			return nil, nil, err
		}
		if ip.Kind == "" && ip.APIVersion == "" {
			// As the builder does: an item without a kind is of the
			// list's kind without "List".
			var m map[string]any
			if err := sigsjson.UnmarshalCaseSensitivePreserveInts(item, &m); err != nil {
				return nil, nil, err
			}
			if m == nil {
				// "- " with nothing after it: null, not an object
				return nil, nil, fmt.Errorf("item %d of the %s is empty, not an object", i+1, p.Kind)
			}
			ip.Kind, ip.APIVersion = strings.TrimSuffix(p.Kind, "List"), p.APIVersion
			m["kind"], m["apiVersion"] = ip.Kind, ip.APIVersion
			var err error
			if item, err = jsonMarshal(m); err != nil {
				return nil, nil, err
			}
		}
		if err := checkKind(ip.APIVersion, ip.Kind); err != nil {
			return nil, nil, err
		}
		ref := &docRef{file: file, data: d.data, startLine: d.startLine, line: line}
		o, sk, err := dd.object(item, &ip, Source{File: file, Line: line}, ref)
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, o...)
		skipped = append(skipped, sk...)
	}
	return objs, skipped, nil
}

// direct decodes a fast document of an audited kind and modern API version
// straight into its typed object; ok is false for anything else (a list,
// an old version, another kind, a decoding error: decode then reads the
// JSON's identity first and reports as usual).
func (dd *docDecoder) direct(j []byte, d *document, file string) ([]Object, bool) {
	if dd.keepRaw {
		return nil, false
	}
	kind, ok := rootScalar(d.data, "kind")
	if !ok {
		return nil, false
	}
	apiVersion, ok := rootScalar(d.data, "apiVersion")
	if !ok {
		return nil, false
	}
	if _, hasItems := rootScalar(d.data, "items"); hasItems || bytes.Contains(d.data, []byte("\nitems:")) || bytes.HasPrefix(d.data, []byte("items:")) {
		return nil, false
	}
	gv, err := schema.ParseGroupVersion(apiVersion)
	if err != nil {
		return nil, false
	}
	m, known := modern[gv.WithKind(kind).GroupKind()]
	if !known || gv.String() != m.apiVersion {
		return nil, false
	}
	typed := m.new()
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, typed); err != nil {
		return nil, false
	}
	acc, err := meta.Accessor(typed)
	if err != nil {
		return nil, false
	}
	if dd.namespace != "" && acc.GetNamespace() == "" && !clusterScoped[kind] {
		acc.SetNamespace(dd.namespace)
	}
	src := Source{File: file, Line: d.line}
	ref := &docRef{file: file, data: d.data, startLine: d.startLine, line: d.line, fast: true}
	return []Object{{Kind: kind, Namespace: acc.GetNamespace(), Name: acc.GetName(), Typed: typed, Source: src, doc: ref}}, true
}

func checkKind(apiVersion, kind string) error {
	switch {
	case kind == "":
		return errors.New("object has no kind")
	case apiVersion == "":
		return fmt.Errorf("%s has no apiVersion", kind)
	}
	return nil
}

// missingIdentity says why a document without an apiVersion or a kind is
// not a Kubernetes object, for a note: a whole repository holds YAML of all
// sorts (CI workflows, application settings, Helm values). A document whose
// kind is one the linter reads but that lacks its apiVersion is a broken
// manifest rather than something else, and stays an error.
func missingIdentity(apiVersion, kind string) (string, error) {
	switch {
	case kind != "" && apiVersion != "":
		return "", nil
	case kind == "" && apiVersion == "":
		return "not a Kubernetes object (no apiVersion and kind)", nil
	case kind == "":
		return "not a Kubernetes object (apiVersion " + apiVersion + " but no kind)", nil
	case knownKinds[kind]:
		return "", fmt.Errorf("%s has no apiVersion", kind)
	}
	return "not a Kubernetes object (kind " + kind + " but no apiVersion)", nil
}

// knownKinds are the kinds the linter decodes, whatever their group.
var knownKinds = func() map[string]bool {
	m := map[string]bool{}
	for gk := range modern {
		m[gk.Kind] = true
	}
	return m
}()

// notAnObject says why a document is not a Kubernetes object when its JSON
// is not a mapping, or a mapping whose apiVersion or kind is not a string;
// "" when it is one (whose other fields may still be malformed).
func notAnObject(j []byte) string {
	t := bytes.TrimLeft(j, " \t\r\n")
	if len(t) == 0 {
		return ""
	}
	switch t[0] {
	case '{':
	case '[':
		return "not a Kubernetes object (a list, not a mapping)"
	default:
		return "not a Kubernetes object (a single value, not a mapping)"
	}
	var id struct {
		APIVersion any `json:"apiVersion"`
		Kind       any `json:"kind"`
	}
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &id); err != nil {
		return ""
	}
	apiVersion, ok1 := id.APIVersion.(string)
	kind, ok2 := id.Kind.(string)
	if ok1 && ok2 && apiVersion != "" && kind != "" {
		return ""
	}
	if (id.APIVersion != nil && !ok1) || (id.Kind != nil && !ok2) {
		return "not a Kubernetes object (apiVersion or kind is not a string)"
	}
	reason, err := missingIdentity(apiVersion, kind)
	if err != nil {
		return ""
	}
	return reason
}

// object decodes one object whose identity p has been read.
func (dd *docDecoder) object(j []byte, p *peek, src Source, ref *docRef) ([]Object, []Skipped, error) {
	gv, err := schema.ParseGroupVersion(p.APIVersion)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %q: bad apiVersion %q: %w", p.Kind, p.Metadata.Name, p.APIVersion, err)
	}
	gvk := gv.WithKind(p.Kind)
	m, known := modern[gvk.GroupKind()]
	if !known || !m.versions[gvk.Version] {
		ns := p.Metadata.Namespace
		if ns == "" && dd.namespace != "" && !clusterScoped[p.Kind] {
			ns = dd.namespace
		}
		sk := []Skipped{{APIVersion: p.APIVersion, Kind: p.Kind, Namespace: ns, Name: p.Metadata.Name,
			Source: src, Reason: "not a kind kubectl zdd lint audits"}}
		if o, ok := podLabelsOf(gvk, j, ns); ok {
			o.Source = src
			return []Object{o}, sk, nil
		}
		return nil, sk, nil
	}
	where := src.File
	if src.Line > 0 {
		where += ":" + strconv.Itoa(src.Line)
	}
	if gv.String() != m.apiVersion || dd.keepRaw {
		// Old API versions are converted from the unstructured form.
		var content map[string]any
		if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, &content); err != nil {
			return nil, nil, err
		}
		u := &unstructured.Unstructured{Object: content}
		if dd.namespace != "" && u.GetNamespace() == "" && !clusterScoped[p.Kind] {
			u.SetNamespace(dd.namespace)
		}
		obj, err := FromTyped(u)
		if err != nil {
			return nil, nil, located{fmt.Errorf("%s: %w", where, err)}
		}
		if !dd.keepRaw {
			obj.Raw = nil
		}
		obj.Source, obj.doc = src, ref
		return []Object{obj}, nil, nil
	}
	typed := m.new()
	if err := sigsjson.UnmarshalCaseSensitivePreserveInts(j, typed); err != nil {
		name := p.Metadata.Name
		if p.Metadata.Namespace != "" {
			name = p.Metadata.Namespace + "/" + name
		}
		return nil, nil, located{fmt.Errorf("%s: decoding %s %s (%s): %w", where, p.Kind, name, p.APIVersion, err)}
	}
	acc, err := meta.Accessor(typed)
	if err != nil {
		return nil, nil, err
	}
	if dd.namespace != "" && acc.GetNamespace() == "" && !clusterScoped[p.Kind] {
		acc.SetNamespace(dd.namespace)
	}
	return []Object{{Kind: p.Kind, Namespace: acc.GetNamespace(), Name: acc.GetName(), Typed: typed, Source: src, doc: ref}}, nil, nil
}

// located is an error that already names its file and line.
type located struct{ error }

func (e located) Unwrap() error { return e.error }

// documentJSON is a document as JSON.
// fast is true when fastYAMLToJSON took it.
func documentJSON(d *document) (j []byte, fast bool, err error) {
	if d.json {
		return d.data, false, nil
	}
	if j, ok := fastYAMLToJSON(d.data); ok {
		return j, true, nil
	}
	j, err = sigsyaml.YAMLToJSON(d.data)
	return j, false, err
}

// unconvertible skips a document that is valid YAML but has no JSON form
// (a mapping used as a key) when it is not an object of a kind the linter
// reads (templates are templateDoc's). Malformed YAML, and objects of the
// kinds the linter reads, stay errors.
func unconvertible(d *document, file string) (Skipped, bool) {
	if d.json {
		return Skipped{}, false
	}
	if sk, ok := templateDoc(d, file); ok {
		return sk, true
	}
	rn, err := kyaml.Parse(string(d.data))
	if err != nil {
		return Skipped{}, false
	}
	root := rn.YNode()
	if root.Kind != kyaml.MappingNode {
		return Skipped{}, false
	}
	kind, apiVersion, name := nodeIdentity(root)
	if knownKinds[kind] {
		return Skipped{}, false
	}
	reason, err := missingIdentity(apiVersion, kind)
	if err != nil {
		return Skipped{}, false
	}
	if reason == "" {
		reason = "not a kind kubectl zdd lint audits"
	}
	return Skipped{APIVersion: apiVersion, Kind: kind, Name: name, Source: Source{File: file, Line: d.line},
		Reason: reason + " (its YAML has no JSON form: a mapping is used as a key)"}, true
}
