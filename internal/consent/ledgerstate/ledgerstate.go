// Package ledgerstate keeps patients' consents, delegations and
// break-the-glass opt-outs in the ledger's authenticated state, applies the
// consent transactions to it, and answers consent decisions from it.
//
// It is the ledger's side of package consent, which stays a pure model with
// no notion of state: ledgerstate reads and writes through a kv.Store, takes
// the signer, the transaction hash and the block as arguments, does no I/O
// and reads no clock. It promises that
//
//   - only the patient, or a delegate whom consent.Authorize allows at the
//     block, changes a patient's consents, delegations or opt-out;
//   - a revoked consent stays in state, inactive, for the patient's history,
//     and takes part in no decision after the transaction that revoked it;
//   - a patient's revision hash changes with every change to their
//     consents, so an index built from state can be cached under
//     (patient, revision) and never goes stale (IndexCache).
//
// docs/consent.md ("The ledger") describes the transactions and the rules.
package ledgerstate

import (
	"crypto/sha256"
	"fmt"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// Key layout, all under "cs/". Ids are FHIR ids (letters, digits, '-' and
// '.'), checked before a key is built, so '/' separates fields without
// ambiguity.
//
//	cs/c/<patient>/<consent id> → Record: the consent and its ledger history
//	                              (canonical encoding below)
//	cs/i/<consent id>           → the id of the patient the consent is about
//	cs/d/<patient>/<delegate>   → the delegation (consent.EncodeDelegation)
//	cs/o/<patient>              → 0x01 while the patient opts out of
//	                              break-the-glass; absent otherwise
//	cs/r/<patient>              → the patient's revision: 32 bytes, absent
//	                              (all zero) before their first consent; on
//	                              every grant, update and revocation it
//	                              becomes SHA-256(revision || tx hash)
//
// Consents are listed by patient with one prefix scan, in id order, which
// is the order consent.Decide reports them in.
const (
	// Prefix is the prefix of every key this package writes: all of it is
	// a patient's consent metadata.
	Prefix = "cs/"

	prefixConsent  = "cs/c/"
	prefixPatient  = "cs/i/"
	prefixDelegate = "cs/d/"
	prefixOptOut   = "cs/o/"
	prefixRevision = "cs/r/"
)

// ConsentKey returns the state key of a patient's consent, for proofs.
func ConsentKey(patient, id string) []byte { return []byte(prefixConsent + patient + "/" + id) }

// PatientKey returns the key mapping a consent id to its patient.
func PatientKey(id string) []byte { return []byte(prefixPatient + id) }

// DelegationKey returns the key of a patient's delegation to delegate.
func DelegationKey(patient, delegate string) []byte {
	return []byte(prefixDelegate + patient + "/" + delegate)
}

// OptOutKey returns the key of a patient's break-the-glass opt-out.
func OptOutKey(patient string) []byte { return []byte(prefixOptOut + patient) }

// RevisionKey returns the key of a patient's revision hash.
func RevisionKey(patient string) []byte { return []byte(prefixRevision + patient) }

// Record is a consent as the ledger keeps it: the consent (whose Grantor
// is whoever signed its latest version) and when it was granted, last
// replaced and revoked.
type Record struct {
	Consent   consent.Consent
	GrantedAt int64  // height of the grant
	UpdatedAt int64  // height of the latest update; 0 if never replaced
	RevokedAt int64  // height of the revocation; 0 while not revoked
	RevokedBy string // who signed the revocation: the patient or a delegate
}

// Revoked reports whether the consent was revoked.
func (r *Record) Revoked() bool { return r.RevokedAt != 0 }

const recordVersion = 1

// Encode returns the record's canonical encoding:
//
//	record = 0x01 (version) | bytes consent (consent.Encode)
//	         | varint grantedAt | varint updatedAt | varint revokedAt
//	         | str revokedBy
func (r *Record) Encode() []byte {
	c := consent.Encode(r.Consent)
	w := codec.NewWriter(len(c) + 40)
	w.Byte(recordVersion)
	w.BytesField(c)
	w.Varint(r.GrantedAt)
	w.Varint(r.UpdatedAt)
	w.Varint(r.RevokedAt)
	w.String(r.RevokedBy)
	return w.Bytes()
}

// DecodeRecord decodes a record as stored in state; clients use it to read
// a proven value. Only canonical encodings decode.
func DecodeRecord(b []byte) (*Record, error) {
	rd := codec.NewReader(b)
	if v := rd.Byte(); rd.Err() == nil && v != recordVersion {
		rd.Fail("unknown consent record version %d", v)
	}
	raw := rd.BytesField(consent.MaxEncodedSize)
	r := &Record{GrantedAt: rd.Varint(), UpdatedAt: rd.Varint(), RevokedAt: rd.Varint(), RevokedBy: rd.String(tx.MaxIDLen)}
	if err := rd.Done(); err != nil {
		return nil, fmt.Errorf("decode consent record: %w", err)
	}
	c, err := consent.Decode(raw)
	if err != nil {
		return nil, fmt.Errorf("decode consent record: %w", err)
	}
	r.Consent = c
	return r, nil
}

// Get loads a consent by id. It returns a tx.ErrNotFound-class error when
// there is none, and a plain error when state is unreadable or corrupt.
func Get(st kv.Reader, id string) (*Record, error) {
	if !consent.IsValidID(id) {
		return nil, tx.Errorf(tx.CodeNotFound, "no consent %q: not a valid consent id", id)
	}
	patient, err := st.Get(PatientKey(id))
	if err != nil {
		return nil, fmt.Errorf("load patient of consent %s: %w", id, err)
	}
	if patient == nil {
		return nil, tx.Errorf(tx.CodeNotFound, "no consent %s", id)
	}
	return getOf(st, string(patient), id)
}

// getOf loads patient's consent id, which the caller knows exists.
func getOf(st kv.Reader, patient, id string) (*Record, error) {
	b, err := st.Get(ConsentKey(patient, id))
	if err != nil {
		return nil, fmt.Errorf("load consent %s: %w", id, err)
	}
	if b == nil {
		return nil, fmt.Errorf("consent %s is filed under patient %s but not stored: state is corrupt", id, patient)
	}
	r, err := DecodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("corrupt consent %s: %w", id, err)
	}
	if r.Consent.ID != id || r.Consent.Patient != patient {
		return nil, fmt.Errorf("consent stored under %s/%s is %s of %s: state is corrupt", patient, id, r.Consent.ID, r.Consent.Patient)
	}
	return r, nil
}

// List returns every consent of a patient, revoked ones included, in id
// order.
func List(st kv.Reader, patient string) ([]*Record, error) {
	if !consent.IsValidID(patient) {
		return nil, nil
	}
	prefix := []byte(prefixConsent + patient + "/")
	var (
		out []*Record
		bad error
	)
	err := st.Iterate(prefix, kv.PrefixEnd(prefix), false, func(k, v []byte) bool {
		r, err := DecodeRecord(v)
		if err != nil {
			bad = fmt.Errorf("corrupt consent %s: %w", k, err)
			return false
		}
		out = append(out, r)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list consents of %s: %w", patient, err)
	}
	return out, bad
}

// Delegations returns a patient's delegations, in delegate id order.
func Delegations(st kv.Reader, patient string) ([]consent.Delegation, error) {
	if !consent.IsValidID(patient) {
		return nil, nil
	}
	prefix := []byte(prefixDelegate + patient + "/")
	var (
		out []consent.Delegation
		bad error
	)
	err := st.Iterate(prefix, kv.PrefixEnd(prefix), false, func(k, v []byte) bool {
		d, err := consent.DecodeDelegation(v)
		if err != nil {
			bad = fmt.Errorf("corrupt delegation %s: %w", k, err)
			return false
		}
		out = append(out, d)
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list delegations of %s: %w", patient, err)
	}
	return out, bad
}

// OptedOut reports whether a patient opted out of break-the-glass access.
func OptedOut(st kv.Reader, patient string) (bool, error) {
	if !consent.IsValidID(patient) {
		return false, nil
	}
	b, err := st.Get(OptOutKey(patient))
	if err != nil {
		return false, fmt.Errorf("load opt-out of %s: %w", patient, err)
	}
	switch {
	case b == nil:
		return false, nil
	case len(b) == 1 && b[0] == 1:
		return true, nil
	}
	return false, fmt.Errorf("corrupt opt-out of %s: %x", patient, b)
}

// Revision returns a patient's revision hash: all zero before their first
// consent, and different after every change to their consents.
func Revision(st kv.Reader, patient string) ([32]byte, error) {
	var rev [32]byte
	if !consent.IsValidID(patient) {
		return rev, nil
	}
	b, err := st.Get(RevisionKey(patient))
	if err != nil {
		return rev, fmt.Errorf("load revision of %s: %w", patient, err)
	}
	if b == nil {
		return rev, nil
	}
	if len(b) != len(rev) {
		return rev, fmt.Errorf("corrupt revision of %s: %d bytes", patient, len(b))
	}
	copy(rev[:], b)
	return rev, nil
}

// bumpRevision chains the transaction that changed patient's consents into
// their revision.
func bumpRevision(st kv.Store, patient string, txHash [32]byte) error {
	rev, err := Revision(st, patient)
	if err != nil {
		return err
	}
	next := sha256.Sum256(append(rev[:], txHash[:]...))
	if err := st.Set(RevisionKey(patient), next[:]); err != nil {
		return fmt.Errorf("store revision of %s: %w", patient, err)
	}
	return nil
}

// LoadIndex builds a patient's decision index from their active consents
// in state. It is a pure function of those consents.
func LoadIndex(st kv.Reader, patient string) (*consent.Index, error) {
	records, err := List(st, patient)
	if err != nil {
		return nil, err
	}
	ix := consent.NewIndex(patient)
	for _, r := range records {
		if r.Consent.Status != consent.StatusActive {
			continue
		}
		// Every stored consent passed Validate when it was put, so a
		// failure here means state no longer holds what the ledger wrote.
		if err := ix.Put(r.Consent); err != nil {
			return nil, fmt.Errorf("index consent %s of %s: %w", r.Consent.ID, patient, err)
		}
	}
	return ix, nil
}
