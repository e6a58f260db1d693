package proof_test

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/proof"
)

// goodBundles are the golden good bundles with the genesis each verifies
// against.
var goodBundles = []struct{ bundle, genesis string }{
	{"good.json", "genesis.json"},
	{"handover.json", "genesis-handover.json"},
}

// TestFlipEveryByte changes every byte of each good bundle file, in three
// ways (lowest bit, ASCII case bit, all bits), and requires each result to
// fail verification. Flips in JSON syntax fail at decoding; the others
// change a value that a check covers.
func TestFlipEveryByte(t *testing.T) {
	for _, g := range goodBundles {
		data := readFile(t, g.bundle)
		genesis := loadGenesis(t, g.genesis)
		if _, err := proof.Verify(data, genesis); err != nil {
			t.Fatalf("%s: %v", g.bundle, err)
		}
		masks := []byte{0x01, 0x20, 0xff}
		if testing.Short() || g.bundle != "good.json" {
			masks = masks[:1] // the other masks on one bundle show the point; each flip costs a decode
		}
		flipped := make([]byte, len(data))
		for i := range data {
			for _, m := range masks {
				copy(flipped, data)
				flipped[i] ^= m
				if _, err := proof.Verify(flipped, genesis); err == nil {
					t.Errorf("%s: byte %d (%q) ^ %#x verified", g.bundle, i, data[i], m)
				}
			}
		}
	}
}

type binaryField struct {
	name string
	b    []byte
}

// binaryFields lists every byte string in a decoded bundle: hashes, keys,
// signatures, addresses, the event, the head and both proofs.
func binaryFields(b *proof.Bundle) []binaryField {
	fs := []binaryField{{"audit.event", b.Audit.Event}, {"audit.root", b.Audit.Root}, {"state.head", b.State.Head}, {"state.proof", b.State.Proof}}
	for i, p := range b.Audit.Proof {
		fs = append(fs, binaryField{fmt.Sprintf("audit.proof[%d]", i), p})
	}
	for _, lb := range append(append([]proof.LightBlock(nil), b.Trust...), b.Block) {
		at := func(f string) string { return fmt.Sprintf("block %d %s", lb.Height(), f) }
		h, c := lb.SignedHeader.Header, lb.SignedHeader.Commit
		for name, v := range map[string][]byte{"last_block_id.hash": h.LastBlockID.Hash, "last_block_id.parts.hash": h.LastBlockID.PartSetHeader.Hash,
			"last_commit_hash": h.LastCommitHash, "data_hash": h.DataHash, "validators_hash": h.ValidatorsHash,
			"next_validators_hash": h.NextValidatorsHash, "consensus_hash": h.ConsensusHash, "app_hash": h.AppHash,
			"last_results_hash": h.LastResultsHash, "evidence_hash": h.EvidenceHash, "proposer_address": h.ProposerAddress,
			"commit.block_id.hash": c.BlockID.Hash, "commit.block_id.parts.hash": c.BlockID.PartSetHeader.Hash} {
			fs = append(fs, binaryField{at(name), v})
		}
		for i, s := range c.Signatures {
			fs = append(fs, binaryField{at(fmt.Sprintf("signature %d address", i)), s.ValidatorAddress},
				binaryField{at(fmt.Sprintf("signature %d", i)), s.Signature})
		}
		for i, v := range lb.Validators {
			fs = append(fs, binaryField{at(fmt.Sprintf("validator %d address", i)), v.Address},
				binaryField{at(fmt.Sprintf("validator %d key", i)), v.PubKey.(ed25519.PubKey)})
		}
	}
	return fs
}

// TestFlipEveryBinaryField flips each bit-0 of every byte of every binary
// field of the decoded bundles and re-encodes them canonically, so that
// decoding accepts the result and the verification checks must catch it.
func TestFlipEveryBinaryField(t *testing.T) {
	for _, g := range goodBundles {
		data := readFile(t, g.bundle)
		genesis := loadGenesis(t, g.genesis)
		b := decode(t, data)
		fields := binaryFields(b)
		flips := 0
		for _, f := range fields {
			for i := range f.b {
				f.b[i] ^= 1
				if _, err := proof.Verify(encode(t, b), genesis); err == nil {
					t.Errorf("%s: %s byte %d flipped verified", g.bundle, f.name, i)
				}
				f.b[i] ^= 1
				flips++
			}
		}
		if !bytes.Equal(encode(t, b), data) {
			t.Fatalf("%s: flips not undone", g.bundle)
		}
		t.Logf("%s: %d fields, %d bytes flipped", g.bundle, len(fields), flips)
	}
}

// TestChangeEveryScalar changes each number, time, flag and name in the
// decoded bundles by the smallest step.
func TestChangeEveryScalar(t *testing.T) {
	type change struct {
		name string
		f    func(b *proof.Bundle)
	}
	for _, g := range goodBundles {
		data := readFile(t, g.bundle)
		genesis := loadGenesis(t, g.genesis)
		changes := []change{
			{"version", func(b *proof.Bundle) { b.Version++ }},
			{"chain_id", func(b *proof.Bundle) { b.ChainID += "x" }},
			{"seq", func(b *proof.Bundle) { b.Seq++ }},
			{"audit.size+1", func(b *proof.Bundle) { b.Audit.Size++ }},
			{"audit.size-1", func(b *proof.Bundle) { b.Audit.Size-- }},
			{"audit.proof dropped", func(b *proof.Bundle) { b.Audit.Proof = b.Audit.Proof[:len(b.Audit.Proof)-1] }},
			{"audit.proof extended", func(b *proof.Bundle) { b.Audit.Proof = append(b.Audit.Proof, b.Audit.Root) }},
			{"state.height+1", func(b *proof.Bundle) { b.State.Height++ }},
			{"state.height-1", func(b *proof.Bundle) { b.State.Height-- }},
		}
		n := len(decode(t, data).Trust) + 1
		for j := 0; j < n; j++ {
			lb := func(b *proof.Bundle) *proof.LightBlock {
				if j < len(b.Trust) {
					return &b.Trust[j]
				}
				return &b.Block
			}
			h := func(b *proof.Bundle) *types.Header { return lb(b).SignedHeader.Header }
			c := func(b *proof.Bundle) *types.Commit { return lb(b).SignedHeader.Commit }
			at := fmt.Sprintf("light block %d ", j)
			changes = append(changes,
				change{at + "version.block", func(b *proof.Bundle) { h(b).Version.Block++ }},
				change{at + "version.app", func(b *proof.Bundle) { h(b).Version.App++ }},
				change{at + "chain_id", func(b *proof.Bundle) { h(b).ChainID += "x" }},
				change{at + "height", func(b *proof.Bundle) { h(b).Height++ }},
				change{at + "time", func(b *proof.Bundle) { h(b).Time = h(b).Time.Add(time.Nanosecond) }},
				change{at + "last_block_id.parts.total", func(b *proof.Bundle) { h(b).LastBlockID.PartSetHeader.Total++ }},
				change{at + "commit.height", func(b *proof.Bundle) { c(b).Height++ }},
				change{at + "commit.round", func(b *proof.Bundle) { c(b).Round++ }},
				change{at + "commit.parts.total", func(b *proof.Bundle) { c(b).BlockID.PartSetHeader.Total++ }},
				change{at + "signature flag", func(b *proof.Bundle) { c(b).Signatures[0].BlockIDFlag = types.BlockIDFlagNil }},
				change{at + "signature time", func(b *proof.Bundle) {
					c(b).Signatures[0].Timestamp = c(b).Signatures[0].Timestamp.Add(time.Nanosecond)
				}},
				change{at + "signature dropped", func(b *proof.Bundle) { c(b).Signatures = c(b).Signatures[1:] }},
				change{at + "validator power", func(b *proof.Bundle) { lb(b).Validators[0].VotingPower++ }},
				change{at + "validator dropped", func(b *proof.Bundle) { lb(b).Validators = lb(b).Validators[1:] }},
			)
		}
		for _, ch := range changes {
			b := decode(t, data)
			ch.f(b)
			out, err := b.Encode()
			if err != nil {
				continue // not even encodable: nothing to verify
			}
			if _, err := proof.Verify(out, genesis); err == nil {
				t.Errorf("%s: %s verified", g.bundle, ch.name)
			}
		}
	}
}

// TestDifferentGenesis verifies each good bundle against every genesis but
// its own.
func TestDifferentGenesis(t *testing.T) {
	all := []string{"genesis.json", "genesis-other-chain.json", "genesis-other-validators.json", "genesis-handover.json"}
	for _, g := range goodBundles {
		data := readFile(t, g.bundle)
		for _, other := range all {
			if other == g.genesis {
				continue
			}
			if _, err := proof.Verify(data, loadGenesis(t, other)); err == nil {
				t.Errorf("%s verified against %s", g.bundle, other)
			}
		}
	}
	// The handover genesis with its validators' keys replaced by keys
	// that never signed anything: same chain id and time, but trust comes
	// from the genesis keys only.
	g := loadGenesis(t, "genesis-handover.json")
	for i := range g.Validators {
		k := ed25519.GenPrivKeyFromSecret([]byte(fmt.Sprintf("carechain/proof-test/stranger/%d", i))).PubKey()
		g.Validators[i].PubKey, g.Validators[i].Address = k, k.Address()
	}
	if _, err := proof.Verify(readFile(t, "handover.json"), g); err == nil {
		t.Error("handover bundle verified against a genesis of the later validators")
	}
	if _, err := proof.Verify(readFile(t, "good.json"), nil); err == nil {
		t.Error("verified without a genesis")
	}
}

// TestHeadLayout pins the copy of the audit head's key and layout this
// package reads to what the audit package writes.
func TestHeadLayout(t *testing.T) {
	s := kv.NewMemory()
	for h := int64(1); h <= 5; h++ {
		if _, _, err := audit.Append(s, testEvent(h)); err != nil {
			t.Fatal(err)
		}
	}
	size, root, err := audit.Root(s)
	if err != nil {
		t.Fatal(err)
	}
	head, err := s.Get(proof.HeadKey)
	if err != nil || len(head) != 56 {
		t.Fatalf("head at %q: %x, %v", proof.HeadKey, head, err)
	}
	if !bytes.Equal(head[:8], []byte{0, 0, 0, 0, 0, 0, 0, byte(size)}) || !bytes.Equal(head[24:], root) {
		t.Fatalf("head %x does not hold size %d and root %x where the verifier reads them", head, size, root)
	}
}

// TestTrustPath follows a validator set replaced all at once: no block
// after the change shares a validator with genesis, so the path must take
// the adjacent handover, where the outgoing set names the incoming one.
func TestTrustPath(t *testing.T) {
	spec := chainSpec{chainID: "all-at-once"}
	for h := 1; h <= 20; h++ {
		set := []int{0, 1, 2, 3}
		if h > 9 {
			set = []int{4, 5, 6, 7}
		}
		spec.sets = append(spec.sets, set)
	}
	c := newTestChain(t, spec)
	target := c.blocks[20]
	path, err := proof.TrustPath(c.genesis, target, c.fetch)
	if err != nil {
		t.Fatal(err)
	}
	var heights []int64
	for _, lb := range path {
		heights = append(heights, lb.Height())
	}
	if len(path) != 2 || path[0].Height() != 9 || path[1].Height() != 10 {
		t.Fatalf("path %v is not the last block of the old set and the first of the new", heights)
	}
	t.Logf("path %v", heights)
	// Blocks the genesis set signed need no path.
	for _, h := range []int64{1, 9} {
		if p, err := proof.TrustPath(c.genesis, c.blocks[h], c.fetch); err != nil || len(p) != 0 {
			t.Fatalf("block %d, signed by the genesis set: path of %d, %v", h, len(p), err)
		}
	}
	// A gap in the chain the source cannot fill is an error, not a loop.
	delete(c.blocks, 10)
	if _, err := proof.TrustPath(c.genesis, target, c.fetch); err == nil {
		t.Fatal("found a path without the handover block")
	}
}
