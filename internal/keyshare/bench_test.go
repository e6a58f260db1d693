package keyshare

import (
	"crypto/rand"
	"fmt"
	"testing"
)

// A typical FHIR resource is a few kilobytes.
var benchPlaintext = make([]byte, 4<<10)

func BenchmarkSealSplit(b *testing.B) {
	for _, n := range []int{4, 7, 10} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			p := DefaultParams(n)
			b.SetBytes(int64(len(benchPlaintext)))
			for b.Loop() {
				_, key, err := Seal(rand.Reader, benchPlaintext, testAD)
				if err != nil {
					b.Fatal(err)
				}
				if _, _, err := key.Split(rand.Reader, p); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCombine verifies all n shares, as a reader that heard from every
// validator does, and interpolates K of them.
func BenchmarkCombine(b *testing.B) {
	for _, n := range []int{4, 7, 10} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			s := sealAndSplit(b, "bench-combine", testAD, DefaultParams(n))
			for b.Loop() {
				if _, _, err := Combine(testAD, s.commitments, s.shares); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecrypt(b *testing.B) {
	ct, key, err := Seal(rand.Reader, benchPlaintext, testAD)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchPlaintext)))
	for b.Loop() {
		if _, err := Decrypt(key, ct, testAD); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSealShare(b *testing.B) {
	s := sealAndSplit(b, "bench-hpke", testAD, DefaultParams(4))
	pub := testKey(b, validatorID(0)).PublicKey()
	info := custodyInfo(testAD, 0)
	for b.Loop() {
		if _, err := SealShare(pub, s.shares[0], info); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkOpenShare(b *testing.B) {
	s := sealAndSplit(b, "bench-hpke", testAD, DefaultParams(4))
	v := testKey(b, validatorID(0))
	info := custodyInfo(testAD, 0)
	sealed, err := SealShare(v.PublicKey(), s.shares[0], info)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := OpenShare(v, sealed, info); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReseal is a validator's whole cost of releasing one share.
func BenchmarkReseal(b *testing.B) {
	s := sealAndSplit(b, "bench-hpke", testAD, DefaultParams(4))
	v := testKey(b, validatorID(0))
	reader := testKey(b, "reader").PublicKey()
	custody := custodyInfo(testAD, 0)
	release := releaseInfo(testAD, 0, "ccreader", 1)
	sealed, err := SealShare(v.PublicKey(), s.shares[0], custody)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Reseal(v, sealed, custody, reader, release); err != nil {
			b.Fatal(err)
		}
	}
}
