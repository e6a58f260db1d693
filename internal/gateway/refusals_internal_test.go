package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/tx"
)

// TestRefusalTally checks that identical refusals merge, that claims
// which are not id-shaped count as claiming nobody, that only the codes
// it was made for are taken, and that taking empties it.
func TestRefusalTally(t *testing.T) {
	tl := newRefusalTally([]string{"token_invalid", "token_missing"})
	for _, c := range []struct{ code, claimed string }{
		{"token_missing", ""}, {"token_invalid", "ccb"}, {"token_invalid", "cca"}, {"token_invalid", "ccb"},
		{"token_missing", "two words"}, {"token_missing", strings.Repeat("x", tx.MaxIDLen+1)},
	} {
		if !tl.add(c.code, c.claimed) {
			t.Fatalf("%+v not taken", c)
		}
	}
	if tl.add("not_found", "") {
		t.Fatal("a code the tally was not made for was taken")
	}
	got := fmt.Sprint(tl.take())
	if want := "[{token_invalid cca 1} {token_invalid ccb 2} {token_missing  3}]"; got != want {
		t.Fatalf("tally %s, want %s", got, want)
	}
	if rest := tl.take(); len(rest) != 0 {
		t.Fatalf("take left %v", rest)
	}
}

// TestRefusalTallyBound floods the tally with distinct claims under every
// code it takes: what it gives is one valid audit.refusals of at most 64
// entries that still counts every attempt, the claims beyond its room
// counted under their code alone.
func TestRefusalTallyBound(t *testing.T) {
	codes := tallied()
	tl := newRefusalTally(codes)
	attempts := 0
	for i := range 3 * tx.MaxRefusalEntries {
		for _, code := range codes {
			tl.add(code, fmt.Sprintf("cc%03d", i))
			attempts++
		}
	}
	entries := tl.take()
	var counted uint64
	claimed := 0
	for _, e := range entries {
		counted += e.Count
		if e.Claimed != "" {
			claimed++
		}
	}
	m := &tx.RecordUnattributedRefusals{Entries: entries}
	if err := tx.ValidateBasic("c", &tx.Tx{Signer: "ccorg"}, m); err != nil {
		t.Fatalf("%d entries: %v", len(entries), err)
	}
	if len(entries) != tx.MaxRefusalEntries || counted != uint64(attempts) || claimed != tx.MaxRefusalEntries-len(codes) {
		t.Fatalf("%d entries (%d with a claim) counting %d of %d attempts", len(entries), claimed, counted, attempts)
	}
}

// sends records what a reporter sends.
type sends chan []tx.RefusalTally

func (s sends) send(_ context.Context, entries []tx.RefusalTally) error {
	s <- entries
	return nil
}

func (s sends) next(t *testing.T) []tx.RefusalTally {
	t.Helper()
	select {
	case e := <-s:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("nothing was reported")
		return nil
	}
}

// TestRefusalReporter checks the reporter's rhythm: refusals within an
// interval of the first one are reported together, once, an interval
// after it; the next report comes an interval after the next refusal, so
// never two within one interval; and stopping reports what is left.
func TestRefusalReporter(t *testing.T) {
	const interval = 300 * time.Millisecond
	out := make(sends, 4)
	tl := newRefusalTally([]string{"token_invalid"})
	r := newRefusalReporter(tl, interval, slog.New(slog.DiscardHandler), out.send)
	defer r.close()

	start := time.Now()
	tl.add("token_invalid", "cca")
	tl.add("token_invalid", "cca")
	if got := fmt.Sprint(out.next(t)); got != "[{token_invalid cca 2}]" {
		t.Fatalf("first report %s", got)
	}
	first := time.Now()
	if first.Sub(start) < interval {
		t.Fatalf("reported after %s, before the interval", first.Sub(start))
	}
	tl.add("token_invalid", "")
	if got := fmt.Sprint(out.next(t)); got != "[{token_invalid  1}]" {
		t.Fatalf("second report %s", got)
	}
	if gap := time.Since(first); gap < interval {
		t.Fatalf("two reports %s apart", gap)
	}

	// Stopping long before the interval ends still reports.
	slow := make(sends, 1)
	tl2 := newRefusalTally([]string{"token_missing"})
	r2 := newRefusalReporter(tl2, time.Hour, slog.New(slog.DiscardHandler), slow.send)
	tl2.add("token_missing", "")
	r2.close()
	if got := fmt.Sprint(slow.next(t)); got != "[{token_missing  1}]" {
		t.Fatalf("report on stop %s", got)
	}
	r2.close() // stopping twice is harmless
}
