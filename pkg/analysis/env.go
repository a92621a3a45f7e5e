package analysis

import (
	"fmt"
	"sort"
	"strings"

	"github.com/zdd-dev/kubectl-zdd/pkg/exitcode"
)

// redactor replaces secret values (expanded from the environment) in text.
type redactor struct{ values []string }

func (r *redactor) add(v string) {
	if v == "" {
		return
	}
	r.values = append(r.values, v)
	// longest first, so a secret that contains another is replaced whole
	sort.Slice(r.values, func(i, j int) bool { return len(r.values[i]) > len(r.values[j]) })
}

func (r *redactor) redact(s string) string {
	if r == nil {
		return s
	}
	for _, v := range r.values {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// expandEnv replaces every ${VAR} in s through env; a variable that is unset
// or empty is an error, so a header is never sent with a hole in it.
func expandEnv(s string, env func(string) string, secrets *redactor) (string, error) {
	var missing []string
	out := envRefRE.ReplaceAllStringFunc(s, func(ref string) string {
		name := envRefRE.FindStringSubmatch(ref)[1]
		v := env(name)
		if v == "" {
			missing = append(missing, name)
		}
		secrets.add(v)
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("environment variable %s is not set", strings.Join(missing, ", "))
	}
	return out, nil
}

// ZDDEnvPrefix marks the environment variables a recorded analysis may read
// without --allow-env.
const ZDDEnvPrefix = "ZDD_"

// RecordedEnv is the rule for the header variables of an analysis read from
// an operation record: only those named in allow (--allow-env on the
// command line that runs it) or prefixed ZDD_. A record is written by
// anyone who can patch the object's annotations; without this rule, a
// tampered record could make an operator's (or CI's) resume send any of
// its secrets to a URL of the record's choosing.
func RecordedEnv(allow []string) func(name string) bool {
	set := map[string]bool{}
	for _, n := range allow {
		set[n] = true
	}
	return func(name string) bool { return set[name] || strings.HasPrefix(name, ZDDEnvPrefix) }
}

// EnvRefs lists the environment variables the spec's headers read, sorted.
func (s *Spec) EnvRefs() []string {
	seen := map[string]bool{}
	add := func(headers map[string]string) {
		for _, v := range headers {
			for _, m := range envRefRE.FindAllStringSubmatch(v, -1) {
				seen[m[1]] = true
			}
		}
	}
	for _, m := range s.Metrics {
		if m.HTTP != nil {
			add(m.HTTP.Headers)
		}
		if m.Prometheus != nil {
			add(m.Prometheus.Headers)
		}
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// RefusedEnv lists the variables the headers read that allowed refuses.
func (s *Spec) RefusedEnv(allowed func(string) bool) []string {
	var out []string
	for _, n := range s.EnvRefs() {
		if !allowed(n) {
			out = append(out, n)
		}
	}
	return out
}

func refusedEnvMessage(refused []string) string {
	return fmt.Sprintf("the recorded analysis reads the environment variable %s in a header: an analysis taken from a record may read only the variables named with --allow-env or prefixed %s; nothing was run",
		strings.Join(refused, ", "), ZDDEnvPrefix)
}

// RefusedEnvError is the error of a recorded analysis whose headers read
// variables allowed refuses (nil when none).
func RefusedEnvError(s *Spec, allowed func(string) bool) error {
	if s == nil {
		return nil
	}
	if refused := s.RefusedEnv(allowed); len(refused) > 0 {
		return exitcode.Usagef("%s", refusedEnvMessage(refused))
	}
	return nil
}
