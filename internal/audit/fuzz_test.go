package audit

import (
	"bytes"
	"encoding/hex"
	"sync"
	"testing"

	"github.com/carechain/carechain/internal/kv"
)

// FuzzDecodeEvent: decoding never panics, whatever decodes re-encodes to the
// same bytes, and exports accept whatever decodes.
func FuzzDecodeEvent(f *testing.F) {
	var events vectorFile[eventVector]
	if err := loadJSON("events.json", &events); err != nil {
		f.Fatal(err)
	}
	for _, v := range events.Vectors {
		b, _ := hex.DecodeString(v.Encoding)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeEvent(b)
		if err != nil {
			return
		}
		re, err := e.Encode()
		if err != nil {
			t.Fatalf("decoded event does not encode: %v", err)
		}
		if !bytes.Equal(re, b) {
			t.Fatalf("decode-then-encode changed the bytes:\n in %x\nout %x", b, re)
		}
		_, _ = FHIRAuditEvent(e, FHIROptions{})
		if IsDisclosure(e) {
			if _, err := FHIRDisclosure(e, FHIROptions{}); err != nil {
				t.Fatalf("disclosure export failed: %v", err)
			}
		}
		rep := NewDisclosureReport(e.Patient, []Event{e}, DisclosureOptions{})
		if _, err := rep.CSV(); err != nil {
			t.Fatal(err)
		}
	})
}

// FuzzVerifyInclusion: arbitrary bytes never panic the verifier, and its
// verdict agrees with the RFC 9162 reference verifier.
func FuzzVerifyInclusion(f *testing.F) {
	var incl vectorFile[inclusionVector]
	if err := loadJSON("inclusion.json", &incl); err != nil {
		f.Fatal(err)
	}
	for _, v := range incl.Vectors {
		f.Add(v.Index, v.Size, unhexNoT(v.LeafHash), unhexNoT(v.Proof), unhexNoT(v.Root))
	}
	f.Fuzz(func(t *testing.T, index, size uint64, leaf, proofBytes, root []byte) {
		p, err := DecodeProof(proofBytes)
		if err != nil {
			return
		}
		err = VerifyInclusion(index, size, leaf, p, root)
		ref := len(leaf) == 32 && len(root) == 32 && refVerifyInclusion(index, size, leaf, p, root)
		if (err == nil) != ref {
			t.Fatalf("verifier says %v, reference says %v", err, ref)
		}
		_, _ = VerifyEvent(leaf, size, p, root)
	})
}

// FuzzVerifyConsistency: as FuzzVerifyInclusion, for consistency proofs.
func FuzzVerifyConsistency(f *testing.F) {
	var cons vectorFile[consistencyVector]
	if err := loadJSON("consistency.json", &cons); err != nil {
		f.Fatal(err)
	}
	for _, v := range cons.Vectors {
		f.Add(v.Size1, v.Size2, unhexNoT(v.Proof), unhexNoT(v.Root1), unhexNoT(v.Root2))
	}
	f.Fuzz(func(t *testing.T, size1, size2 uint64, proofBytes, root1, root2 []byte) {
		p, err := DecodeProof(proofBytes)
		if err != nil {
			return
		}
		err = VerifyConsistency(size1, size2, p, root1, root2)
		ref := len(root1) == 32 && len(root2) == 32 && refVerifyConsistency(size1, size2, p, root1, root2)
		if (err == nil) != ref {
			t.Fatalf("verifier says %v, reference says %v", err, ref)
		}
	})
}

// fuzzLog is a 300-event log and its leaf hashes, built once per process.
var fuzzLog = sync.OnceValues(func() (*kv.Memory, [][]byte) {
	g := newEventGen(11, 9)
	events := make([]Event, 300)
	for i := range events {
		events[i] = g.next()
	}
	s, encs, err := appendAll(events)
	if err != nil {
		panic(err) // generated events are valid; a failure is a bug in the test
	}
	leaves := make([][]byte, len(encs))
	for i, enc := range encs {
		leaves[i] = refLeaf(enc)
	}
	return s, leaves
})

// FuzzProofsAgainstReference compares generated proofs with the literal
// reference for fuzzer-chosen positions in a 300-event log.
func FuzzProofsAgainstReference(f *testing.F) {
	f.Add(uint16(0), uint16(1), uint16(0))
	f.Add(uint16(5), uint16(299), uint16(200))
	f.Fuzz(func(t *testing.T, a, b, c uint16) {
		store, leaves := fuzzLog()
		n := uint64(len(leaves))
		size := 1 + uint64(b)%n
		index := uint64(a) % size
		old := uint64(c) % (size + 1)
		p, err := InclusionProof(store, index, size)
		if err != nil || !equalProofs(p, refPath(int(index), leaves[:size])) {
			t.Fatalf("inclusion (%d, %d): %v", index, size, err)
		}
		cp, err := ConsistencyProof(store, old, size)
		if err != nil || !equalProofs(cp, refProof(int(old), leaves[:size])) {
			t.Fatalf("consistency %d→%d: %v", old, size, err)
		}
	})
}
