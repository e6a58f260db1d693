package tx

import (
	"errors"
	"strconv"

	"github.com/carechain/carechain/internal/codec"
)

// TypeWriteBatch is the record module's batch write. Its number is part of
// the protocol and never reused.
const TypeWriteBatch Type = 34

// Batch limits. A batch is the one message allowed past MaxTxBytes: a FHIR
// transaction Bundle of a hundred directory entries is some 300 KB, and
// its entries must commit together. MaxBatchTxBytes is half a block
// (node.MaxBlockBytes), so a batch always fits in one.
const (
	MaxBatchEntries   = 1000
	MaxBatchTxBytes   = 512 << 10
	MaxBatchBodyBytes = MaxBatchTxBytes - 256
)

// WriteBatch writes record versions and directory versions together: the
// block applies every entry, in order, or none of them. It is what a FHIR
// transaction Bundle becomes, so that a Bundle refused in its block leaves
// nothing behind — no anchor, no audit event, no directory entry.
//
// Entries are *PutRecord and *PutDirectory messages, each checked as it
// would be alone, except that a version 1 takes its id from the batch
// transaction and the entry's position (BatchEntryID): every entry's id is
// known before signing, so entries can refer to one another.
type WriteBatch struct {
	Entries []Msg
}

func (*WriteBatch) Type() Type { return TypeWriteBatch }

func (m *WriteBatch) Encode() []byte {
	bodies := make([][]byte, len(m.Entries))
	size := 8
	for i, e := range m.Entries {
		bodies[i] = e.Encode()
		size += len(bodies[i]) + 8
	}
	w := codec.NewWriter(size)
	w.Uvarint(uint64(len(m.Entries)))
	for i, e := range m.Entries {
		w.Uvarint(uint64(e.Type()))
		w.BytesField(bodies[i])
	}
	return w.Bytes()
}

func decodeBatchMsg(t Type, r *codec.Reader) Msg {
	if t != TypeWriteBatch {
		return nil
	}
	m := &WriteBatch{}
	n := r.Uvarint()
	if n > MaxBatchEntries {
		r.Fail("%d batch entries, at most %d", n, MaxBatchEntries)
		return m
	}
	for i := uint64(0); i < n && r.Err() == nil; i++ {
		typ := readType(r)
		body := r.BytesField(MaxTxBytes)
		if r.Err() != nil {
			break
		}
		if typ != TypePutRecord && typ != TypePutDirectory {
			r.Fail("batch entry %d is a %s; a batch holds record.put and directory.put", i, typ)
			break
		}
		e, err := DecodeMsg(typ, body)
		if err != nil {
			r.Fail("batch entry %d: %v", i, err)
			break
		}
		m.Entries = append(m.Entries, e)
	}
	return m
}

func validateBatchMsg(t *Tx, m Msg) (bool, error) {
	b, ok := m.(*WriteBatch)
	if !ok {
		return false, nil
	}
	if len(b.Entries) == 0 {
		return true, Errorf(CodeInvalid, "a batch needs at least one entry")
	}
	for i, e := range b.Entries {
		var err error
		switch e := e.(type) {
		case *PutRecord:
			err = checkPutRecord(t, e, BatchEntryID(TypePutRecord, t.Signer, t.Nonce, i))
		case *PutDirectory:
			err = checkPutDirectory(t, e, BatchEntryID(TypePutDirectory, t.Signer, t.Nonce, i))
		default:
			err = Errorf(CodeInvalid, "a batch holds record.put and directory.put, not %s", e.Type())
		}
		if err != nil {
			return true, BatchEntryError(i, err)
		}
	}
	return true, nil
}

// BatchEntryError is err, about the batch entry at index i, with its code
// kept and the entry named first ("entry 3: …"), so a writer can tell
// which entry of its Bundle was refused.
func BatchEntryError(i int, err error) error {
	msg := err.Error()
	var e *Error
	if errors.As(err, &e) {
		msg = e.Msg
	}
	return Errorf(CodeOf(err), "entry %d: %s", i, msg)
}

const batchIDDomain = "carechain/batch-entry-id/v1\x00"

// BatchEntryID is the id a version-1 entry at position index of a
// WriteBatch from signer with nonce creates: "rc…" for a record, "dr…" for
// a directory entry, 24 base32 letters of SHA-256 over a domain prefix,
// the signer, the nonce and the index. It never equals a RecordID or
// DirectoryID: the domains differ.
func BatchEntryID(typ Type, signer string, nonce uint64, index int) string {
	prefix := "rc"
	if typ == TypePutDirectory {
		prefix = "dr"
	}
	return derivedID(prefix, batchIDDomain+strconv.Itoa(index)+"\x00", signer, nonce)
}
