package sariftest

import (
	"strings"
	"testing"
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
