package keyshare

import (
	"fmt"
	"slices"

	"go.dedis.ch/kyber/v4/share"
)

// Combine recovers the data key of the record version ad from shares, any
// order, duplicates and strangers allowed. Every share is checked against
// its commitment first; the indexes of those that fail (a Byzantine
// validator's, a corrupted one, one from another record) are returned in
// ascending order, also on success, so the caller can report them and ask
// someone else. With fewer than c.K good shares it fails with
// ErrNotEnoughShares.
//
// The threshold comes from c, that is from the ledger, never from the
// caller: a reader cannot be talked into combining fewer shares than the
// writer required.
func Combine(ad AssociatedData, c Commitments, shares []Share) (*DataKey, []int, error) {
	if err := ad.Validate(); err != nil {
		return nil, nil, fmt.Errorf("combine: %w", err)
	}
	if err := c.validate(); err != nil {
		return nil, nil, fmt.Errorf("combine %s: %w", ad, err)
	}
	var (
		seen [MaxShares + 1]bool
		good []*share.PriShare
		bad  []int
	)
	for _, s := range shares {
		if !c.Verify(ad, s) {
			bad = append(bad, int(s.Index))
			continue
		}
		if seen[s.Index] {
			continue // the same committed share again: harmless
		}
		v, ok := decodeScalar(s.Value)
		if !ok {
			// Only a writer could commit to a non-canonical value; it is
			// still a share this reader cannot use.
			bad = append(bad, int(s.Index))
			continue
		}
		seen[s.Index] = true
		good = append(good, &share.PriShare{I: int(s.Index), V: v})
	}
	slices.Sort(bad)
	bad = slices.Compact(bad)
	if len(good) < c.K {
		return nil, bad, fmt.Errorf("combine %s: %w: %d valid of %d needed (%d rejected)",
			ad, ErrNotEnoughShares, len(good), c.K, len(bad))
	}
	secret, err := share.RecoverSecret(group, good, c.K, c.N())
	if err != nil {
		return nil, bad, fmt.Errorf("combine %s: %w", ad, err)
	}
	key := &DataKey{secret: secret, ad: ad}
	ok, err := key.checks(c.KeyCheck)
	if err != nil {
		return nil, bad, err
	}
	if !ok {
		return nil, bad, fmt.Errorf("combine %s: %w: the writer dealt inconsistent shares", ad, ErrKeyMismatch)
	}
	return key, bad, nil
}
