package gateway

import (
	"errors"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/state"
)

// TestHeightOfSize finds the block that ended with each log size, and
// refuses a size the log passed through in the middle of a block.
func TestHeightOfSize(t *testing.T) {
	s := state.OpenMemory()
	// Blocks 1–5 end with the log at 2, 2, 5, 6, 9 events.
	ends := []int{2, 2, 5, 6, 9}
	n := 0
	for h, end := range ends {
		for ; n < end; n++ {
			e := audit.Event{Height: uint64(h + 1), Time: time.Unix(int64(1000+h), 0), Actor: "pat-1", Patient: "pat-1",
				Action: audit.ActionAuditQuery, Decision: audit.Permit, Reason: audit.Reason{Rule: "patient"}}
			if _, _, err := audit.Append(s.Working(), e); err != nil {
				t.Fatal(err)
			}
		}
		if _, _, err := s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	g := &Gateway{state: s}
	for size, want := range map[uint64]int64{2: 1, 5: 3, 6: 4, 9: 5} {
		if h, err := g.heightOfSize(size, 5); err != nil || h != want {
			t.Errorf("size %d: height %d, %v; want %d", size, h, err, want)
		}
	}
	for _, size := range []uint64{1, 3, 4, 7, 8} {
		if _, err := g.heightOfSize(size, 5); !errors.Is(err, errBadRange) {
			t.Errorf("size %d: %v", size, err)
		}
	}
}
