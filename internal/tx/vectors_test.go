package tx_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/tx"
)

// vectorsPath holds envelope test vectors, good and broken, for carechain
// and for other implementations (the web portal signs in the browser).
// Regenerate with:
//
//	go test ./internal/tx -run TestEnvelopeVectors -update
const vectorsPath = "testdata/envelopes.json"

type vectorFile struct {
	Comment string   `json:"comment"`
	Chain   string   `json:"chain_id"`
	Vectors []vector `json:"vectors"`
}

type vector struct {
	Name string `json:"name"`
	Tx   string `json:"tx"`     // hex of the raw transaction
	Code string `json:"decode"` // result of tx.Decode: "ok" or a code name
	// For vectors that decode:
	SignBytes string `json:"sign_bytes,omitempty"` // hex
	TxHash    string `json:"tx_hash,omitempty"`    // hex SHA-256 of tx
	SignerKey string `json:"signer_key,omitempty"` // hex Ed25519 public key
	Verifies  bool   `json:"verifies,omitempty"`   // signature valid under signer_key
	Valid     bool   `json:"valid,omitempty"`      // body decodes and passes ValidateBasic
}

func makeVectors(t *testing.T) vectorFile {
	admin := deterministicKey(t, "admin")
	patient := deterministicKey(t, "patient")
	org := deterministicKey(t, "org")
	doc := deterministicKey(t, "doctor")
	doc2 := deterministicKey(t, "doctor-2")
	f := vectorFile{
		Comment: "carechain transaction envelopes. Regenerate with: go test ./internal/tx -run TestEnvelopeVectors -update",
		Chain:   testChain,
	}
	good := func(name string, signer testKey, signerID string, nonce uint64, m tx.Msg) []byte {
		raw := tx.Build(testChain, signerID, nonce, m, signer.sign)
		tr, err := tx.Decode(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		h := tx.Hash(raw)
		f.Vectors = append(f.Vectors, vector{Name: name, Tx: hex.EncodeToString(raw), Code: "ok",
			SignBytes: hex.EncodeToString(tr.SignBytes()), TxHash: hex.EncodeToString(h[:]),
			SignerKey: hex.EncodeToString(signer.pub()), Verifies: true, Valid: true})
		return raw
	}
	revoke := good("revoke", org, org.id(), 9, &tx.RevokeActor{Actor: doc.id(), Reason: "left"})
	good("register-patient-self", patient, patient.id(), 1, tx.NewRegistration(testChain, tx.KindPatient, "", "", patient.sign, patient.hpke))
	good("register-organization-by-admin", admin, admin.id(), 1, tx.NewRegistration(testChain, tx.KindOrganization, "General Hospital", "", org.sign, org.hpke))
	good("register-practitioner-by-org", org, org.id(), 1, tx.NewRegistration(testChain, tx.KindPractitioner, "Dr. Ünal", org.id(), doc.sign, doc.hpke))
	good("rotate-by-self", doc, doc.id(), 2, tx.NewRotation(testChain, doc.id(), doc2.sign, doc2.hpke))
	good("grant-consent-by-patient", patient, patient.id(), 2,
		&tx.GrantConsent{Patient: patient.id(), Consent: consent.Encode(sampleConsent(patient.id(), ""))})
	good("revoke-consent-by-patient", patient, patient.id(), 3, &tx.RevokeConsent{Patient: patient.id(), ConsentID: tx.ConsentID(patient.id(), 2)})

	broken := func(name, code string, raw []byte) {
		v := vector{Name: name, Tx: hex.EncodeToString(raw), Code: code}
		if code == "ok" { // decodes, but the signature does not verify
			tr, err := tx.Decode(raw)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			h := tx.Hash(raw)
			v.SignBytes, v.TxHash, v.SignerKey = hex.EncodeToString(tr.SignBytes()), hex.EncodeToString(h[:]), hex.EncodeToString(org.pub())
			v.Valid = true
		}
		f.Vectors = append(f.Vectors, v)
	}
	flipped := bytes.Clone(revoke)
	flipped[len(flipped)-1] ^= 0x01
	broken("modified-signature", "ok", flipped)
	otherNonce, _ := tx.Decode(revoke)
	otherNonce.Nonce = 10 // signature still over nonce 9
	broken("modified-nonce", "ok", otherNonce.Encode())
	broken("trailing-garbage", "malformed", append(bytes.Clone(revoke), 0))
	broken("truncated", "malformed", revoke[:len(revoke)-1])
	broken("empty", "malformed", []byte{})
	wrongVersion := bytes.Clone(revoke)
	wrongVersion[0] = 2
	broken("version-2", "malformed", wrongVersion)
	e := goodEnvelope()
	e.nonce = []byte{0x81, 0x00}
	broken("non-minimal-nonce", "malformed", e.bytes())
	e = goodEnvelope()
	e.typ = []byte{0x81, 0x80, 0x80, 0x80, 0x10}
	broken("type-beyond-32-bits", "malformed", e.bytes())
	e = goodEnvelope()
	e.chainID = []byte{0xff, 0xfe}
	broken("invalid-utf8-chain-id", "malformed", e.bytes())
	return f
}

func TestEnvelopeVectors(t *testing.T) {
	want := makeVectors(t)
	wantJSON, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	wantJSON = append(wantJSON, '\n')
	if *update {
		if err := os.MkdirAll(filepath.Dir(vectorsPath), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsPath, wantJSON, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatalf("%v (regenerate with -update)", err)
	}
	var file vectorFile
	if err := json.Unmarshal(got, &file); err != nil {
		t.Fatal(err)
	}

	// The stored vectors are checked on their own terms first, so a failure
	// says what about the encoding changed.
	for _, v := range file.Vectors {
		t.Run(v.Name, func(t *testing.T) { checkVector(t, file.Chain, v) })
	}
	if !bytes.Equal(got, wantJSON) {
		t.Fatalf("%s differs from what this code produces: the wire format changed. If that is intended, "+
			"regenerate with -update and note the change in docs/transactions.md", vectorsPath)
	}
}

func checkVector(t *testing.T, chain string, v vector) {
	raw, err := hex.DecodeString(v.Tx)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := tx.Decode(raw)
	if got := tx.CodeOf(err).String(); got != v.Code {
		t.Fatalf("Decode code %s, want %s (%v)", got, v.Code, err)
	}
	if err != nil {
		return
	}
	if !bytes.Equal(tr.Encode(), raw) {
		t.Fatal("decode-then-encode changed the bytes")
	}
	if got := hex.EncodeToString(tr.SignBytes()); got != v.SignBytes {
		t.Fatalf("sign bytes %s, want %s", got, v.SignBytes)
	}
	if h := tx.Hash(raw); hex.EncodeToString(h[:]) != v.TxHash {
		t.Fatalf("hash %x, want %s", h, v.TxHash)
	}
	key, err := hex.DecodeString(v.SignerKey)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Verify(key) != v.Verifies {
		t.Fatalf("Verify = %v, want %v", !v.Verifies, v.Verifies)
	}
	m, err := tx.DecodeMsg(tr.Type, tr.Body)
	valid := err == nil && tx.ValidateBasic(chain, tr, m) == nil
	if valid != v.Valid {
		t.Fatalf("message valid = %v, want %v (%v)", valid, v.Valid, err)
	}
}
