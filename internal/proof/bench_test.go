package proof_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/state"
)

// benchEvents is the size of the benchmarks' audit log, committed 1,000
// events a block, in the IAVL state store held in memory.
const benchEvents = 1 << 16

var benchLog = sync.OnceValues(func() (*state.Store, error) {
	s := state.OpenMemory()
	for i := 0; i < benchEvents; i++ {
		if _, _, err := audit.Append(s.Working(), testEvent(int64(1+i/1000))); err != nil {
			return nil, err
		}
		if i%1000 == 999 || i == benchEvents-1 {
			if _, _, err := s.Commit(); err != nil {
				return nil, err
			}
		}
	}
	return s, nil
})

// signing is the block that signs the benchmarks' state: events are dated
// blocks 1–66, and the state after block 67 is signed by block 68.
const signing = benchEvents/1000 + 3

// benchChain returns the benchmarks' log, its committed version, a chain
// of four validators whose block signing signs that version's root, that
// block, and the state to prove from.
func benchChain(b *testing.B) (*state.Store, int64, *testChain, proof.LightBlock, kv.Reader) {
	s, err := benchLog()
	if err != nil {
		b.Fatal(err)
	}
	version, root := s.LastCommit()
	spec := chainSpec{chainID: "bench", appHash: map[int64][]byte{signing: root}}
	for range signing {
		spec.sets = append(spec.sets, []int{0, 1, 2, 3})
	}
	c := newTestChain(b, spec)
	snap, _, err := s.Snapshot(version)
	if err != nil {
		b.Fatal(err)
	}
	return s, version, c, c.blocks[signing], snap
}

// headProof proves the audit head at version, as the state part of a
// bundle signed by block signing.
func headProof(b *testing.B, s *state.Store, version int64) proof.StateProof {
	sp, err := s.Prove(proof.HeadKey, version)
	if err != nil {
		b.Fatal(err)
	}
	spBytes, err := sp.Proof.Marshal()
	if err != nil {
		b.Fatal(err)
	}
	return proof.StateProof{Height: signing - 1, Head: sp.Value, Proof: spBytes}
}

// BenchmarkBundle measures assembling and encoding the bundle of a random
// event of a 65,536-event log signed by four validators — what the gateway
// does besides reading the header and commit — and reports its size.
func BenchmarkBundle(b *testing.B) {
	s, version, c, block, snap := benchChain(b)
	r := rand.New(rand.NewPCG(1, 1))
	var data []byte
	for b.Loop() {
		seq := r.Uint64N(benchEvents)
		ep, err := audit.ProveEvent(snap, seq, benchEvents)
		if err != nil {
			b.Fatal(err)
		}
		st := headProof(b, s, version)
		bundle := &proof.Bundle{Version: proof.Version, ChainID: "bench", Seq: seq, Audit: ep,
			State: st, Block: block}
		if data, err = bundle.Encode(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bundle-bytes")
	if _, err := proof.Verify(data, c.genesis); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerify measures verifying the golden bundles.
func BenchmarkVerify(b *testing.B) {
	for _, g := range goodBundles {
		b.Run(g.bundle, func(b *testing.B) {
			data := readFile(b, g.bundle)
			genesis := loadGenesis(b, g.genesis)
			for b.Loop() {
				if _, err := proof.Verify(data, genesis); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(data)), "bundle-bytes")
		})
	}
}

// BenchmarkConsistencyBundle measures assembling and encoding the
// consistency bundle from a random earlier size to a 65,536-event log
// signed by four validators, and reports its size.
func BenchmarkConsistencyBundle(b *testing.B) {
	s, version, c, block, snap := benchChain(b)
	r := rand.New(rand.NewPCG(2, 2))
	var data []byte
	var from proof.Checkpoint
	for b.Loop() {
		size := 1 + r.Uint64N(benchEvents-1)
		p, err := audit.ConsistencyProof(snap, size, benchEvents)
		if err != nil {
			b.Fatal(err)
		}
		fromRoot, err := audit.RootAt(snap, size)
		if err != nil {
			b.Fatal(err)
		}
		st := headProof(b, s, version)
		from = proof.Checkpoint{Size: size, Root: fromRoot}
		cb := &proof.Consistency{Version: proof.Version, Type: proof.ConsistencyType, ChainID: "bench", From: from,
			To: proof.Checkpoint{Size: benchEvents, Root: st.Head[24:]}, Proof: make([]audit.HexBytes, len(p)),
			State: st, Block: block}
		for i, h := range p {
			cb.Proof[i] = h
		}
		if data, err = cb.Encode(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bundle-bytes")
	if _, err := proof.VerifyConsistency(data, c.genesis, from); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkVerifyConsistency measures verifying the golden consistency
// bundle from its checkpoint.
func BenchmarkVerifyConsistency(b *testing.B) {
	data := readFile(b, "consistency-good.json")
	genesis := loadGenesis(b, "consistency-genesis.json")
	c, err := proof.DecodeConsistency(data)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := proof.VerifyConsistency(data, genesis, c.From); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(data)), "bundle-bytes")
}
