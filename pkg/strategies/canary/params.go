package canary

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/zdd-dev/kubectl-zdd/pkg/traffic"
)

func int32Ptr(v int32) *int32 { return &v }

func formatSteps(steps []int) string {
	s := make([]string, len(steps))
	for i, w := range steps {
		s[i] = strconv.Itoa(w)
	}
	return strings.Join(s, ",")
}

// ParseSteps reads "10,30,50,100": weights in 0..100, strictly increasing.
func ParseSteps(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		w, err := strconv.Atoi(strings.TrimSuffix(f, "%"))
		if err != nil {
			return nil, fmt.Errorf("step %q is not a whole number of percent", f)
		}
		if err := traffic.ValidateWeight(w); err != nil {
			return nil, err
		}
		if n := len(out); n > 0 && w <= out[n-1] {
			return nil, fmt.Errorf("steps must increase: %d comes after %d", w, out[n-1])
		}
		out = append(out, w)
	}
	return out, nil
}

// ParsePauses reads "1h" or "5s,10s,0" (one per step).
func ParsePauses(s string, steps int) ([]time.Duration, error) {
	var out []time.Duration
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "0" {
			out = append(out, 0)
			continue
		}
		d, err := time.ParseDuration(f)
		if err != nil {
			return nil, fmt.Errorf("pause %q is not a duration (like 30s or 1h)", f)
		}
		if d < 0 {
			return nil, fmt.Errorf("pause %q is negative", f)
		}
		out = append(out, d)
	}
	if len(out) != 1 && len(out) != steps {
		return nil, fmt.Errorf("%d pauses for %d steps: give one pause, or one per step", len(out), steps)
	}
	return out, nil
}

func formatPauses(p []time.Duration) string {
	s := make([]string, len(p))
	for i, d := range p {
		s[i] = d.String()
	}
	return strings.Join(s, ",")
}

func pauseAt(p []time.Duration, i int) time.Duration {
	switch {
	case len(p) == 0:
		return 0
	case len(p) == 1:
		return p[0]
	case i < len(p):
		return p[i]
	}
	return 0
}
