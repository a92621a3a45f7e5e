package probe

import (
	"fmt"
	"strconv"
	"strings"
)

// DefaultExpect is the statuses that count as success when none are given:
// every 2xx and 3xx (a redirect is an answer; the probe does not follow it).
const DefaultExpect = "200-399"

// Expect is a set of HTTP statuses that count as success.
type Expect struct {
	ranges [][2]int
	text   string
}

// ParseExpect reads a list of statuses separated by commas, each a code
// (200), a range (200-299) or a class (2xx): "200-399", "200,204",
// "2xx,301". Codes are 100 to 599. An empty string is DefaultExpect.
func ParseExpect(s string) (Expect, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = DefaultExpect
	}
	var e Expect
	var parts []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		lo, hi, err := parseStatusRange(p)
		if err != nil {
			return Expect{}, fmt.Errorf("%q: %w (want codes, ranges or classes separated by commas, e.g. 200-399, 200,204 or 2xx)", s, err)
		}
		e.ranges = append(e.ranges, [2]int{lo, hi})
		parts = append(parts, p)
	}
	e.text = strings.Join(parts, ",")
	return e, nil
}

func parseStatusRange(p string) (lo, hi int, err error) {
	switch {
	case p == "":
		return 0, 0, fmt.Errorf("an empty entry")
	case len(p) == 3 && strings.EqualFold(p[1:], "xx"):
		d := int(p[0] - '0')
		if d < 1 || d > 5 {
			return 0, 0, fmt.Errorf("%q is not a status class (1xx to 5xx)", p)
		}
		return d * 100, d*100 + 99, nil
	}
	a, b, isRange := strings.Cut(p, "-")
	if lo, err = parseStatus(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = parseStatus(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("the range %q ends before it starts", p)
		}
	}
	return lo, hi, nil
}

func parseStatus(s string) (int, error) {
	s = strings.TrimSpace(s)
	n, err := strconv.Atoi(s)
	if err != nil || len(s) != 3 || n < 100 || n > 599 {
		return 0, fmt.Errorf("%q is not an HTTP status (100 to 599)", s)
	}
	return n, nil
}

// Match says whether status counts as success.
func (e Expect) Match(status int) bool {
	if e.ranges == nil {
		return status >= 200 && status <= 399
	}
	for _, r := range e.ranges {
		if status >= r[0] && status <= r[1] {
			return true
		}
	}
	return false
}

// String is the list as given (spaces removed), or DefaultExpect.
func (e Expect) String() string {
	if e.text == "" {
		return DefaultExpect
	}
	return e.text
}
