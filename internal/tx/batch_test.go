package tx_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/carechain/carechain/internal/tx"
)

// newBatchRecord is a version-1 record entry for position i of a batch
// from signer with nonce 1.
func newBatchRecord(patient, signer string, i int) *tx.PutRecord {
	return &tx.PutRecord{Patient: patient, RecordID: tx.BatchEntryID(tx.TypePutRecord, signer, 1, i), Version: 1,
		ResourceType: "Observation", Size: 10, BlobHash: bytes.Repeat([]byte{7}, 32), Anchor: []byte{1},
		Custodians: bytes.Repeat([]byte{9}, 32)}
}

func newBatchDirectory(signer string, i int, resource string) *tx.PutDirectory {
	return &tx.PutDirectory{ID: tx.BatchEntryID(tx.TypePutDirectory, signer, 1, i), Version: 1, ResourceType: "Organization",
		Resource: []byte(resource)}
}

func TestBatchEntryIDs(t *testing.T) {
	seen := map[string]bool{tx.RecordID("ccorg", 7): true, tx.DirectoryID("ccorg", 7): true}
	for i := range 3 {
		for _, typ := range []tx.Type{tx.TypePutRecord, tx.TypePutDirectory} {
			id := tx.BatchEntryID(typ, "ccorg", 7, i)
			if seen[id] {
				t.Fatalf("BatchEntryID(%s, 7, %d) = %s repeats an id", typ, i, id)
			}
			seen[id] = true
			if want := map[tx.Type]string{tx.TypePutRecord: "rc", tx.TypePutDirectory: "dr"}[typ]; !strings.HasPrefix(id, want) {
				t.Errorf("BatchEntryID(%s) = %s, want prefix %s", typ, id, want)
			}
		}
	}
	if tx.BatchEntryID(tx.TypePutRecord, "ccorg", 7, 1) == tx.BatchEntryID(tx.TypePutRecord, "ccorg", 8, 1) {
		t.Error("batch entry ids do not depend on the nonce")
	}
}

func TestBatchValidation(t *testing.T) {
	patient := deterministicKey(t, "patient").id()
	const signer = "ccsponsor"
	org := `{"resourceType":"Organization","name":"General"}`
	ok := &tx.WriteBatch{Entries: []tx.Msg{newBatchRecord(patient, signer, 0), newBatchDirectory(signer, 1, org), newBatchRecord(patient, signer, 2)}}
	if err := tx.ValidateBasic(testChain, envelopeFor(ok, signer), ok); err != nil {
		t.Fatalf("a good batch is refused: %v", err)
	}
	single := newBatchRecord(patient, signer, 1)
	single.RecordID = tx.RecordID(signer, 1)
	wrongIndex := newBatchDirectory(signer, 0, org)
	badLabel := newBatchRecord(patient, signer, 1)
	badLabel.Labels = []string{"not a label"}
	cases := []struct {
		name  string
		batch *tx.WriteBatch
		entry int
	}{
		{"the id a lone record.put would get", &tx.WriteBatch{Entries: []tx.Msg{newBatchRecord(patient, signer, 0), single}}, 1},
		{"another entry's id", &tx.WriteBatch{Entries: []tx.Msg{newBatchRecord(patient, signer, 0), wrongIndex}}, 1},
		{"a bad label", &tx.WriteBatch{Entries: []tx.Msg{newBatchRecord(patient, signer, 0), badLabel}}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := tx.ValidateBasic(testChain, envelopeFor(c.batch, signer), c.batch)
			if tx.CodeOf(err) != tx.CodeInvalid || !strings.Contains(err.Error(), fmt.Sprintf("entry %d: ", c.entry)) {
				t.Fatalf("ValidateBasic = %v; want invalid naming entry %d", err, c.entry)
			}
		})
	}
	empty := &tx.WriteBatch{}
	if err := tx.ValidateBasic(testChain, envelopeFor(empty, signer), empty); tx.CodeOf(err) != tx.CodeInvalid {
		t.Errorf("an empty batch: %v, want invalid", err)
	}
}

func TestBatchDecodeRefusesOtherEntries(t *testing.T) {
	patient := deterministicKey(t, "patient").id()
	inner := &tx.WriteBatch{Entries: []tx.Msg{newBatchRecord(patient, "ccsponsor", 0)}}
	cases := map[string]tx.Msg{
		"a batch in a batch": inner,
		"an access":          &tx.AccessRecords{Patient: patient, Purpose: "TREAT", Records: []tx.RecordRef{{ID: "rca"}}},
		"an erasure":         &tx.EraseRecord{RecordID: "rca"},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			body := (&tx.WriteBatch{Entries: []tx.Msg{m}}).Encode()
			if got, err := tx.DecodeMsg(tx.TypeWriteBatch, body); got != nil || tx.CodeOf(err) != tx.CodeMalformed {
				t.Fatalf("DecodeMsg = %v, %v; want malformed", got, err)
			}
		})
	}
	// A count beyond the limit is refused before any entry is read.
	if _, err := tx.DecodeMsg(tx.TypeWriteBatch, []byte{0xe9, 0x07}); tx.CodeOf(err) != tx.CodeMalformed { // 1001
		t.Errorf("1001 entries: %v, want malformed", err)
	}
}

// TestBatchSizeLimit: a batch may exceed MaxTxBytes up to MaxBatchTxBytes,
// and no other message may.
func TestBatchSizeLimit(t *testing.T) {
	k := deterministicKey(t, "org")
	resource := `{"resourceType":"Organization","name":"` + strings.Repeat("a", 4000) + `"}`
	big := &tx.WriteBatch{}
	for i := range 40 { // about 160 KB
		big.Entries = append(big.Entries, newBatchDirectory(k.id(), i, resource))
	}
	raw := tx.Build(testChain, k.id(), 1, big, k.sign)
	if len(raw) <= tx.MaxTxBytes || len(raw) > tx.MaxBatchTxBytes {
		t.Fatalf("test batch is %d bytes; want between %d and %d", len(raw), tx.MaxTxBytes, tx.MaxBatchTxBytes)
	}
	got, err := tx.Decode(raw)
	if err != nil {
		t.Fatalf("Decode of a %d-byte batch: %v", len(raw), err)
	}
	m, err := tx.DecodeMsg(got.Type, got.Body)
	if err != nil || len(m.(*tx.WriteBatch).Entries) != 40 {
		t.Fatalf("DecodeMsg: %v", err)
	}
	if err := tx.ValidateBasic(testChain, got, m); err != nil {
		t.Fatalf("ValidateBasic: %v", err)
	}

	other := tx.Build(testChain, k.id(), 1, &tx.RevokeActor{Actor: "ccx", Reason: "left"}, k.sign)
	padded := append(bytes.Clone(other[:len(other)-1]), make([]byte, tx.MaxTxBytes)...) // over the limit, whatever it holds
	if _, err := tx.Decode(padded); tx.CodeOf(err) != tx.CodeTooLarge {
		t.Errorf("a %d-byte identity.revoke: %v, want too_large", len(padded), err)
	}

	for len(raw) <= tx.MaxBatchTxBytes {
		big.Entries = append(big.Entries, newBatchDirectory(k.id(), len(big.Entries), resource))
		raw = tx.Build(testChain, k.id(), 1, big, k.sign)
	}
	if _, err := tx.Decode(raw); tx.CodeOf(err) != tx.CodeTooLarge {
		t.Errorf("a %d-byte batch: %v, want too_large", len(raw), err)
	}
}
