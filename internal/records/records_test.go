package records_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/puritytest"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// TestPurity holds the package to its promise: state through kv, time
// through the block; no network, files, randomness or consensus engine.
func TestPurity(t *testing.T) {
	puritytest.Check(t, puritytest.Rules{
		Forbidden: []string{"net", "os", "math/rand", "crypto/rand", "syscall", "unsafe",
			"github.com/cometbft", "github.com/tendermint", "github.com/cosmos",
			"github.com/carechain/carechain/internal/state", "github.com/carechain/carechain/internal/app"},
		NoFloats: true, NoPanic: true,
	})
}

type world struct {
	st                 *kv.Memory
	patient, org, doc  *identity.Actor
	otherOrg, stranger *identity.Actor
	vals               []identity.Validator
	hpke               []*keyfile.Key
	nonce              uint64
	block              int64
}

func actor(id string, kind tx.Kind, org string) *identity.Actor {
	return &identity.Actor{ID: id, Kind: kind, Org: org}
}

func newWorld(t *testing.T, validators int) *world {
	w := &world{st: kv.NewMemory(), block: 1}
	admin, _ := keyfile.Generate()
	g := identity.Genesis{Admin: identity.GenesisKeys{SignKey: admin.SignPublic(), HPKEKey: admin.HPKEPublic()}}
	for i := range validators {
		k, err := keyfile.Generate()
		if err != nil {
			t.Fatal(err)
		}
		addr := sha256.Sum256([]byte{byte(i)})
		w.hpke = append(w.hpke, k)
		g.Validators = append(g.Validators, identity.GenesisValidator{Name: "v", Address: addr[:20], HPKEKey: k.HPKEPublic()})
	}
	if err := identity.InitGenesis(w.st, g); err != nil {
		t.Fatal(err)
	}
	var err error
	if w.vals, err = identity.Validators(w.st); err != nil {
		t.Fatal(err)
	}
	// Patients are looked up by records.Put; register one directly.
	patient, _ := keyfile.Generate()
	ev, err := identity.Apply(w.st, identity.Signer{}, tx.ActorID(patient.SignPublic()),
		&tx.RegisterActor{Kind: tx.KindPatient, SignKey: patient.SignPublic(), HPKEKey: patient.HPKEPublic()}, 1)
	if err != nil {
		t.Fatal(err)
	}
	w.patient, _ = identity.Get(w.st, ev.Actor)
	w.org = actor("ccorg", tx.KindOrganization, "")
	w.doc = actor("ccdoc", tx.KindPractitioner, "ccorg")
	w.otherOrg = actor("ccother", tx.KindOrganization, "")
	w.stranger = actor("ccstranger", tx.KindPatient, "")
	return w
}

// put builds a valid PutRecord of version v of id (empty: new) by signer.
func (w *world) put(t *testing.T, signer *identity.Actor, id string, v uint64) (*tx.PutRecord, records.Context) {
	t.Helper()
	w.nonce++
	if id == "" {
		id = tx.RecordID(signer.ID, w.nonce)
	}
	ad := keyshare.AssociatedData{RecordID: id, Version: v, Patient: w.patient.ID}
	ct, dk, err := keyshare.Seal(rand.Reader, []byte(`{"resourceType":"Observation"}`), ad)
	if err != nil {
		t.Fatal(err)
	}
	_, commits, err := dk.Split(rand.Reader, keyshare.DefaultParams(len(w.vals)))
	if err != nil {
		t.Fatal(err)
	}
	set := records.CustodySetHash(w.vals)
	m := &tx.PutRecord{Patient: w.patient.ID, RecordID: id, Version: v, ResourceType: "Observation", Size: uint64(len(ct)),
		BlobHash: bytes.Repeat([]byte{byte(v)}, 32), Anchor: keyshare.NewAnchor(ad, ct, commits).Encode(), Custodians: set[:]}
	w.block++
	return m, records.Context{Signer: signer, Height: w.block, Time: time.Unix(1767312000+w.block, 0)}
}

func TestPutAndEraseRules(t *testing.T) {
	w := newWorld(t, 4)
	m, cx := w.put(t, w.doc, "", 1)
	ev, err := records.Put(w.st, cx, m)
	if err != nil {
		t.Fatal(err)
	}
	id := ev.RecordID
	if !ev.Created || ev.Version != 1 {
		t.Fatalf("event %+v", ev)
	}
	rec, v, err := records.GetVersion(w.st, id, 0)
	if err != nil || rec.AuthorOrg != "ccorg" || v.Author != "ccdoc" || len(v.Custodians) != 4 {
		t.Fatalf("stored %+v %+v %v", rec, v, err)
	}
	if ids, _ := records.List(w.st, w.patient.ID); len(ids) != 1 || ids[0] != id {
		t.Fatalf("patient's records %v", ids)
	}

	cases := []struct {
		name   string
		signer *identity.Actor
		v      uint64
		edit   func(*tx.PutRecord)
		want   tx.Code
	}{
		{"another organization adds a version", w.otherOrg, 2, nil, tx.CodeUnauthorized},
		{"a stranger patient", w.stranger, 2, nil, tx.CodeUnauthorized},
		{"a version gap", w.doc, 3, nil, tx.CodeInvalid},
		{"sealed to another validator set", w.doc, 2, func(m *tx.PutRecord) { m.Custodians = bytes.Repeat([]byte{1}, 32) }, tx.CodeInvalid},
		{"anchor for another patient", w.doc, 2, func(m *tx.PutRecord) { m.Patient = "ccsomeoneelse" }, tx.CodeInvalid},
		{"anchor that does not decode", w.doc, 2, func(m *tx.PutRecord) { m.Anchor = m.Anchor[:len(m.Anchor)-1] }, tx.CodeMalformed},
	}
	for _, c := range cases {
		m, cx := w.put(t, c.signer, id, c.v)
		if c.edit != nil {
			c.edit(m)
		}
		if _, err := records.Put(w.st, cx, m); tx.CodeOf(err) != c.want {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	// The patient may add a version to a record an organization wrote.
	m, cx = w.put(t, w.patient, id, 2)
	if _, err := records.Put(w.st, cx, m); err != nil {
		t.Fatalf("patient adds a version: %v", err)
	}
	if _, err := records.Erase(w.st, records.Context{Signer: w.otherOrg, Height: 9}, &tx.EraseRecord{RecordID: id}); tx.CodeOf(err) != tx.CodeUnauthorized {
		t.Fatalf("another organization erases: %v", err)
	}
	ev, err = records.Erase(w.st, records.Context{Signer: w.org, Height: 9}, &tx.EraseRecord{RecordID: id})
	if err != nil || len(ev.BlobHashes) != 2 {
		t.Fatalf("author erases: %+v %v", ev, err)
	}
	if _, err := records.Erase(w.st, records.Context{Signer: w.patient, Height: 10}, &tx.EraseRecord{RecordID: id}); tx.CodeOf(err) != tx.CodeErased {
		t.Fatalf("erase twice: %v", err)
	}
	m, cx = w.put(t, w.doc, id, 3)
	if _, err := records.Put(w.st, cx, m); tx.CodeOf(err) != tx.CodeErased {
		t.Fatalf("version after erasure: %v", err)
	}
}

func TestThresholdMustKeepBothPromises(t *testing.T) {
	w := newWorld(t, 4)
	m, _ := w.put(t, w.doc, "", 1)
	a, _ := keyshare.DecodeAnchor(m.Anchor)
	for _, k := range []int{1, 4} { // 1: one validator reads alone; 4: one down loses the record
		a.Commitments.K = k
		m.Anchor = a.Encode()
		if _, err := records.CheckPut(m); tx.CodeOf(err) != tx.CodeInvalid {
			t.Errorf("k=%d of 4: %v", k, err)
		}
	}
}

func FuzzDecodeBlob(f *testing.F) {
	f.Add((&records.Blob{Ciphertext: []byte{1, 2, 3}}).Encode())
	f.Add([]byte{1, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		blob, err := records.DecodeBlob(b)
		if err != nil {
			return
		}
		if !bytes.Equal(blob.Encode(), b) {
			t.Fatalf("decode-then-encode changed %x", b)
		}
	})
}

func FuzzDecodeRecordAndVersion(f *testing.F) {
	f.Add([]byte{1, 2, 'r', 'c', 2, 'p', 'a', 0, 1, 2, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		// Neither decoder may panic; both are strict.
		_, _ = records.DecodeRecord(b)
		_, _ = records.DecodeVersion(b)
	})
}
