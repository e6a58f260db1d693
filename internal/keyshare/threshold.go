package keyshare

// MaxShares bounds N: a share index is one byte, and no consortium runs
// more validators than that.
const MaxShares = 255

// Params says how a data key is split: into N shares, one per validator,
// any K of which recover it.
type Params struct {
	N int
	K int
	// AllowSingleShare permits K = 1 with N ≥ 2, where every validator alone
	// holds the whole key. It is for single-organization deployments that
	// replicate for availability only; without it such a split is refused,
	// because it silently breaks the promise that one node learns nothing.
	AllowSingleShare bool
}

// DefaultThreshold returns the K carechain uses for n validators: f+1,
// where f = ⌊(n-1)/3⌋ is how many of them BFT consensus tolerates being
// faulty. f+1 is the smallest K that f colluding validators cannot reach,
// and since at least n-f ≥ 2f+1 validators stay honest and reachable, K
// good shares are always there to be had.
//
// Below four validators f is 0 and f+1 would be 1, so one validator could
// read every record; DefaultThreshold returns 2 instead. That costs no
// availability: with f = 0 the ledger itself stops when any validator does.
// It returns 0 for n outside 1..MaxShares.
func DefaultThreshold(n int) int {
	switch {
	case n < 1 || n > MaxShares:
		return 0
	case n == 1:
		return 1
	}
	return max((n-1)/3+1, 2)
}

// DefaultParams returns the default split for n validators.
func DefaultParams(n int) Params { return Params{N: n, K: DefaultThreshold(n)} }

// Validate checks 1 ≤ K ≤ N ≤ MaxShares, and K ≥ 2 when N ≥ 2 unless
// AllowSingleShare is set.
func (p Params) Validate() error {
	switch {
	case p.N < 1 || p.N > MaxShares:
		return invalidf("%d shares; want 1 to %d", p.N, MaxShares)
	case p.K < 1 || p.K > p.N:
		return invalidf("threshold %d of %d shares; want 1 to %d", p.K, p.N, p.N)
	case p.K == 1 && p.N >= 2 && !p.AllowSingleShare:
		return invalidf("threshold 1 of %d shares lets any one validator read every record; "+
			"use at least 2, or set AllowSingleShare", p.N)
	}
	return nil
}
