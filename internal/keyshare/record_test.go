package keyshare

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestSealDecryptRoundTrip(t *testing.T) {
	for _, size := range []int{0, 1, 15, 16, 17, 4096} {
		pt := bytes.Repeat([]byte{'x'}, size)
		ct, key, err := Seal(testRand(fmt.Sprint("rt", size)), pt, testAD)
		if err != nil {
			t.Fatal(err)
		}
		if len(ct) != len(pt)+CiphertextOverhead {
			t.Fatalf("%d-byte plaintext: %d-byte ciphertext, want %d", size, len(ct), len(pt)+CiphertextOverhead)
		}
		got, err := Decrypt(key, ct, testAD)
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: round trip changed the plaintext", size)
		}
	}
}

func TestSealIsFreshEachTime(t *testing.T) {
	rnd := testRand("fresh")
	ct1, k1, err := Seal(rnd, []byte("same"), testAD)
	if err != nil {
		t.Fatal(err)
	}
	ct2, k2, err := Seal(rnd, []byte("same"), testAD)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Equal(k2) || bytes.Equal(ct1, ct2) {
		t.Fatal("two seals of the same record drew the same key or ciphertext")
	}
}

func TestDecryptRefusesOtherRecords(t *testing.T) {
	ct, key, err := Seal(testRand("ad"), []byte("FHIR"), testAD)
	if err != nil {
		t.Fatal(err)
	}
	others := map[string]AssociatedData{
		"record":  {RecordID: "rec-0002", Version: testAD.Version, Patient: testAD.Patient},
		"version": {RecordID: testAD.RecordID, Version: 2, Patient: testAD.Patient},
		"patient": {RecordID: testAD.RecordID, Version: testAD.Version, Patient: "ccpatient0002"},
	}
	for name, other := range others {
		t.Run(name, func(t *testing.T) {
			if _, err := Decrypt(key, ct, other); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Decrypt with the key's record but claimed %s: %v, want ErrDecrypt", other, err)
			}
			// The same secret relabelled for the other record derives
			// another AES key and authenticates other associated data.
			moved := &DataKey{secret: key.secret, ad: other}
			if _, err := Decrypt(moved, ct, other); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Decrypt as %s: %v, want ErrDecrypt", other, err)
			}
		})
	}
}

func TestDecryptRefusesDamage(t *testing.T) {
	ct, key, err := Seal(testRand("damage"), []byte("FHIR resource"), testAD)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ct {
		bad := bytes.Clone(ct)
		bad[i] ^= 0x01
		if _, err := Decrypt(key, bad, testAD); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("byte %d flipped: %v, want ErrDecrypt", i, err)
		}
	}
	for _, n := range []int{0, 1, CiphertextOverhead - 1, len(ct) - 1} {
		if _, err := Decrypt(key, ct[:n], testAD); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("truncated to %d: %v, want ErrDecrypt", n, err)
		}
	}
	if _, err := Decrypt(key, append(bytes.Clone(ct), 0), testAD); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("trailing byte: %v, want ErrDecrypt", err)
	}
	_, other, err := Seal(testRand("damage-other"), nil, testAD)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Decrypt(other, ct, testAD); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("another key: %v, want ErrDecrypt", err)
	}
	if _, err := Decrypt(nil, ct, testAD); !errors.Is(err, ErrInvalid) {
		t.Fatalf("nil key: %v, want ErrInvalid", err)
	}
	if _, err := Decrypt(&DataKey{ad: testAD}, ct, testAD); !errors.Is(err, ErrInvalid) {
		t.Fatalf("zero key: %v, want ErrInvalid", err)
	}
	if _, _, err := (&DataKey{}).Split(testRand("zero"), DefaultParams(4)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("splitting a zero key: %v, want ErrInvalid", err)
	}
	if (&DataKey{}).Equal(&DataKey{}) || key.Equal(nil) {
		t.Fatal("empty keys compare equal")
	}
}

func TestSealValidatesRecord(t *testing.T) {
	bad := []AssociatedData{
		{},
		{RecordID: "r", Version: 0, Patient: "p"},
		{RecordID: "", Version: 1, Patient: "p"},
		{RecordID: "r", Version: 1, Patient: ""},
		{RecordID: "r r", Version: 1, Patient: "p"},
		{RecordID: strings.Repeat("r", MaxIDLen+1), Version: 1, Patient: "p"},
		{RecordID: "r", Version: 1, Patient: "pé"},
	}
	for _, ad := range bad {
		if _, _, err := Seal(testRand("v"), nil, ad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Seal for %+v: %v, want ErrInvalid", ad, err)
		}
	}
}

func TestSealReportsRandomnessFailure(t *testing.T) {
	for _, n := range []int{0, 10, 64, 70} { // fails in the scalar, then in the nonce
		_, _, err := Seal(bytes.NewReader(make([]byte, n)), nil, testAD)
		if err == nil || !strings.Contains(err.Error(), "EOF") {
			t.Fatalf("randomness of %d bytes: %v, want an EOF error", n, err)
		}
	}
	_, key, err := Seal(testRand("short"), nil, testAD)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 63, 64 + 31} { // fails in a coefficient, then in a salt
		if _, _, err := key.Split(bytes.NewReader(make([]byte, n)), Params{N: 4, K: 2}); err == nil || !strings.Contains(err.Error(), "EOF") {
			t.Fatalf("split with %d bytes of randomness: %v, want an EOF error", n, err)
		}
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	s := sealAndSplit(t, "print", testAD, DefaultParams(4))
	secret, err := encodeScalar(s.key.secret)
	if err != nil {
		t.Fatal(err)
	}
	sh := s.shares[0]
	out := fmt.Sprintf("%v %+v %#v %s %v %+v %#v %v", s.key, s.key, s.key, *s.key, *s.key, sh, sh, s.shares)
	for _, leak := range [][]byte{secret[:], sh.Value[:], sh.Salt[:]} {
		for _, enc := range []string{fmt.Sprintf("%x", leak), fmt.Sprintf("%d", leak[:4])} {
			if strings.Contains(out, strings.Trim(enc, "[]")) {
				t.Fatalf("formatted output leaks secret material %s:\n%s", enc, out)
			}
		}
	}
}
