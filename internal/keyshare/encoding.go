package keyshare

import (
	"fmt"

	"github.com/carechain/carechain/internal/codec"
)

// Wire formats, all package codec, all starting with a format byte so a
// later format can be told apart. Decoders accept exactly what the encoders
// produce.
//
//	Share        1 | index(1) | value(32) | salt(32)                   66 bytes
//	SealedShare  1 | index(1) | HPKE enc(1120) | AEAD(66+16)         1204 bytes
//	Commitments  1 | N(1) | K(1) | N × hash(32) | key check(32)
//	Anchor       1 | record id | version | patient | SHA-256(ciphertext)(32) | Commitments
const (
	shareFormat       = 1
	sealedShareFormat = 1
	commitmentsFormat = 1
	anchorFormat      = 1

	// ShareSize is the size of an encoded Share.
	ShareSize = 2 + ScalarSize + 32
	// hpkeEncSize is the encapsulated key of ML-KEM-768+X25519: an ML-KEM-768
	// ciphertext (1088 bytes) and an X25519 public key (32).
	hpkeEncSize = 1088 + 32
	// SealedShareSize is the size of an encoded SealedShare.
	SealedShareSize = 2 + hpkeEncSize + ShareSize + 16
)

// Encode returns the canonical encoding of s.
func (s Share) Encode() []byte {
	w := codec.NewWriter(ShareSize)
	w.Byte(shareFormat)
	w.Byte(s.Index)
	w.Fixed(s.Value[:])
	w.Fixed(s.Salt[:])
	return w.Bytes()
}

// DecodeShare parses an encoded Share. The value must be a canonical
// scalar and the index below MaxShares.
func DecodeShare(b []byte) (Share, error) {
	r := codec.NewReader(b)
	readFormat(r, "share", shareFormat)
	var s Share
	s.Index = readIndex(r)
	copy(s.Value[:], r.Fixed(ScalarSize))
	copy(s.Salt[:], r.Fixed(32))
	if r.Err() == nil {
		if _, ok := decodeScalar(s.Value); !ok {
			r.Fail("share value is not a canonical scalar")
		}
	}
	if err := r.Done(); err != nil {
		return Share{}, fmt.Errorf("decode share: %w", err)
	}
	return s, nil
}

// Encode returns the canonical encoding of s.
func (s SealedShare) Encode() []byte {
	w := codec.NewWriter(SealedShareSize)
	w.Byte(sealedShareFormat)
	w.Byte(s.Index)
	w.Fixed(s.Ciphertext)
	return w.Bytes()
}

// DecodeSealedShare parses an encoded SealedShare. Its size is fixed by the
// HPKE suite, so a truncated or padded one is refused before any
// decryption is tried.
func DecodeSealedShare(b []byte) (SealedShare, error) {
	r := codec.NewReader(b)
	readFormat(r, "sealed share", sealedShareFormat)
	s := SealedShare{Index: readIndex(r)}
	if r.Err() == nil && len(b) != SealedShareSize {
		r.Fail("sealed share is %d bytes, want %d", len(b), SealedShareSize)
	}
	s.Ciphertext = r.Fixed(SealedShareSize - 2)
	if err := r.Done(); err != nil {
		return SealedShare{}, fmt.Errorf("decode sealed share: %w", err)
	}
	return s, nil
}

// Encode returns the canonical encoding of c.
func (c Commitments) Encode() []byte {
	w := codec.NewWriter(3 + 32*(c.N()+1))
	c.write(w)
	return w.Bytes()
}

// write encodes c. N and K are single bytes; a Commitments that fails
// validate (N or K out of range) cannot be encoded faithfully, so callers
// produce commitments only through Split or a decoder.
func (c Commitments) write(w *codec.Writer) {
	w.Byte(commitmentsFormat)
	w.Byte(byte(c.N()))
	w.Byte(byte(c.K))
	for _, h := range c.Shares {
		w.Fixed(h[:])
	}
	w.Fixed(c.KeyCheck[:])
}

// DecodeCommitments parses encoded Commitments: 1 ≤ K ≤ N ≤ MaxShares.
// K = 1 with N ≥ 2 is accepted: whether it was allowed is the writer's
// policy, and the reader still needs the key.
func DecodeCommitments(b []byte) (Commitments, error) {
	r := codec.NewReader(b)
	c := readCommitments(r)
	if err := r.Done(); err != nil {
		return Commitments{}, fmt.Errorf("decode commitments: %w", err)
	}
	return c, nil
}

func readCommitments(r *codec.Reader) Commitments {
	readFormat(r, "commitments", commitmentsFormat)
	n, k := int(r.Byte()), int(r.Byte())
	if r.Err() != nil {
		return Commitments{}
	}
	c := Commitments{K: k, Shares: make([][32]byte, n)}
	if err := c.validate(); err != nil {
		r.Fail("%v", err)
		return Commitments{}
	}
	for i := range c.Shares {
		copy(c.Shares[i][:], r.Fixed(32))
	}
	copy(c.KeyCheck[:], r.Fixed(32))
	return c
}

// Encode returns the canonical encoding of a.
func (a Anchor) Encode() []byte {
	w := codec.NewWriter(1 + 2*MaxIDLen + 12 + 32 + 3 + 32*(a.Commitments.N()+1))
	w.Byte(anchorFormat)
	a.Record.write(w)
	w.Fixed(a.CiphertextHash[:])
	a.Commitments.write(w)
	return w.Bytes()
}

// DecodeAnchor parses an encoded Anchor.
func DecodeAnchor(b []byte) (Anchor, error) {
	r := codec.NewReader(b)
	readFormat(r, "anchor", anchorFormat)
	var a Anchor
	a.Record = readAssociatedData(r)
	copy(a.CiphertextHash[:], r.Fixed(32))
	a.Commitments = readCommitments(r)
	if err := r.Done(); err != nil {
		return Anchor{}, fmt.Errorf("decode anchor: %w", err)
	}
	return a, nil
}

func readFormat(r *codec.Reader, what string, want byte) {
	if v := r.Byte(); r.Err() == nil && v != want {
		r.Fail("%s format %d; this code reads format %d", what, v, want)
	}
}

func readIndex(r *codec.Reader) uint8 {
	i := r.Byte()
	if r.Err() == nil && int(i) >= MaxShares {
		r.Fail("share index %d; at most %d", i, MaxShares-1)
	}
	return i
}
