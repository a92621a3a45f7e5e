package probe

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Params is the compact form of a probe's settings that an operation record
// keeps, so that `kubectl zdd resume` can probe again: everything but the
// values of headers. A header value is kept only when it is written as
// ${VAR} references (optionally after an auth scheme: "Bearer ${TOKEN}"),
// which hold no secret: resume reads the variables from its own
// environment. Any other header is kept by name alone, and must be given
// again to resume.
type Params struct {
	URL           string        `json:"url"`
	Rate          int           `json:"rate,omitempty"`
	Timeout       string        `json:"timeout,omitempty"`
	Expect        string        `json:"expect,omitempty"`
	VersionHeader string        `json:"versionHeader,omitempty"`
	MaxFailed     int           `json:"maxFailed"`
	Headers       []HeaderParam `json:"headers,omitempty"`
}

// HeaderParam is a recorded header: its name, and its value as written when
// that is only ${VAR} references (Value empty otherwise).
type HeaderParam struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// recordableRE matches a header value made only of ${VAR} references and
// separators, optionally after a well-known auth scheme.
var recordableRE = regexp.MustCompile(`^(?i:(?:Bearer|Basic|Token|Digest|ApiKey|Bot) +)?(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|[ :;,/=._-])*\$\{[A-Za-z_][A-Za-z0-9_]*\}(?:\$\{[A-Za-z_][A-Za-z0-9_]*\}|[ :;,/=._-])*$`)

// Recordable says whether a header value as written may be recorded: it
// holds no literal text but separators and an auth scheme.
func Recordable(value string) bool { return recordableRE.MatchString(value) }

// Params is the recordable form of the options (their defaults filled in).
// Duration and MaxDuration are not kept: the operation that probes decides
// them again.
func (o Options) Params() Params {
	d := o.withDefaults()
	expect, err := ParseExpect(d.Expect)
	exp := d.Expect
	if err == nil {
		exp = expect.String()
	}
	p := Params{
		URL:           d.URL,
		Rate:          d.Rate,
		Timeout:       d.Timeout.String(),
		Expect:        exp,
		VersionHeader: d.VersionHeader,
		MaxFailed:     d.MaxFailed,
	}
	for _, h := range d.Headers {
		hp := HeaderParam{Name: h.Name}
		if Recordable(h.Value) {
			hp.Value = h.Value
		}
		p.Headers = append(p.Headers, hp)
	}
	return p
}

// Encode renders the params as compact JSON, for an annotation.
func (p Params) Encode() (string, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("recording the probe: %w", err)
	}
	return string(b), nil
}

// DecodeParams reads what Encode wrote.
func DecodeParams(s string) (Params, error) {
	var p Params
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return Params{}, fmt.Errorf("reading the recorded probe: %w", err)
	}
	if _, err := p.Options(nil); err != nil {
		var missing *MissingHeadersError
		if !errors.As(err, &missing) {
			return Params{}, fmt.Errorf("the recorded probe: %w", err)
		}
	}
	return p, nil
}

// MissingHeadersError names the recorded headers whose values were not
// recorded and were not given again.
type MissingHeadersError struct{ Names []string }

func (e *MissingHeadersError) Error() string {
	return fmt.Sprintf("the probe sent header %s, whose value is not recorded (it was not written as ${VAR}): give it again with --probe-header", strings.Join(e.Names, ", "))
}

// Options rebuilds the probe's options from the record. given are headers
// the user gives again (--probe-header on resume): they replace recorded
// ones of the same name and supply the values that were not recorded; a
// recorded header that has no value and is not given is an error
// (*MissingHeadersError), checked after every other setting.
func (p Params) Options(given []Header) (Options, error) {
	o := Options{
		URL:           p.URL,
		Rate:          p.Rate,
		Expect:        p.Expect,
		VersionHeader: p.VersionHeader,
		MaxFailed:     p.MaxFailed,
	}
	if p.Timeout != "" {
		d, err := time.ParseDuration(p.Timeout)
		if err != nil {
			return Options{}, fmt.Errorf("timeout %q: %w", p.Timeout, err)
		}
		o.Timeout = d
	}
	byName := map[string]Header{}
	for _, h := range given {
		byName[strings.ToLower(h.Name)] = h
	}
	var missing []string
	for _, h := range p.Headers {
		if g, ok := byName[strings.ToLower(h.Name)]; ok {
			o.Headers = append(o.Headers, g)
			delete(byName, strings.ToLower(h.Name))
			continue
		}
		if h.Value == "" {
			missing = append(missing, h.Name)
			continue
		}
		o.Headers = append(o.Headers, Header{Name: h.Name, Value: h.Value})
	}
	for _, h := range given {
		if _, left := byName[strings.ToLower(h.Name)]; left {
			o.Headers = append(o.Headers, h)
		}
	}
	if err := o.Check(); err != nil {
		return Options{}, err
	}
	if len(missing) > 0 {
		return o, &MissingHeadersError{Names: missing}
	}
	return o, nil
}
