package terminal

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestUTF8(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set is the C locale", nil, false},
		{"LANG UTF-8", map[string]string{"LANG": "en_US.UTF-8"}, true},
		{"LANG utf8", map[string]string{"LANG": "C.utf8"}, true},
		{"LANG with modifier", map[string]string{"LANG": "de_DE.UTF-8@euro"}, true},
		{"LANG latin1", map[string]string{"LANG": "de_DE.ISO-8859-1"}, false},
		{"LANG C", map[string]string{"LANG": "C"}, false},
		{"LC_CTYPE wins over LANG", map[string]string{"LANG": "en_US.UTF-8", "LC_CTYPE": "POSIX"}, false},
		{"LC_ALL wins over everything", map[string]string{"LANG": "C", "LC_CTYPE": "C", "LC_ALL": "en_GB.UTF-8"}, true},
		{"empty LC_ALL is unset", map[string]string{"LC_ALL": "", "LANG": "en_US.UTF-8"}, true},
		{"LC_CTYPE bare UTF-8 (macOS)", map[string]string{"LC_CTYPE": "UTF-8"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := UTF8(env(tt.env)); got != tt.want {
				t.Errorf("UTF8(%v) = %v, want %v", tt.env, got, tt.want)
			}
		})
	}
}

func TestWidthAndColorOfNonTerminal(t *testing.T) {
	var buf bytes.Buffer
	if got := Width(&buf, env(nil)); got != DefaultWidth {
		t.Errorf("Width(buffer) = %d, want %d", got, DefaultWidth)
	}
	if got := Width(&buf, env(map[string]string{"COLUMNS": "132"})); got != 132 {
		t.Errorf("Width(buffer, COLUMNS=132) = %d, want 132", got)
	}
	if got := Width(&buf, env(map[string]string{"COLUMNS": "wide"})); got != DefaultWidth {
		t.Errorf("Width(buffer, COLUMNS=wide) = %d, want %d", got, DefaultWidth)
	}
	if Color(&buf, env(nil)) {
		t.Error("Color(buffer) = true, want false")
	}
	if IsTerminal(&buf) {
		t.Error("IsTerminal(buffer) = true")
	}
}

func TestStringWidth(t *testing.T) {
	tests := map[string]int{
		"":             0,
		"abc":          3,
		"█▇▆":          3,
		"日本":           4,
		"e\u0301":      1, // e + combining acute
		"🇩🇪":           4,
		"tab\tstop":    7,
		"naïve résumé": 12,
	}
	for s, want := range tests {
		if got := StringWidth(s); got != want {
			t.Errorf("StringWidth(%q) = %d, want %d", s, got, want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		s     string
		w     int
		ascii bool
		want  string
	}{
		{"short", 10, false, "short"},
		{"exactly10!", 10, false, "exactly10!"},
		{"a longer line", 8, false, "a longe…"},
		{"a longer line", 8, true, "a lon..."},
		{"日本語のテキスト", 7, false, "日本語…"},
		{"abc", 1, false, "…"},
		{"abcdef", 2, true, "ab"},
	}
	for _, tt := range tests {
		got := Truncate(tt.s, tt.w, tt.ascii)
		if got != tt.want {
			t.Errorf("Truncate(%q, %d, %v) = %q, want %q", tt.s, tt.w, tt.ascii, got, tt.want)
		}
		if StringWidth(got) > tt.w {
			t.Errorf("Truncate(%q, %d) = %q is %d columns wide", tt.s, tt.w, got, StringWidth(got))
		}
	}
}

func TestWrap(t *testing.T) {
	tests := []struct {
		name string
		text string
		w    int
		want []string
	}{
		{"empty", "", 10, nil},
		{"fits", "one two", 10, []string{"one two"}},
		{"breaks at spaces", "the quick brown fox jumps", 10, []string{"the quick", "brown fox", "jumps"}},
		{"exact width", "aaaa bbbbb", 10, []string{"aaaa bbbbb"}},
		{"long word broken", "spec.template.spec.containers[0].lifecycle.preStop is missing", 20,
			[]string{"spec.template.spec.c", "ontainers[0].lifecyc", "le.preStop is", "missing"}},
		{"white space collapsed", "a   b\tc", 10, []string{"a b c"}},
		{"line breaks kept", "first line\n\nsecond", 20, []string{"first line", "", "second"}},
		{"wide characters", "日本 語のテ キスト", 6, []string{"日本", "語のテ", "キスト"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Wrap(tt.text, tt.w)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Wrap(%q, %d) (-want +got):\n%s", tt.text, tt.w, diff)
			}
			for _, l := range got {
				if StringWidth(l) > tt.w {
					t.Errorf("line %q is wider than %d", l, tt.w)
				}
			}
			if strings.Join(strings.Fields(strings.Join(got, " ")), "") != strings.Join(strings.Fields(tt.text), "") {
				t.Errorf("Wrap lost or added text: %q", got)
			}
		})
	}
}
