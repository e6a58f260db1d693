package keyshare

import (
	"fmt"
	"io"

	"go.dedis.ch/kyber/v4"
	"go.dedis.ch/kyber/v4/share"
)

// Share is one validator's piece of a data key. Index is the validator's
// position in the record's validator list, 0 to N-1; the share is the
// secret polynomial evaluated at x = Index+1 (kyber's convention, since
// x = 0 is the secret itself). Value is the canonical scalar; Salt blinds
// the share's public commitment and must stay as secret as Value.
type Share struct {
	Index uint8
	Value [ScalarSize]byte
	Salt  [32]byte
}

func (s Share) String() string {
	return fmt.Sprintf("keyshare.Share(index %d, value redacted)", s.Index)
}

// GoString keeps %#v from printing the value.
func (s Share) GoString() string { return s.String() }

// Split divides k into p.N shares, any p.K of which recover it, and returns
// them with the commitments to publish. Coefficients and salts come from
// rand.
//
// The polynomial is kyber's: its constant term is the key's secret and its
// other p.K-1 coefficients are uniformly random scalars, so any p.K-1 shares
// are uniformly random and independent of the secret.
func (k *DataKey) Split(rand io.Reader, p Params) ([]Share, Commitments, error) {
	if !k.usable() {
		return nil, Commitments{}, invalidf("split: an empty DataKey; keys come from Seal or Combine")
	}
	if err := p.Validate(); err != nil {
		return nil, Commitments{}, fmt.Errorf("split %s: %w", k.ad, err)
	}
	coeffs := make([]kyber.Scalar, p.K)
	coeffs[0] = k.secret.Clone()
	for i := 1; i < p.K; i++ {
		c, err := randomScalar(rand)
		if err != nil {
			return nil, Commitments{}, fmt.Errorf("split %s: coefficient: %w", k.ad, err)
		}
		coeffs[i] = c
	}
	poly := share.CoefficientsToPriPoly(group, coeffs)

	c := Commitments{K: p.K, Shares: make([][32]byte, p.N)}
	shares := make([]Share, p.N)
	for i, ps := range poly.Shares(p.N) {
		v, err := encodeScalar(ps.V)
		if err != nil {
			return nil, Commitments{}, fmt.Errorf("split %s: share %d: %w", k.ad, i, err)
		}
		s := Share{Index: uint8(i), Value: v}
		if _, err := io.ReadFull(rand, s.Salt[:]); err != nil {
			return nil, Commitments{}, fmt.Errorf("split %s: salt: %w", k.ad, err)
		}
		shares[i] = s
		c.Shares[i] = shareCommitment(k.ad, p.N, p.K, s)
	}
	var err error
	if c.KeyCheck, err = k.keyCheck(); err != nil {
		return nil, Commitments{}, err
	}
	return shares, c, nil
}
