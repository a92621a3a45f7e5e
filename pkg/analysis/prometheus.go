package analysis

// The Prometheus provider: one instant query of the HTTP API
// (POST /api/v1/query, falling back to GET where POST is refused, as
// Prometheus' own Go client does), whose answer must be a scalar or a
// single-sample vector. A small client of its own: the official one
// (client_golang's api and prometheus/common's model) would link a
// protobuf model of every metric type for this one request.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// maxPrometheusAnswer bounds the answer read from Prometheus.
const maxPrometheusAnswer = 64 << 20

// prometheusTransport is the transport Prometheus' Go client uses by
// default (proxy from the environment, 30 s dial, 10 s TLS handshake).
var prometheusTransport http.RoundTripper = &http.Transport{
	Proxy: http.ProxyFromEnvironment,
	DialContext: (&net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
	}).DialContext,
	ForceAttemptHTTP2:     true,
	MaxIdleConns:          100,
	IdleConnTimeout:       90 * time.Second,
	TLSHandshakeTimeout:   10 * time.Second,
	ExpectContinueTimeout: 1 * time.Second,
}

type prometheusMeasurer struct {
	client  *http.Client
	url     *url.URL // the query endpoint
	address string
	query   string
	timeout PrometheusMetric
}

func newPrometheusMeasurer(p *PrometheusMetric, vars Vars, env func(string) string, secrets *redactor) (*prometheusMeasurer, error) {
	query, err := render(p.Query, vars)
	if err != nil {
		return nil, fmt.Errorf("prometheus.query: %w", err)
	}
	headers := http.Header{}
	for k, v := range p.Headers {
		val, err := expandEnv(v, env, secrets)
		if err != nil {
			return nil, fmt.Errorf("prometheus.headers[%s]: %w", k, err)
		}
		headers.Set(k, val)
	}
	u, err := url.Parse(p.Address)
	if err != nil {
		return nil, fmt.Errorf("prometheus.address %q: %w", p.Address, err)
	}
	u.Path = path.Join(u.Path, "/api/v1/query")
	client := &http.Client{
		Transport:     &headerTransport{headers: headers, base: prometheusTransport},
		CheckRedirect: redirectPolicy(carriesEnv(p.Headers)),
	}
	return &prometheusMeasurer{client: client, url: u, address: p.Address, query: query, timeout: *p}, nil
}

func (p *prometheusMeasurer) measure(ctx context.Context) outcome {
	timeout := p.timeout.Timeout.Duration
	if timeout == 0 {
		timeout = DefaultQueryTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// no time: the server evaluates at its own now
	form := url.Values{"query": {p.query}, "timeout": {timeout.String()}}
	v, err := p.instantQuery(ctx, form)
	if err != nil {
		return errorf("querying prometheus %s: %v", p.address, err)
	}
	return prometheusValue(v)
}

// prometheusError is an error answer of the API, or a bad answer; it reads
// as the Go client's errors do ("bad_data: parse error ...").
type prometheusError struct{ typ, msg string }

func (e *prometheusError) Error() string { return e.typ + ": " + e.msg }

// instantQuery posts the form to the query endpoint (a GET with the form in
// the URL when the server answers 403, 405 or 501 to the POST) and decodes
// the answer.
func (p *prometheusMeasurer) instantQuery(ctx context.Context, form url.Values) (*promValue, error) {
	body := form.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url.String(), strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	// a POST is retried on a network error like a GET: the query is idempotent
	req.Header["Idempotency-Key"] = nil
	code, answer, err := p.do(req)
	if err == nil && (code == http.StatusForbidden || code == http.StatusMethodNotAllowed || code == http.StatusNotImplemented) {
		get := *p.url
		get.RawQuery = body
		if req, err = http.NewRequestWithContext(ctx, http.MethodGet, get.String(), nil); err != nil {
			return nil, err
		}
		code, answer, err = p.do(req)
	}
	if err != nil {
		return nil, err
	}
	return decodePrometheusAnswer(code, answer)
}

func (p *prometheusMeasurer) do(req *http.Request) (int, []byte, error) {
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxPrometheusAnswer+1))
	if err != nil {
		return 0, nil, err
	}
	if len(answer) > maxPrometheusAnswer {
		return 0, nil, fmt.Errorf("the answer is larger than %d MiB", maxPrometheusAnswer>>20)
	}
	return resp.StatusCode, answer, nil
}

// promValue is the result of an instant query.
type promValue struct {
	typ     string       // scalar, vector, matrix or string
	scalar  float64      // scalar
	samples []promSample // vector
	series  int          // matrix: how many series
	str     string       // string
}

type promSample struct {
	metric    map[string]string
	value     float64
	histogram bool // a native histogram, no float value
}

// decodePrometheusAnswer reads the answer of the API: its envelope
// ({"status", "data", "errorType", "error"}) and the result in data. The
// HTTP status is judged as Prometheus' Go client judges it: 400 and 422
// carry an error in the envelope, any other code outside 2xx is an error
// of its own.
func decodePrometheusAnswer(code int, answer []byte) (*promValue, error) {
	var env struct {
		Status    string          `json:"status"`
		Data      json.RawMessage `json:"data"`
		ErrorType string          `json:"errorType"`
		Error     string          `json:"error"`
	}
	jsonErr := json.Unmarshal(answer, &env)
	if code/100 != 2 {
		if code != http.StatusBadRequest && code != http.StatusUnprocessableEntity || jsonErr != nil {
			switch code / 100 {
			case 4:
				return nil, &prometheusError{"client_error", fmt.Sprintf("client error: %d", code)}
			case 5:
				return nil, &prometheusError{"server_error", fmt.Sprintf("server error: %d", code)}
			}
			return nil, &prometheusError{"bad_response", fmt.Sprintf("bad response code %d", code)}
		}
		if env.Status == "success" {
			return nil, &prometheusError{"bad_response", "inconsistent body for response code"}
		}
		if env.ErrorType == "" {
			env.ErrorType = "client_error"
		}
		if env.Error == "" {
			env.Error = fmt.Sprintf("client error: %d", code)
		}
		return nil, &prometheusError{env.ErrorType, env.Error}
	}
	if jsonErr != nil {
		return nil, &prometheusError{"bad_response", jsonErr.Error()}
	}
	if env.Status == "error" {
		return nil, &prometheusError{env.ErrorType, env.Error}
	}
	v, err := decodePrometheusResult(env.Data)
	if err != nil {
		return nil, &prometheusError{"bad_response", err.Error()}
	}
	return v, nil
}

// decodePrometheusResult reads data: {"resultType": T, "result": R}.
func decodePrometheusResult(data json.RawMessage) (*promValue, error) {
	var d struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, err
	}
	v := &promValue{typ: d.ResultType}
	switch d.ResultType {
	case "scalar", "string":
		s, err := timedString(d.Result)
		if err != nil {
			return nil, fmt.Errorf("%s result: %w", d.ResultType, err)
		}
		if d.ResultType == "string" {
			v.str = s
			return v, nil
		}
		if v.scalar, err = strconv.ParseFloat(s, 64); err != nil {
			return nil, fmt.Errorf("error parsing sample value: %w", err)
		}
	case "vector":
		var samples []struct {
			Metric    map[string]string `json:"metric"`
			Value     json.RawMessage   `json:"value"`
			Histogram json.RawMessage   `json:"histogram"`
		}
		if err := json.Unmarshal(d.Result, &samples); err != nil {
			return nil, err
		}
		v.samples = make([]promSample, len(samples))
		for i, s := range samples {
			v.samples[i].metric = s.Metric
			if len(s.Histogram) > 0 && !bytes.Equal(s.Histogram, []byte("null")) {
				v.samples[i].histogram = true
				continue
			}
			f, err := timedString(s.Value)
			if err != nil {
				return nil, fmt.Errorf("vector sample: %w", err)
			}
			if v.samples[i].value, err = strconv.ParseFloat(f, 64); err != nil {
				return nil, fmt.Errorf("error parsing sample value: %w", err)
			}
		}
	case "matrix":
		var series []json.RawMessage
		if err := json.Unmarshal(d.Result, &series); err != nil {
			return nil, err
		}
		v.series = len(series)
	default:
		return nil, fmt.Errorf("unexpected value type %q", d.ResultType)
	}
	return v, nil
}

// timedString reads a [<unix time>, "<string>"] pair.
func timedString(b json.RawMessage) (string, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(b, &pair); err != nil {
		return "", err
	}
	if len(pair) != 2 {
		return "", fmt.Errorf("want [time, \"value\"], got %s", b)
	}
	var ts float64
	if err := json.Unmarshal(pair[0], &ts); err != nil {
		return "", fmt.Errorf("time: %w", err)
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return "", fmt.Errorf("sample value must be a quoted string")
	}
	return s, nil
}

// seriesName writes a series as Prometheus does: name{a="x", b="y"}, the
// labels sorted, {} for none.
func seriesName(m map[string]string) string {
	name, hasName := m["__name__"]
	labels := make([]string, 0, len(m))
	for k, v := range m {
		if k != "__name__" {
			labels = append(labels, fmt.Sprintf("%s=%q", k, v))
		}
	}
	if len(labels) == 0 {
		if hasName {
			return name
		}
		return "{}"
	}
	sort.Strings(labels)
	return name + "{" + strings.Join(labels, ", ") + "}"
}

// prometheusValue reads a scalar or a one-sample vector; no sample is
// inconclusive, anything else an error that says what came back.
func prometheusValue(v *promValue) outcome {
	if v == nil {
		return errorf("the query returned nothing")
	}
	switch v.typ {
	case "scalar":
		return valueOutcome(v.scalar)
	case "vector":
		switch len(v.samples) {
		case 0:
			return inconclusivef("the query returned no data")
		case 1:
			if v.samples[0].histogram {
				return errorf("the query returned a native histogram (%s), want a number: take a quantile, a count or a sum of it", seriesName(v.samples[0].metric))
			}
			return valueOutcome(v.samples[0].value)
		}
		series := make([]string, 0, 3)
		for i, s := range v.samples {
			if i == 3 {
				series = append(series, "...")
				break
			}
			series = append(series, seriesName(s.metric))
		}
		return errorf("the query returned %d series (%s), want one: aggregate it, e.g. with sum()", len(v.samples), strings.Join(series, ", "))
	case "matrix":
		return errorf("the query returned a range vector of %d series, want a scalar or a single-sample instant vector (drop the [range] selector or wrap it in a function)", v.series)
	case "string":
		return errorf("the query returned a string %q, want a number", v.str)
	default:
		return errorf("the query returned a %s, want a scalar or a single-sample vector", v.typ)
	}
}
