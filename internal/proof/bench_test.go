package proof_test

import (
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/carechain/carechain/internal/audit"
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

// BenchmarkBundle measures assembling and encoding the bundle of a random
// event of a 65,536-event log signed by four validators — what the gateway
// does besides reading the header and commit — and reports its size.
func BenchmarkBundle(b *testing.B) {
	s, err := benchLog()
	if err != nil {
		b.Fatal(err)
	}
	version, root := s.LastCommit()
	// Events are dated blocks 1–66; the state after block 67 is signed by
	// block 68.
	const signing = benchEvents/1000 + 3
	spec := chainSpec{chainID: "bench", appHash: map[int64][]byte{signing: root}}
	for range signing {
		spec.sets = append(spec.sets, []int{0, 1, 2, 3})
	}
	c := newTestChain(b, spec)
	block := c.blocks[signing]
	snap, _, err := s.Snapshot(version)
	if err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 1))
	var data []byte
	for b.Loop() {
		seq := r.Uint64N(benchEvents)
		ep, err := audit.ProveEvent(snap, seq, benchEvents)
		if err != nil {
			b.Fatal(err)
		}
		sp, err := s.Prove(proof.HeadKey, version)
		if err != nil {
			b.Fatal(err)
		}
		spBytes, err := sp.Proof.Marshal()
		if err != nil {
			b.Fatal(err)
		}
		bundle := &proof.Bundle{Version: proof.Version, ChainID: "bench", Seq: seq, Audit: ep,
			State: proof.StateProof{Height: signing - 1, Head: sp.Value, Proof: spBytes}, Block: block}
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
