package keyshare

import (
	"bytes"
	"errors"
	"testing"
)

// ell is the edwards25519 group order ℓ, little-endian: the smallest
// non-canonical scalar encoding.
var ell = [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}

func TestEncodingsRoundTrip(t *testing.T) {
	s := sealAndSplit(t, "encodings", testAD, DefaultParams(7))
	for _, sh := range s.shares {
		enc := sh.Encode()
		if len(enc) != ShareSize {
			t.Fatalf("share encodes to %d bytes, want %d", len(enc), ShareSize)
		}
		got, err := DecodeShare(enc)
		if err != nil || got != sh {
			t.Fatalf("share %d: %v", sh.Index, err)
		}
	}
	enc := s.commitments.Encode()
	c, err := DecodeCommitments(enc)
	if err != nil || !bytes.Equal(c.Encode(), enc) || c.K != s.commitments.K || c.KeyCheck != s.commitments.KeyCheck {
		t.Fatalf("commitments: %v", err)
	}
	a := NewAnchor(testAD, s.ciphertext, s.commitments)
	if err := a.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := DecodeAnchor(a.Encode())
	if err != nil || !bytes.Equal(got.Encode(), a.Encode()) || got.Record != testAD || got.CiphertextHash != a.CiphertextHash {
		t.Fatalf("anchor: %v", err)
	}
	if err := got.CheckCiphertext(s.ciphertext); err != nil {
		t.Fatal(err)
	}
}

func TestDecodersAreStrict(t *testing.T) {
	s := sealAndSplit(t, "strict", testAD, DefaultParams(4))
	share := s.shares[1].Encode()
	sealed := SealedShare{Index: 1, Ciphertext: make([]byte, SealedShareSize-2)}.Encode()
	comm := s.commitments.Encode()
	anchor := NewAnchor(testAD, s.ciphertext, s.commitments).Encode()

	with := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	set := func(i int, v byte) func([]byte) []byte { return func(b []byte) []byte { b[i] = v; return b } }
	for name, tc := range map[string]struct {
		decode func([]byte) error
		in     []byte
	}{
		"share empty":             {decodeShareErr, nil},
		"share truncated":         {decodeShareErr, share[:ShareSize-1]},
		"share trailing":          {decodeShareErr, append(bytes.Clone(share), 0)},
		"share format 2":          {decodeShareErr, with(share, set(0, 2))},
		"share index 255":         {decodeShareErr, with(share, set(1, 255))},
		"share value ℓ":           {decodeShareErr, with(share, func(b []byte) []byte { copy(b[2:], ell[:]); return b })},
		"share value all ones":    {decodeShareErr, with(share, func(b []byte) []byte { copy(b[2:], bytes.Repeat([]byte{0xff}, 32)); return b })},
		"sealed truncated":        {decodeSealedErr, sealed[:len(sealed)-1]},
		"sealed trailing":         {decodeSealedErr, append(bytes.Clone(sealed), 0)},
		"sealed format 0":         {decodeSealedErr, with(sealed, set(0, 0))},
		"sealed index 255":        {decodeSealedErr, with(sealed, set(1, 255))},
		"sealed header only":      {decodeSealedErr, sealed[:2]},
		"commitments N 0":         {decodeCommitmentsErr, []byte{1, 0, 0}},
		"commitments K 0":         {decodeCommitmentsErr, with(comm, set(2, 0))},
		"commitments K above N":   {decodeCommitmentsErr, with(comm, set(2, 5))},
		"commitments N 255 short": {decodeCommitmentsErr, with(comm, set(1, 255))},
		"commitments truncated":   {decodeCommitmentsErr, comm[:len(comm)-1]},
		"commitments trailing":    {decodeCommitmentsErr, append(bytes.Clone(comm), 0)},
		"anchor trailing":         {decodeAnchorErr, append(bytes.Clone(anchor), 0)},
		"anchor truncated":        {decodeAnchorErr, anchor[:len(anchor)-1]},
		"anchor format 2":         {decodeAnchorErr, with(anchor, set(0, 2))},
		"anchor version 0": {decodeAnchorErr, NewAnchor(AssociatedData{RecordID: "r", Version: 0, Patient: "p"},
			nil, s.commitments).Encode()},
		"anchor empty patient": {decodeAnchorErr, NewAnchor(AssociatedData{RecordID: "r", Version: 1},
			nil, s.commitments).Encode()},
	} {
		if err := tc.decode(tc.in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
}

func decodeShareErr(b []byte) error       { _, err := DecodeShare(b); return err }
func decodeSealedErr(b []byte) error      { _, err := DecodeSealedShare(b); return err }
func decodeCommitmentsErr(b []byte) error { _, err := DecodeCommitments(b); return err }
func decodeAnchorErr(b []byte) error      { _, err := DecodeAnchor(b); return err }

func TestCanonicalScalar(t *testing.T) {
	var max = ell
	max[0]-- // ℓ-1, the largest canonical scalar
	if _, ok := decodeScalar(max); !ok {
		t.Fatal("ℓ-1 refused")
	}
	if _, ok := decodeScalar(ell); ok {
		t.Fatal("ℓ accepted")
	}
	if _, ok := decodeScalar([32]byte{}); !ok {
		t.Fatal("0 refused")
	}
}
