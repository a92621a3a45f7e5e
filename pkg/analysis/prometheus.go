package analysis

import (
	"context"
	"fmt"
	"strings"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
)

type prometheusMeasurer struct {
	api     promv1.API
	address string
	query   string
	timeout PrometheusMetric
}

func newPrometheusMeasurer(p *PrometheusMetric, vars Vars) (*prometheusMeasurer, error) {
	query, err := render(p.Query, vars)
	if err != nil {
		return nil, fmt.Errorf("prometheus.query: %w", err)
	}
	client, err := promapi.NewClient(promapi.Config{Address: p.Address})
	if err != nil {
		return nil, fmt.Errorf("prometheus.address %q: %w", p.Address, err)
	}
	return &prometheusMeasurer{api: promv1.NewAPI(client), address: p.Address, query: query, timeout: *p}, nil
}

func (p *prometheusMeasurer) measure(ctx context.Context) outcome {
	timeout := p.timeout.Timeout.Duration
	if timeout == 0 {
		timeout = DefaultQueryTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// a zero time lets the server evaluate at its own now
	v, _, _, err := p.api.Query(ctx, p.query, zeroTime, promv1.WithTimeout(timeout))
	if err != nil {
		return errorf("querying prometheus %s: %v", p.address, err)
	}
	return prometheusValue(v)
}

// prometheusValue reads a scalar or a one-sample vector; no sample is
// inconclusive, anything else an error that says what came back.
func prometheusValue(v model.Value) outcome {
	switch r := v.(type) {
	case *model.Scalar:
		return valueOutcome(float64(r.Value))
	case model.Vector:
		switch len(r) {
		case 0:
			return inconclusivef("the query returned no data")
		case 1:
			return valueOutcome(float64(r[0].Value))
		}
		series := make([]string, 0, 3)
		for i, s := range r {
			if i == 3 {
				series = append(series, "...")
				break
			}
			series = append(series, s.Metric.String())
		}
		return errorf("the query returned %d series (%s), want one: aggregate it, e.g. with sum()", len(r), strings.Join(series, ", "))
	case model.Matrix:
		return errorf("the query returned a range vector of %d series, want a scalar or a single-sample instant vector (drop the [range] selector or wrap it in a function)", len(r))
	case *model.String:
		return errorf("the query returned a string %q, want a number", r.Value)
	case nil:
		return errorf("the query returned nothing")
	default:
		return errorf("the query returned a %s, want a scalar or a single-sample vector", v.Type())
	}
}
