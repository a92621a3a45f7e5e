package lint

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// loadedObj is what a test checks of a loaded object.
type loadedObj struct {
	Kind, Namespace, Name, File string
	Line                        int
}

func summarize(l *Loaded) (objs []loadedObj, skipped []loadedObj) {
	for _, o := range l.Objects {
		objs = append(objs, loadedObj{o.Kind, o.Namespace, o.Name, o.Source.File, o.Source.Line})
	}
	for _, s := range l.Skipped {
		skipped = append(skipped, loadedObj{s.Kind, s.Namespace, s.Name, s.Source.File, s.Source.Line})
	}
	return
}

func TestLoadFiles(t *testing.T) {
	multi := "testdata/load/multi.yaml"
	multiData, err := os.ReadFile(multi)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		opts        LoadOptions
		wantObjs    []loadedObj
		wantSkipped []loadedObj
	}{
		{
			name: "multi-document YAML: lines of each document, empty documents ignored, unknown kind skipped",
			opts: LoadOptions{Filenames: []string{multi}},
			wantObjs: []loadedObj{
				{"Deployment", "shop", "web", multi, 3},
				{"Service", "shop", "web", multi, 25},
			},
			wantSkipped: []loadedObj{{"ConfigMap", "shop", "settings", multi, 35}},
		},
		{
			name: "JSON stream: each value's line",
			opts: LoadOptions{Filenames: []string{"testdata/load/stream.json"}},
			wantObjs: []loadedObj{
				{"Service", "shop", "one", "testdata/load/stream.json", 1},
				{"Service", "shop", "two", "testdata/load/stream.json", 3},
			},
		},
		{
			name: "kind List: items flattened with their own lines, old API version converted",
			opts: LoadOptions{Filenames: []string{"testdata/load/list.yaml"}},
			wantObjs: []loadedObj{
				{"Service", "shop", "a", "testdata/load/list.yaml", 4},
				{"Deployment", "shop", "old", "testdata/load/list.yaml", 9},
			},
		},
		{
			name: "standard input is named -",
			opts: LoadOptions{Filenames: []string{"-"}, Stdin: bytes.NewReader(multiData)},
			wantObjs: []loadedObj{
				{"Deployment", "shop", "web", "-", 3},
				{"Service", "shop", "web", "-", 25},
			},
			wantSkipped: []loadedObj{{"ConfigMap", "shop", "settings", "-", 35}},
		},
		{
			name:     "folder: only manifest extensions, no subfolders without -R",
			opts:     LoadOptions{Filenames: []string{"testdata/load/dir"}},
			wantObjs: []loadedObj{{"Service", "", "dir-a", "testdata/load/dir/a.yaml", 1}},
		},
		{
			name: "folder with -R: subfolders too",
			opts: LoadOptions{Filenames: []string{"testdata/load/dir"}, Recursive: true},
			wantObjs: []loadedObj{
				{"Service", "", "dir-a", "testdata/load/dir/a.yaml", 1},
				{"Service", "", "dir-b", "testdata/load/dir/sub/b.yml", 1},
			},
		},
		{
			name:     "-n gives a namespace to objects that name none",
			opts:     LoadOptions{Filenames: []string{"testdata/load/dir/a.yaml"}, Namespace: "given"},
			wantObjs: []loadedObj{{"Service", "given", "dir-a", "testdata/load/dir/a.yaml", 1}},
		},
		{
			name: "repeated -f and a glob, in order",
			opts: LoadOptions{Filenames: []string{"testdata/load/dir/sub/*.yml", "testdata/load/stream.json"}},
			wantObjs: []loadedObj{
				{"Service", "", "dir-b", "testdata/load/dir/sub/b.yml", 1},
				{"Service", "shop", "one", "testdata/load/stream.json", 1},
				{"Service", "shop", "two", "testdata/load/stream.json", 3},
			},
		},
		{
			name:     "kustomize folder: each object names the file and line it came from",
			opts:     LoadOptions{Kustomize: "testdata/load/kustomize"},
			wantObjs: []loadedObj{{"Service", "kust", "kust-svc", "testdata/load/kustomize/svc.yaml", 1}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := LoadFiles(tt.opts)
			if err != nil {
				t.Fatalf("LoadFiles: %v", err)
			}
			objs, skipped := summarize(l)
			if diff := cmp.Diff(tt.wantObjs, objs); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantSkipped, skipped); diff != "" {
				t.Errorf("skipped (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadFilesTyped(t *testing.T) {
	l, err := LoadFiles(LoadOptions{Filenames: []string{"testdata/load/list.yaml"}})
	if err != nil {
		t.Fatal(err)
	}
	d, ok := l.Objects[1].Typed.(*appsv1.Deployment)
	if !ok {
		t.Fatalf("extensions/v1beta1 Deployment loaded as %T, want *appsv1.Deployment", l.Objects[1].Typed)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 2 || d.Spec.Template.Spec.Containers[0].Image != "old:1" {
		t.Errorf("converted Deployment lost its fields: %+v", d.Spec)
	}
	if l.Objects[1].Raw == nil {
		t.Errorf("Raw is nil without DropRaw")
	}
	l, err = LoadFiles(LoadOptions{Filenames: []string{"testdata/load/list.yaml"}, DropRaw: true})
	if err != nil {
		t.Fatal(err)
	}
	if l.Objects[1].Raw != nil || l.Objects[1].Typed == nil {
		t.Errorf("DropRaw: Raw = %v, Typed = %v; want nil Raw, a typed object", l.Objects[1].Raw, l.Objects[1].Typed)
	}
}

func TestLoadFilesErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := "apiVersion: v1\nkind: Service\nmetadata:\n  name: ok\n"
	tests := []struct {
		name string
		opts LoadOptions
		want string // the error, with DIR for the temp folder
	}{
		{
			name: "malformed YAML in the second document: file line of the problem",
			opts: LoadOptions{Filenames: []string{write("bad.yaml", good+"---\n# second\napiVersion: v1\nkind: Service\nmetadata:\n  name: [x\n  labels: {}\n")}},
			want: "DIR/bad.yaml:10: malformed YAML: did not find expected ',' or ']'",
		},
		{
			name: "bad mapping indentation",
			opts: LoadOptions{Filenames: []string{write("indent.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n   labels: x\n")}},
			want: "DIR/indent.yaml:5: malformed YAML: mapping values are not allowed in this context",
		},
		{
			name: "a manifest in JSON with comments",
			opts: LoadOptions{Filenames: []string{write("commented.json", "{\n  // a Service\n  \"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": \"x\"}\n}\n")}},
			want: "DIR/commented.json:",
		},
		{
			name: "malformed YAML with placeholders",
			opts: LoadOptions{Filenames: []string{write("badtemplate.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .name }\n")}},
			want: "DIR/badtemplate.yaml:4: malformed YAML",
		},
		{
			name: "a placeholder-free document of a wrong type",
			opts: LoadOptions{Filenames: []string{write("port.yaml", "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n  - port: http\n")}},
			want: "DIR/port.yaml:1: ",
		},
		{
			name: "an empty item of a List (found by FuzzLoadFiles)",
			opts: LoadOptions{Filenames: []string{write("nullitem.yaml", "apiVersion: v1\nkind: List\nitems:\n  - \n")}},
			want: "DIR/nullitem.yaml: item 1 of the List is empty, not an object",
		},
		{
			name: "a kind the linter reads, without apiVersion",
			opts: LoadOptions{Filenames: []string{write("noversion.yaml", good+"---\nkind: Deployment\nmetadata:\n  name: b\n")}},
			want: "DIR/noversion.yaml:6: Deployment has no apiVersion",
		},
		{
			name: "bad document separator",
			opts: LoadOptions{Filenames: []string{write("sep.yaml", good+"--- nope\n"+good)}},
			want: "DIR/sep.yaml:5: malformed YAML: invalid document separator \"--- nope\"",
		},
		{
			name: "malformed JSON",
			opts: LoadOptions{Filenames: []string{write("bad.json", "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Service\",\n  \"metadata\": {\"name\": \"x\"}\n")}},
			want: "DIR/bad.json:4: malformed JSON: unexpected EOF",
		},
		{
			name: "field of the wrong type",
			opts: LoadOptions{Filenames: []string{write("type.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  replicas: many\n")}},
			want: "DIR/type.yaml:1: ",
		},
		{
			name: "missing file",
			opts: LoadOptions{Filenames: []string{filepath.Join(dir, "nope.yaml")}},
			want: "-f DIR/nope.yaml: no such file or folder",
		},
		{
			name: "stdin twice",
			opts: LoadOptions{Filenames: []string{"-", "-"}, Stdin: strings.NewReader(good)},
			want: "-f -: standard input can be read only once",
		},
		{
			name: "no input",
			opts: LoadOptions{},
			want: "no input: give -f FILE|DIR|URL|- or -k DIR",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := LoadFiles(tt.opts)
			if err == nil {
				t.Fatal("LoadFiles succeeded, want an error")
			}
			if code := exitcode.Of(err); code != exitcode.Usage {
				t.Errorf("exit code %d, want %d (usage)", code, exitcode.Usage)
			}
			got := strings.ReplaceAll(err.Error(), dir, "DIR")
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("error:\n got %q\nwant %q (as a prefix)", got, tt.want)
			}
		})
	}
}

func TestSplitDocumentsLines(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []int
	}{
		{"single document", "a: 1\nb: 2\n", []int{1}},
		{"leading separator and comments", "---\n# c\n\na: 1\n", []int{4}},
		{"separator with a comment", "a: 1\n--- # next\nb: 2\n", []int{1, 3}},
		{"empty and comment-only documents", "---\n---\n# only\n---\na: 1\n---\n", []int{5}},
		{"no trailing newline", "a: 1\n---\nb: 2", []int{1, 3}},
		{"byte order mark", "\ufeffa: 1\n", []int{1}},
		{"JSON values", "{\"a\":1}\n\n  {\"b\":2}", []int{1, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for _, d := range splitDocuments([]byte(tt.input)) {
				got = append(got, d.line)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzLoadFiles feeds arbitrary bytes to the loader as standard input: it
// must return objects or an error, never panic, and every error must be a
// usage error (bad input), never a crash of the builder or the converter.
func FuzzLoadFiles(f *testing.F) {
	for _, p := range []string{"testdata/load/multi.yaml", "testdata/load/stream.json", "testdata/load/list.yaml", "../../examples/bad/web.yaml", "../../examples/bad/legacy.json"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("---\n--- x\n"))
	f.Add([]byte("{\"kind\":\"List\",\"apiVersion\":\"v1\",\"items\":[{}]}"))
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: \"x\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := LoadFiles(LoadOptions{Filenames: []string{"-"}, Stdin: bytes.NewReader(data)})
		if err != nil {
			var ee *exitcode.Error
			if !errors.As(err, &ee) || ee.Code != exitcode.Usage {
				t.Fatalf("error is not a usage error: %v", err)
			}
			return
		}
		for _, o := range l.Objects {
			if o.Source.File != "-" || o.Source.Line < 1 {
				t.Fatalf("object %s has source %+v, want - and a line", o.Ref(), o.Source)
			}
		}
		_ = Audit(l.Objects, Options{})
	})
}

// TestNotObjectsAreSkipped checks that a document that is not a Kubernetes
// object (no apiVersion or kind, a list, a single value: what a whole
// repository holds beside its manifests) is skipped with a note, by both
// loaders, and that the objects around it are still read.
func TestNotObjectsAreSkipped(t *testing.T) {
	dir := t.TempDir()
	svc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n"
	files := map[string]string{
		"workflow.yaml": "name: ci\non: [push]\njobs:\n  test:\n    runs-on: ubuntu-latest\n",
		"mixed.yaml":    svc + "---\n# settings\nlog:\n  level: debug\n---\n- a\n- b\n---\njust text\n---\nkind: Cluster\nnodes: 3\n---\napiVersion: example.com/v1\nname: x\n---\nitems: [a, b]\n",
		"kind.json":     `{"kind": 3, "apiVersion": "v1"}`,
		// JSON with comments, as TypeScript and editors write it
		"tsconfig.json": "{\n  // the compiler's settings\n  \"compilerOptions\": {\"strict\": true, /* and more */ \"target\": \"es2022\",},\n}\n",
		// templates a script fills in: envsubst, and {{ }} outside a chart
		"svc-template.yaml": "apiVersion: v1\nkind: Service\nmetadata:\n  name: ${APP}\nspec:\n  ports:\n  - port: ${PORT}\n",
		"rc-template.yaml":  "kind: Service\napiVersion: v1\nmetadata:\n  name: etcd-{{cell}}\n  labels:\n    cell: {{cell}}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"skipped a document (DIR/kind.json:1): not a Kubernetes object (apiVersion or kind is not a string)",
		"skipped a document (DIR/mixed.yaml:7): not a Kubernetes object (no apiVersion and kind)",
		"skipped a document (DIR/mixed.yaml:10): not a Kubernetes object (a list, not a mapping)",
		"skipped a document (DIR/mixed.yaml:13): not a Kubernetes object (a single value, not a mapping)",
		"skipped a document (DIR/mixed.yaml:15): not a Kubernetes object (kind Cluster but no apiVersion)",
		"skipped a document (DIR/mixed.yaml:18): not a Kubernetes object (apiVersion example.com/v1 but no kind)",
		"skipped a document (DIR/mixed.yaml:21): not a Kubernetes object (no apiVersion and kind)",
		`skipped v1 Service "etcd-{{cell}}" (DIR/rc-template.yaml:1): a template with ${...} or {{...}} placeholders, not yet a Kubernetes object: lint what it renders`,
		`skipped v1 Service "${APP}" (DIR/svc-template.yaml:1): a template with ${...} or {{...}} placeholders, not yet a Kubernetes object: lint what it renders`,
		"skipped a document (DIR/tsconfig.json:1): not a Kubernetes object (JSON with comments, as tsconfig.json and editor settings are)",
		"skipped a document (DIR/workflow.yaml:1): not a Kubernetes object (no apiVersion and kind)",
	}
	notes := func(sk []Skipped) []string {
		var out []string
		for _, s := range sk {
			out = append(out, strings.ReplaceAll(s.String(), dir, "DIR"))
		}
		return out
	}
	l, err := LoadFiles(LoadOptions{Filenames: []string{dir}})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Objects) != 1 || l.Objects[0].Name != "web" {
		t.Errorf("LoadFiles objects %v, want the Service web", l.Objects)
	}
	if diff := cmp.Diff(want, notes(l.Skipped)); diff != "" {
		t.Errorf("LoadFiles notes (-want +got):\n%s", diff)
	}
	res, err := LintFiles(LoadOptions{Filenames: []string{dir}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != 1 {
		t.Errorf("LintFiles audited %d objects, want 1", res.Objects)
	}
	if diff := cmp.Diff(want, notes(res.Skipped)); diff != "" {
		t.Errorf("LintFiles notes (-want +got):\n%s", diff)
	}
}
