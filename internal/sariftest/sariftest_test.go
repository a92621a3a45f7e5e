package sariftest

import (
	"strings"
	"testing"

	// The SARIF 2.1.0 schema is read from this module's source (see the
	// package doc); importing it here keeps it in go.mod and go.sum as a
	// test-only dependency. Nothing of it is linked into kubectl-zdd.
	_ "github.com/owenrumney/go-sarif/v3/pkg/report/v210/sarif"
)

// TestValidate makes sure the validator rejects what the schema forbids,
// so a passing validation means something.
func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		log     string
		wantErr string // a substring of the error; empty: valid
	}{
		{name: "minimal valid log", log: `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": []}]}`},
		{name: "wrong version", log: `{"version": "2.0.0", "runs": []}`, wantErr: "version"},
		{name: "result without message", log: `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"ruleId": "r"}]}]}`, wantErr: "message"},
		{name: "unknown property", log: `{"version": "2.1.0", "runs": [], "extra": 1}`, wantErr: "extra"},
		{name: "region line 0", log: `{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [{"message": {"text": "m"}, "locations": [{"physicalLocation": {"artifactLocation": {"uri": "a"}, "region": {"startLine": 0}}}]}]}]}`, wantErr: "startLine"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.log))
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v, want valid", err)
			case tt.wantErr != "" && err == nil:
				t.Errorf("Validate: valid, want an error about %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Errorf("Validate: %v, want an error about %q", err, tt.wantErr)
			}
		})
	}
}

// TestSchemaFromModule checks that the schema read from the go-sarif module
// is the SARIF 2.1.0 schema: the right id, and the definitions the tests
// lean on.
func TestSchemaFromModule(t *testing.T) {
	raw, err := SchemaJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{schemaURL, `"partialFingerprints"`, `"originalUriBaseIds"`, `"startLine"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("schema from %s does not mention %s", SchemaModule, want)
		}
	}
}

func TestStringConst(t *testing.T) {
	src := "package p\n\nconst (\n\ta = 1\n\tschema = `{\"x\": \"\\n\"}`\n\tq = \"a\\tb\"\n)\n\nvar v = \"no\"\n"
	tests := []struct {
		name, want, wantErr string
	}{
		{name: "schema", want: `{"x": "\n"}`},
		{name: "q", want: "a\tb"},
		{name: "a", wantErr: "not a string literal"},
		{name: "v", wantErr: "no constant v"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := StringConst("p.go", []byte(src), tt.name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("StringConst(%s) = %q, %v, want an error about %q", tt.name, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("StringConst(%s) = %q, %v, want %q", tt.name, got, err, tt.want)
			}
		})
	}
}
