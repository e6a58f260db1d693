package keyshare

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"github.com/carechain/carechain/internal/tx"
)

// vectorsPath holds golden vectors for record keys, good and broken, for
// carechain and for other implementations (a browser portal will combine
// shares and decrypt). Regenerate with:
//
//	go test ./internal/keyshare -run TestGolden -update
//
// Records, combinations and decodings are deterministic: they are
// recomputed from their ChaCha8 seeds (math/rand/v2, c2sp.org/chacha8rand)
// and must match byte for byte. Sealed shares are not: crypto/hpke draws
// its own randomness, so -update seals them afresh, and the check is that
// each stored sealed share, opened with its recipient's key (derived with
// tx.HPKE.DeriveKeyPair from key_ikm) and its info, gives the stored share
// or the stored failure.
const vectorsPath = "testdata/vectors.json"

var update = flag.Bool("update", false, "rewrite "+vectorsPath)

type vectorFile struct {
	Comment string          `json:"comment"`
	Records []recordVector  `json:"records"`
	Combine []combineVector `json:"combine"`
	Decode  []decodeVector  `json:"decode"`
	Sealed  []sealedVector  `json:"sealed"`
}

type recordVector struct {
	Name        string   `json:"name"`
	Seed        string   `json:"seed"` // hex ChaCha8 seed; Seal then Split draw from one stream
	RecordID    string   `json:"record_id"`
	Version     uint64   `json:"version"`
	Patient     string   `json:"patient"`
	N           int      `json:"n"`
	K           int      `json:"k"`
	Plaintext   string   `json:"plaintext"`
	Secret      string   `json:"secret"`  // hex scalar, little-endian
	AESKey      string   `json:"aes_key"` // hex HKDF output
	Ciphertext  string   `json:"ciphertext"`
	Shares      []string `json:"shares"`
	Commitments string   `json:"commitments"`
	Anchor      string   `json:"anchor"`
}

type combineVector struct {
	Name   string   `json:"name"`
	Record string   `json:"record"` // the record vector whose anchor is used
	Shares []string `json:"shares"`
	Result string   `json:"result"` // ok, not-enough-shares
	Bad    []int    `json:"bad"`
}

type decodeVector struct {
	Name   string `json:"name"`
	Kind   string `json:"kind"` // share, sealed_share, commitments, anchor
	Hex    string `json:"hex"`
	Result string `json:"result"` // ok, malformed
}

type sealedVector struct {
	Name      string   `json:"name"`
	Stage     string   `json:"stage"` // custody or release
	Info      infoJSON `json:"info"`
	KeyIKM    string   `json:"key_ikm"`
	PublicKey string   `json:"public_key"`
	Sealed    string   `json:"sealed"`
	Result    string   `json:"result"` // ok, unseal, malformed
	Share     string   `json:"share,omitempty"`
}

type infoJSON struct {
	ChainID   string `json:"chain_id"`
	RecordID  string `json:"record_id"`
	Version   uint64 `json:"version"`
	Index     uint8  `json:"index"`
	Recipient string `json:"recipient"`
	AuditSeq  uint64 `json:"audit_seq"`
}

func (j infoJSON) info() ShareInfo { return ShareInfo(j) }

func vectorSeed(name string) [32]byte {
	return sha256.Sum256([]byte("carechain/keyshare/vector/" + name))
}

func makeRecordVector(t *testing.T, name string, ad AssociatedData, p Params, plaintext string) (recordVector, sealed) {
	t.Helper()
	seed := vectorSeed(name)
	rnd := rand.NewChaCha8(seed)
	ct, key, err := Seal(rnd, []byte(plaintext), ad)
	if err != nil {
		t.Fatal(err)
	}
	shares, c, err := key.Split(rnd, p)
	if err != nil {
		t.Fatal(err)
	}
	secret, err := encodeScalar(key.secret)
	if err != nil {
		t.Fatal(err)
	}
	aesKey, err := key.derive(domainAESKey)
	if err != nil {
		t.Fatal(err)
	}
	v := recordVector{Name: name, Seed: hex.EncodeToString(seed[:]), RecordID: ad.RecordID, Version: ad.Version,
		Patient: ad.Patient, N: p.N, K: p.K, Plaintext: plaintext, Secret: hex.EncodeToString(secret[:]),
		AESKey: hex.EncodeToString(aesKey), Ciphertext: hex.EncodeToString(ct),
		Commitments: hex.EncodeToString(c.Encode()), Anchor: hex.EncodeToString(NewAnchor(ad, ct, c).Encode())}
	for _, s := range shares {
		v.Shares = append(v.Shares, hex.EncodeToString(s.Encode()))
	}
	return v, sealed{ad: ad, plaintext: []byte(plaintext), ciphertext: ct, key: key, shares: shares, commitments: c}
}

// makeDeterministic builds every vector that does not involve HPKE.
func makeDeterministic(t *testing.T) (vectorFile, map[string]sealed) {
	f := vectorFile{Comment: "carechain record keys: AES-256-GCM records, Shamir shares over edwards25519, salted " +
		"SHA-256 share commitments, HPKE-sealed shares (docs/keys.md). " +
		"Regenerate with: go test ./internal/keyshare -run TestGolden -update"}
	recs := map[string]sealed{}
	add := func(name string, ad AssociatedData, p Params, pt string) {
		v, s := makeRecordVector(t, name, ad, p, pt)
		f.Records = append(f.Records, v)
		recs[name] = s
	}
	add("2-of-4", AssociatedData{RecordID: "rec-0001", Version: 1, Patient: "ccpatient0001"}, DefaultParams(4),
		`{"resourceType":"Observation","status":"final","code":{"text":"HbA1c"}}`)
	add("3-of-7", AssociatedData{RecordID: "rec-0002", Version: 3, Patient: "ccpatient0001"}, DefaultParams(7),
		`{"resourceType":"Condition","clinicalStatus":{"text":"active"}}`)
	add("4-of-10", AssociatedData{RecordID: "rec-0003", Version: 1, Patient: "ccpatient0002"}, DefaultParams(10),
		`{"resourceType":"AllergyIntolerance"}`)
	add("1-of-1-empty", AssociatedData{RecordID: "rec-0004", Version: 1, Patient: "ccpatient0002"}, DefaultParams(1), "")

	enc := func(s Share) string { return hex.EncodeToString(s.Encode()) }
	encAll := func(name string, idx ...int) []string {
		var out []string
		for _, i := range idx {
			out = append(out, enc(recs[name].shares[i]))
		}
		return out
	}
	r7 := recs["3-of-7"]
	flippedValue := r7.shares[1]
	flippedValue.Value[0] ^= 0x01
	flippedSalt := r7.shares[2]
	flippedSalt.Salt[0] ^= 0x01
	combine := func(name, rec string, shares []string, result string, bad ...int) {
		if bad == nil {
			bad = []int{} // [] rather than null in the JSON
		}
		f.Combine = append(f.Combine, combineVector{Name: name, Record: rec, Shares: shares, Result: result, Bad: bad})
	}
	combine("all-seven", "3-of-7", encAll("3-of-7", 0, 1, 2, 3, 4, 5, 6), "ok")
	combine("exactly-k", "3-of-7", encAll("3-of-7", 6, 3, 0), "ok")
	combine("flipped-value-routed-around", "3-of-7",
		append(encAll("3-of-7", 0, 2, 3), enc(flippedValue)), "ok", 1)
	combine("share-of-another-record", "3-of-7",
		append(encAll("3-of-7", 0, 1, 2), encAll("2-of-4", 3)...), "ok", 3)
	combine("two-bad-too-few-good", "3-of-7",
		append(encAll("3-of-7", 0), enc(flippedValue), enc(flippedSalt)), "not-enough-shares", 1, 2)
	combine("k-minus-one", "3-of-7", encAll("3-of-7", 4, 5), "not-enough-shares")
	combine("duplicates-count-once", "3-of-7", encAll("3-of-7", 4, 4, 4, 5), "not-enough-shares")
	combine("single-validator", "1-of-1-empty", encAll("1-of-1-empty", 0), "ok")

	dec := func(name, kind string, b []byte, result string) {
		f.Decode = append(f.Decode, decodeVector{Name: name, Kind: kind, Hex: hex.EncodeToString(b), Result: result})
	}
	share := r7.shares[4].Encode()
	mut := func(b []byte, i int, v byte) []byte { b = bytes.Clone(b); b[i] = v; return b }
	dec("share", "share", share, "ok")
	dec("share-truncated", "share", share[:len(share)-1], "malformed")
	dec("share-trailing-garbage", "share", append(bytes.Clone(share), 0), "malformed")
	dec("share-format-2", "share", mut(share, 0, 2), "malformed")
	dec("share-index-255", "share", mut(share, 1, 255), "malformed")
	nonCanonical := bytes.Clone(share)
	copy(nonCanonical[2:], ell[:])
	dec("share-value-not-canonical", "share", nonCanonical, "malformed")
	comm := r7.commitments.Encode()
	dec("commitments", "commitments", comm, "ok")
	dec("commitments-truncated", "commitments", comm[:len(comm)-1], "malformed")
	dec("commitments-trailing-garbage", "commitments", append(bytes.Clone(comm), 0), "malformed")
	dec("commitments-k-above-n", "commitments", mut(comm, 2, 8), "malformed")
	dec("commitments-k-0", "commitments", mut(comm, 2, 0), "malformed")
	dec("commitments-n-0", "commitments", []byte{1, 0, 0}, "malformed")
	anchor := NewAnchor(r7.ad, r7.ciphertext, r7.commitments).Encode()
	dec("anchor", "anchor", anchor, "ok")
	dec("anchor-truncated", "anchor", anchor[:len(anchor)-1], "malformed")
	dec("anchor-trailing-garbage", "anchor", append(bytes.Clone(anchor), 0), "malformed")
	dec("anchor-version-0", "anchor", NewAnchor(AssociatedData{RecordID: "rec-0002", Version: 0, Patient: "ccpatient0001"},
		r7.ciphertext, r7.commitments).Encode(), "malformed")
	dec("anchor-non-minimal-varint", "anchor", slices.Concat(anchor[:10], []byte{0x83, 0x00}, anchor[11:]), "malformed")
	return f, recs
}

// makeSealed seals fresh shares of the 2-of-4 record and derives the broken
// vectors from them.
func makeSealed(t *testing.T, recs map[string]sealed) []sealedVector {
	r := recs["2-of-4"]
	var out []sealedVector
	keyFor := func(label string) (string, string) {
		return hex.EncodeToString(testKeyIKM(label)), hex.EncodeToString(testKey(t, label).PublicKey().Bytes())
	}
	add := func(name, stage, keyLabel string, info ShareInfo, s SealedShare, result string, share *Share) sealedVector {
		ikm, pub := keyFor(keyLabel)
		v := sealedVector{Name: name, Stage: stage, Info: infoJSON(info), KeyIKM: ikm, PublicKey: pub,
			Sealed: hex.EncodeToString(s.Encode()), Result: result}
		if share != nil {
			v.Share = hex.EncodeToString(share.Encode())
		}
		out = append(out, v)
		return v
	}
	custody := func(i int) (ShareInfo, SealedShare) {
		info := custodyInfo(r.ad, i)
		s, err := SealShare(testKey(t, validatorID(i)).PublicKey(), r.shares[i], info)
		if err != nil {
			t.Fatal(err)
		}
		add(fmt.Sprintf("custody-share-%d", i), "custody", validatorID(i), info, s, "ok", &r.shares[i])
		return info, s
	}
	info0, s0 := custody(0)
	custody(3)
	rel := releaseInfo(r.ad, 1, "ccreader", 42)
	info1 := custodyInfo(r.ad, 1)
	s1, err := SealShare(testKey(t, validatorID(1)).PublicKey(), r.shares[1], info1)
	if err != nil {
		t.Fatal(err)
	}
	released, err := Reseal(testKey(t, validatorID(1)), s1, info1, testKey(t, "reader").PublicKey(), rel)
	if err != nil {
		t.Fatal(err)
	}
	add("release-share-1", "release", "reader", rel, released, "ok", &r.shares[1])

	flip := func(s SealedShare, i int) SealedShare {
		return SealedShare{Index: s.Index, Ciphertext: mutBytes(s.Ciphertext, i)}
	}
	add("custody-flipped-aead-byte", "custody", validatorID(0), info0, flip(s0, len(s0.Ciphertext)-20), "unseal", nil)
	add("custody-flipped-kem-byte", "custody", validatorID(0), info0, flip(s0, 100), "unseal", nil)
	wrong := info0
	wrong.Version = 2
	add("custody-wrong-info-version", "custody", validatorID(0), wrong, s0, "unseal", nil)
	wrong = info0
	wrong.Recipient = validatorID(1)
	add("custody-wrong-info-recipient", "custody", validatorID(0), wrong, s0, "unseal", nil)
	wrong = info0
	wrong.ChainID = "carechain-other"
	add("custody-wrong-info-chain", "custody", validatorID(0), wrong, s0, "unseal", nil)
	add("custody-wrong-key", "custody", validatorID(1), info0, s0, "unseal", nil)
	add("custody-relabelled-index", "custody", validatorID(0), custodyInfo(r.ad, 1),
		SealedShare{Index: 1, Ciphertext: s0.Ciphertext}, "unseal", nil)
	asCustody := rel
	asCustody.AuditSeq = 0
	add("release-opened-as-custody", "custody", "reader", asCustody, released, "unseal", nil)
	wrong = rel
	wrong.AuditSeq = 43
	add("release-wrong-audit-event", "release", "reader", wrong, released, "unseal", nil)

	raw := func(name string, b []byte) {
		v := add(name, "custody", validatorID(0), info0, s0, "malformed", nil)
		v.Sealed = hex.EncodeToString(b)
		out[len(out)-1] = v
	}
	enc := s0.Encode()
	raw("custody-truncated", enc[:len(enc)-1])
	raw("custody-trailing-garbage", append(bytes.Clone(enc), 0))
	format2 := bytes.Clone(enc)
	format2[0] = 2
	raw("custody-format-2", format2)
	return out
}

// mutBytes returns b with byte i xored with x (1 by default).
func mutBytes(b []byte, i int, x ...byte) []byte {
	out := bytes.Clone(b)
	d := byte(1)
	if len(x) > 0 {
		d = x[0]
	}
	out[i] ^= d
	return out
}

func TestGolden(t *testing.T) {
	want, recs := makeDeterministic(t)
	if *update {
		want.Sealed = makeSealed(t, recs)
		b, err := json.MarshalIndent(want, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	raw, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (regenerate with -update)", err)
	}
	var got vectorFile
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}

	// Stored vectors are checked on their own terms first, so a failure
	// says what broke rather than only that something changed.
	records := map[string]recordVector{}
	for _, v := range got.Records {
		records[v.Name] = v
		t.Run("record/"+v.Name, func(t *testing.T) { checkRecordVector(t, v) })
	}
	for _, v := range got.Combine {
		t.Run("combine/"+v.Name, func(t *testing.T) { checkCombineVector(t, v, records[v.Record]) })
	}
	for _, v := range got.Decode {
		t.Run("decode/"+v.Name, func(t *testing.T) { checkDecodeVector(t, v) })
	}
	for _, v := range got.Sealed {
		t.Run("sealed/"+v.Name, func(t *testing.T) { checkSealedVector(t, v) })
	}
	if len(got.Sealed) < 10 {
		t.Errorf("only %d sealed-share vectors stored", len(got.Sealed))
	}

	got.Sealed, want.Sealed = nil, nil
	g, _ := json.Marshal(got)
	w, _ := json.Marshal(want)
	if !bytes.Equal(g, w) {
		t.Fatalf("%s differs from what this code produces: a format or derivation changed. If that is intended, "+
			"regenerate with -update and describe the change in docs/keys.md", vectorsPath)
	}
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkRecordVector(t *testing.T, v recordVector) {
	ad := AssociatedData{RecordID: v.RecordID, Version: v.Version, Patient: v.Patient}
	a, err := DecodeAnchor(unhex(t, v.Anchor))
	if err != nil {
		t.Fatal(err)
	}
	if a.Record != ad || a.Commitments.N() != v.N || a.Commitments.K != v.K {
		t.Fatalf("anchor names %s, %d-of-%d", a.Record, a.Commitments.K, a.Commitments.N())
	}
	if !bytes.Equal(a.Commitments.Encode(), unhex(t, v.Commitments)) {
		t.Fatal("anchor's commitments differ from the stored commitments")
	}
	ct := unhex(t, v.Ciphertext)
	if err := a.CheckCiphertext(ct); err != nil {
		t.Fatal(err)
	}
	var shares []Share
	for _, h := range v.Shares {
		s, err := DecodeShare(unhex(t, h))
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
	}
	key, bad, err := Combine(a.Record, a.Commitments, shares)
	if err != nil || len(bad) != 0 {
		t.Fatalf("combine: bad %v, %v", bad, err)
	}
	secret, _ := encodeScalar(key.secret)
	aesKey, _ := key.derive(domainAESKey)
	if hex.EncodeToString(secret[:]) != v.Secret || hex.EncodeToString(aesKey) != v.AESKey {
		t.Fatal("recovered secret or derived AES key differs from the stored one")
	}
	pt, err := Decrypt(key, ct, ad)
	if err != nil || string(pt) != v.Plaintext {
		t.Fatalf("decrypt: %q, %v", pt, err)
	}
}

func checkCombineVector(t *testing.T, v combineVector, rec recordVector) {
	a, err := DecodeAnchor(unhex(t, rec.Anchor))
	if err != nil {
		t.Fatalf("record %q: %v", v.Record, err)
	}
	var shares []Share
	for _, h := range v.Shares {
		s, err := DecodeShare(unhex(t, h))
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
	}
	key, bad, err := Combine(a.Record, a.Commitments, shares)
	if !slices.Equal(bad, v.Bad) {
		t.Fatalf("bad = %v, want %v", bad, v.Bad)
	}
	switch v.Result {
	case "ok":
		if err != nil {
			t.Fatal(err)
		}
		aesKey, _ := key.derive(domainAESKey)
		if hex.EncodeToString(aesKey) != rec.AESKey {
			t.Fatal("recovered another key")
		}
	case "not-enough-shares":
		if !errors.Is(err, ErrNotEnoughShares) {
			t.Fatalf("%v, want ErrNotEnoughShares", err)
		}
	default:
		t.Fatalf("unknown result %q", v.Result)
	}
}

func checkDecodeVector(t *testing.T, v decodeVector) {
	b := unhex(t, v.Hex)
	var enc []byte
	var err error
	switch v.Kind {
	case "share":
		var s Share
		s, err = DecodeShare(b)
		enc = s.Encode()
	case "sealed_share":
		var s SealedShare
		s, err = DecodeSealedShare(b)
		enc = s.Encode()
	case "commitments":
		var c Commitments
		c, err = DecodeCommitments(b)
		enc = c.Encode()
	case "anchor":
		var a Anchor
		a, err = DecodeAnchor(b)
		enc = a.Encode()
	default:
		t.Fatalf("unknown kind %q", v.Kind)
	}
	switch v.Result {
	case "ok":
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, b) {
			t.Fatal("decode-then-encode changed the bytes")
		}
	case "malformed":
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v, want ErrMalformed", err)
		}
	default:
		t.Fatalf("unknown result %q", v.Result)
	}
}

func checkSealedVector(t *testing.T, v sealedVector) {
	priv, err := tx.HPKE.DeriveKeyPair(unhex(t, v.KeyIKM))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(priv.PublicKey().Bytes()) != v.PublicKey {
		t.Fatal("key_ikm derives another public key: HPKE key derivation changed")
	}
	sealed, err := DecodeSealedShare(unhex(t, v.Sealed))
	if v.Result == "malformed" {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("%v, want ErrMalformed", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	var s Share
	switch v.Stage {
	case "custody":
		s, err = OpenShare(priv, sealed, v.Info.info())
	case "release":
		s, err = OpenReleased(priv, sealed, v.Info.info())
	default:
		t.Fatalf("unknown stage %q", v.Stage)
	}
	switch v.Result {
	case "ok":
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(s.Encode()) != v.Share {
			t.Fatal("opened to another share")
		}
	case "unseal":
		if !errors.Is(err, ErrUnseal) {
			t.Fatalf("%v, want ErrUnseal", err)
		}
	default:
		t.Fatalf("unknown result %q", v.Result)
	}
}
