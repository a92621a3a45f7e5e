package lint

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// quoted reads a double- or single-quoted scalar at the start of t, on one
// line, and returns its value and the index after its closing quote.
func quoted(t []byte) (string, int, bool) {
	q := t[0]
	var b []byte
	for i := 1; i < len(t); i++ {
		c := t[i]
		switch {
		case c == q && q == '\'' && i+1 < len(t) && t[i+1] == '\'':
			b = append(b, '\'')
			i++
		case c == q:
			return string(b), i + 1, true
		case c == '\\' && q == '"':
			if i+1 >= len(t) {
				return "", 0, false
			}
			i++
			switch t[i] {
			case '\\', '"', '/':
				b = append(b, t[i])
			case 'n':
				b = append(b, '\n')
			case 't':
				b = append(b, '\t')
			case 'r':
				b = append(b, '\r')
			case 'u':
				if i+4 >= len(t) {
					return "", 0, false
				}
				v, err := strconv.ParseUint(string(t[i+1:i+5]), 16, 32)
				if err != nil || (v >= 0xD800 && v <= 0xDFFF) {
					return "", 0, false
				}
				b = utf8.AppendRune(b, rune(v))
				i += 4
			default:
				return "", 0, false
			}
		default:
			b = append(b, c)
		}
	}
	return "", 0, false // not closed on this line
}

// flow writes the flow sequence or mapping at t[i] and returns the index
// after it.
func flow(out, t []byte, i int) ([]byte, int, bool) {
	open := t[i]
	close := byte(']')
	if open == '{' {
		close = '}'
	}
	out = append(out, open)
	i++
	skip := func() {
		for i < len(t) && t[i] == ' ' {
			i++
		}
	}
	skip()
	if i < len(t) && t[i] == close {
		return append(out, close), i + 1, true
	}
	var keys []string
	for n := 0; ; n++ {
		if n > 0 {
			out = append(out, ',')
		}
		if open == '{' {
			if k := bytes.IndexByte(t[i:], ':'); k < 0 || k > 1000 {
				return nil, 0, false // YAML's simple keys are at most 1024 characters long
			}
			var key string
			keyQuoted := false
			if i < len(t) && (t[i] == '"' || t[i] == '\'') {
				s, m, ok := quoted(t[i:])
				if !ok {
					return nil, 0, false
				}
				key, i, keyQuoted = s, i+m, true
			} else {
				m := bytes.IndexByte(t[i:], ':')
				if m < 0 {
					return nil, 0, false
				}
				s := strings.TrimRight(string(t[i:i+m]), " ")
				if s == "" || isIndicator(s[0]) || strings.ContainsAny(s, ",[]{}#&*!|>'\"%@`") || plainKind(s) != kindString || s == "<<" {
					return nil, 0, false
				}
				key, i = s, i+m
			}
			for _, k := range keys {
				if k == key {
					return nil, 0, false
				}
			}
			keys = append(keys, key)
			skip()
			if i >= len(t) || t[i] != ':' {
				return nil, 0, false
			}
			i++
			if i < len(t) && t[i] != ' ' && !keyQuoted {
				return nil, 0, false
			}
			skip()
			out = appendJSONString(out, key)
			out = append(out, ':')
		}
		if i >= len(t) {
			return nil, 0, false
		}
		switch c := t[i]; {
		case c == '[' || c == '{':
			var ok bool
			if out, i, ok = flow(out, t, i); !ok {
				return nil, 0, false
			}
		case c == '"' || c == '\'':
			s, m, ok := quoted(t[i:])
			if !ok {
				return nil, 0, false
			}
			out = appendJSONString(out, s)
			i += m
		default:
			s, m, ok := flowPlain(t[i:])
			if !ok || s == "" {
				return nil, 0, false
			}
			if out, ok = appendPlain(out, s); !ok {
				return nil, 0, false
			}
			i += m
		}
		skip()
		if i >= len(t) {
			return nil, 0, false
		}
		switch t[i] {
		case ',':
			i++
			skip()
			if i < len(t) && t[i] == close {
				return nil, 0, false // a trailing comma
			}
		case close:
			return append(out, close), i + 1, true
		default:
			return nil, 0, false
		}
	}
}

// flowPlain reads a plain scalar inside a flow collection.
func flowPlain(t []byte) (string, int, bool) {
	if len(t) == 0 || isIndicator(t[0]) && !(t[0] == '-' && len(t) > 1 && t[1] != ' ' && t[1] != ',') {
		return "", 0, false
	}
	i := 0
	for i < len(t) {
		c := t[i]
		if c == ',' || c == ']' || c == '}' {
			break
		}
		switch c {
		case ':', '#', '[', '{', '"', '\'', '&', '*', '!', '?', '|', '>', '%', '@', '`':
			return "", 0, false
		}
		i++
	}
	return strings.TrimRight(string(t[:i]), " "), i, true
}

// The kinds of value a plain scalar resolves to.
const (
	kindString = iota
	kindNull
	kindTrue
	kindFalse
	kindInt
	kindOther // a float, a timestamp, another integer form: not taken
)

var yamlFloat = regexp.MustCompile(`^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`)

// plainKind resolves a plain scalar as go-yaml v2 does.
func plainKind(s string) int {
	if s != "" {
		if c := s[0]; (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') && !strings.ContainsRune("yYnNtTfFoO", rune(c)) {
			return kindString // no YAML 1.1 value starts with another letter
		}
	}
	switch s {
	case "", "~", "null", "Null", "NULL":
		return kindNull
	case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON":
		return kindTrue
	case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF":
		return kindFalse
	case ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF":
		return kindOther
	}
	switch c := s[0]; {
	case c == '.':
		if _, err := strconv.ParseFloat(s, 64); err == nil {
			return kindOther
		}
	case c == '+' || c == '-' || (c >= '0' && c <= '9'):
		if isDecimal(s) {
			return kindInt
		}
		digits := 0
		for digits < len(s) && s[digits] >= '0' && s[digits] <= '9' {
			digits++
		}
		if digits == 4 && len(s) > 4 && s[4] == '-' {
			return kindOther // may be a timestamp
		}
		plain := strings.ReplaceAll(s, "_", "")
		if _, err := strconv.ParseInt(plain, 0, 64); err == nil {
			return kindOther
		}
		if _, err := strconv.ParseUint(plain, 0, 64); err == nil {
			return kindOther
		}
		if yamlFloat.MatchString(plain) || strings.HasPrefix(plain, "0b") || strings.HasPrefix(plain, "-0b") {
			return kindOther
		}
	}
	return kindString
}

// isDecimal reports whether s is a plain decimal integer that fits an int64
// and that JSON writes the same way: -?(0|[1-9][0-9]*), "-0" excepted.
func isDecimal(s string) bool {
	d := s
	if d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || len(d) > 18 || (d[0] == '0' && len(d) > 1) || s == "-0" {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// appendPlain writes a plain scalar as JSON.
func appendPlain(out []byte, s string) ([]byte, bool) {
	switch plainKind(s) {
	case kindString:
		return appendJSONString(out, s), true
	case kindNull:
		return append(out, "null"...), true
	case kindTrue:
		return append(out, "true"...), true
	case kindFalse:
		return append(out, "false"...), true
	case kindInt:
		return append(out, s...), true
	}
	return out, false
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s (valid UTF-8) as a JSON string.
func appendJSONString(out []byte, s string) []byte {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"', '\\':
			out = append(out, '\\', c)
		case '\n':
			out = append(out, '\\', 'n')
		case '\t':
			out = append(out, '\\', 't')
		case '\r':
			out = append(out, '\\', 'r')
		default:
			out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
