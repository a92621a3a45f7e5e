package lint

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// tablewriterTable renders the table as the table format did before
// writeTable replaced tablewriter (a test-only dependency now).
func tablewriterTable(t *testing.T, header []string, rows [][]string) string {
	t.Helper()
	var b bytes.Buffer
	table := tablewriter.NewTable(&b,
		tablewriter.WithRenderer(renderer.NewBlueprint(tw.Rendition{Symbols: tw.NewSymbols(tw.StyleASCII)})),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoFormat(tw.Off),
	)
	table.Header(header)
	for _, r := range rows {
		if err := table.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := table.Render(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestWriteTableMatchesTablewriter renders the same tables with writeTable
// and with tablewriter: hand-picked cells (empty, padded, several lines,
// tabs, wide, combining and zero-width characters, emoji) and random ones.
func TestWriteTableMatchesTablewriter(t *testing.T) {
	tables := [][][]string{
		{{"error", "max-unavailable-nonzero", "-", "spec.strategy.rollingUpdate.maxUnavailable", `Deployment "shop/web" updates with maxUnavailable 1`, "set maxUnavailable: 0"}},
		{{"", "  lead", "trail  ", "a\nbc\nd", "tab\there", "日本語"}, {"e\u0301x", "😀x", "a\u200bb", " a \n b ", "x\r\ny", "±→"}},
		{{"🇫🇷", "👩\u200d💻", "❤\ufe0f", "\x01z", "a\n", "\n"}, {"ｱｲ", "Ω", "ä", "", "", ""}},
		{{"", "", "", "", "", ""}, {" \n ", "\n", "a\n\n\nb", "x\n \ny", "c", "\n\td"}, {"a\n\n|", "b\n\n", "", "", "", "z\n\t\nw"}},
	}
	alphabet := []string{"a", "Z", "0", "-", ".", " ", " ", "\t", "\n", "é", "e\u0301", "日", "語", "😀", "ｱ", "Ａ", "±", "→", "\u200b", "\u200d", "\ufe0f", "🇫", "\x01", "\"", "|", "+", "ß", "Ω", "한"}
	r := rand.New(rand.NewSource(1))
	for range 300 {
		rows := make([][]string, 1+r.Intn(3))
		for i := range rows {
			rows[i] = make([]string, len(tableHeader))
			for j := range rows[i] {
				var c strings.Builder
				for range r.Intn(12) {
					c.WriteString(alphabet[r.Intn(len(alphabet))])
				}
				rows[i][j] = c.String()
			}
		}
		tables = append(tables, rows)
	}
	for i, rows := range tables {
		header := tableHeader
		var got bytes.Buffer
		if err := writeTable(&got, header, rows); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tablewriterTable(t, header, rows), got.String()); diff != "" {
			t.Fatalf("table %d %q (-tablewriter +writeTable):\n%s", i, rows, diff)
		}
	}
}

func TestCellWidth(t *testing.T) {
	for s, want := range map[string]int{
		"": 0, "abc": 3, "日本語": 6, "e\u0301": 1, "a\u200bb": 2, "😀": 2, "👩\u200d💻": 4, "🇫🇷": 4, "\x01": 0, "ｱ": 1, "Ａ": 2,
	} {
		if got := cellWidth(s); got != want {
			t.Errorf("cellWidth(%q) = %d, want %d", s, got, want)
		}
	}
}
