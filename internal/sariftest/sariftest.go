// Package sariftest validates SARIF logs against the OASIS SARIF 2.1.0 JSON
// schema. The schema is not part of this repository: it is read at test
// time from the go-sarif module (github.com/owenrumney/go-sarif/v3, a
// test-only dependency pinned in go.mod and go.sum, see
// sariftest_test.go), where pkg/report/v210/sarif/schema.go holds it as a
// Go string constant. The module is located with `go list -m` (the module
// cache, downloaded through the Go module proxy like any dependency), the
// constant is extracted with go/parser, never copied and never committed.
// Only tests import this package.
package sariftest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

const (
	// SchemaModule holds the schema (sariftest_test.go imports one of its
	// packages so that go.mod and go.sum keep it).
	SchemaModule = "github.com/owenrumney/go-sarif/v3"
	// schemaFile is the Go file, inside SchemaModule, declaring the schema.
	schemaFile = "pkg/report/v210/sarif/schema.go"
	// schemaConst is the name of the string constant holding the schema.
	schemaConst = "schema"
	// schemaURL is the schema's own id.
	schemaURL = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)

var (
	once   sync.Once
	schema *jsonschema.Schema
	errC   error
)

// goCmd is the go command: the one of the toolchain running the tests when
// it is there, else the first on PATH.
func goCmd() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); runtime.GOROOT() != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// moduleDir returns the directory of SchemaModule in the module cache, at
// the version go.mod requires, downloading it (through GOPROXY, as any
// dependency) when it is not there yet.
func moduleDir() (string, error) {
	out, err := exec.Command(goCmd(), "list", "-m", "-f", "{{.Dir}}", SchemaModule).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w%s", SchemaModule, err, stderrOf(err))
	}
	if dir := strings.TrimSpace(string(out)); dir != "" {
		return dir, nil
	}
	out, err = exec.Command(goCmd(), "mod", "download", "-json", SchemaModule).Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w%s", SchemaModule, err, stderrOf(err))
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", SchemaModule, err)
	}
	if m.Error != "" || m.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory: %s", SchemaModule, m.Error)
	}
	return m.Dir, nil
}

func stderrOf(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) && len(ee.Stderr) > 0 {
		return ": " + strings.TrimSpace(string(ee.Stderr))
	}
	return ""
}

// StringConst returns the value of the package-level string constant name
// declared in the Go source src (a raw or interpreted string literal).
func StringConst(filename string, src []byte, name string) (string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), filename, src, parser.SkipObjectResolution)
	if err != nil {
		return "", err
	}
	for _, d := range f.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok || g.Tok != token.CONST {
			continue
		}
		for _, s := range g.Specs {
			vs := s.(*ast.ValueSpec)
			for i, n := range vs.Names {
				if n.Name != name {
					continue
				}
				if i >= len(vs.Values) {
					return "", fmt.Errorf("%s: constant %s has no value of its own", filename, name)
				}
				lit, ok := vs.Values[i].(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return "", fmt.Errorf("%s: constant %s is not a string literal", filename, name)
				}
				return strconv.Unquote(lit.Value)
			}
		}
	}
	return "", fmt.Errorf("%s: no constant %s", filename, name)
}

// SchemaJSON returns the SARIF 2.1.0 JSON schema read from the go-sarif
// module.
func SchemaJSON() ([]byte, error) {
	dir, err := moduleDir()
	if err != nil {
		return nil, err
	}
	p := filepath.Join(dir, filepath.FromSlash(schemaFile))
	src, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	s, err := StringConst(p, src, schemaConst)
	if err != nil {
		return nil, err
	}
	return []byte(s), nil
}

func compiled() (*jsonschema.Schema, error) {
	once.Do(func() {
		raw, err := SchemaJSON()
		if err != nil {
			errC = fmt.Errorf("reading the SARIF schema from %s: %w", SchemaModule, err)
			return
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			errC = fmt.Errorf("reading the SARIF schema: %w", err)
			return
		}
		if m, ok := doc.(map[string]any); !ok || (m["id"] != schemaURL && m["$id"] != schemaURL) {
			errC = fmt.Errorf("the schema in %s is not the SARIF 2.1.0 schema %s", SchemaModule, schemaURL)
			return
		}
		c := jsonschema.NewCompiler()
		c.AssertFormat()
		if err := c.AddResource(schemaURL, doc); err != nil {
			errC = fmt.Errorf("adding the SARIF schema: %w", err)
			return
		}
		schema, errC = c.Compile(schemaURL)
	})
	return schema, errC
}

// Validate returns an error describing every way log breaks the SARIF
// 2.1.0 schema, or nil.
func Validate(log []byte) error {
	s, err := compiled()
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(log))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(doc)
}
