package downtime

import (
	"testing"
	"time"
)

func TestCapacityLine(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		rep     Report
		desired int32
		want    string
	}{
		{
			name:    "full capacity",
			rep:     Report{Service: "shop/web", MinReady: 3, Started: t0, Stopped: t0.Add(12340 * time.Millisecond)},
			desired: 3,
			want:    `capacity: service "shop/web": minimum ready endpoints 3 of 3 desired (100%), 0.0s with none ready, watched for 12.3s`,
		},
		{
			name:    "a dip",
			rep:     Report{Service: "shop/web", MinReady: 2, Started: t0, Stopped: t0.Add(5 * time.Second)},
			desired: 3,
			want:    `capacity: service "shop/web": minimum ready endpoints 2 of 3 desired (66%), a capacity dip, 0.0s with none ready, watched for 5.0s`,
		},
		{
			name:    "time at zero",
			rep:     Report{Service: "shop/web", MinReady: 0, ZeroFor: 1500 * time.Millisecond, Started: t0, Stopped: t0.Add(5 * time.Second)},
			desired: 4,
			want:    `capacity: service "shop/web": minimum ready endpoints 0 of 4 desired (0%), a capacity dip, 1.5s with none ready, watched for 5.0s`,
		},
		{
			name:    "desired not known",
			rep:     Report{Service: "shop/web", MinReady: 1, Started: t0, Stopped: t0.Add(time.Second)},
			desired: 0,
			want:    `capacity: service "shop/web": minimum ready endpoints 1, 0.0s with none ready, watched for 1.0s`,
		},
		{
			name: "gaps",
			rep: Report{Service: "shop/web", MinReady: 3, Started: t0, Stopped: t0.Add(10 * time.Second),
				Gaps: []Gap{{From: t0.Add(time.Second), To: t0.Add(2 * time.Second)}, {From: t0.Add(3 * time.Second), To: t0.Add(3500 * time.Millisecond)}}},
			desired: 3,
			want:    `capacity: service "shop/web": minimum ready endpoints 3 of 3 desired (100%), 0.0s with none ready, watched for 10.0s; the watch lost the API server 2 times, for 1.5s in all (not counted: the endpoints then are unknown)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rep.Capacity(tc.desired); got != tc.want {
				t.Errorf("Capacity(%d)\n got %s\nwant %s", tc.desired, got, tc.want)
			}
		})
	}
}
