package canary

import "testing"

func TestAutoscaledSplit(t *testing.T) {
	for _, tc := range []struct {
		name     string
		n        int32
		w        int
		weighted bool
		want     int32
	}{
		{"weight 0", 4, 0, false, 0},
		{"ratio 20% of 4 stable: 1 of 5", 4, 20, false, 1},
		{"ratio 50%: as many as the stable", 4, 50, false, 4},
		{"ratio 10% of 3: at least one", 3, 10, false, 1},
		{"ratio 75% of 2: 6 of 8", 2, 75, false, 6},
		{"ratio 100%: the stable's count", 5, 100, false, 5},
		{"weighted 10% of 4: ceil", 4, 10, true, 1},
		{"weighted 50% of 5: ceil", 5, 50, true, 3},
		{"weighted 100%", 5, 100, true, 5},
		{"no stable replicas", 0, 50, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := AutoscaledSplit(tc.n, tc.w, tc.weighted); got != tc.want {
				t.Errorf("AutoscaledSplit(%d, %d, %v) = %d, want %d", tc.n, tc.w, tc.weighted, got, tc.want)
			}
		})
	}
}
