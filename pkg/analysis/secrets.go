package analysis

import (
	"fmt"
	"os"
	"strings"
)

// The ${VAR} rules of analysis headers, for the other parts of the product
// that send headers a user wrote (the request probe, pkg/probe): the same
// checks, the same expansion from the environment and the same redaction.

// CheckHeader checks a header as a user wrote it: a name HTTP accepts, and a
// value whose every "${" starts a well-formed ${VAR} reference (a malformed
// one would send half a secret as written). Nothing is expanded.
func CheckHeader(name, value string) error {
	if name == "" || strings.ContainsAny(name, " :\t\r\n") {
		return fmt.Errorf("bad header name %q", name)
	}
	if strings.ContainsAny(value, "\r\n") {
		return fmt.Errorf("header %s: the value holds a line break", name)
	}
	if strings.Contains(envRefRE.ReplaceAllString(value, ""), "${") {
		return fmt.Errorf("header %s: malformed ${VAR} reference", name)
	}
	return nil
}

// Secrets holds the values expanded from the environment, to take them out
// of any text before it is printed or recorded. The zero value is empty and
// ready to use; a nil *Secrets redacts nothing.
type Secrets struct{ r redactor }

// Expand replaces every ${VAR} in value through env (os.Getenv when nil)
// and remembers the values it put in. A variable that is unset or empty is
// an error naming it (never its value), so a header is never sent with a
// hole in it.
func (s *Secrets) Expand(value string, env func(string) string) (string, error) {
	if env == nil {
		env = os.Getenv
	}
	return expandEnv(value, env, &s.r)
}

// Redact replaces every remembered value in text with "[redacted]".
func (s *Secrets) Redact(text string) string {
	if s == nil {
		return text
	}
	return s.r.redact(text)
}
