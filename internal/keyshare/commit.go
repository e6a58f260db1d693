package keyshare

import (
	"crypto/sha256"
	"crypto/subtle"

	"github.com/carechain/carechain/internal/codec"
)

// Commitments are what the ledger publishes about a record's shares. They
// let a reader check each share it is given before combining, and they
// reveal nothing about the key:
//
//   - Shares[i] = SHA-256(domain | record | N | K | i | salt_i | value_i),
//     where salt_i is 32 random bytes carried only inside share i. To
//     anyone without the share the hash input holds at least 256 unknown
//     random bits, so no guess at value_i can be checked against it; the
//     reader, holding the share, recomputes it.
//   - KeyCheck is an HKDF output of the secret, so the reader can tell that
//     the K shares it combined give the writer's key.
//
// Feldman commitments (g^a_j for each coefficient) were not chosen: g^a_0
// would put g^secret on a public ledger for ever, and a future quantum
// computer that takes discrete logarithms would read every record from the
// ledger alone, undoing the ML-KEM choice made for the sealed shares.
type Commitments struct {
	K        int        // shares needed to recover the key
	Shares   [][32]byte // Shares[i] commits to the share with index i; len is N
	KeyCheck [32]byte
}

// N returns the number of shares committed to.
func (c Commitments) N() int { return len(c.Shares) }

// validate checks the same rules the decoder enforces, so a Commitments
// built in memory is held to them too.
func (c Commitments) validate() error {
	if c.N() < 1 || c.N() > MaxShares {
		return invalidf("commitments to %d shares; want 1 to %d", c.N(), MaxShares)
	}
	if c.K < 1 || c.K > c.N() {
		return invalidf("commitments with threshold %d of %d", c.K, c.N())
	}
	return nil
}

const domainShareCommit = "carechain/keyshare/commit/v1\x00"

// shareCommitment binds a share's value to its record, its place in the
// split and its salt.
func shareCommitment(ad AssociatedData, n, k int, s Share) [32]byte {
	w := codec.NewWriter(len(domainShareCommit) + 2*MaxIDLen + 12 + 3 + 2*ScalarSize)
	w.Fixed([]byte(domainShareCommit))
	ad.write(w)
	w.Byte(byte(n))
	w.Byte(byte(k))
	w.Byte(s.Index)
	w.Fixed(s.Salt[:])
	w.Fixed(s.Value[:])
	return sha256.Sum256(w.Bytes())
}

// Verify reports whether s is the share committed to at its index for the
// record ad.
func (c Commitments) Verify(ad AssociatedData, s Share) bool {
	if int(s.Index) >= c.N() || c.validate() != nil {
		return false
	}
	got := shareCommitment(ad, c.N(), c.K, s)
	return subtle.ConstantTimeCompare(got[:], c.Shares[s.Index][:]) == 1
}
