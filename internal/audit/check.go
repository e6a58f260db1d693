package audit

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"

	"github.com/carechain/carechain/internal/kv"
)

// Check recomputes the whole log from its stored events and compares
// everything derived from them: every stored tree node, the root in the head,
// the order of heights and times, the patient index, and that no stray key
// lives under the audit prefix. It reads every audit key once, O(n), and is
// meant for an offline integrity check of a node's state, not for consensus.
// Any mismatch wraps ErrCorrupt.
func Check(r kv.Reader) error {
	h, err := loadHead(r)
	if err != nil {
		return err
	}
	rng := rangeFactory.NewEmptyRange(0)
	counts := map[string]uint64{}
	var (
		nodeErr    error
		lastHeight uint64
		lastTime   int64
	)
	for seq := uint64(0); seq < h.size; seq++ {
		enc, err := GetEncoded(r, seq)
		if err != nil {
			return fmt.Errorf("check: %w", err)
		}
		e, err := DecodeEvent(enc)
		if err != nil || e.Seq != seq {
			return fmt.Errorf("check event %d: %w: %v", seq, ErrCorrupt, err)
		}
		if e.Height < lastHeight || e.Time.UnixNano() < lastTime {
			return fmt.Errorf("check event %d: %w: height or time goes backwards", seq, ErrCorrupt)
		}
		lastHeight, lastTime = e.Height, e.Time.UnixNano()
		err = rng.Append(LeafHash(enc), func(id compact.NodeID, hash []byte) {
			if id.Level == 0 || nodeErr != nil {
				return
			}
			stored, err := r.Get(nodeKey(id))
			switch {
			case err != nil:
				nodeErr = fmt.Errorf("check tree node (%d, %d): %w", id.Level, id.Index, err)
			case !bytes.Equal(stored, hash):
				nodeErr = fmt.Errorf("check tree node (%d, %d): %w: stored hash differs from recomputed", id.Level, id.Index, ErrCorrupt)
			}
		})
		if err != nil {
			return fmt.Errorf("check event %d: %w: %w", seq, ErrCorrupt, err)
		}
		if nodeErr != nil {
			return nodeErr
		}
		ord := counts[e.Patient] // "" for the events about no patient
		got, err := patientSeq(r, e.Patient, ord)
		if err != nil {
			return fmt.Errorf("check event %d: %w", seq, err)
		}
		if got != seq {
			return fmt.Errorf("check event %d: %w: patient entry %d points at event %d", seq, ErrCorrupt, ord, got)
		}
		counts[e.Patient] = ord + 1
	}
	if h.size > 0 {
		root, err := rng.GetRootHash(nil)
		if err != nil {
			return fmt.Errorf("check root: %w: %w", ErrCorrupt, err)
		}
		if !bytes.Equal(root, h.root) || h.lastHeight != lastHeight || h.lastTime != lastTime {
			return fmt.Errorf("check head: %w: stored root or last block differs from recomputed", ErrCorrupt)
		}
	}

	patients := make([]string, 0, len(counts))
	for p := range counts {
		patients = append(patients, p)
	}
	slices.Sort(patients) // report the same first error every run
	var entries uint64
	for _, p := range patients {
		n, err := patientCount(r, p)
		if err != nil {
			return fmt.Errorf("check patient index: %w", err)
		}
		if n != counts[p] {
			return fmt.Errorf("check patient index: %w: stored count %d, recomputed %d", ErrCorrupt, n, counts[p])
		}
		entries += n
	}

	// Everything above was found by recomputation; any other key under the
	// prefix is one Append never wrote.
	want := h.size + entries + uint64(len(patients))
	for level := uint(1); level < 64; level++ {
		want += h.size >> level
	}
	if h.size > 0 {
		want++ // the head
	}
	var got uint64
	if err := r.Iterate(Prefix, kv.PrefixEnd(Prefix), false, func(_, _ []byte) bool {
		got++
		return true
	}); err != nil {
		return fmt.Errorf("check key count: %w", err)
	}
	if got != want {
		return fmt.Errorf("check key count: %w: %d keys under %q, want %d", ErrCorrupt, got, Prefix, want)
	}
	return nil
}
