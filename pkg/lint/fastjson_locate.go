package lint

import (
	"bytes"
	"strings"
)

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
