package lint

import (
	"bufio"
	"bytes"
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// loadFixture is a tiny test-only loader: it splits a YAML file into its
// documents, decodes each with sigs.k8s.io/yaml and makes an Object with
// FromTyped, recording the file and the line each document starts on.
func loadFixture(t testing.TB, path string) []Object {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return decodeDocs(t, path, data)
}

func decodeDocs(t testing.TB, path string, data []byte) []Object {
	t.Helper()
	var objs []Object
	var doc bytes.Buffer
	start, line := 1, 0
	flush := func() {
		if strings.TrimSpace(stripComments(doc.String())) != "" {
			m := map[string]interface{}{}
			if err := yaml.Unmarshal(doc.Bytes(), &m); err != nil {
				t.Fatalf("%s:%d: %v", path, start, err)
			}
			o, err := FromTyped(&unstructured.Unstructured{Object: m})
			if err != nil {
				t.Fatalf("%s:%d: %v", path, start, err)
			}
			o.Source = Source{File: path, Line: start}
			objs = append(objs, o)
		}
		doc.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line++
		if sc.Text() == "---" {
			flush()
			start = line + 1
			continue
		}
		if doc.Len() == 0 && strings.HasPrefix(sc.Text(), "#") {
			start = line + 1
		}
		doc.WriteString(sc.Text())
		doc.WriteByte('\n')
	}
	flush()
	return objs
}

func stripComments(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// fixtureMap decodes one YAML document into an unstructured object, without
// FromTyped.
func fixtureMap(t testing.TB, text string) *unstructured.Unstructured {
	t.Helper()
	m := map[string]interface{}{}
	if err := yaml.Unmarshal([]byte(text), &m); err != nil {
		t.Fatal(err)
	}
	return &unstructured.Unstructured{Object: m}
}
