package lint

import (
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// writeTable writes header and rows as an ASCII table, the layout the
// table format has always had (it was tablewriter's ASCII style, left
// aligned, no wrapping; TestWriteTableMatchesTablewriter holds the two
// together):
//
//	+------+-----+
//	| NAME | AGE |
//	+------+-----+
//	| a    | 1   |
//	+------+-----+
//
// A cell is trimmed of surrounding white space, a tab becomes four spaces,
// and a cell of several lines takes several lines of the table (a line of
// the table blank in every column is left out, but for the first). Columns are
// as wide as their widest line on a terminal (cellWidth).
func writeTable(w io.Writer, header []string, rows [][]string) error {
	ncol := len(header)
	for _, r := range rows {
		ncol = max(ncol, len(r))
	}
	widths := make([]int, ncol)
	split := func(r []string) [][]string {
		cells := make([][]string, ncol)
		for i := range cells {
			c := ""
			if i < len(r) {
				c = r[i]
			}
			c = strings.ReplaceAll(strings.TrimSpace(c), "\t", "    ")
			cells[i] = strings.Split(c, "\n")
			for _, l := range cells[i] {
				widths[i] = max(widths[i], cellWidth(l))
			}
		}
		return cells
	}
	head := split(header)
	body := make([][][]string, len(rows))
	for i, r := range rows {
		body[i] = split(r)
	}

	var b strings.Builder
	border := func() {
		b.WriteByte('+')
		for _, wd := range widths {
			b.WriteString(strings.Repeat("-", wd+2))
			b.WriteByte('+')
		}
		b.WriteByte('\n')
	}
	row := func(cells [][]string) {
		height := 0
		for _, c := range cells {
			height = max(height, len(c))
		}
		for l := range height {
			blank := l > 0
			for _, c := range cells {
				if l < len(c) && strings.TrimSpace(c[l]) != "" {
					blank = false
				}
			}
			if blank {
				continue
			}
			b.WriteByte('|')
			for i, c := range cells {
				line := ""
				if l < len(c) {
					line = c[l]
				}
				b.WriteByte(' ')
				b.WriteString(line)
				b.WriteString(strings.Repeat(" ", widths[i]-cellWidth(line)+1))
				b.WriteByte('|')
			}
			b.WriteByte('\n')
		}
	}
	border()
	row(head)
	border()
	for _, r := range body {
		row(r)
	}
	border()
	_, err := io.WriteString(w, b.String())
	return err
}

// cellWidth is how many terminal columns s takes, counted character by
// character as tablewriter counted them: 2 for an East Asian wide or
// full-width character (CJK, most emoji) and for a regional indicator (half
// a flag), 0 for combining marks, format and control characters, 1 for
// anything else.
func cellWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r < utf8.RuneSelf:
			if r >= 0x20 && r != 0x7f {
				n++
			}
		case unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Cc):
		case r >= 0x1f1e6 && r <= 0x1f1ff:
			n += 2
		default:
			switch width.LookupRune(r).Kind() {
			case width.EastAsianWide, width.EastAsianFullwidth:
				n += 2
			default:
				n++
			}
		}
	}
	return n
}
