// Package records is the ledger's index of encrypted health records: which
// records exist, whose they are, what kind of data they hold (resource type,
// security labels, clinical date — the metadata consent decides on), who
// wrote each version, and each version's anchor: the hash of its custody
// blob and the commitments to its key shares. It never holds content.
//
// The package is pure: state comes in through kv, the block through
// Context; it reads no clock, network or disk. Writes and erasures are
// decided here; reads are decided by the consent module against what Get
// returns.
//
// State layout (all values are codec encodings, format byte first):
//
//	rc/r/<record id>                   Record: the record and its latest version
//	rc/v/<record id>/<version, 8 bytes big-endian>  Version: one version's anchor
//	rc/p/<patient id>/<record id>      0x01: the patient's records, for listing
//	dr/<entry id>/<version, 8 bytes big-endian>  DirectoryVersion (directory.go)
//
// It also keeps the directory (directory.go): organizations, practitioners
// and locations as FHIR resources in the clear, which are about no patient.
package records

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyshare"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

const (
	prefixRecord  = "rc/r/"
	prefixVersion = "rc/v/"
	prefixPatient = "rc/p/"

	recordFormat  = 1
	versionFormat = 1
)

// RecordKey is the state key of a record, for proofs.
func RecordKey(id string) []byte { return []byte(prefixRecord + id) }

// VersionKey is the state key of one version of a record, for proofs.
func VersionKey(id string, version uint64) []byte {
	k := make([]byte, 0, len(prefixVersion)+len(id)+9)
	k = append(k, prefixVersion...)
	k = append(k, id...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, version)
}

func patientKey(patient, id string) []byte { return []byte(prefixPatient + patient + "/" + id) }

// Record is what the ledger knows about a record as a whole.
type Record struct {
	ID      string
	Patient string
	// AuthorOrg is the organization that created the record, empty when
	// the patient did; it may update and erase it.
	AuthorOrg string
	Latest    uint64 // the latest version
	Created   int64  // block height of version 1
	Erased    bool
	ErasedAt  int64  // block height of the erasure
	ErasedBy  string // who erased it
}

// Version is one version of a record: its metadata and its anchor.
type Version struct {
	RecordID     string
	Version      uint64
	ResourceType string
	Labels       []string
	Date         int64 // clinical date, Unix seconds; 0 if none
	Author       string
	AuthorOrg    string
	Height       int64
	Time         int64 // block time, Unix nanoseconds
	Size         uint64
	BlobHash     [32]byte
	Anchor       keyshare.Anchor
	// Custodians are the validators the shares were sealed to, by share
	// index: custodian i holds share i.
	Custodians [][]byte
}

func (r *Record) encode() []byte {
	w := codec.NewWriter(128)
	w.Byte(recordFormat)
	w.String(r.ID)
	w.String(r.Patient)
	w.String(r.AuthorOrg)
	w.Uvarint(r.Latest)
	w.Varint(r.Created)
	w.Bool(r.Erased)
	w.Varint(r.ErasedAt)
	w.String(r.ErasedBy)
	return w.Bytes()
}

// DecodeRecord decodes a record as stored, for clients checking a proven
// value.
func DecodeRecord(b []byte) (*Record, error) {
	r := codec.NewReader(b)
	if f := r.Byte(); r.Err() == nil && f != recordFormat {
		r.Fail("record format %d", f)
	}
	rec := &Record{ID: r.String(tx.MaxIDLen), Patient: r.String(tx.MaxIDLen), AuthorOrg: r.String(tx.MaxIDLen),
		Latest: r.Uvarint(), Created: r.Varint(), Erased: r.Bool(), ErasedAt: r.Varint(), ErasedBy: r.String(tx.MaxIDLen)}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	return rec, nil
}

func (v *Version) encode() []byte {
	w := codec.NewWriter(512)
	w.Byte(versionFormat)
	w.String(v.RecordID)
	w.Uvarint(v.Version)
	w.String(v.ResourceType)
	w.Strings(v.Labels)
	w.Varint(v.Date)
	w.String(v.Author)
	w.String(v.AuthorOrg)
	w.Varint(v.Height)
	w.Varint(v.Time)
	w.Uvarint(v.Size)
	w.Fixed(v.BlobHash[:])
	w.BytesField(v.Anchor.Encode())
	w.Uvarint(uint64(len(v.Custodians)))
	for _, c := range v.Custodians {
		w.BytesField(c)
	}
	return w.Bytes()
}

// DecodeVersion decodes a version as stored, for clients checking a
// proven value.
func DecodeVersion(b []byte) (*Version, error) {
	r := codec.NewReader(b)
	if f := r.Byte(); r.Err() == nil && f != versionFormat {
		r.Fail("version format %d", f)
	}
	v := &Version{RecordID: r.String(tx.MaxIDLen), Version: r.Uvarint(), ResourceType: r.String(tx.MaxIDLen),
		Labels: r.Strings(tx.MaxRecordLabels, tx.MaxLabelLen), Date: r.Varint(), Author: r.String(tx.MaxIDLen),
		AuthorOrg: r.String(tx.MaxIDLen), Height: r.Varint(), Time: r.Varint(), Size: r.Uvarint()}
	copy(v.BlobHash[:], r.Fixed(32))
	anchor := r.BytesField(tx.MaxAnchorBytes)
	n := r.Uvarint()
	if n > tx.MaxValidators {
		r.Fail("%d custodians", n)
	}
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		v.Custodians = append(v.Custodians, bytes.Clone(r.BytesField(64)))
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("decode record version: %w", err)
	}
	a, err := keyshare.DecodeAnchor(anchor)
	if err != nil {
		return nil, fmt.Errorf("decode record version: %w", err)
	}
	v.Anchor = a
	return v, nil
}

// Get loads a record: a CodeNotFound error if there is none, a plain error
// if state is unreadable or corrupt.
func Get(st kv.Reader, id string) (*Record, error) {
	b, err := st.Get(RecordKey(id))
	if err != nil {
		return nil, fmt.Errorf("load record %s: %w", id, err)
	}
	if b == nil {
		return nil, tx.Errorf(tx.CodeNotFound, "record %s does not exist", id)
	}
	rec, err := DecodeRecord(b)
	if err != nil {
		return nil, fmt.Errorf("corrupt record %s: %w", id, err)
	}
	return rec, nil
}

// GetVersion loads one version of a record (0: the latest). Versions of an
// erased record are still returned: their hashes stay on the ledger.
func GetVersion(st kv.Reader, id string, version uint64) (*Record, *Version, error) {
	rec, err := Get(st, id)
	if err != nil {
		return nil, nil, err
	}
	if version == 0 {
		version = rec.Latest
	}
	if version > rec.Latest {
		return rec, nil, tx.Errorf(tx.CodeNotFound, "record %s has no version %d (latest is %d)", id, version, rec.Latest)
	}
	b, err := st.Get(VersionKey(id, version))
	if err != nil {
		return nil, nil, fmt.Errorf("load record %s version %d: %w", id, version, err)
	}
	if b == nil {
		return nil, nil, fmt.Errorf("corrupt state: record %s lacks version %d of %d", id, version, rec.Latest)
	}
	v, err := DecodeVersion(b)
	if err != nil {
		return nil, nil, fmt.Errorf("corrupt record %s version %d: %w", id, version, err)
	}
	return rec, v, nil
}

// Versions lists every version of a record, oldest first.
func Versions(st kv.Reader, id string) (*Record, []*Version, error) {
	rec, err := Get(st, id)
	if err != nil {
		return nil, nil, err
	}
	out := make([]*Version, 0, rec.Latest)
	for v := uint64(1); v <= rec.Latest; v++ {
		_, ver, err := GetVersion(st, id, v)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, ver)
	}
	return rec, out, nil
}

// List returns the ids of a patient's records in id order.
func List(st kv.Reader, patient string) ([]string, error) {
	prefix := []byte(prefixPatient + patient + "/")
	var ids []string
	err := st.Iterate(prefix, kv.PrefixEnd(prefix), false, func(k, _ []byte) bool {
		ids = append(ids, string(k[len(prefix):]))
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("list records of %s: %w", patient, err)
	}
	return ids, nil
}

// All calls fn for every record version on the ledger, in key order, for
// replication and integrity checks.
func All(st kv.Reader, fn func(*Record, *Version) error) error {
	var ids []string
	p := []byte(prefixRecord)
	if err := st.Iterate(p, kv.PrefixEnd(p), false, func(k, _ []byte) bool {
		ids = append(ids, string(k[len(p):]))
		return true
	}); err != nil {
		return fmt.Errorf("list records: %w", err)
	}
	for _, id := range ids {
		rec, vs, err := Versions(st, id)
		if err != nil {
			return err
		}
		for _, v := range vs {
			if err := fn(rec, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// CustodySetHash names a validator set as a record's custodians: SHA-256
// over a domain prefix and each validator's address and HPKE key in the
// order given (the ledger's, by address). A writer seals share i to
// validator i of the set it hashed, and the ledger accepts the record only
// while that is still the set.
func CustodySetHash(vals []identity.Validator) [32]byte {
	w := codec.NewWriter(64 + len(vals)*1300)
	w.Fixed([]byte("carechain/custody-set/v1\x00"))
	w.Uvarint(uint64(len(vals)))
	for _, v := range vals {
		w.BytesField(v.Address)
		w.BytesField(v.HPKEKey)
	}
	return sha256.Sum256(w.Bytes())
}

// CustodianID is the recipient id a validator's custody share is sealed
// under: "validator-" and its address in lower-case hex.
func CustodianID(address []byte) string { return "validator-" + hex.EncodeToString(address) }
