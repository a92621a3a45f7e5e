package lint

import (
	"bytes"
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
