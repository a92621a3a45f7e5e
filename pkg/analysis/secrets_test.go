package analysis

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCheckHeader(t *testing.T) {
	tests := []struct {
		name, header, value string
		wantErr             bool
	}{
		{name: "plain", header: "X-Tenant", value: "shop"},
		{name: "reference", header: "Authorization", value: "Bearer ${TOKEN}"},
		{name: "two references", header: "X-Auth", value: "${USER}:${PASS}"},
		{name: "bare dollar is sent as written", header: "X-Price", value: "$5"},
		{name: "malformed reference", header: "Authorization", value: "Bearer ${TOKEN", wantErr: true},
		{name: "empty reference", header: "Authorization", value: "Bearer ${}", wantErr: true},
		{name: "empty name", header: "", value: "x", wantErr: true},
		{name: "name with a colon", header: "X:Y", value: "x", wantErr: true},
		{name: "value with a line break", header: "X", value: "a\r\nInjected: 1", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckHeader(tt.header, tt.value)
			if (err != nil) != tt.wantErr {
				t.Errorf("CheckHeader(%q, %q) = %v, want error %v", tt.header, tt.value, err, tt.wantErr)
			}
		})
	}
}

func TestSecretsExpandAndRedact(t *testing.T) {
	env := map[string]string{"TOKEN": "s3cr3t", "USER": "ann"}
	get := func(k string) string { return env[k] }
	var s Secrets
	got, err := s.Expand("Bearer ${TOKEN}", get)
	if err != nil || got != "Bearer s3cr3t" {
		t.Fatalf("Expand = %q, %v", got, err)
	}
	if _, err := s.Expand("${USER}:${MISSING}", get); err == nil || err.Error() != "environment variable MISSING is not set" {
		t.Errorf("a missing variable: %v, want an error naming it", err)
	}
	if diff := cmp.Diff("token [redacted] for [redacted]", s.Redact("token s3cr3t for ann")); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
	var none *Secrets
	if got := none.Redact("s3cr3t"); got != "s3cr3t" {
		t.Errorf("a nil Secrets redacted %q", got)
	}
}
