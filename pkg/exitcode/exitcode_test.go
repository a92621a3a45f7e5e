package exitcode

import (
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want int
	}{
		{"nil", nil, OK},
		{"plain error", errors.New("boom"), Failed},
		{"usage", Usagef("bad flag %q", "--x"), Usage},
		{"wrapped usage", fmt.Errorf("reading: %w", Usagef("bad")), Usage},
		{"failed", Failedf("rolled back"), Failed},
		{"needs person", NeedsPersonf("stuck"), NeedsPerson},
		{"silent", &Silent{Code: 1}, Failed},
		{"nil wrapped stays nil", UsageError(nil), OK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(tc.err); got != tc.want {
				t.Errorf("Of(%v) = %d, want %d", tc.err, got, tc.want)
			}
		})
	}
}

func TestIsSilent(t *testing.T) {
	if !IsSilent(&Silent{Code: 1}) {
		t.Error("Silent should be silent")
	}
	if IsSilent(Usagef("x")) {
		t.Error("usage error should not be silent")
	}
}
