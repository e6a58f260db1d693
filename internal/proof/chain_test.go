package proof_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/crypto/tmhash"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmtversion "github.com/cometbft/cometbft/proto/tendermint/version"
	"github.com/cometbft/cometbft/types"
	"github.com/cometbft/cometbft/version"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/state"
)

// The made-up chain's validators: fixed keys, so its headers, commits and
// the bundle built on them are the same bytes every run.
var chainKeys = func() []ed25519.PrivKey {
	keys := make([]ed25519.PrivKey, 8)
	for i := range keys {
		keys[i] = ed25519.GenPrivKeyFromSecret([]byte(fmt.Sprintf("carechain/proof-test/validator/%d", i)))
	}
	return keys
}()

var chainStart = time.Date(2026, 2, 1, 9, 0, 0, 0, time.UTC)

// testChain is a signed CometBFT header chain made without consensus, for
// validator-set changes the real node does not make yet.
type testChain struct {
	genesis *types.GenesisDoc
	blocks  map[int64]proof.LightBlock
	top     int64
}

// chainSpec says who validates when: sets[h-1] lists the chainKeys
// indexes of block h's validators (10 voting power each); absent[h] is a
// key that does not sign block h.
type chainSpec struct {
	chainID string
	sets    [][]int
	absent  map[int64]int
	appHash map[int64][]byte
}

func valSet(idx []int) *types.ValidatorSet {
	vals := make([]*types.Validator, len(idx))
	for i, k := range idx {
		vals[i] = types.NewValidator(chainKeys[k].PubKey(), 10)
	}
	return types.NewValidatorSet(vals)
}

func newTestChain(t testing.TB, spec chainSpec) *testChain {
	t.Helper()
	c := &testChain{blocks: map[int64]proof.LightBlock{}, top: int64(len(spec.sets))}
	gen := &types.GenesisDoc{ChainID: spec.chainID, GenesisTime: chainStart, InitialHeight: 1,
		ConsensusParams: types.DefaultConsensusParams()}
	for _, v := range valSet(spec.sets[0]).Validators {
		gen.Validators = append(gen.Validators, types.GenesisValidator{Address: v.Address, PubKey: v.PubKey, Power: v.VotingPower})
	}
	if err := gen.ValidateAndComplete(); err != nil {
		t.Fatal(err)
	}
	c.genesis = gen
	keyOf := map[string]ed25519.PrivKey{}
	for _, k := range chainKeys {
		keyOf[string(k.PubKey().Address())] = k
	}
	filler := func(what string, h int64) []byte { return tmhash.Sum([]byte(fmt.Sprintf("%s/%d", what, h))) }
	var last types.BlockID
	for h := int64(1); h <= c.top; h++ {
		vals := valSet(spec.sets[h-1])
		next := vals
		if h < c.top {
			next = valSet(spec.sets[h])
		}
		app := spec.appHash[h]
		if app == nil {
			app = filler("app", h)
		}
		header := &types.Header{
			Version: cmtversion.Consensus{Block: version.BlockProtocol, App: 1},
			ChainID: spec.chainID, Height: h, Time: chainStart.Add(time.Duration(h) * time.Second),
			LastBlockID: last, LastCommitHash: filler("last-commit", h), DataHash: filler("data", h),
			ValidatorsHash: vals.Hash(), NextValidatorsHash: next.Hash(), ConsensusHash: filler("consensus", h),
			AppHash: app, LastResultsHash: filler("results", h), EvidenceHash: filler("evidence", h),
			ProposerAddress: vals.Validators[0].Address,
		}
		id := types.BlockID{Hash: header.Hash(), PartSetHeader: types.PartSetHeader{Total: 1, Hash: filler("parts", h)}}
		commit := &types.Commit{Height: h, BlockID: id}
		for i, v := range vals.Validators {
			if k, ok := spec.absent[h]; ok && string(chainKeys[k].PubKey().Address()) == string(v.Address) {
				commit.Signatures = append(commit.Signatures, types.NewCommitSigAbsent())
				continue
			}
			ts := header.Time.Add(time.Duration(500+i) * time.Millisecond)
			vote := &types.Vote{Type: cmtproto.PrecommitType, Height: h, BlockID: id, Timestamp: ts,
				ValidatorAddress: v.Address, ValidatorIndex: int32(i)}
			sig, err := keyOf[string(v.Address)].Sign(types.VoteSignBytes(spec.chainID, vote.ToProto()))
			if err != nil {
				t.Fatal(err)
			}
			commit.Signatures = append(commit.Signatures, types.CommitSig{BlockIDFlag: types.BlockIDFlagCommit,
				ValidatorAddress: v.Address, Timestamp: ts, Signature: sig})
		}
		c.blocks[h] = proof.NewLightBlock(&types.SignedHeader{Header: header, Commit: commit}, vals)
		last = id
	}
	return c
}

func (c *testChain) fetch(h int64) (proof.LightBlock, error) {
	lb, ok := c.blocks[h]
	if !ok {
		return proof.LightBlock{}, fmt.Errorf("no block %d", h)
	}
	return lb, nil
}

// handoverSpec is a chain of 12 blocks whose four validators are replaced
// two at a time: blocks 1–4 {0,1,2,3}, 5–8 {2,3,4,5}, 9–12 {4,5,6,7}.
// Block 12 cannot be trusted from genesis directly (no genesis validator
// signs it), only through a block of 5–8. Validator 7 does not sign
// block 12.
func handoverSpec(chainID string, appHash []byte) chainSpec {
	spec := chainSpec{chainID: chainID, absent: map[int64]int{12: 7}, appHash: map[int64][]byte{12: appHash}}
	for h := 1; h <= 12; h++ {
		switch {
		case h <= 4:
			spec.sets = append(spec.sets, []int{0, 1, 2, 3})
		case h <= 8:
			spec.sets = append(spec.sets, []int{2, 3, 4, 5})
		default:
			spec.sets = append(spec.sets, []int{4, 5, 6, 7})
		}
	}
	return spec
}

// auditState returns a state store whose version 11 holds an audit log of
// events events (written at versions 1–3), and the root of version 11.
func auditState(t testing.TB, events int) (*state.Store, []byte) {
	t.Helper()
	s := state.OpenMemory()
	var root []byte
	appended := 0
	for v := int64(1); v <= 11; v++ {
		for ; appended < events && (v == 3 || appended < int(v)*events/3); appended++ {
			if _, _, err := audit.Append(s.Working(), testEvent(v)); err != nil {
				t.Fatal(err)
			}
		}
		var err error
		if root, _, err = s.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	return s, root
}

// testEvent is a consent grant recorded in block height.
func testEvent(height int64) audit.Event {
	return audit.Event{Height: uint64(height), Time: chainStart.Add(time.Duration(height) * time.Second),
		Actor: "pat-1", Patient: "pat-1", Action: audit.ActionConsentGrant, Target: fmt.Sprintf("consent-%d", height),
		Decision: audit.Permit, Reason: audit.Reason{Rule: "patient-self"}, TxHash: tmhash.Sum([]byte(fmt.Sprintf("tx-%d", height)))}
}

// handoverBundle builds the bundle of event seq over the handover chain,
// its trust path found by proof.TrustPath.
func handoverBundle(t testing.TB, chainID string, events int, seq uint64) (*proof.Bundle, *testChain) {
	t.Helper()
	s, root := auditState(t, events)
	snap, _, err := s.Snapshot(11)
	if err != nil {
		t.Fatal(err)
	}
	size, _, err := audit.Root(snap)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := audit.ProveEvent(snap, seq, size)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := s.Prove(proof.HeadKey, 11)
	if err != nil {
		t.Fatal(err)
	}
	spBytes, err := sp.Proof.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c := newTestChain(t, handoverSpec(chainID, root))
	block := c.blocks[12]
	trust, err := proof.TrustPath(c.genesis, block, c.fetch)
	if err != nil {
		t.Fatal(err)
	}
	return &proof.Bundle{Version: proof.Version, ChainID: chainID, Seq: seq, Audit: ep,
		State: proof.StateProof{Height: 11, Head: sp.Value, Proof: spBytes}, Block: block, Trust: trust}, c
}
