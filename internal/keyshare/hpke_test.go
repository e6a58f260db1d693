package keyshare

import (
	"crypto/ecdh"
	"crypto/hpke"
	"errors"
	"slices"
	"testing"
)

func TestSealOpenShare(t *testing.T) {
	s := sealAndSplit(t, "hpke", testAD, DefaultParams(4))
	for i, sh := range s.shares {
		v := testKey(t, validatorID(i))
		info := custodyInfo(testAD, i)
		sealed, err := SealShare(v.PublicKey(), sh, info)
		if err != nil {
			t.Fatal(err)
		}
		enc := sealed.Encode()
		if len(enc) != SealedShareSize {
			t.Fatalf("sealed share is %d bytes; SealedShareSize is %d", len(enc), SealedShareSize)
		}
		dec, err := DecodeSealedShare(enc)
		if err != nil {
			t.Fatal(err)
		}
		got, err := OpenShare(v, dec, info)
		if err != nil {
			t.Fatal(err)
		}
		if got != sh {
			t.Fatalf("share %d changed through seal and open", i)
		}
	}
}

func TestReleaseToReader(t *testing.T) {
	s := sealAndSplit(t, "release", testAD, DefaultParams(4))
	v := testKey(t, validatorID(1))
	reader := testKey(t, "reader")
	custody := custodyInfo(testAD, 1)
	release := releaseInfo(testAD, 1, "ccreader", 42)
	kept, err := SealShare(v.PublicKey(), s.shares[1], custody)
	if err != nil {
		t.Fatal(err)
	}
	released, err := Reseal(v, kept, custody, reader.PublicKey(), release)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenReleased(reader, released, release)
	if err != nil {
		t.Fatal(err)
	}
	if got != s.shares[1] {
		t.Fatal("released share differs from the one kept")
	}

	// A release does not open as custody, nor custody as a release, even
	// for the right key and otherwise identical fields.
	if _, err := OpenShare(reader, released, ShareInfo{ChainID: release.ChainID, RecordID: release.RecordID,
		Version: release.Version, Index: release.Index, Recipient: release.Recipient}); !errors.Is(err, ErrUnseal) {
		t.Fatalf("release opened as custody: %v", err)
	}
	if _, err := OpenReleased(v, kept, custody); !errors.Is(err, ErrUnseal) {
		t.Fatalf("custody opened as release: %v", err)
	}
	// The release names its audit event.
	other := release
	other.AuditSeq = 43
	if _, err := OpenReleased(reader, released, other); !errors.Is(err, ErrUnseal) {
		t.Fatalf("release opened for another audit event: %v", err)
	}
	// Audit event 0 is a real event and releases for it work too.
	zero := release
	zero.AuditSeq = 0
	if r, err := Reseal(v, kept, custody, reader.PublicKey(), zero); err != nil {
		t.Fatal(err)
	} else if _, err := OpenReleased(reader, r, zero); err != nil {
		t.Fatal(err)
	}
}

func TestResealRefusesMismatchedRelease(t *testing.T) {
	s := sealAndSplit(t, "reseal-mismatch", testAD, DefaultParams(4))
	v := testKey(t, validatorID(0))
	reader := testKey(t, "reader")
	custody := custodyInfo(testAD, 0)
	kept, err := SealShare(v.PublicKey(), s.shares[0], custody)
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*ShareInfo){
		"chain":   func(in *ShareInfo) { in.ChainID = "other-chain" },
		"record":  func(in *ShareInfo) { in.RecordID = "rec-0002" },
		"version": func(in *ShareInfo) { in.Version = 2 },
		"index":   func(in *ShareInfo) { in.Index = 1 },
	} {
		release := releaseInfo(testAD, 0, "ccreader", 7)
		change(&release)
		if _, err := Reseal(v, kept, custody, reader.PublicKey(), release); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestOpenShareRefusesWrongContext(t *testing.T) {
	s := sealAndSplit(t, "wrong-info", testAD, DefaultParams(4))
	v := testKey(t, validatorID(2))
	info := custodyInfo(testAD, 2)
	sealed, err := SealShare(v.PublicKey(), s.shares[2], info)
	if err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*ShareInfo){
		"chain":     func(in *ShareInfo) { in.ChainID = "other-chain" },
		"record":    func(in *ShareInfo) { in.RecordID = "rec-0002" },
		"version":   func(in *ShareInfo) { in.Version = 2 },
		"recipient": func(in *ShareInfo) { in.Recipient = "ccsomeoneelse" },
		"index":     func(in *ShareInfo) { in.Index = 3 },
	} {
		wrong := info
		change(&wrong)
		if _, err := OpenShare(v, sealed, wrong); !errors.Is(err, ErrUnseal) {
			t.Errorf("%s: %v, want ErrUnseal", name, err)
		}
	}
	// Relabelling the clear index does not help either.
	moved := SealedShare{Index: 3, Ciphertext: sealed.Ciphertext}
	if _, err := OpenShare(v, moved, custodyInfo(testAD, 3)); !errors.Is(err, ErrUnseal) {
		t.Errorf("relabelled index: %v, want ErrUnseal", err)
	}
	if _, err := OpenShare(testKey(t, validatorID(3)), sealed, info); !errors.Is(err, ErrUnseal) {
		t.Errorf("another validator's key: %v, want ErrUnseal", err)
	}
	for i := 0; i < len(sealed.Ciphertext); i += 97 {
		bad := SealedShare{Index: sealed.Index, Ciphertext: slices.Clone(sealed.Ciphertext)}
		bad.Ciphertext[i] ^= 0x04
		if _, err := OpenShare(v, bad, info); !errors.Is(err, ErrUnseal) {
			t.Errorf("byte %d flipped: %v, want ErrUnseal", i, err)
		}
	}
	for _, n := range []int{0, 1, hpkeEncSize, len(sealed.Ciphertext) - 1} {
		short := SealedShare{Index: sealed.Index, Ciphertext: sealed.Ciphertext[:n]}
		if _, err := OpenShare(v, short, info); !errors.Is(err, ErrUnseal) {
			t.Errorf("ciphertext truncated to %d: %v, want ErrUnseal", n, err)
		}
	}
}

func TestShareSealingValidates(t *testing.T) {
	s := sealAndSplit(t, "hpke-validate", testAD, DefaultParams(4))
	v := testKey(t, validatorID(0))
	good := custodyInfo(testAD, 0)
	for name, change := range map[string]func(*ShareInfo){
		"no chain":           func(in *ShareInfo) { in.ChainID = "" },
		"no record":          func(in *ShareInfo) { in.RecordID = "" },
		"version 0":          func(in *ShareInfo) { in.Version = 0 },
		"no recipient":       func(in *ShareInfo) { in.Recipient = "" },
		"spaces":             func(in *ShareInfo) { in.Recipient = "a b" },
		"audit in custody":   func(in *ShareInfo) { in.AuditSeq = 1 },
		"index out of range": func(in *ShareInfo) { in.Index = 255 },
		"index not share's":  func(in *ShareInfo) { in.Index = 1 },
	} {
		info := good
		change(&info)
		if _, err := SealShare(v.PublicKey(), s.shares[0], info); !errors.Is(err, ErrInvalid) {
			t.Errorf("seal, %s: %v, want ErrInvalid", name, err)
		}
	}
	// A key of another HPKE suite is refused rather than used.
	x, err := ecdh.X25519().NewPrivateKey(testKeyIKM("x25519"))
	if err != nil {
		t.Fatal(err)
	}
	classic, err := hpke.NewDHKEMPrivateKey(x)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := SealShare(classic.PublicKey(), s.shares[0], good); !errors.Is(err, ErrInvalid) {
		t.Errorf("X25519-only key: %v, want ErrInvalid", err)
	}
	if _, err := SealShare(nil, s.shares[0], good); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil key: %v, want ErrInvalid", err)
	}
	if _, err := OpenShare(nil, SealedShare{}, good); !errors.Is(err, ErrInvalid) {
		t.Errorf("open with nil key: %v, want ErrInvalid", err)
	}
	if _, err := OpenShare(classic, SealedShare{}, good); !errors.Is(err, ErrInvalid) {
		t.Errorf("open with X25519-only key: %v, want ErrInvalid", err)
	}
}

// TestLifecycle runs a whole write and read with four validators, one of
// them Byzantine: seal, split, anchor, custody, release, combine, decrypt.
func TestLifecycle(t *testing.T) {
	const n = 4
	rnd := testRand("lifecycle")
	plaintext := []byte(`{"resourceType":"Observation","status":"final"}`)
	ct, key, err := Seal(rnd, plaintext, testAD)
	if err != nil {
		t.Fatal(err)
	}
	shares, c, err := key.Split(rnd, DefaultParams(n))
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := DecodeAnchor(NewAnchor(testAD, ct, c).Encode()) // through the ledger
	if err != nil {
		t.Fatal(err)
	}
	stored := make([][]byte, n) // each validator's share store
	for i := range n {
		sealed, err := SealShare(testKey(t, validatorID(i)).PublicKey(), shares[i], custodyInfo(testAD, i))
		if err != nil {
			t.Fatal(err)
		}
		stored[i] = sealed.Encode()
	}

	reader := testKey(t, "reader")
	const auditSeq = 1234
	var got []Share
	for i := range n {
		v := testKey(t, validatorID(i))
		sealed, err := DecodeSealedShare(stored[i])
		if err != nil {
			t.Fatal(err)
		}
		release := releaseInfo(anchor.Record, i, "ccreader", auditSeq)
		out, err := Reseal(v, sealed, custodyInfo(anchor.Record, i), reader.PublicKey(), release)
		if err != nil {
			t.Fatal(err)
		}
		sh, err := OpenReleased(reader, out, release)
		if err != nil {
			t.Fatal(err)
		}
		if i == 3 { // validator 3 is Byzantine: it lies about its share
			sh.Value[0] ^= 0xff
		}
		got = append(got, sh)
	}
	if err := anchor.CheckCiphertext(ct); err != nil {
		t.Fatal(err)
	}
	k, bad, err := Combine(anchor.Record, anchor.Commitments, got)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(bad, []int{3}) {
		t.Fatalf("bad = %v, want [3]", bad)
	}
	pt, err := Decrypt(k, ct, anchor.Record)
	if err != nil || string(pt) != string(plaintext) {
		t.Fatalf("decrypt: %q, %v", pt, err)
	}
	tampered := slices.Clone(ct)
	tampered[len(tampered)-1] ^= 1
	if err := anchor.CheckCiphertext(tampered); !errors.Is(err, ErrCiphertextHash) {
		t.Fatalf("tampered ciphertext: %v, want ErrCiphertextHash", err)
	}
}
