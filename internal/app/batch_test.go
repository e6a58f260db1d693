package app

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// recordChain is a chain whose genesis names four validators, so record
// versions can be sealed to them.
type recordChain struct {
	*chain
	vals []identity.Validator
}

func newRecordChain(t *testing.T) *recordChain {
	t.Helper()
	admin := newKey(t)
	var gvs []identity.GenesisValidator
	for i := range 4 {
		addr := sha256.Sum256([]byte{byte(i)})
		gvs = append(gvs, identity.GenesisValidator{Name: "v", Address: addr[:20], HPKEKey: newKey(t).HPKEPublic()})
	}
	c := startChain(t, state.OpenMemory(), admin, gvs...)
	c.mustBlock()
	snap, _, err := c.store.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := identity.Validators(snap)
	if err != nil || len(vals) != 4 {
		t.Fatalf("validators %v %v", vals, err)
	}
	return &recordChain{chain: c, vals: vals}
}

// newRecord is a valid version 1 of record id of patient: an anchor that
// checks, sealed to the chain's validators.
func (c *recordChain) newRecord(patient, id string) *tx.PutRecord {
	c.t.Helper()
	ad := keyshare.AssociatedData{RecordID: id, Version: 1, Patient: patient}
	ct, dk, err := keyshare.Seal(rand.Reader, []byte(`{"resourceType":"Observation"}`), ad)
	if err != nil {
		c.t.Fatal(err)
	}
	_, commits, err := dk.Split(rand.Reader, keyshare.DefaultParams(len(c.vals)))
	if err != nil {
		c.t.Fatal(err)
	}
	set := records.CustodySetHash(c.vals)
	blob := sha256.Sum256([]byte(id))
	return &tx.PutRecord{Patient: patient, RecordID: id, Version: 1, ResourceType: "Observation", Size: uint64(len(ct)),
		BlobHash: blob[:], Anchor: keyshare.NewAnchor(ad, ct, commits).Encode(), Custodians: set[:]}
}

func batchDirectory(org *keyfile.Key, nonce uint64, i int) *tx.PutDirectory {
	return &tx.PutDirectory{ID: tx.BatchEntryID(tx.TypePutDirectory, org.ID, nonce, i), Version: 1, ResourceType: "Location",
		Resource: []byte(`{"resourceType":"Location","name":"Ward 3"}`)}
}

// TestWriteBatchIsAllOrNothing: a batch commits every entry with one audit
// event per record, and a batch whose last entry the block refuses leaves
// nothing of its earlier entries — no record, no directory entry, no audit
// event — while its nonce is used.
func TestWriteBatchIsAllOrNothing(t *testing.T) {
	c := newRecordChain(t)
	org := c.registerOrg("General")
	patient := c.registerPatient()

	n := c.nonces[org.ID] + 1
	rec0 := c.newRecord(patient.ID, tx.BatchEntryID(tx.TypePutRecord, org.ID, n, 0))
	rec2 := c.newRecord(patient.ID, tx.BatchEntryID(tx.TypePutRecord, org.ID, n, 2))
	good := &tx.WriteBatch{Entries: []tx.Msg{rec0, batchDirectory(org, n, 1), rec2}}
	before := c.auditSize()
	res := c.mustBlock(c.sign(org, good))
	if got := c.auditSize() - before; got != 2 {
		t.Fatalf("the batch recorded %d audit events, want 2 (one per record)", got)
	}
	if len(res.TxResults[0].Data) != 2*sha256.Size {
		t.Errorf("result data is %d bytes, want the two events' leaf hashes", len(res.TxResults[0].Data))
	}
	var blobs int
	for _, e := range res.TxResults[0].Events {
		if e.Type == tx.TypePutRecord.String() {
			for _, a := range e.Attributes {
				if a.Key == "blob" {
					blobs++
				}
			}
		}
	}
	if blobs != 2 {
		t.Errorf("%d blob attributes in record.put events, want 2: custodians fetch blobs by them", blobs)
	}
	snap, _, err := c.store.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{rec0.RecordID, rec2.RecordID} {
		if rec, err := records.Get(snap, id); err != nil || rec.AuthorOrg != org.ID {
			t.Errorf("record %s: %+v %v", id, rec, err)
		}
	}
	if _, err := records.DirectoryVersions(snap, good.Entries[1].(*tx.PutDirectory).ID); err != nil {
		t.Errorf("directory entry: %v", err)
	}

	// The last entry names an organization as its patient, which only state
	// can tell. The mempool refuses the batch; a block that holds it anyway
	// (its proposer admitted it before the state changed) refuses all of it.
	n = c.nonces[org.ID] + 1
	first := c.newRecord(patient.ID, tx.BatchEntryID(tx.TypePutRecord, org.ID, n, 0))
	dir := batchDirectory(org, n, 1)
	bad := c.newRecord(org.ID, tx.BatchEntryID(tx.TypePutRecord, org.ID, n, 2))
	batch := &tx.WriteBatch{Entries: []tx.Msg{first, dir, bad}}
	raw := c.sign(org, batch)
	if r := c.check(raw); tx.Code(r.Code) != tx.CodeInvalid || !strings.HasPrefix(r.Log, "entry 2: ") {
		t.Fatalf("CheckTx = %s %q; want invalid naming entry 2", tx.Code(r.Code), r.Log)
	}
	before, hashBefore := c.auditSize(), c.auditRoot()
	res = c.block(raw)
	r := res.TxResults[0]
	if tx.Code(r.Code) != tx.CodeInvalid || !strings.HasPrefix(r.Log, "entry 2: ") {
		t.Fatalf("batch with a bad last entry: code %s %q; want invalid naming entry 2", tx.Code(r.Code), r.Log)
	}
	if c.auditSize() != before || !bytes.Equal(c.auditRoot(), hashBefore) {
		t.Error("a refused batch changed the audit log")
	}
	snap, _, err = c.store.Snapshot(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := records.Get(snap, first.RecordID); tx.CodeOf(err) != tx.CodeNotFound {
		t.Errorf("entry 0 of a refused batch: %v, want not found", err)
	}
	if _, err := records.DirectoryVersions(snap, dir.ID); tx.CodeOf(err) != tx.CodeNotFound {
		t.Errorf("entry 1 of a refused batch: %v, want not found", err)
	}
	if ids, err := records.List(snap, patient.ID); err != nil || len(ids) != 2 {
		t.Errorf("the patient has records %v (%v), want only the first batch's two", ids, err)
	}
	// The refused batch used its nonce: the next one follows it.
	c.mustBlock(c.sign(org, &tx.WriteBatch{Entries: []tx.Msg{c.newRecord(patient.ID, tx.BatchEntryID(tx.TypePutRecord, org.ID, c.nonces[org.ID]+1, 0))}}))
}

// TestWriteBatchCheckRefusesBadAnchor: an entry whose anchor is for
// another record is refused at admission, naming the entry.
func TestWriteBatchCheckRefusesBadAnchor(t *testing.T) {
	c := newRecordChain(t)
	org := c.registerOrg("General")
	patient := c.registerPatient()
	n := c.nonces[org.ID] + 1
	good := c.newRecord(patient.ID, tx.BatchEntryID(tx.TypePutRecord, org.ID, n, 0))
	wrong := c.newRecord(patient.ID, tx.BatchEntryID(tx.TypePutRecord, org.ID, n, 1))
	wrong.Anchor = good.Anchor
	r := c.check(c.signAt(org, n, &tx.WriteBatch{Entries: []tx.Msg{good, wrong}}))
	if tx.Code(r.Code) != tx.CodeInvalid || !strings.HasPrefix(r.Log, "entry 1: ") {
		t.Fatalf("CheckTx = %s %q; want invalid naming entry 1", tx.Code(r.Code), r.Log)
	}
}

func (c *chain) auditRoot() []byte {
	c.t.Helper()
	_, root, err := audit.Root(c.store.Working())
	if err != nil {
		c.t.Fatal(err)
	}
	return root
}
