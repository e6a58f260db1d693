package audit

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/transparency-dev/merkle/testonly"

	"github.com/carechain/carechain/internal/kv"
)

// TestLogMatchesReference builds a log of audit events and checks every root,
// every inclusion proof and every consistency proof up to refSize against the
// literal RFC 6962 reference, and that each verifies with both our verifier
// and the RFC 9162 reference verifier.
func TestLogMatchesReference(t *testing.T) {
	const refSize = 70
	g := newEventGen(1, 10)
	events := make([]Event, refSize)
	for i := range events {
		events[i] = g.next()
	}
	s, encs := buildLog(t, events)
	leaves := make([][]byte, len(encs))
	for i, enc := range encs {
		leaves[i] = refLeaf(enc)
	}
	for size := uint64(0); size <= refSize; size++ {
		wantRoot := refMTH(leaves[:size])
		root, err := RootAt(s, size)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(root, wantRoot) {
			t.Fatalf("root at %d = %x, reference %x", size, root, wantRoot)
		}
		for index := uint64(0); index < size; index++ {
			p, err := InclusionProof(s, index, size)
			if err != nil {
				t.Fatal(err)
			}
			if want := refPath(int(index), leaves[:size]); !equalProofs(p, want) {
				t.Fatalf("inclusion proof (%d, %d) differs from reference:\n got %x\nwant %x", index, size, p, want)
			}
			if err := VerifyInclusion(index, size, leaves[index], p, root); err != nil {
				t.Fatalf("inclusion proof (%d, %d): %v", index, size, err)
			}
			if !refVerifyInclusion(index, size, leaves[index], p, root) {
				t.Fatalf("reference rejects inclusion proof (%d, %d)", index, size)
			}
		}
		for old := uint64(0); old <= size; old++ {
			p, err := ConsistencyProof(s, old, size)
			if err != nil {
				t.Fatal(err)
			}
			if want := refProof(int(old), leaves[:size]); !equalProofs(p, want) {
				t.Fatalf("consistency proof %d→%d differs from reference:\n got %x\nwant %x", old, size, p, want)
			}
			oldRoot := refMTH(leaves[:old])
			if err := VerifyConsistency(old, size, p, oldRoot, root); err != nil {
				t.Fatalf("consistency proof %d→%d: %v", old, size, err)
			}
			if !refVerifyConsistency(old, size, p, oldRoot, root) {
				t.Fatalf("reference rejects consistency proof %d→%d", old, size)
			}
		}
	}
}

// TestLogMatchesReferenceLarger spot-checks bigger trees, where the right
// border is deep, against the reference.
func TestLogMatchesReferenceLarger(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 7))
	g := newEventGen(2, 50)
	const n = 1500
	events := make([]Event, n)
	for i := range events {
		events[i] = g.next()
	}
	s, encs := buildLog(t, events)
	leaves := make([][]byte, n)
	for i, enc := range encs {
		leaves[i] = refLeaf(enc)
	}
	sizes := []uint64{127, 128, 129, 255, 256, 257, 511, 512, 513, 1023, 1024, 1025, n}
	for range 10 {
		sizes = append(sizes, 1+rnd.Uint64N(n))
	}
	for _, size := range sizes {
		root, err := RootAt(s, size)
		if err != nil {
			t.Fatal(err)
		}
		if want := refMTH(leaves[:size]); !bytes.Equal(root, want) {
			t.Fatalf("root at %d differs from reference", size)
		}
		for _, index := range []uint64{0, size / 3, size / 2, size - 1, rnd.Uint64N(size)} {
			p, err := InclusionProof(s, index, size)
			if err != nil {
				t.Fatal(err)
			}
			if !equalProofs(p, refPath(int(index), leaves[:size])) {
				t.Fatalf("inclusion proof (%d, %d) differs from reference", index, size)
			}
		}
		old := rnd.Uint64N(size + 1)
		p, err := ConsistencyProof(s, old, size)
		if err != nil {
			t.Fatal(err)
		}
		if !equalProofs(p, refProof(int(old), leaves[:size])) {
			t.Fatalf("consistency proof %d→%d differs from reference", old, size)
		}
	}
}

// TestTreeMatchesRFCVectors drives the node store with the leaf inputs of the
// merkle library's RFC 6962 test data and its independent in-memory tree.
func TestTreeMatchesRFCVectors(t *testing.T) {
	inputs := testonly.LeafInputs()
	roots := testonly.RootHashes()
	var leaves [][]byte
	s := kv.NewMemory()
	tr := nodes{r: s, leaf: func(i uint64) ([]byte, error) { return leaves[i], nil }}
	ref := testonly.New(hasher)
	for i, in := range inputs {
		root, err := tr.appendLeaf(s, uint64(i), refLeaf(in))
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, refLeaf(in))
		ref.AppendData(in)
		if !bytes.Equal(root, roots[i+1]) {
			t.Fatalf("root at %d = %x, RFC vector %x", i+1, root, roots[i+1])
		}
	}
	// A few thousand more leaves against testonly.Tree.
	for i := len(inputs); i < 3000; i++ {
		data := []byte(fmt.Sprintf("leaf %d", i))
		root, err := tr.appendLeaf(s, uint64(i), refLeaf(data))
		if err != nil {
			t.Fatal(err)
		}
		leaves = append(leaves, refLeaf(data))
		ref.AppendData(data)
		if !bytes.Equal(root, ref.Hash()) {
			t.Fatalf("root at %d differs from testonly.Tree", i+1)
		}
		if i%97 == 0 {
			size := uint64(i + 1)
			for _, index := range []uint64{0, size / 2, size - 1} {
				got, err := tr.inclusion(index, size)
				if err != nil {
					t.Fatal(err)
				}
				want, _ := ref.InclusionProof(index, size)
				if !equalProofs(got, want) {
					t.Fatalf("inclusion (%d, %d) differs from testonly.Tree", index, size)
				}
			}
			got, err := tr.consistency(size/3, size)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := ref.ConsistencyProof(size/3, size)
			if !equalProofs(got, want) {
				t.Fatalf("consistency %d→%d differs from testonly.Tree", size/3, size)
			}
		}
	}
}

func equalProofs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}
