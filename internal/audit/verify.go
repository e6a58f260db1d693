package audit

import (
	"fmt"

	"github.com/transparency-dev/merkle/proof"

	"github.com/carechain/carechain/internal/kv"
)

// This file is the client's side: everything here works offline on bytes,
// with no store and no trust in the node that supplied them.

// maxProofHashes bounds a decoded proof. An RFC 6962 proof in a tree of at
// most 2^64 leaves has fewer than 2·64 hashes.
const maxProofHashes = 128

// VerifyInclusion checks that leafHash is leaf index of the tree of the given
// size whose root hash is root. Every hash must be 32 bytes.
func VerifyInclusion(index, size uint64, leafHash []byte, p [][]byte, root []byte) error {
	if err := checkHashes(leafHash, root, p); err != nil {
		return fmt.Errorf("inclusion of %d in %d: %w", index, size, err)
	}
	if err := proof.VerifyInclusion(hasher, index, size, leafHash, p, root); err != nil {
		return fmt.Errorf("inclusion of %d in %d: %w: %w", index, size, ErrBadProof, err)
	}
	return nil
}

// VerifyConsistency checks that the tree of size2 leaves with root root2
// extends the tree of size1 leaves with root root1.
func VerifyConsistency(size1, size2 uint64, p [][]byte, root1, root2 []byte) error {
	if err := checkHashes(root1, root2, p); err != nil {
		return fmt.Errorf("consistency %d→%d: %w", size1, size2, err)
	}
	if err := proof.VerifyConsistency(hasher, size1, size2, p, root1, root2); err != nil {
		return fmt.Errorf("consistency %d→%d: %w: %w", size1, size2, ErrBadProof, err)
	}
	return nil
}

// VerifyEvent decodes a canonically encoded event and checks that it is
// entry Seq of the log of the given size with the given root. It returns the
// event only if everything verifies.
func VerifyEvent(encoded []byte, size uint64, p [][]byte, root []byte) (Event, error) {
	e, err := DecodeEvent(encoded)
	if err != nil {
		return Event{}, fmt.Errorf("verify event: %w: %w", ErrBadProof, err)
	}
	if err := VerifyInclusion(e.Seq, size, LeafHash(encoded), p, root); err != nil {
		return Event{}, fmt.Errorf("verify event %d: %w", e.Seq, err)
	}
	return e, nil
}

func checkHashes(a, b []byte, p [][]byte) error {
	if len(a) != hashLen || len(b) != hashLen {
		return fmt.Errorf("%w: hashes must be %d bytes, got %d and %d", ErrBadProof, hashLen, len(a), len(b))
	}
	if len(p) > maxProofHashes {
		return fmt.Errorf("%w: %d proof hashes, at most %d", ErrBadProof, len(p), maxProofHashes)
	}
	for i, h := range p {
		if len(h) != hashLen {
			return fmt.Errorf("%w: proof hash %d is %d bytes, want %d", ErrBadProof, i, len(h), hashLen)
		}
	}
	return nil
}

// EncodeProof returns a proof's wire form: its hashes concatenated, lowest
// level first, as RFC 6962 orders them.
func EncodeProof(p [][]byte) []byte {
	out := make([]byte, 0, len(p)*hashLen)
	for _, h := range p {
		out = append(out, h...)
	}
	return out
}

// DecodeProof parses EncodeProof's output. The length must be a multiple of
// 32 and at most 128 hashes; anything else, trailing bytes included, is
// rejected.
func DecodeProof(b []byte) ([][]byte, error) {
	if len(b)%hashLen != 0 {
		return nil, fmt.Errorf("decode proof: %w: %d bytes is not a multiple of %d", ErrBadProof, len(b), hashLen)
	}
	if len(b)/hashLen > maxProofHashes {
		return nil, fmt.Errorf("decode proof: %w: %d hashes, at most %d", ErrBadProof, len(b)/hashLen, maxProofHashes)
	}
	p := make([][]byte, 0, len(b)/hashLen)
	for i := 0; i < len(b); i += hashLen {
		p = append(p, append([]byte(nil), b[i:i+hashLen]...))
	}
	return p, nil
}

// EventProof is what a client needs to check one event against an audit
// root offline: the event's canonical bytes, the log size and root they are
// proven against, and the inclusion proof. A proof bundle adds the app hash
// and the signed block header that commit to Root.
type EventProof struct {
	Event HexBytes   `json:"event"`
	Size  uint64     `json:"size"`
	Root  HexBytes   `json:"root"`
	Proof []HexBytes `json:"proof"`
}

// ProveEvent assembles the EventProof of event seq against the log of the
// given size; size 0 means the log's current size.
func ProveEvent(r kv.Reader, seq, size uint64) (EventProof, error) {
	if size == 0 {
		n, _, err := Root(r)
		if err != nil {
			return EventProof{}, err
		}
		size = n
	}
	enc, err := GetEncoded(r, seq)
	if err != nil {
		return EventProof{}, err
	}
	root, err := RootAt(r, size)
	if err != nil {
		return EventProof{}, err
	}
	p, err := InclusionProof(r, seq, size)
	if err != nil {
		return EventProof{}, err
	}
	ep := EventProof{Event: enc, Size: size, Root: root, Proof: make([]HexBytes, len(p))}
	for i, h := range p {
		ep.Proof[i] = h
	}
	return ep, nil
}

// Verify checks the proof and returns the event it proves.
func (p EventProof) Verify() (Event, error) {
	hashes := make([][]byte, len(p.Proof))
	for i, h := range p.Proof {
		hashes[i] = h
	}
	return VerifyEvent(p.Event, p.Size, hashes, p.Root)
}
