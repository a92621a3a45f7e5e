// Package terminal answers the questions output that fits a terminal asks:
// is this writer a terminal, how wide is it, may it be coloured, does the
// locale take UTF-8, and how many columns a string takes; and it wraps and
// truncates text to a width. It never writes anything itself.
package terminal

import (
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/term"
	"golang.org/x/text/width"
)

// DefaultWidth is the width assumed when the output is not a terminal and
// $COLUMNS says nothing.
const DefaultWidth = 80

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Width is how many columns output to w may take: the terminal's width when
// w is a terminal, else $COLUMNS when it is a positive number, else
// DefaultWidth. getenv is os.Getenv in the commands (nil means it).
func Width(w io.Writer, getenv func(string) string) int {
	if f, ok := w.(*os.File); ok {
		if cols, _, err := term.GetSize(int(f.Fd())); err == nil && cols > 0 {
			return cols
		}
	}
	if getenv == nil {
		getenv = os.Getenv
	}
	if n, err := strconv.Atoi(strings.TrimSpace(getenv("COLUMNS"))); err == nil && n > 0 {
		return n
	}
	return DefaultWidth
}

// Color reports whether output to w may carry ANSI colours: w is a
// terminal, NO_COLOR is unset or empty (https://no-color.org) and TERM is
// not "dumb".
func Color(w io.Writer, getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	return getenv("NO_COLOR") == "" && getenv("TERM") != "dumb" && IsTerminal(w)
}

// UTF8 reports whether the locale takes UTF-8, the way the C library reads
// it: the first of LC_ALL, LC_CTYPE and LANG that is set and not empty
// names the character set ("en_US.UTF-8", "C.utf8"); none set is the "C"
// locale, which is ASCII.
func UTF8(getenv func(string) string) bool {
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, k := range []string{"LC_ALL", "LC_CTYPE", "LANG"} {
		v := getenv(k)
		if v == "" {
			continue
		}
		v = strings.ToLower(v)
		if i := strings.IndexByte(v, '@'); i >= 0 { // de_DE.UTF-8@euro
			v = v[:i]
		}
		return strings.HasSuffix(v, ".utf-8") || strings.HasSuffix(v, ".utf8") || v == "utf-8" || v == "utf8"
	}
	return false
}

// StringWidth is how many terminal columns s takes, counted character by
// character: 2 for an East Asian wide or full-width character (CJK, most
// emoji) and for a regional indicator (half a flag), 0 for combining marks,
// format and control characters, 1 for anything else. ANSI escape
// sequences are not recognised: measure text before colouring it.
func StringWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n += RuneWidth(r)
	}
	return n
}

// RuneWidth is the columns one character takes (see StringWidth).
func RuneWidth(r rune) int {
	switch {
	case r < utf8.RuneSelf:
		if r >= 0x20 && r != 0x7f {
			return 1
		}
		return 0
	case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Cc):
		return 0
	case r >= 0x1f1e6 && r <= 0x1f1ff:
		return 2
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// Truncate shortens s to at most w columns, ending it with "…" (or "..."
// when ascii) when something was cut.
func Truncate(s string, w int, ascii bool) string {
	if StringWidth(s) <= w {
		return s
	}
	ell := "…"
	if ascii {
		ell = "..."
	}
	ew := StringWidth(ell)
	switch {
	case w == ew:
		return ell
	case w < ew:
		return cut(s, w)
	}
	return cut(s, w-ew) + ell
}

// cut returns the longest prefix of s that takes at most w columns.
func cut(s string, w int) string {
	n := 0
	for i, r := range s {
		rw := RuneWidth(r)
		if n+rw > w {
			return s[:i]
		}
		n += rw
	}
	return s
}

// Wrap breaks text into lines of at most w columns at spaces; a word wider
// than w is broken where it must be. Runs of white space between words
// become one space; line breaks in text are kept. An empty text gives no
// line.
func Wrap(text string, w int) []string {
	if w < 1 {
		w = 1
	}
	var lines []string
	for _, para := range strings.Split(text, "\n") {
		words := strings.Fields(para)
		if len(words) == 0 {
			lines = append(lines, "")
			continue
		}
		line, lw := "", 0
		for _, word := range words {
			ww := StringWidth(word)
			switch {
			case lw == 0:
			case lw+1+ww <= w:
				line += " " + word
				lw += 1 + ww
				continue
			default:
				lines = append(lines, line)
				line, lw = "", 0
			}
			for ww > w { // a word wider than the line: break it
				head := cut(word, w)
				if head == "" { // one character wider than w
					_, size := utf8.DecodeRuneInString(word)
					head = word[:size]
				}
				lines = append(lines, head)
				word = word[len(head):]
				ww = StringWidth(word)
			}
			line, lw = word, ww
		}
		if lw > 0 {
			lines = append(lines, line)
		}
	}
	// no blank line before the first or after the last
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) == 0 {
		return nil
	}
	return lines
}
