package gateway

import (
	"testing"
	"time"
)

func TestQuietTooLong(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		name     string
		latest   time.Time
		empty    bool
		interval time.Duration
		want     bool
	}{
		{"fresh block", now.Add(-2 * time.Second), true, time.Second, false},
		{"quiet for a minute", now.Add(-time.Minute), true, time.Second, true},
		{"slow empty blocks leave room", now.Add(-time.Minute), true, 30 * time.Second, false},
		{"quiet past five intervals", now.Add(-151 * time.Second), true, 30 * time.Second, true},
		{"no empty blocks: idle is normal", now.Add(-time.Hour), false, 0, false},
		{"no block yet", time.Time{}, true, time.Second, false},
	}
	for _, c := range cases {
		if got := quietTooLong(now, c.latest, c.empty, c.interval); got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}
