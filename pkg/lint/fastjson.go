package lint

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// fastYAMLToJSON converts the plain block YAML that manifests are written
// in to the JSON sigs.k8s.io/yaml.YAMLToJSON gives for it, about ten times
// faster. It takes block mappings and sequences indented with spaces, plain,
// single- and double-quoted scalars on one line, literal block scalars (|,
// |-, |+) and flow collections on one line, with YAML 1.1's scalar types as
// go-yaml v2 resolves them. Anything else (anchors, aliases, tags, folded
// scalars, multi-line plain or quoted scalars and flow collections, tabs,
// CR line ends, keys that are not strings, duplicate keys, numbers other
// than plain decimal integers, timestamps) makes it return ok false, and the
// caller uses sigs.k8s.io/yaml: it never gives a different result, only
// none (TestFastYAMLToJSON and FuzzFastYAMLToJSON compare the two).
func fastYAMLToJSON(doc []byte) (j []byte, ok bool) {
	if !printable(doc) {
		return nil, false
	}
	p := fastParser{doc: doc, out: make([]byte, 0, len(doc)+len(doc)/4)}
	p.splitLines()
	first := p.nextSignificant(0)
	if first >= len(p.lines) {
		return nil, false
	}
	next, ok := p.node(first, p.lines[first].indent, -1)
	if !ok || p.nextSignificant(next) < len(p.lines) {
		return nil, false
	}
	return p.out, true
}

// printable reports whether doc holds only line feeds and the characters
// YAML calls printable, and no tab or carriage return (which this parser
// leaves to the real one).
func printable(doc []byte) bool {
	ascii := true
	for _, c := range doc {
		if c >= 0x80 {
			ascii = false
			continue
		}
		if (c < 0x20 && c != '\n') || c == 0x7F {
			return false
		}
	}
	if ascii {
		return true
	}
	for len(doc) > 0 {
		r, n := utf8.DecodeRune(doc)
		if r == utf8.RuneError && n <= 1 {
			return false
		}
		if r >= 0x80 && (r <= 0x9F || (r >= 0xD800 && r <= 0xDFFF) || r == 0xFEFF || r == 0xFFFE || r == 0xFFFF) {
			return false
		}
		doc = doc[n:]
	}
	return true
}

type fastLine struct {
	start, end int // the line's bytes, without its newline
	indent     int // leading spaces
	blank      bool
	comment    bool // only a comment
}

type fastParser struct {
	doc   []byte
	lines []fastLine
	out   []byte
}

func (p *fastParser) splitLines() {
	n := bytes.Count(p.doc, []byte{'\n'}) + 1
	p.lines = make([]fastLine, 0, n)
	for pos := 0; pos <= len(p.doc); {
		end := bytes.IndexByte(p.doc[pos:], '\n')
		if end < 0 {
			end = len(p.doc)
		} else {
			end += pos
		}
		l := fastLine{start: pos, end: end}
		for l.indent < end-pos && p.doc[pos+l.indent] == ' ' {
			l.indent++
		}
		switch {
		case pos+l.indent == end:
			l.blank = true
		case p.doc[pos+l.indent] == '#':
			l.comment = true
		}
		p.lines = append(p.lines, l)
		if end == len(p.doc) || end+1 == len(p.doc) {
			break // no line after a final line break
		}
		pos = end + 1
	}
}

// nextSignificant is the first line at or after i that is neither blank
// nor only a comment.
func (p *fastParser) nextSignificant(i int) int {
	for i < len(p.lines) && (p.lines[i].blank || p.lines[i].comment) {
		i++
	}
	return i
}

// text is line i from column col.
func (p *fastParser) text(i, col int) []byte {
	l := p.lines[i]
	if l.start+col > l.end {
		return nil
	}
	return p.doc[l.start+col : l.end]
}

// node writes the block node that starts on line i at column col; parent
// is the indentation of its parent (-1 for the root). It returns the line
// after the node.
func (p *fastParser) node(i, col, parent int) (int, bool) {
	t := p.text(i, col)
	if isDash(t) {
		return p.sequence(i, col)
	}
	if _, _, ok := splitRawKey(t); ok {
		return p.mapping(i, col)
	}
	return 0, false // a scalar on its own line as a block node
}

func isDash(t []byte) bool {
	return len(t) > 0 && t[0] == '-' && (len(t) == 1 || t[1] == ' ')
}

// splitRawKey splits "key: rest" (or "key:") into the key's value and the
// rest (after the colon and its spaces). ok is false when t is not a key of
// a block mapping this parser takes.
func splitRawKey(t []byte) (key string, rest []byte, ok bool) {
	if len(t) == 0 {
		return "", nil, false
	}
	var raw string
	var end int // index of the colon
	switch t[0] {
	case '"', '\'':
		s, n, ok := quoted(t)
		if !ok || n >= len(t) || t[n] != ':' || (n+1 < len(t) && t[n+1] != ' ') {
			return "", nil, false
		}
		raw, end = s, n
	default:
		if isIndicator(t[0]) {
			return "", nil, false
		}
		i := 0
		for {
			c := bytes.IndexByte(t[i:], ':')
			if c < 0 {
				return "", nil, false
			}
			c += i
			if c+1 == len(t) || t[c+1] == ' ' {
				end = c
				break
			}
			i = c + 1
		}
		k := bytes.TrimRight(t[:end], " ")
		if bytes.Contains(k, []byte(" #")) {
			return "", nil, false
		}
		raw = string(k)
		if raw == "" || raw == "<<" || plainKind(raw) != kindString {
			return "", nil, false
		}
	}
	if end > 1000 {
		return "", nil, false // YAML's simple keys are at most 1024 characters long
	}
	rest = bytes.TrimLeft(t[end+1:], " ")
	return raw, rest, true
}

// isIndicator reports whether c cannot start a plain scalar this parser
// takes.
func isIndicator(c byte) bool {
	switch c {
	case '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`':
		return true
	}
	return false
}

// mapping writes the block mapping whose keys are at column col, from line
// i (where the first key may follow a "- ").
func (p *fastParser) mapping(i, col int) (int, bool) {
	p.out = append(p.out, '{')
	var keysBuf [16]string
	keys := keysBuf[:0]
	for n := 0; ; n++ {
		key, rest, ok := splitRawKey(p.text(i, col))
		if !ok {
			return 0, false
		}
		for _, k := range keys {
			if k == key {
				return 0, false // duplicate key: left to the real parser's error
			}
		}
		keys = append(keys, key)
		if n > 0 {
			p.out = append(p.out, ',')
		}
		p.out = appendJSONString(p.out, key)
		p.out = append(p.out, ':')
		next, ok := p.value(i, col, rest, true)
		if !ok {
			return 0, false
		}
		j := p.nextSignificant(next)
		if j >= len(p.lines) || p.lines[j].indent < col {
			p.out = append(p.out, '}')
			return next, true
		}
		if p.lines[j].indent > col {
			return 0, false
		}
		i = j
	}
}

// sequence writes the block sequence whose dashes are at column col.
func (p *fastParser) sequence(i, col int) (int, bool) {
	p.out = append(p.out, '[')
	for n := 0; ; n++ {
		t := p.text(i, col)
		if !isDash(t) {
			return 0, false
		}
		if n > 0 {
			p.out = append(p.out, ',')
		}
		rest := bytes.TrimLeft(t[1:], " ")
		var next int
		var ok bool
		if len(rest) > 0 && rest[0] != '#' {
			itemCol := col + (len(t) - len(rest))
			if isDash(rest) {
				return 0, false // "- - x"
			}
			if _, _, isKey := splitRawKey(rest); isKey {
				next, ok = p.mapping(i, itemCol)
			} else {
				next, ok = p.value(i, col, rest, false)
			}
		} else {
			next, ok = p.value(i, col, nil, false)
		}
		if !ok {
			return 0, false
		}
		j := p.nextSignificant(next)
		if j < len(p.lines) && p.lines[j].indent > col {
			return 0, false
		}
		if j >= len(p.lines) || p.lines[j].indent < col || !isDash(p.text(j, col)) {
			// The end (for a sequence at its key's indentation, the
			// parent mapping's next key).
			p.out = append(p.out, ']')
			return next, true
		}
		i = j
	}
}

// value writes the value of a mapping key (inMap) or sequence entry at
// column col of line i, whose text on the line is rest.
func (p *fastParser) value(i, col int, rest []byte, inMap bool) (int, bool) {
	if len(rest) == 0 || rest[0] == '#' {
		// The value is on the next lines: a block collection, or null.
		j := p.nextSignificant(i + 1)
		switch {
		case j < len(p.lines) && p.lines[j].indent > col:
			return p.node(j, p.lines[j].indent, col)
		case j < len(p.lines) && inMap && p.lines[j].indent == col && isDash(p.text(j, col)):
			return p.sequence(j, col) // a sequence at the key's own indentation
		}
		p.out = append(p.out, "null"...)
		return i + 1, true
	}
	switch rest[0] {
	case '|':
		return p.literal(i, col, rest)
	case '[', '{':
		out, n, ok := flow(p.out, rest, 0)
		if !ok || !onlyComment(rest[n:]) {
			return 0, false
		}
		p.out = out
	case '"', '\'':
		s, n, ok := quoted(rest)
		if !ok || !onlyComment(rest[n:]) {
			return 0, false
		}
		p.out = appendJSONString(p.out, s)
	default:
		if isIndicator(rest[0]) && !(rest[0] == '-' && len(rest) > 1 && rest[1] != ' ') {
			return 0, false
		}
		s := plainEnd(rest)
		if bytes.Contains(s, []byte(": ")) || bytes.HasSuffix(s, []byte(":")) {
			return 0, false
		}
		var ok bool
		if p.out, ok = appendPlain(p.out, string(s)); !ok {
			return 0, false
		}
	}
	// A plain or quoted scalar ends with its line: a more indented line
	// after it would continue it.
	if j := p.nextSignificant(i + 1); j < len(p.lines) && p.lines[j].indent > col {
		return 0, false
	}
	return i + 1, true
}

// plainEnd is a plain scalar on its line: up to a comment, without
// trailing spaces.
func plainEnd(t []byte) []byte {
	if c := bytes.Index(t, []byte(" #")); c >= 0 {
		t = t[:c]
	}
	return bytes.TrimRight(t, " ")
}

func onlyComment(t []byte) bool {
	t = bytes.TrimLeft(t, " ")
	return len(t) == 0 || t[0] == '#'
}

// literal writes a literal block scalar (|, |- or |+) that is the value at
// column col of line i.
func (p *fastParser) literal(i, col int, header []byte) (int, bool) {
	chomp := byte(0)
	h := header[1:]
	if len(h) > 0 && (h[0] == '-' || h[0] == '+') {
		chomp, h = h[0], h[1:]
	}
	if !onlyComment(h) || (len(h) > 0 && h[0] != ' ') {
		return 0, false // an indentation indicator, or something else
	}
	j := i + 1
	if j < len(p.lines) && p.lines[j].blank {
		return 0, false // leading empty lines: left to the real parser
	}
	if j >= len(p.lines) || p.lines[j].indent <= col {
		// An empty block scalar.
		if chomp == '+' {
			return 0, false
		}
		p.out = append(p.out, `""`...)
		return j, true
	}
	m := p.lines[j].indent
	var b strings.Builder
	trailing := 0 // empty lines after the last content line
	end := j
	for ; end < len(p.lines); end++ {
		l := p.lines[end]
		if l.blank {
			if l.end-l.start > m {
				return 0, false // spaces beyond the indentation on an empty line
			}
			trailing++
			continue
		}
		if l.indent < m {
			break
		}
		for ; trailing > 0; trailing-- {
			b.WriteByte('\n')
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.Write(p.doc[l.start+m : l.end])
	}
	if end == len(p.lines) && p.lines[len(p.lines)-1].end == len(p.doc) && !p.lines[len(p.lines)-1].blank {
		return 0, false // the text runs to the end of the input with no line break
	}
	s := b.String()
	switch chomp {
	case '-':
	case '+':
		s += "\n" + strings.Repeat("\n", trailing)
	default:
		s += "\n"
	}
	p.out = appendJSONString(p.out, s)
	return end - trailing, true
}

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

// newLineIndex splits doc into lines for fastFieldLine.
func newLineIndex(doc []byte) *fastParser {
	p := &fastParser{doc: doc}
	p.splitLines()
	return p
}

// rootScalar is the value of the top-level key of a document that
// fastYAMLToJSON took, when it is written as a plain or simply quoted
// string at the start of a line; ok is false otherwise (the caller then
// reads the JSON).
func rootScalar(doc []byte, key string) (string, bool) {
	prefix := key + ":"
	for data := doc; len(data) > 0; {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) == 0 || line[0] == ' ' || line[0] == '#' {
			continue
		}
		if !bytes.HasPrefix(line, []byte(prefix)) {
			if line[0] == '"' || line[0] == '\'' || line[0] == '-' {
				return "", false // a quoted key, or not a mapping: read the JSON
			}
			continue
		}
		v := line[len(prefix):]
		if len(v) > 0 && v[0] != ' ' {
			return "", false
		}
		v = bytes.TrimLeft(v, " ")
		if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
			s, n, ok := quoted(v)
			if !ok || !onlyComment(v[n:]) || strings.ContainsAny(s, "\\") {
				return "", false
			}
			return s, true
		}
		s := string(plainEnd(v))
		if s == "" || plainKind(s) != kindString {
			return "", false
		}
		return s, true
	}
	return "", false
}

// fastFieldLine is fieldLine for a document fastYAMLToJSON takes, without
// building a node tree: it follows path through the block structure by
// indentation and returns the (1-based) line of the deepest step found.
func fastFieldLine(p *fastParser, path []pathSeg, container string) int {
	i := p.nextSignificant(0)
	if i >= len(p.lines) {
		return 0
	}
	col := p.lines[i].indent
	line := 0
	prevKey := ""
	for si, s := range path {
		var k int
		if s.index < 0 {
			k = p.findKey(i, col, s.key)
		} else {
			k = p.findItem(i, col, s.index, prevKey, container)
		}
		if k < 0 {
			return line
		}
		line = k + 1
		if si == len(path)-1 {
			return line
		}
		// Step into the value.
		t := p.text(k, col)
		if s.index >= 0 {
			rest := bytes.TrimLeft(t[1:], " ")
			if _, _, isKey := splitRawKey(rest); isKey && len(rest) > 0 {
				i, col = k, col+(len(t)-len(rest))
				prevKey = ""
				continue
			}
			if len(rest) > 0 && rest[0] != '#' {
				return line
			}
		} else {
			_, rest, _ := splitRawKey(t)
			if len(rest) > 0 && rest[0] != '#' {
				return line // a scalar or flow value: no deeper step is written in block form
			}
			prevKey = s.key
		}
		j := p.nextSignificant(k + 1)
		switch {
		case j < len(p.lines) && p.lines[j].indent > col:
			i, col = j, p.lines[j].indent
		case j < len(p.lines) && s.index < 0 && p.lines[j].indent == col && isDash(p.text(j, col)):
			i = j
		default:
			return line
		}
	}
	return line
}

// siblings calls f with each line at column col of the collection that
// starts on line i, until f returns false.
func (p *fastParser) siblings(i, col int, dash bool, f func(k int) bool) {
	for k := i; k < len(p.lines); {
		if !f(k) {
			return
		}
		k = p.nextSignificant(k + 1)
		for k < len(p.lines) && (p.lines[k].indent > col || (!dash && p.lines[k].indent == col && isDash(p.text(k, col)))) {
			k = p.nextSignificant(k + 1)
		}
		if k >= len(p.lines) || p.lines[k].indent < col || isDash(p.text(k, col)) != dash {
			return
		}
	}
}

// findKey is the line of key in the mapping whose first key is on line i
// at column col, or -1.
func (p *fastParser) findKey(i, col int, key string) int {
	found := -1
	p.siblings(i, col, false, func(k int) bool {
		if got, _, ok := splitRawKey(p.text(k, col)); ok && got == key {
			found = k
			return false
		}
		return true
	})
	return found
}

// findItem is the line of an item of the sequence whose first dash is on
// line i at column col: the container named container for an item of
// containers or initContainers, else the index-th; -1 when there is none.
func (p *fastParser) findItem(i, col, index int, prevKey, container string) int {
	if !isDash(p.text(i, col)) {
		return -1
	}
	byName := container != "" && (prevKey == "containers" || prevKey == "initContainers")
	found, n := -1, 0
	p.siblings(i, col, true, func(k int) bool {
		if !byName {
			if n == index {
				found = k
				return false
			}
			n++
			return true
		}
		t := p.text(k, col)
		rest := bytes.TrimLeft(t[1:], " ")
		if _, _, isKey := splitRawKey(rest); !isKey {
			return true
		}
		itemCol := col + (len(t) - len(rest))
		if nk := p.findKey(k, itemCol, "name"); nk >= 0 {
			_, v, _ := splitRawKey(p.text(nk, itemCol))
			var got string
			if len(v) > 0 && (v[0] == '"' || v[0] == '\'') {
				got, _, _ = quoted(v)
			} else {
				got = string(plainEnd(v))
			}
			if got == container {
				found = k
				return false
			}
		}
		return true
	})
	return found
}
