package audit

import (
	"encoding/binary"
	"fmt"

	"github.com/carechain/carechain/internal/kv"
)

// Append adds e to the log as its next event and returns the sequence number
// it assigned (any Seq in e is ignored) and the event's leaf hash.
//
// It checks the event (Validate) and that its block height and time are not
// earlier than the last event's, before writing anything: an error wrapping
// ErrInvalidEvent leaves the store untouched. Any other error is the store's
// or ErrCorrupt and may leave the writes partial; the node must stop and
// drop the block's state. Append reads and writes O(log n) keys.
func Append(s kv.Store, e Event) (seq uint64, leafHash []byte, err error) {
	h, err := loadHead(s)
	if err != nil {
		return 0, nil, err
	}
	e.Seq = h.size
	if err := e.Validate(); err != nil {
		return 0, nil, fmt.Errorf("append event %d: %w", e.Seq, err)
	}
	// History's time bounds rely on times never going backwards.
	if h.size > 0 && (e.Height < h.lastHeight || e.Time.UnixNano() < h.lastTime) {
		return 0, nil, fmt.Errorf("append event %d: %w: block height %d time %s is before the last event's (height %d)",
			e.Seq, ErrInvalidEvent, e.Height, e.Time.UTC().Format(timeLayout), h.lastHeight)
	}
	enc, err := e.Encode()
	if err != nil {
		return 0, nil, fmt.Errorf("append event %d: %w", e.Seq, err)
	}
	leaf := LeafHash(enc)

	root, err := treeOf(s).appendLeaf(s, h.size, leaf)
	if err != nil {
		return 0, nil, fmt.Errorf("append event %d: %w", e.Seq, err)
	}
	if err := s.Set(eventKey(e.Seq), enc); err != nil {
		return 0, nil, fmt.Errorf("store event %d: %w", e.Seq, err)
	}
	// Events about no patient (refused requests) are indexed under the
	// empty patient id, which no patient has, so they are read as pages too.
	if err := indexPatient(s, e.Patient, e.Seq); err != nil {
		return 0, nil, fmt.Errorf("index event %d: %w", e.Seq, err)
	}
	next := head{size: h.size + 1, lastHeight: e.Height, lastTime: e.Time.UnixNano(), root: root}
	if err := s.Set(keyHead, next.encode()); err != nil {
		return 0, nil, fmt.Errorf("store audit head: %w", err)
	}
	return e.Seq, leaf, nil
}

const timeLayout = "2006-01-02T15:04:05.999999999Z07:00"

// indexPatient records seq as the patient's next event.
func indexPatient(s kv.Store, patient string, seq uint64) error {
	n, err := patientCount(s, patient)
	if err != nil {
		return err
	}
	if err := s.Set(patientEntryKey(patient, n), binary.AppendUvarint(nil, seq)); err != nil {
		return fmt.Errorf("store patient entry %d: %w", n, err)
	}
	if err := s.Set(patientCountKey(patient), binary.AppendUvarint(nil, n+1)); err != nil {
		return fmt.Errorf("store patient count: %w", err)
	}
	return nil
}

// Root returns the log's size and RFC 6962 root hash, the value the app
// hash commits to. The empty log's root is SHA-256 of the empty string.
func Root(r kv.Reader) (size uint64, root []byte, err error) {
	h, err := loadHead(r)
	if err != nil {
		return 0, nil, err
	}
	return h.size, h.root, nil
}

// RootAt returns the root hash the log had when it held size events, for
// checking proofs against an older app hash. It reads O(log n) keys.
func RootAt(r kv.Reader, size uint64) ([]byte, error) {
	h, err := loadHead(r)
	if err != nil {
		return nil, err
	}
	if size > h.size {
		return nil, fmt.Errorf("root at size %d: %w: log has %d events", size, ErrNotFound, h.size)
	}
	if size == h.size {
		return h.root, nil
	}
	root, err := treeOf(r).rootAt(size)
	if err != nil {
		return nil, fmt.Errorf("root at size %d: %w", size, err)
	}
	return root, nil
}

// Get returns the event with sequence number seq.
func Get(r kv.Reader, seq uint64) (Event, error) {
	b, err := GetEncoded(r, seq)
	if err != nil {
		return Event{}, err
	}
	e, err := DecodeEvent(b)
	if err != nil {
		return Event{}, fmt.Errorf("load event %d: %w: %w", seq, ErrCorrupt, err)
	}
	if e.Seq != seq {
		return Event{}, fmt.Errorf("load event %d: %w: stored event says seq %d", seq, ErrCorrupt, e.Seq)
	}
	return e, nil
}

// GetEncoded returns the canonical encoding of event seq: the bytes its leaf
// hash covers and a proof bundle carries.
func GetEncoded(r kv.Reader, seq uint64) ([]byte, error) {
	b, err := r.Get(eventKey(seq))
	if err != nil {
		return nil, fmt.Errorf("load event %d: %w", seq, err)
	}
	if b == nil {
		h, err := loadHead(r)
		if err != nil {
			return nil, err
		}
		if seq < h.size {
			return nil, fmt.Errorf("load event %d: %w: missing", seq, ErrCorrupt)
		}
		return nil, fmt.Errorf("load event %d: %w: log has %d events", seq, ErrNotFound, h.size)
	}
	return b, nil
}

// InclusionProof returns the RFC 6962 inclusion proof that event seq is leaf
// seq of the log when it held size events (seq < size ≤ current size). It
// reads O(log n) keys.
func InclusionProof(r kv.Reader, seq, size uint64) ([][]byte, error) {
	h, err := loadHead(r)
	if err != nil {
		return nil, err
	}
	if size > h.size || seq >= size {
		return nil, fmt.Errorf("inclusion proof of event %d in size %d: %w: log has %d events", seq, size, ErrNotFound, h.size)
	}
	p, err := treeOf(r).inclusion(seq, size)
	if err != nil {
		return nil, fmt.Errorf("inclusion proof of event %d in size %d: %w", seq, size, err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof that the log of
// newSize events extends the log of oldSize events (oldSize ≤ newSize ≤
// current size). It reads O(log n) keys.
func ConsistencyProof(r kv.Reader, oldSize, newSize uint64) ([][]byte, error) {
	h, err := loadHead(r)
	if err != nil {
		return nil, err
	}
	if newSize > h.size || oldSize > newSize {
		return nil, fmt.Errorf("consistency proof %d→%d: %w: log has %d events", oldSize, newSize, ErrNotFound, h.size)
	}
	p, err := treeOf(r).consistency(oldSize, newSize)
	if err != nil {
		return nil, fmt.Errorf("consistency proof %d→%d: %w", oldSize, newSize, err)
	}
	return p, nil
}

// treeOf reads the log's tree: leaf hashes are recomputed from stored events.
func treeOf(r kv.Reader) nodes {
	return nodes{r: r, leaf: func(seq uint64) ([]byte, error) {
		b, err := r.Get(eventKey(seq))
		if err != nil {
			return nil, fmt.Errorf("load event %d: %w", seq, err)
		}
		if b == nil {
			return nil, fmt.Errorf("load event %d: %w: missing", seq, ErrCorrupt)
		}
		return LeafHash(b), nil
	}}
}

// patientCount returns how many events the patient has.
func patientCount(r kv.Reader, patient string) (uint64, error) {
	b, err := r.Get(patientCountKey(patient))
	if err != nil {
		return 0, fmt.Errorf("load patient event count: %w", err)
	}
	if b == nil {
		return 0, nil
	}
	n, err := strictUvarint(b)
	if err != nil {
		return 0, fmt.Errorf("load patient event count: %w: %w", ErrCorrupt, err)
	}
	return n, nil
}

// patientSeq returns the seq of the patient's ordinal-th event.
func patientSeq(r kv.Reader, patient string, ordinal uint64) (uint64, error) {
	b, err := r.Get(patientEntryKey(patient, ordinal))
	if err != nil {
		return 0, fmt.Errorf("load patient entry %d: %w", ordinal, err)
	}
	if b == nil {
		return 0, fmt.Errorf("load patient entry %d: %w: missing", ordinal, ErrCorrupt)
	}
	seq, err := strictUvarint(b)
	if err != nil {
		return 0, fmt.Errorf("load patient entry %d: %w: %w", ordinal, ErrCorrupt, err)
	}
	return seq, nil
}

// strictUvarint decodes a value that is exactly one minimal uvarint.
func strictUvarint(b []byte) (uint64, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || n != len(b) || len(binary.AppendUvarint(nil, v)) != n {
		return 0, fmt.Errorf("malformed uvarint %x", b)
	}
	return v, nil
}
