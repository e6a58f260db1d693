// Package audit is carechain's audit log: every create, read, search,
// update, erase, consent change, denied attempt and break-the-glass access
// becomes an Event appended to an RFC 6962 Merkle log kept in the ledger's
// authenticated state.
//
// The package promises:
//
//   - Events have one canonical binary encoding (DecodeEvent then Encode
//     returns the input bytes) and the log's leaf hash is the RFC 6962 leaf
//     hash of exactly those bytes.
//   - The log is append-only. Append assigns sequence numbers 0, 1, 2, …,
//     refuses events whose block height or time goes backwards, and costs
//     O(log n) reads and writes. Root returns the log's size and root hash
//     for the app hash.
//   - Every event has an inclusion proof to any later root, and any two roots
//     have a consistency proof. Both are generated from O(log n) stored nodes
//     and verified offline by VerifyInclusion, VerifyConsistency and
//     VerifyEvent, which need nothing but the bytes they are given.
//   - A patient's history (History) is read page by page with work
//     proportional to the page, never to the patient's whole history, and
//     filters are bounded per call.
//   - Exports (FHIR R4 AuditEvent following IHE BALP, and the HIPAA
//     accounting of disclosures as JSON and CSV) are pure functions of
//     events.
//
// The package is pure: it reads and writes only through kv.Store, takes block
// height and time as arguments, and uses no network, disk, clock, randomness
// or floating point, so every validator computes the same bytes.
//
// Errors wrapping ErrInvalidEvent, ErrInvalidQuery, ErrNotFound or
// ErrBadProof are about the caller's input. Errors wrapping ErrCorrupt, and
// errors returned by the store, mean the state is damaged: the node should
// stop rather than guess.
//
// docs/audit-log.md describes the event model, encoding, key layout, proof
// formats, query semantics and export mappings.
package audit

//go:generate go test -run TestGoldenVectors -update .
