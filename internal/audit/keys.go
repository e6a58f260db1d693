package audit

import (
	"bytes"
	"encoding/binary"

	"github.com/transparency-dev/merkle/compact"
)

// Key layout. Everything lives under "audit/" in the ledger's authenticated
// state, so the state root commits to all of it. Integers in keys are 8-byte
// big-endian so that keys sort in numeric order; a patient id in a key is
// preceded by its length (one uvarint) so that no patient's keys are a prefix
// range of another's.
//
//	audit/head                          → size(8) ‖ last height(8) ‖ last time ns(8) ‖ root(32)
//	audit/e/<seq:8>                     → canonical event encoding
//	audit/n/<level:1><index:8>          → 32-byte hash of the complete subtree
//	                                      (level ≥ 1) covering leaves
//	                                      [index·2^level, (index+1)·2^level)
//	audit/pc/<len><patient>             → uvarint number of the patient's events
//	audit/p/<len><patient><ordinal:8>   → uvarint seq of the patient's ordinal-th event
//
// Leaf hashes (level 0) are not stored: they are the hash of the event at
// audit/e/<seq>, and recomputing the one or two a proof needs is cheaper
// than storing a million more keys. The head caches the root so that Root is
// one read. Events about no patient (refused requests) are indexed under
// the empty patient id (length 0), which no patient has. The patient index maps ordinals (0, 1, 2, … per patient) to
// sequence numbers, so a page of history is found by direct reads from any
// position, and a time bound by binary search, without range scans.
var (
	keyHead          = []byte("audit/head")
	prefixEvent      = []byte("audit/e/")
	prefixNode       = []byte("audit/n/")
	prefixPatientLen = []byte("audit/pc/")
	prefixPatient    = []byte("audit/p/")
	// Prefix is the prefix of every key the audit log writes.
	Prefix = []byte("audit/")
)

// IsPatientData reports whether key holds an event or a patient's index
// entries, which only an audited read may serve; the head and the tree's
// hashes reveal sizes and hashes only.
func IsPatientData(key []byte) bool {
	return bytes.HasPrefix(key, prefixEvent) || bytes.HasPrefix(key, prefixPatientLen) || bytes.HasPrefix(key, prefixPatient)
}

func eventKey(seq uint64) []byte {
	k := make([]byte, 0, len(prefixEvent)+8)
	k = append(k, prefixEvent...)
	return binary.BigEndian.AppendUint64(k, seq)
}

func nodeKey(id compact.NodeID) []byte {
	k := make([]byte, 0, len(prefixNode)+9)
	k = append(k, prefixNode...)
	k = append(k, byte(id.Level))
	return binary.BigEndian.AppendUint64(k, id.Index)
}

func appendPatient(k []byte, patient string) []byte {
	k = binary.AppendUvarint(k, uint64(len(patient)))
	return append(k, patient...)
}

func patientCountKey(patient string) []byte {
	k := make([]byte, 0, len(prefixPatientLen)+2+len(patient))
	k = append(k, prefixPatientLen...)
	return appendPatient(k, patient)
}

func patientEntryKey(patient string, ordinal uint64) []byte {
	k := make([]byte, 0, len(prefixPatient)+2+len(patient)+8)
	k = append(k, prefixPatient...)
	k = appendPatient(k, patient)
	return binary.BigEndian.AppendUint64(k, ordinal)
}
