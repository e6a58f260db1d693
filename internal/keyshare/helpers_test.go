package keyshare

import (
	"crypto/hpke"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/carechain/carechain/internal/tx"
)

// testRand is a reproducible randomness source: a ChaCha8 stream keyed by
// SHA-256 of label.
func testRand(label string) io.Reader {
	return rand.NewChaCha8(sha256.Sum256([]byte("carechain/keyshare/test-rand/" + label)))
}

// testKey derives an HPKE key pair deterministically, the way the tx
// package's vectors do.
func testKey(t testing.TB, label string) hpke.PrivateKey {
	t.Helper()
	priv, err := tx.HPKE.DeriveKeyPair(testKeyIKM(label))
	if err != nil {
		t.Fatalf("derive HPKE key %q: %v", label, err)
	}
	return priv
}

func testKeyIKM(label string) []byte {
	ikm := sha256.Sum256([]byte("carechain/test-key/hpke/" + label))
	return ikm[:]
}

const testChain = "carechain-test"

var testAD = AssociatedData{RecordID: "rec-0001", Version: 1, Patient: "ccpatient0001"}

// sealed is one record sealed and split under a reproducible stream.
type sealed struct {
	ad          AssociatedData
	plaintext   []byte
	ciphertext  []byte
	key         *DataKey
	shares      []Share
	commitments Commitments
}

func sealAndSplit(t testing.TB, label string, ad AssociatedData, p Params) sealed {
	t.Helper()
	rnd := testRand(label)
	pt := []byte(`{"resourceType":"Observation","id":"` + label + `"}`)
	ct, key, err := Seal(rnd, pt, ad)
	if err != nil {
		t.Fatalf("Seal: %v", err)
	}
	shares, c, err := key.Split(rnd, p)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	return sealed{ad: ad, plaintext: pt, ciphertext: ct, key: key, shares: shares, commitments: c}
}

func custodyInfo(ad AssociatedData, i int) ShareInfo {
	return ShareInfo{ChainID: testChain, RecordID: ad.RecordID, Version: ad.Version, Index: uint8(i),
		Recipient: validatorID(i)}
}

func releaseInfo(ad AssociatedData, i int, reader string, seq uint64) ShareInfo {
	return ShareInfo{ChainID: testChain, RecordID: ad.RecordID, Version: ad.Version, Index: uint8(i),
		Recipient: reader, AuditSeq: seq}
}

func validatorID(i int) string {
	return "ccvalidator" + string(rune('a'+i%26)) + string(rune('a'+i/26))
}

// subsets calls fn with every subset of {0..n-1} of size k, as indexes.
func subsets(n, k int, fn func([]int)) {
	idx := make([]int, k)
	var rec func(start, depth int)
	rec = func(start, depth int) {
		if depth == k {
			fn(idx)
			return
		}
		for i := start; i <= n-(k-depth); i++ {
			idx[depth] = i
			rec(i+1, depth+1)
		}
	}
	rec(0, 0)
}

func pick(shares []Share, idx []int) []Share {
	out := make([]Share, len(idx))
	for j, i := range idx {
		out[j] = shares[i]
	}
	return out
}
