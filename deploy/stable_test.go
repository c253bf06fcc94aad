package deploy

import (
	"testing"
	"time"
)

func TestStableFor(t *testing.T) {
	for _, tc := range []struct {
		opt, monitor, want time.Duration
	}{
		{0, 5 * time.Second, 0},
		{StableForMonitor, 5 * time.Second, MinStableFor},
		{StableForMonitor, 30 * time.Second, 30 * time.Second},
		{15 * time.Second, 30 * time.Second, 15 * time.Second},
		{3 * time.Second, 5 * time.Second, 3 * time.Second},
	} {
		if got := stableFor(RolloutOptions{StableFor: tc.opt}, tc.monitor); got != tc.want {
			t.Errorf("stableFor(%s, monitor %s) = %s, want %s", tc.opt, tc.monitor, got, tc.want)
		}
	}
}
