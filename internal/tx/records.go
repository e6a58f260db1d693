package tx

import (
	"crypto/sha256"
	"slices"
	"strconv"
	"strings"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/consent"
)

// Record message types (range 30–49). Numbers are part of the protocol and
// never reused.
const (
	TypePutRecord     Type = 30
	TypeAccessRecords Type = 31
	TypeEraseRecord   Type = 32
	TypeQueryRecords  Type = 33
)

// Field limits for record messages.
const (
	MaxRecordLabels  = 16
	MaxLabelLen      = 32
	MaxAnchorBytes   = 16 << 10
	MaxAccessRecords = 64
	// MaxValidators bounds the custody set a record's key is split across.
	MaxValidators = 64
)

// PutRecord anchors a new version of an encrypted record. The content is
// not here: the ciphertext and the sealed key shares travel beside the
// ledger as one custody blob named by BlobHash. Anchor is the key-share
// anchor (keyshare.Anchor's encoding: record id, version, patient, the
// ciphertext's hash and a commitment to every share); Custodians is the
// hash of the validator set the shares were sealed to, so a record sealed
// to a set that has since changed is refused rather than stored unreadable.
//
// Version 1 creates a record whose id the ledger derives from the
// transaction (RecordID), so a client knows it before encrypting; a later
// version adds to an existing record.
type PutRecord struct {
	Patient      string
	RecordID     string
	Version      uint64
	ResourceType string
	// Labels are the record's security labels (PSY, HIV, ETH, 42CFRPart2…),
	// ascending and unique: consent decides on them.
	Labels []string
	// Date is the record's clinical date in Unix seconds (0: none), for
	// consents limited by a data period.
	Date       int64
	Size       uint64 // bytes of ciphertext
	BlobHash   []byte // SHA-256 of the custody blob, 32 bytes
	Anchor     []byte
	Custodians []byte // SHA-256 of the custody validator set, 32 bytes
	// OnBehalfOf is set when an organization signs for one of its
	// practitioners or applications (its gateway acting for a SMART client):
	// the member is the author the ledger and the audit log name.
	OnBehalfOf string
}

func (*PutRecord) Type() Type { return TypePutRecord }

func (m *PutRecord) Encode() []byte {
	w := codec.NewWriter(256 + len(m.Anchor))
	w.String(m.Patient)
	w.String(m.RecordID)
	w.Uvarint(m.Version)
	w.String(m.ResourceType)
	w.Strings(m.Labels)
	w.Varint(m.Date)
	w.Uvarint(m.Size)
	w.Fixed(m.BlobHash)
	w.BytesField(m.Anchor)
	w.Fixed(m.Custodians)
	writeOnBehalfOf(w, m.OnBehalfOf)
	return w.Bytes()
}

// RecordRef names one version of a record; Version 0 means the latest.
type RecordRef struct {
	ID      string
	Version uint64
}

// String is the reference as the audit log names it: "ID/_history/V", the
// FHIR vread path of that version.
func (r RecordRef) String() string {
	return r.ID + "/_history/" + strconv.FormatUint(r.Version, 10)
}

// AccessRecords asks to read records of one patient for a purpose. The
// block decides it against the patient's consents and records the decision
// in the audit log; only for a permitted, committed access do validators
// release their key shares. A request for several records is permitted
// only if every one is.
type AccessRecords struct {
	Patient    string
	Records    []RecordRef // ascending by id, ids unique
	Purpose    string
	BreakGlass bool
	// OnBehalfOf is set when an organization signs for one of its
	// practitioners or applications: consent decides on the member, the
	// audit event names the member as actor, and the key shares are
	// released to the organization that signed, whose gateway decrypts.
	OnBehalfOf string
}

func (*AccessRecords) Type() Type { return TypeAccessRecords }

func (m *AccessRecords) Encode() []byte {
	w := codec.NewWriter(64 + 40*len(m.Records))
	w.String(m.Patient)
	w.Uvarint(uint64(len(m.Records)))
	for _, r := range m.Records {
		w.String(r.ID)
		w.Uvarint(r.Version)
	}
	w.String(m.Purpose)
	w.Bool(m.BreakGlass)
	writeOnBehalfOf(w, m.OnBehalfOf)
	return w.Bytes()
}

// EraseRecord erases a record with all its versions. Each node deletes the
// ciphertext and the key shares; the anchors' hashes stay on the ledger. The
// patient may erase their records, and the organization that wrote a
// record may erase it (its retention duty ends or it was written in error).
type EraseRecord struct {
	RecordID string
	Reason   string
	// OnBehalfOf names the member of the signing organization who erases,
	// as on PutRecord.
	OnBehalfOf string
}

func (*EraseRecord) Type() Type { return TypeEraseRecord }

func (m *EraseRecord) Encode() []byte {
	w := codec.NewWriter(64 + len(m.Reason))
	w.String(m.RecordID)
	w.String(m.Reason)
	writeOnBehalfOf(w, m.OnBehalfOf)
	return w.Bytes()
}

// QueryRecords asks to read what the ledger holds about a patient's
// records: the list (RecordID empty) or one record's versions. It is no
// content, but types, labels and authors say much (an HIV label, a
// psychiatrist as author), so the ledger decides who may read them — the
// patient, a delegate in effect, an auditor, and for one record its author
// organization — and records the query before any node answers it.
type QueryRecords struct {
	Patient  string // may be empty when RecordID names the record: it is the record's
	RecordID string
}

func (*QueryRecords) Type() Type { return TypeQueryRecords }

func (m *QueryRecords) Encode() []byte {
	w := codec.NewWriter(len(m.Patient) + len(m.RecordID) + 2)
	w.String(m.Patient)
	w.String(m.RecordID)
	return w.Bytes()
}

// writeOnBehalfOf appends the optional member field of a record message.
// It is written only when set, so that a message without it encodes as it
// did before the field existed; readOnBehalfOf refuses a present but empty
// field, which keeps the encoding canonical.
func writeOnBehalfOf(w *codec.Writer, id string) {
	if id != "" {
		w.String(id)
	}
}

func readOnBehalfOf(r *codec.Reader) string {
	if r.Err() != nil || r.Remaining() == 0 {
		return ""
	}
	id := r.String(MaxIDLen)
	if r.Err() == nil && id == "" {
		r.Fail("an empty on-behalf-of field is written by leaving it out")
	}
	return id
}

func decodeRecordMsg(t Type, r *codec.Reader) Msg {
	switch t {
	case TypeQueryRecords:
		return &QueryRecords{Patient: r.String(MaxIDLen), RecordID: r.String(MaxIDLen)}
	case TypePutRecord:
		m := &PutRecord{
			Patient:      r.String(MaxIDLen),
			RecordID:     r.String(MaxIDLen),
			Version:      r.Uvarint(),
			ResourceType: r.String(MaxIDLen),
			Labels:       r.Strings(MaxRecordLabels, MaxLabelLen),
			Date:         r.Varint(),
			Size:         r.Uvarint(),
			BlobHash:     r.Fixed(sha256.Size),
			Anchor:       r.BytesField(MaxAnchorBytes),
			Custodians:   r.Fixed(sha256.Size),
		}
		m.OnBehalfOf = readOnBehalfOf(r)
		return m
	case TypeAccessRecords:
		m := &AccessRecords{Patient: r.String(MaxIDLen)}
		n := r.Uvarint()
		if n > MaxAccessRecords {
			r.Fail("%d records, at most %d", n, MaxAccessRecords)
			return m
		}
		for i := uint64(0); i < n && r.Err() == nil; i++ {
			m.Records = append(m.Records, RecordRef{ID: r.String(MaxIDLen), Version: r.Uvarint()})
		}
		m.Purpose = r.String(MaxIDLen)
		m.BreakGlass = r.Bool()
		m.OnBehalfOf = readOnBehalfOf(r)
		return m
	case TypeEraseRecord:
		m := &EraseRecord{RecordID: r.String(MaxIDLen), Reason: r.String(MaxReasonLen)}
		m.OnBehalfOf = readOnBehalfOf(r)
		return m
	}
	return nil
}

// validateRecordMsg checks a record message without state. The anchor's
// own encoding is checked by the records module, which owns it.
func validateRecordMsg(t *Tx, m Msg) (bool, error) {
	switch m := m.(type) {
	case *PutRecord:
		return true, checkPutRecord(t, m, RecordID(t.Signer, t.Nonce))
	case *AccessRecords:
		if err := checkID("patient", m.Patient); err != nil {
			return true, err
		}
		if len(m.Records) == 0 {
			return true, Errorf(CodeInvalid, "name at least one record")
		}
		for i, r := range m.Records {
			if err := checkID("record", r.ID); err != nil {
				return true, err
			}
			if i > 0 && m.Records[i-1].ID >= r.ID {
				return true, Errorf(CodeInvalid, "records must be ascending by id and unique (%s then %s)", m.Records[i-1].ID, r.ID)
			}
		}
		if !consent.IsKnownPurpose(consent.Purpose(m.Purpose)) {
			return true, Errorf(CodeInvalid, "unknown purpose of use %q", m.Purpose)
		}
		return true, checkOnBehalfOf(t, m.OnBehalfOf)
	case *EraseRecord:
		if err := checkID("record", m.RecordID); err != nil {
			return true, err
		}
		return true, checkOnBehalfOf(t, m.OnBehalfOf)
	case *QueryRecords:
		if m.RecordID != "" {
			if m.Patient != "" {
				if err := checkID("patient", m.Patient); err != nil {
					return true, err
				}
			}
			return true, checkID("record", m.RecordID)
		}
		return true, checkID("patient", m.Patient)
	}
	return false, nil
}

// checkPutRecord checks a record version without state; newID is the id
// a version 1 must have, derived from the transaction (and, in a batch,
// the entry's position).
func checkPutRecord(t *Tx, m *PutRecord, newID string) error {
	if err := checkID("patient", m.Patient); err != nil {
		return err
	}
	if err := checkID("record", m.RecordID); err != nil {
		return err
	}
	if m.Version == 0 {
		return Errorf(CodeInvalid, "record versions start at 1")
	}
	if m.Version == 1 && m.RecordID != newID {
		return Errorf(CodeInvalid, "a new record's id is %s, derived from its transaction, not %s", newID, m.RecordID)
	}
	if !consent.IsResourceType(m.ResourceType) {
		return Errorf(CodeInvalid, "%q is not a FHIR R4 resource type", m.ResourceType)
	}
	if m.ResourceType == "Consent" || m.ResourceType == "AuditEvent" {
		return Errorf(CodeInvalid, "%s resources are ledger objects, not records", m.ResourceType)
	}
	if err := checkLabels(m.Labels); err != nil {
		return err
	}
	if m.Size == 0 {
		return Errorf(CodeInvalid, "a record's ciphertext cannot be empty")
	}
	if len(m.Anchor) == 0 {
		return Errorf(CodeInvalid, "a record version needs its key-share anchor")
	}
	return checkOnBehalfOf(t, m.OnBehalfOf)
}

// checkOnBehalfOf checks the member field without state; whether the member
// belongs to the signer is the block's to decide.
func checkOnBehalfOf(t *Tx, id string) error {
	if id == "" {
		return nil
	}
	if err := checkID("on-behalf-of actor", id); err != nil {
		return err
	}
	if id == t.Signer {
		return Errorf(CodeInvalid, "a signer acting for itself leaves on-behalf-of empty")
	}
	return nil
}

func checkLabels(labels []string) error {
	for i, l := range labels {
		if l == "" || strings.ContainsFunc(l, func(r rune) bool { return r <= ' ' || r > '~' || r == ',' }) {
			return Errorf(CodeInvalid, "security label %q must be printable ASCII without spaces or commas", l)
		}
		if i > 0 && labels[i-1] >= l {
			return Errorf(CodeInvalid, "security labels must be ascending and unique (%s then %s)", labels[i-1], l)
		}
	}
	return nil
}

// SortLabels returns labels ascending without duplicates, the order a
// PutRecord needs.
func SortLabels(labels []string) []string {
	out := slices.Clone(labels)
	slices.Sort(out)
	return slices.Compact(out)
}

const recordIDDomain = "carechain/record-id/v1\x00"

// RecordID is the id of the record a version-1 PutRecord from signer with
// nonce creates: "rc" followed by 24 base32 letters of SHA-256 over a
// domain prefix, the signer and the nonce, like ConsentID. The writer
// knows it before the block, so it can bind the ciphertext to it.
func RecordID(signer string, nonce uint64) string {
	return derivedID("rc", recordIDDomain, signer, nonce)
}
