package records_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// TestLatestDirectory: every entry once, at its latest version, in id
// order, and no further once fn says stop.
func TestLatestDirectory(t *testing.T) {
	w := newWorld(t, 1)
	cx := records.Context{Signer: w.org, Height: 2, Time: time.Unix(1767312000, 0)}
	for i, versions := range []int{2, 1, 3} {
		id := fmt.Sprintf("dr%d", i)
		for v := 1; v <= versions; v++ {
			m := &tx.PutDirectory{ID: id, Version: uint64(v), ResourceType: "Location",
				Resource: []byte(fmt.Sprintf(`{"resourceType":"Location","name":"v%d"}`, v))}
			if _, err := records.PutDirectory(w.st, cx, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	var got []string
	if err := records.LatestDirectory(w.st, func(d *records.DirectoryVersion) bool {
		got = append(got, fmt.Sprintf("%s v%d", d.ID, d.Version))
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[dr0 v2 dr1 v1 dr2 v3]" {
		t.Errorf("latest versions %v", got)
	}
	n := 0
	if err := records.LatestDirectory(w.st, func(*records.DirectoryVersion) bool { n++; return false }); err != nil || n != 1 {
		t.Errorf("stopped after %d: %v", n, err)
	}
}
