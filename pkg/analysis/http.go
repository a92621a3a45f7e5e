package analysis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/util/jsonpath"
)

const maxBodyBytes = 1 << 20

var zeroTime time.Time

type httpMeasurer struct {
	url      string
	jsonPath string
	headers  http.Header
	timeout  time.Duration
	client   *http.Client
	// secrets are the header values expanded from the environment; a
	// server may echo them back, so they are taken out of every body
	// before any of it is quoted in a message
	secrets *redactor
}

func newHTTPMeasurer(h *HTTPMetric, vars Vars, env func(string) string, secrets *redactor) (*httpMeasurer, error) {
	u, err := render(h.URL, vars)
	if err != nil {
		return nil, fmt.Errorf("http.url: %w", err)
	}
	headers := http.Header{}
	for k, v := range h.Headers {
		val, err := expandEnv(v, env, secrets)
		if err != nil {
			return nil, fmt.Errorf("http.headers[%s]: %w", k, err)
		}
		headers.Set(k, val)
	}
	timeout := h.Timeout.Duration
	if timeout == 0 {
		timeout = DefaultQueryTimeout
	}
	client := &http.Client{CheckRedirect: redirectPolicy(carriesEnv(h.Headers))}
	return &httpMeasurer{url: u, jsonPath: h.JSONPath, headers: headers, timeout: timeout, client: client, secrets: secrets}, nil
}

// maxRedirects bounds the redirects a measurement follows.
const maxRedirects = 10

// carriesEnv says whether any header value is read from the environment.
func carriesEnv(headers map[string]string) bool {
	for _, v := range headers {
		if envRefRE.MatchString(v) {
			return true
		}
	}
	return false
}

// redirectPolicy is the CheckRedirect of a measurement's client. Go sends a
// request's custom headers along on a redirect (it drops only
// Authorization, Cookie and the like, and only across domains): when the
// headers carry values from the environment (secret), a redirect to another
// host or port, or from https to http, is refused, so they go nowhere but
// where the analysis names.
func redirectPolicy(secret bool) func(req *http.Request, via []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if len(via) >= maxRedirects {
			return fmt.Errorf("stopped after %d redirects", maxRedirects)
		}
		if !secret {
			return nil
		}
		first := via[0].URL
		if hostPort(req.URL) != hostPort(first) || first.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("refusing the redirect from %s to %s: the request carries header values from the environment, which are sent only to the host the analysis names, and never from https to http", first.Redacted(), req.URL.Redacted())
		}
		return nil
	}
}

// hostPort is u's host and port, the scheme's default port when none.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return strings.ToLower(u.Hostname()) + ":" + port
}

// headerTransport adds headers to every request (Prometheus' client has no
// other way to send them).
type headerTransport struct {
	headers http.Header
	base    http.RoundTripper
}

func (t *headerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	for k, vs := range t.headers {
		r.Header[k] = append([]string(nil), vs...)
	}
	return t.base.RoundTrip(r)
}

func (h *httpMeasurer) measure(ctx context.Context) outcome {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.url, nil)
	if err != nil {
		return errorf("GET %s: %v", h.url, err)
	}
	req.Header = h.headers.Clone()
	resp, err := h.client.Do(req)
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return errorf("GET %s: no answer within %s", h.url, h.timeout)
		}
		return errorf("GET %s: %v", h.url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes))
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return errorf("GET %s: no complete answer within %s", h.url, h.timeout)
		}
		return errorf("GET %s: reading the answer: %v", h.url, err)
	}
	// redact now, not only the final message: a quoted body is cut at 200
	// characters and escaped, and a secret cut or escaped there would no
	// longer match the redaction of the message
	body = []byte(h.secrets.redact(string(body)))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return errorf("GET %s: %s: %s", h.url, resp.Status, snippet(body))
	}
	return httpValue(body, h.jsonPath)
}

// httpValue reads a bare number, or the single value a JSONPath selects.
func httpValue(body []byte, path string) outcome {
	if path == "" {
		s := strings.TrimSpace(string(body))
		if s == "" {
			return inconclusivef("the answer is empty")
		}
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return errorf("the answer %s is not a number (set jsonPath to read JSON)", snippet(body))
		}
		return valueOutcome(v)
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return errorf("the answer %s is not JSON: %v", snippet(body), err)
	}
	jp := jsonpath.New("metric").AllowMissingKeys(true)
	if err := jp.Parse(path); err != nil {
		return errorf("jsonPath %q: %v", path, err)
	}
	results, err := jp.FindResults(doc)
	if err != nil {
		return errorf("jsonPath %q: %v", path, err)
	}
	var values []any
	for _, rs := range results {
		for _, r := range rs {
			if !r.IsValid() {
				continue
			}
			values = append(values, r.Interface())
		}
	}
	switch len(values) {
	case 0:
		return inconclusivef("jsonPath %q found no data in %s", path, snippet(body))
	case 1:
	default:
		return errorf("jsonPath %q found %d values, want one", path, len(values))
	}
	switch v := values[0].(type) {
	case nil:
		return inconclusivef("jsonPath %q is null", path)
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return errorf("jsonPath %q: %v", path, err)
		}
		return valueOutcome(f)
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return errorf("jsonPath %q is %q, not a number", path, v)
		}
		return valueOutcome(f)
	default:
		return errorf("jsonPath %q is a %T, not a number", path, v)
	}
}

// snippet quotes the start of a body for an error message.
func snippet(body []byte) string {
	const n = 200
	s := strings.TrimSpace(string(body))
	if len(s) > n {
		return strconv.Quote(s[:n]) + "..."
	}
	return strconv.Quote(s)
}
