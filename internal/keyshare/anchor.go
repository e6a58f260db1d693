package keyshare

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// Anchor is the key material a record version puts on the ledger: which
// record it is, the hash of its ciphertext (so a blob from any node can be
// checked) and the commitments to its key shares (so a share from any
// validator can be checked). It holds nothing secret. The records index
// adds what consent needs (resource type, security labels) beside it.
type Anchor struct {
	Record         AssociatedData
	CiphertextHash [32]byte
	Commitments    Commitments
}

// NewAnchor returns the anchor for a sealed and split record version.
func NewAnchor(ad AssociatedData, ciphertext []byte, c Commitments) Anchor {
	return Anchor{Record: ad, CiphertextHash: sha256.Sum256(ciphertext), Commitments: c}
}

// Validate checks the record fields and the commitments' N and K, the
// rules DecodeAnchor enforces.
func (a Anchor) Validate() error {
	if err := a.Record.Validate(); err != nil {
		return fmt.Errorf("anchor: %w", err)
	}
	if err := a.Commitments.validate(); err != nil {
		return fmt.Errorf("anchor of %s: %w", a.Record, err)
	}
	return nil
}

// CheckCiphertext reports whether ciphertext is the one a was made for.
func (a Anchor) CheckCiphertext(ciphertext []byte) error {
	h := sha256.Sum256(ciphertext)
	if subtle.ConstantTimeCompare(h[:], a.CiphertextHash[:]) != 1 {
		return fmt.Errorf("%s: %w: got %x, want %x", a.Record, ErrCiphertextHash, h[:8], a.CiphertextHash[:8])
	}
	return nil
}
