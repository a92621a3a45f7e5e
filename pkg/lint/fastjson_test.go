package lint

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	kyaml "sigs.k8s.io/kustomize/kyaml/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// sameAsSigsYAML checks that when the fast path converts doc, the result
// means what sigs.k8s.io/yaml's does; it reports whether the fast path took
// it.
func sameAsSigsYAML(t *testing.T, doc []byte) bool {
	t.Helper()
	got, ok := fastYAMLToJSON(doc)
	if !ok {
		return false
	}
	want, err := sigsyaml.YAMLToJSON(doc)
	if err != nil {
		t.Fatalf("fast path took a document sigs.k8s.io/yaml rejects (%v):\n%s\nfast: %s", err, doc, got)
	}
	decode := func(j []byte) any {
		d := json.NewDecoder(bytes.NewReader(j))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("not JSON (%v): %s\nfrom:\n%s", err, j, doc)
		}
		return v
	}
	if diff := cmp.Diff(decode(want), decode(got)); diff != "" {
		t.Fatalf("fast path differs from sigs.k8s.io/yaml (-want +got):\n%s\ndocument:\n%s", diff, doc)
	}
	return true
}

func TestFastYAMLToJSON(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		take bool // the fast path must take it (else it must leave it)
	}{
		{"mapping and nested mapping", "a: 1\nb:\n  c: x\n  d: true\n", true},
		{"sequence at the key's indentation", "a:\n- x\n- y\nb: 2\n", true},
		{"indented sequence of mappings", "c:\n  - name: x\n    image: y:1.2\n  - name: z\n", true},
		{"comments and blank lines", "# head\na: 1 # one\n\n  # indented comment\nb: 'it''s' # q\n", true},
		{"scalars of YAML 1.1", "a: yes\nb: off\nc: ~\nd: null\ne: -12\nf: 100m\ng: 1.4.2\nh: '007'\ni: \"tab\\there\\u00e9\"\n", true},
		{"flow collections", "a: [1, two, \"3\"]\nb: {x: 1, \"y\": [a, {z: q}]}\nc: []\nd: {}\n", true},
		{"literal block scalars", "a: |\n  line 1\n    more\n\n  line 3\nb: |-\n  x\nc: |+\n  y\n\nd: 1\n", true},
		{"empty values", "a:\nb: \nc:\n  # only a comment\nd: 1\n", true},
		{"a key in quotes", "\"a b\": 1\n'c': 2\n", true},
		{"urls and colons in values", "a: http://x/y\nb: x:y\nc: \"x: y\"\n", true},
		{"dash values", "a: -x\nb: --flag\nc:\n- -1\n", true},
		{"nested sequences of mappings", "a:\n- b:\n  - c: 1\n    d: 2\n  e: 3\n", true},
		{"an empty literal", "a: |\nb: 1\n", true},
		{"a float", "a: 1.5\n", false},
		{"an octal", "a: 0777\n", false},
		{"a hex", "a: 0x1F\n", false},
		{"a timestamp", "a: 2001-12-14\n", false},
		{"an anchor and alias", "a: &x 1\nb: *x\n", false},
		{"a tag", "a: !!str 5\n", false},
		{"a folded scalar", "a: >\n  x\n  y\n", false},
		{"a multi-line plain scalar", "a: x\n  y\n", false},
		{"a multi-line flow", "a: [1,\n  2]\n", false},
		{"a boolean key", "on: 1\n", false},
		{"a number key", "80: http\n", false},
		{"a duplicate key", "a: 1\na: 2\n", false},
		{"a merge key", "<<: {a: 1}\n", false},
		{"a tab", "a:\t1\n", false},
		{"CRLF", "a: 1\r\nb: 2\r\n", false},
		{"a literal at the end without a line break", "a: |\n  x", false},
		{"bad indentation", "a:\n  b: 1\n c: 2\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if took := sameAsSigsYAML(t, []byte(tt.doc)); took != tt.take {
				t.Errorf("fast path took it: %v, want %v", took, tt.take)
			}
		})
	}
}

// TestFastYAMLToJSONOnManifests runs the fast path on every manifest of the
// repository's test data and examples: where it takes a document, the
// result must be sigs.k8s.io/yaml's, and it must take most of them.
func TestFastYAMLToJSONOnManifests(t *testing.T) {
	var docs, taken int
	for _, root := range []string{"testdata", "../../examples", "../plugin/testdata", "../../test/e2e/testdata"} {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				return nil
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return nil
			}
			for _, doc := range splitYAML(bytes.TrimPrefix(data, bom), significant) {
				if _, err := sigsyaml.YAMLToJSON(doc.data); err != nil {
					continue // a malformed fixture
				}
				docs++
				if sameAsSigsYAML(t, doc.data) {
					taken++
				}
			}
			return nil
		})
	}
	t.Logf("fast path took %d of %d documents", taken, docs)
	if docs == 0 || taken*10 < docs*7 {
		t.Errorf("fast path took %d of %d documents, want at least 70%%", taken, docs)
	}
}

// FuzzFastYAMLToJSON: whatever the input, the fast path gives
// sigs.k8s.io/yaml's result or none.
func FuzzFastYAMLToJSON(f *testing.F) {
	for _, s := range []string{
		"a: 1\nb:\n  c: [x, {y: z}]\n",
		"c:\n- name: x\n  image: y:1\n  ports: [{containerPort: 80}]\n",
		"a: |\n  x\n\n  y\nb: |-\n  z\n",
		"k: 'q''s'\nd: \"e\\n\"\n",
		"a:\n  - b: 1\n    c:\n    - d\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		sameAsSigsYAML(t, doc)
	})
}

// TestFastFieldLine checks that fastFieldLine finds every field of every
// manifest of the test data on the line the YAML parser gives it (and, for
// a field that is not written, the same closest parent).
func TestFastFieldLine(t *testing.T) {
	var checked int
	for _, root := range []string{"testdata", "../../examples", "../plugin/testdata"} {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, doc := range splitYAML(bytes.TrimPrefix(data, bom), significant) {
				if _, ok := fastYAMLToJSON(doc.data); !ok {
					continue
				}
				node := objectNode(doc.data, firstSignificantLine(doc.data)+1)
				if node == nil {
					continue
				}
				var paths []string
				var walk func(n *kyaml.Node, path string, depth int)
				walk = func(n *kyaml.Node, path string, depth int) {
					n = deref(n)
					if depth > 12 || n == nil {
						return
					}
					switch n.Kind {
					case kyaml.MappingNode:
						for i := 0; i+1 < len(n.Content); i += 2 {
							sub := n.Content[i].Value
							if path != "" {
								sub = path + "." + sub
							}
							paths = append(paths, sub, sub+".notWritten")
							walk(n.Content[i+1], sub, depth+1)
						}
					case kyaml.SequenceNode:
						for i, it := range n.Content {
							sub := fmt.Sprintf("%s[%d]", path, i)
							paths = append(paths, sub)
							walk(it, sub, depth+1)
						}
						paths = append(paths, fmt.Sprintf("%s[%d]", path, len(n.Content)))
					}
				}
				walk(node, "", 0)
				for _, path := range paths {
					for _, container := range []string{"", "web", "app", "api"} {
						want := fieldLine(node, path, container)
						got := fastFieldLine(newLineIndex(doc.data), parseFieldPath(path), container)
						if got != want {
							t.Errorf("%s:%d: %s (container %q): fast line %d, want %d", p, doc.line, path, container, got, want)
						}
						checked++
					}
				}
			}
			return nil
		})
	}
	t.Logf("%d lookups", checked)
	if checked < 1000 {
		t.Errorf("only %d lookups", checked)
	}
}
