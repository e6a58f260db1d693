package keyshare

import (
	"bytes"
	"fmt"
	"io"

	"go.dedis.ch/kyber/v4"
	"go.dedis.ch/kyber/v4/group/edwards25519"
)

// group is the edwards25519 group; only its scalar field (integers modulo
// the prime order ℓ ≈ 2^252) is used, as the field Shamir's polynomial lives
// in.
var group kyber.Group = edwards25519.NewBlakeSHA256Ed25519()

// ScalarSize is the size of an encoded scalar: 32 bytes, little-endian,
// fully reduced modulo ℓ.
const ScalarSize = 32

// randomScalar draws a uniformly random scalar from rand: 64 bytes reduced
// modulo ℓ, whose bias from uniform is below 2^-250. kyber's own Pick takes a
// cipher.Stream, which cannot report a failing source and loops forever on
// one that returns zeros, so the bytes are read here where errors surface.
func randomScalar(rand io.Reader) (kyber.Scalar, error) {
	var wide [64]byte
	if _, err := io.ReadFull(rand, wide[:]); err != nil {
		return nil, fmt.Errorf("read randomness: %w", err)
	}
	s := group.Scalar().SetBytes(wide[:])
	clear(wide[:])
	return s, nil
}

// encodeScalar returns the canonical 32-byte encoding of s. kyber's
// edwards25519 scalars always marshal to 32 bytes; the error is checked so a
// different build of the library fails loudly instead of truncating.
func encodeScalar(s kyber.Scalar) ([ScalarSize]byte, error) {
	var out [ScalarSize]byte
	b, err := s.MarshalBinary()
	if err == nil && len(b) != ScalarSize {
		err = fmt.Errorf("%d bytes, want %d", len(b), ScalarSize)
	}
	if err != nil {
		return out, fmt.Errorf("encode scalar: %w", err)
	}
	copy(out[:], b)
	return out, nil
}

// decodeScalar accepts only a canonical encoding: kyber's UnmarshalBinary
// would take an unreduced value, and two encodings of one share would break
// decode-then-encode.
func decodeScalar(b [ScalarSize]byte) (kyber.Scalar, bool) {
	s := group.Scalar().SetBytes(b[:])
	enc, err := encodeScalar(s)
	return s, err == nil && bytes.Equal(enc[:], b[:])
}
