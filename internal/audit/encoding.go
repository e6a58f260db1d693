package audit

import (
	"fmt"
	"math"
	"time"

	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/carechain/carechain/internal/codec"
)

// encodingVersion is the first byte of every encoded event. A new layout
// gets a new version; decoders reject versions they do not know.
const encodingVersion = 1

// Encode returns the event's canonical encoding, the bytes its leaf hash
// covers. It fails on an event that breaks the encoding's rules (see
// docs/audit-log.md); it does not consult the action registry.
//
// Layout, in order (uvarint = minimal unsigned LEB128, str = uvarint length
// then bytes):
//
//	byte     version (1)
//	uvarint  seq
//	uvarint  height
//	uvarint  time, nanoseconds since 1970-01-01T00:00:00Z, > 0
//	str      actor
//	str      actor organization
//	str      patient
//	str      action
//	uvarint  number of record ids, then each as str, ascending and unique
//	str      target
//	str      purpose
//	byte     decision: 1 permit, 2 deny
//	str      reason consent id
//	str      reason provision path
//	str      reason rule
//	byte     flags: bit 0 break-the-glass, bit 1 recipient present,
//	         bit 2 count present, other bits zero
//	str      transaction hash (0 or 32 bytes)
//	str      recipient, only if flag bit 1 is set (non-empty)
//	uvarint  count, only if flag bit 2 is set (at least 2)
//
// The recipient and the count are behind flags so that events without them
// encode exactly as they did before the fields existed: their leaf hashes,
// and so the audit roots of existing logs, do not change.
func (e *Event) Encode() ([]byte, error) {
	if err := e.checkShape(); err != nil {
		return nil, fmt.Errorf("encode event %d: %w", e.Seq, err)
	}
	n := 74 + len(e.Recipient) + len(e.Actor) + len(e.ActorOrg) + len(e.Patient) + len(e.Action) + len(e.Target) +
		len(e.Purpose) + len(e.Reason.ConsentID) + len(e.Reason.Provision) + len(e.Reason.Rule) + len(e.TxHash)
	for _, id := range e.RecordIDs {
		n += 2 + len(id)
	}
	w := codec.NewWriter(n)
	w.Byte(encodingVersion)
	w.Uvarint(e.Seq)
	w.Uvarint(e.Height)
	w.Uvarint(uint64(e.Time.UnixNano()))
	w.String(e.Actor)
	w.String(e.ActorOrg)
	w.String(e.Patient)
	w.String(string(e.Action))
	w.Strings(e.RecordIDs)
	w.String(e.Target)
	w.String(e.Purpose)
	w.Byte(byte(e.Decision))
	w.String(e.Reason.ConsentID)
	w.String(e.Reason.Provision)
	w.String(e.Reason.Rule)
	var flags byte
	if e.BreakGlass {
		flags |= flagBreakGlass
	}
	if e.Recipient != "" {
		flags |= flagRecipient
	}
	if e.Count != 0 {
		flags |= flagCount
	}
	w.Byte(flags)
	w.BytesField(e.TxHash)
	if e.Recipient != "" {
		w.String(e.Recipient)
	}
	if e.Count != 0 {
		w.Uvarint(e.Count)
	}
	return w.Bytes(), nil
}

const (
	flagBreakGlass = 1
	flagRecipient  = 2
	flagCount      = 4
)

// DecodeEvent parses a canonical encoding. It rejects anything Encode would
// not have produced: unknown versions, non-minimal varints, unsorted or
// duplicate record ids, unknown flags, bad field contents and trailing
// bytes. The action need not be registered, so that a client can check a
// proof for an event its software predates.
func DecodeEvent(b []byte) (Event, error) {
	if len(b) > maxEncodedEvent {
		return Event{}, fmt.Errorf("decode event: %w: %d bytes, at most %d", ErrInvalidEvent, len(b), maxEncodedEvent)
	}
	r := codec.NewReader(b)
	if v := r.Byte(); r.Err() == nil && v != encodingVersion {
		r.Fail("unknown event encoding version %d", v)
	}
	var e Event
	e.Seq = r.Uvarint()
	e.Height = r.Uvarint()
	nanos := r.Uvarint()
	if r.Err() == nil && (nanos == 0 || nanos > math.MaxInt64) {
		r.Fail("time %d out of range", nanos)
	}
	e.Time = time.Unix(0, int64(nanos)).UTC()
	e.Actor = r.String(maxIDLen)
	e.ActorOrg = r.String(maxIDLen)
	e.Patient = r.String(maxIDLen)
	e.Action = Action(r.String(maxActionLen))
	e.RecordIDs = r.Strings(maxRecordIDs, maxIDLen)
	e.Target = r.String(maxIDLen)
	e.Purpose = r.String(maxPurposeLen)
	e.Decision = Decision(r.Byte())
	e.Reason.ConsentID = r.String(maxIDLen)
	e.Reason.Provision = r.String(maxReasonLen)
	e.Reason.Rule = r.String(maxReasonLen)
	flags := r.Byte()
	if r.Err() == nil && flags&^(flagBreakGlass|flagRecipient|flagCount) != 0 {
		r.Fail("unknown flags %#x", flags)
	}
	e.BreakGlass = flags&flagBreakGlass != 0
	if tx := r.BytesField(txHashLen); len(tx) > 0 {
		e.TxHash = HexBytes(append([]byte(nil), tx...))
	}
	if flags&flagRecipient != 0 {
		if e.Recipient = r.String(maxIDLen); r.Err() == nil && e.Recipient == "" {
			r.Fail("recipient flag set but the recipient is empty")
		}
	}
	if flags&flagCount != 0 {
		if e.Count = r.Uvarint(); r.Err() == nil && e.Count < 2 {
			r.Fail("count flag set but the count is %d; a single attempt has no count", e.Count)
		}
	}
	if err := r.Done(); err != nil {
		return Event{}, fmt.Errorf("decode event: %w: %w", ErrInvalidEvent, err)
	}
	if err := e.checkShape(); err != nil {
		return Event{}, fmt.Errorf("decode event %d: %w", e.Seq, err)
	}
	return e, nil
}

// LeafHash returns the RFC 6962 leaf hash of an encoded event:
// SHA-256(0x00 || encoding).
func LeafHash(encoded []byte) []byte {
	return rfc6962.DefaultHasher.HashLeaf(encoded)
}
