package keyshare

import (
	"bytes"
	"errors"
	"testing"
)

// Every decoder is fuzzed for the same two promises: no panic on any
// input, and whatever decodes encodes back to exactly the input.

func FuzzDecodeShare(f *testing.F) {
	s := sealAndSplit(f, "fuzz-share", testAD, DefaultParams(4))
	for _, sh := range s.shares {
		f.Add(sh.Encode())
	}
	f.Add([]byte{})
	f.Add(append([]byte{1, 0}, ell[:]...))
	f.Fuzz(func(t *testing.T, b []byte) {
		sh, err := DecodeShare(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if enc := sh.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", b, enc)
		}
	})
}

func FuzzDecodeSealedShare(f *testing.F) {
	s := sealAndSplit(f, "fuzz-sealed", testAD, DefaultParams(4))
	sealed, err := SealShare(testKey(f, validatorID(0)).PublicKey(), s.shares[0], custodyInfo(testAD, 0))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed.Encode())
	f.Add([]byte{1, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := DecodeSealedShare(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if enc := ss.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", b, enc)
		}
	})
}

// FuzzOpenShare mutates a real sealed share: anything that decodes either
// opens to the real share or fails with ErrUnseal, never a different share.
// It is slow per input (an ML-KEM decapsulation under coverage
// instrumentation), so it is kept apart from the decoder's target.
func FuzzOpenShare(f *testing.F) {
	s := sealAndSplit(f, "fuzz-open", testAD, DefaultParams(4))
	v := testKey(f, validatorID(0))
	info := custodyInfo(testAD, 0)
	sealed, err := SealShare(v.PublicKey(), s.shares[0], info)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sealed.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		ss, err := DecodeSealedShare(b)
		if err != nil {
			return
		}
		got, err := OpenShare(v, ss, info)
		if err == nil && got != s.shares[0] {
			t.Fatal("a mutated sealed share opened to another share")
		}
		if err != nil && !errors.Is(err, ErrUnseal) {
			t.Fatalf("open: %v, want ErrUnseal", err)
		}
	})
}

func FuzzDecodeCommitments(f *testing.F) {
	s := sealAndSplit(f, "fuzz-commitments", testAD, DefaultParams(7))
	f.Add(s.commitments.Encode())
	f.Add([]byte{1, 1, 1})
	f.Add([]byte{1, 255, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := DecodeCommitments(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if enc := c.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", b, enc)
		}
	})
}

func FuzzDecodeAnchor(f *testing.F) {
	s := sealAndSplit(f, "fuzz-anchor", testAD, DefaultParams(4))
	f.Add(NewAnchor(testAD, s.ciphertext, s.commitments).Encode())
	f.Add([]byte{1, 1, 'r', 1, 1, 'p'})
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := DecodeAnchor(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v does not wrap ErrMalformed", err)
			}
			return
		}
		if enc := a.Encode(); !bytes.Equal(enc, b) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", b, enc)
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("a decoded anchor fails Validate: %v", err)
		}
	})
}

// FuzzDecrypt feeds arbitrary ciphertexts to a fixed key: no panic, and
// only the real ciphertext decrypts.
func FuzzDecrypt(f *testing.F) {
	ct, key, err := Seal(testRand("fuzz-decrypt"), []byte("record"), testAD)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(ct)
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, b []byte) {
		pt, err := Decrypt(key, b, testAD)
		if err == nil && (!bytes.Equal(b, ct) || string(pt) != "record") {
			t.Fatalf("a forged ciphertext decrypted to %q", pt)
		}
		if err != nil && !errors.Is(err, ErrDecrypt) {
			t.Fatalf("%v, want ErrDecrypt", err)
		}
	})
}

// FuzzCombine hands Combine arbitrary shares, cut from the input in
// ShareSize pieces: whatever it is given, it either recovers the real key
// or fails, and never panics.
func FuzzCombine(f *testing.F) {
	s := sealAndSplit(f, "fuzz-combine", testAD, DefaultParams(7))
	var all []byte
	for _, sh := range s.shares {
		all = append(all, sh.Encode()...)
	}
	f.Add(all)
	f.Add(all[:3*ShareSize])
	f.Add(append(bytes.Clone(all[:2*ShareSize]), make([]byte, ShareSize)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var shares []Share
		for len(b) >= ShareSize && len(shares) < 16 {
			if sh, err := DecodeShare(b[:ShareSize]); err == nil {
				shares = append(shares, sh)
			}
			b = b[ShareSize:]
		}
		key, _, err := Combine(testAD, s.commitments, shares)
		if err == nil && !key.Equal(s.key) {
			t.Fatal("Combine recovered a key that is not the record's")
		}
	})
}
