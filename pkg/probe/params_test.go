package probe

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestRecordable(t *testing.T) {
	tests := []struct {
		value string
		want  bool
	}{
		{"${TOKEN}", true},
		{"Bearer ${TOKEN}", true},
		{"basic ${CREDS}", true},
		{"${USER}:${PASS}", true},
		{"plain-value", false},
		{"Bearer abc123", false},
		{"Bearer abc ${TOKEN}", false},
		{"sk_live_${TOKEN}", false},
		{"prefix${TOKEN}", false},
		{"${TOKEN}suffix", false},
		{"", false},
		{"$TOKEN", false},
	}
	for _, tt := range tests {
		if got := Recordable(tt.value); got != tt.want {
			t.Errorf("Recordable(%q) = %v, want %v", tt.value, got, tt.want)
		}
	}
}

// TestParamsRoundTrip: what a record keeps gives back the same probe
// (defaults filled in), with the headers written as ${VAR}; literal
// header values are not kept and must be given again.
func TestParamsRoundTrip(t *testing.T) {
	o := Options{
		URL:           "https://shop.example/healthz",
		Rate:          50,
		Timeout:       1500 * time.Millisecond,
		Expect:        "200,204",
		VersionHeader: "X-Version",
		MaxFailed:     3,
		Duration:      time.Minute, // not recorded: the operation decides it again
		Headers:       []Header{{"Authorization", "Bearer ${TOKEN}"}, {"X-Tenant", "shop"}},
	}
	enc, err := o.Params().Encode()
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"url":"https://shop.example/healthz","rate":50,"timeout":"1.5s","expect":"200,204","versionHeader":"X-Version","maxFailed":3,"headers":[{"name":"Authorization","value":"Bearer ${TOKEN}"},{"name":"X-Tenant"}]}`
	if diff := cmp.Diff(wantJSON, enc); diff != "" {
		t.Errorf("encoded (-want +got):\n%s", diff)
	}
	p, err := DecodeParams(enc)
	if err != nil {
		t.Fatal(err)
	}

	_, err = p.Options(nil)
	var missing *MissingHeadersError
	if !errors.As(err, &missing) || !cmp.Equal(missing.Names, []string{"X-Tenant"}) || !strings.Contains(err.Error(), "--probe-header") {
		t.Errorf("without the literal header given again: %v, want a MissingHeadersError naming X-Tenant and --probe-header", err)
	}

	got, err := p.Options([]Header{{"x-tenant", "shop"}})
	if err != nil {
		t.Fatal(err)
	}
	want := o
	want.Duration = 0
	want.Headers = []Header{{"Authorization", "Bearer ${TOKEN}"}, {"x-tenant", "shop"}}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreUnexported(Options{}), cmpopts.IgnoreFields(Options{}, "Env", "Transport")); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}

	// defaults are written out, so a record means the same under later defaults
	enc, _ = Options{URL: "http://10.0.0.7/"}.Params().Encode()
	if want := `{"url":"http://10.0.0.7/","rate":20,"timeout":"2s","expect":"200-399","maxFailed":0}`; enc != want {
		t.Errorf("defaults: %s, want %s", enc, want)
	}
	enc, _ = Options{URL: "http://10.0.0.7/", MaxFailed: NoBudget}.Params().Encode()
	if p, err := DecodeParams(enc); err != nil || p.MaxFailed != NoBudget {
		t.Errorf("no budget: %+v, %v", p, err)
	}
}

func TestDecodeParamsRejects(t *testing.T) {
	for _, s := range []string{
		``,
		`{"url":"ftp://x/"}`,
		`{"url":"http://x/","timeout":"soon"}`,
		`{"url":"http://x/","expect":"999"}`,
		`{"url":"http://x/","rate":5000}`,
		`{"url":"http://x/","headerValues":{"A":"b"}}`,
	} {
		if _, err := DecodeParams(s); err == nil {
			t.Errorf("DecodeParams(%q) accepted", s)
		}
	}
}
