package records

import (
	"bytes"
	"fmt"
	"slices"
	"time"

	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// Context is what a record message may know about its transaction and
// block.
type Context struct {
	Signer *identity.Actor
	Height int64
	Time   time.Time
}

// Event is what a record message did, for the transaction's events and the
// audit log.
type Event struct {
	Type     string // "record.put" or "record.erase"
	RecordID string
	Version  uint64 // the version written; for an erasure, the latest
	Patient  string
	By       string
	// Created is set when a put made a new record (version 1).
	Created bool
	// ByPatient is set when the patient acted rather than an organization.
	ByPatient bool
	// BlobHashes names the custody blobs of the versions written or erased:
	// nodes fetch the one a put names and delete those an erasure names.
	BlobHashes [][32]byte
}

// CheckPut checks what a PutRecord's anchor must say without looking at
// state: it decodes, it is for the record, version and patient the message
// names, and its threshold keeps both promises for its number of shares
// (fewer than K custodians learn nothing; K are reachable with f down).
func CheckPut(m *tx.PutRecord) (keyshare.Anchor, error) {
	a, err := keyshare.DecodeAnchor(m.Anchor)
	if err != nil {
		return keyshare.Anchor{}, tx.Errorf(tx.CodeMalformed, "record anchor: %v", err)
	}
	want := keyshare.AssociatedData{RecordID: m.RecordID, Version: m.Version, Patient: m.Patient}
	if a.Record != want {
		return keyshare.Anchor{}, tx.Errorf(tx.CodeInvalid, "anchor is for %s, the message for %s", a.Record, want)
	}
	n, k := a.Commitments.N(), a.Commitments.K
	f := (n - 1) / 3
	if n > tx.MaxValidators || k < keyshare.DefaultThreshold(n) || k > n-f {
		return keyshare.Anchor{}, tx.Errorf(tx.CodeInvalid, "threshold %d of %d shares: want %d to %d, so that %d custodians learn nothing and %d down lose nothing",
			k, n, keyshare.DefaultThreshold(n), n-f, keyshare.DefaultThreshold(n)-1, f)
	}
	if m.Size > MaxCiphertext {
		return keyshare.Anchor{}, tx.Errorf(tx.CodeInvalid, "ciphertext of %d bytes, at most %d", m.Size, MaxCiphertext)
	}
	return a, nil
}

// ErrOtherValidatorSet is the refusal of a version whose shares were
// sealed to a validator set that is no longer the current one; a writer
// that sees it seals again.
const ErrOtherValidatorSet = "the shares were sealed to another validator set than the current one; seal them again"

// Put writes a version of a record. The patient may write to their own
// records; an organization, practitioner or application writes for its
// organization, which becomes the record's author and alone (with the
// patient) may add versions or erase it.
func Put(st kv.Store, cx Context, m *tx.PutRecord) (Event, error) {
	anchor, err := CheckPut(m)
	if err != nil {
		return Event{}, err
	}
	patient, err := identity.Get(st, m.Patient)
	if err != nil {
		return Event{}, err
	}
	if patient.Kind != tx.KindPatient {
		return Event{}, tx.Errorf(tx.CodeInvalid, "%s is a %s, not a patient", m.Patient, patient.Kind)
	}
	byPatient, org, err := writerOf(cx.Signer, m.Patient)
	if err != nil {
		return Event{}, err
	}
	vals, err := identity.Validators(st)
	if err != nil {
		return Event{}, err
	}
	if set := CustodySetHash(vals); !bytes.Equal(set[:], m.Custodians) {
		return Event{}, tx.Errorf(tx.CodeInvalid, "%s", ErrOtherValidatorSet)
	}
	if anchor.Commitments.N() != len(vals) {
		return Event{}, tx.Errorf(tx.CodeInvalid, "%d shares for %d validators", anchor.Commitments.N(), len(vals))
	}
	rec, err := Get(st, m.RecordID)
	switch {
	case tx.CodeOf(err) == tx.CodeNotFound:
		if m.Version != 1 {
			return Event{}, tx.Errorf(tx.CodeNotFound, "record %s does not exist; a new record starts at version 1", m.RecordID)
		}
		rec = &Record{ID: m.RecordID, Patient: m.Patient, AuthorOrg: org, Created: cx.Height}
	case err != nil:
		return Event{}, err
	case rec.Erased:
		return Event{}, tx.Errorf(tx.CodeErased, "record %s was erased at height %d", rec.ID, rec.ErasedAt)
	case m.Version != rec.Latest+1:
		return Event{}, tx.Errorf(tx.CodeInvalid, "record %s is at version %d; the next is %d, not %d", rec.ID, rec.Latest, rec.Latest+1, m.Version)
	case rec.Patient != m.Patient:
		return Event{}, tx.Errorf(tx.CodeInvalid, "record %s belongs to another patient", rec.ID)
	case !byPatient && rec.AuthorOrg != org:
		return Event{}, tx.Errorf(tx.CodeUnauthorized, "record %s was written by %s; only it or the patient may add a version", rec.ID, authorName(rec))
	}
	rec.Latest = m.Version
	custodians := make([][]byte, len(vals))
	for i, v := range vals {
		custodians[i] = bytes.Clone(v.Address)
	}
	v := &Version{RecordID: m.RecordID, Version: m.Version, ResourceType: m.ResourceType, Labels: slices.Clone(m.Labels),
		Date: m.Date, Author: cx.Signer.ID, AuthorOrg: org, Height: cx.Height, Time: cx.Time.UnixNano(),
		Size: m.Size, Anchor: anchor, Custodians: custodians}
	copy(v.BlobHash[:], m.BlobHash)
	if err := st.Set(RecordKey(rec.ID), rec.encode()); err != nil {
		return Event{}, fmt.Errorf("store record %s: %w", rec.ID, err)
	}
	if err := st.Set(VersionKey(rec.ID, v.Version), v.encode()); err != nil {
		return Event{}, fmt.Errorf("store record %s version %d: %w", rec.ID, v.Version, err)
	}
	if err := st.Set(patientKey(rec.Patient, rec.ID), []byte{1}); err != nil {
		return Event{}, fmt.Errorf("index record %s: %w", rec.ID, err)
	}
	return Event{Type: tx.TypePutRecord.String(), RecordID: rec.ID, Version: v.Version, Patient: rec.Patient, By: cx.Signer.ID,
		Created: v.Version == 1, ByPatient: byPatient, BlobHashes: [][32]byte{v.BlobHash}}, nil
}

// Erase marks a record erased. Its versions' anchors stay, so the ledger
// still proves what existed; every node deletes the custody blobs the event
// names. The patient may erase any of their records, the authoring
// organization (or its staff) the records it wrote.
func Erase(st kv.Store, cx Context, m *tx.EraseRecord) (Event, error) {
	rec, vs, err := Versions(st, m.RecordID)
	if err != nil {
		return Event{}, err
	}
	if rec.Erased {
		return Event{}, tx.Errorf(tx.CodeErased, "record %s was already erased at height %d", rec.ID, rec.ErasedAt)
	}
	byPatient, org, err := writerOf(cx.Signer, rec.Patient)
	if err != nil {
		return Event{}, err
	}
	if !byPatient && (rec.AuthorOrg == "" || org != rec.AuthorOrg) {
		return Event{}, tx.Errorf(tx.CodeUnauthorized, "record %s may be erased by its patient or by %s", rec.ID, authorName(rec))
	}
	rec.Erased, rec.ErasedAt, rec.ErasedBy = true, cx.Height, cx.Signer.ID
	if err := st.Set(RecordKey(rec.ID), rec.encode()); err != nil {
		return Event{}, fmt.Errorf("store record %s: %w", rec.ID, err)
	}
	ev := Event{Type: tx.TypeEraseRecord.String(), RecordID: rec.ID, Version: rec.Latest, Patient: rec.Patient, By: cx.Signer.ID, ByPatient: byPatient}
	for _, v := range vs {
		ev.BlobHashes = append(ev.BlobHashes, v.BlobHash)
	}
	return ev, nil
}

// writerOf says whether signer acts as the patient, or else for which
// organization; other kinds of actor may not write records.
func writerOf(signer *identity.Actor, patient string) (byPatient bool, org string, err error) {
	switch signer.Kind {
	case tx.KindPatient:
		if signer.ID != patient {
			return false, "", tx.Errorf(tx.CodeUnauthorized, "a patient writes only their own records")
		}
		return true, "", nil
	case tx.KindOrganization:
		return false, signer.ID, nil
	case tx.KindPractitioner, tx.KindApplication:
		return false, signer.Org, nil
	}
	return false, "", tx.Errorf(tx.CodeUnauthorized, "a %s cannot write or erase records", signer.Kind)
}

func authorName(r *Record) string {
	if r.AuthorOrg == "" {
		return "the patient"
	}
	return "organization " + r.AuthorOrg
}
