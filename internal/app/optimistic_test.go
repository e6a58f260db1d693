package app

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// twinChains returns two chains with the same genesis, one block in, so
// that one can execute optimistically and the other plainly.
func twinChains(t *testing.T) (withOE, plain *chain) {
	t.Helper()
	admin, err := keyfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	withOE, plain = startChain(t, state.OpenMemory(), admin), startChain(t, state.OpenMemory(), admin)
	withOE.mustBlock()
	plain.mustBlock()
	return withOE, plain
}

func fakeBlockHash(label string) []byte {
	h := sha256.Sum256([]byte(label))
	return h[:]
}

func registrations(t *testing.T, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		k := newKey(t)
		out[i] = tx.Build(testChain, k.ID, 1, reg(tx.KindPatient, "", "", k), k.Sign)
	}
	return out
}

func (c *chain) propose(hash []byte, txs [][]byte) {
	c.t.Helper()
	h := c.height + 1
	res, err := c.app.ProcessProposal(ctx, &abci.RequestProcessProposal{Height: h, Hash: hash,
		Time: genesisTime.Add(time.Duration(h) * time.Second), Txs: txs, ProposerAddress: make([]byte, 20)})
	if err != nil || res.Status != abci.ResponseProcessProposal_ACCEPT {
		c.t.Fatalf("ProcessProposal: %v %v", res, err)
	}
}

func (c *chain) finalizeHash(hash []byte, txs [][]byte) *abci.ResponseFinalizeBlock {
	c.t.Helper()
	h := c.height + 1
	res, err := c.app.FinalizeBlock(ctx, &abci.RequestFinalizeBlock{Height: h, Hash: hash,
		Time: genesisTime.Add(time.Duration(h) * time.Second), Txs: txs, ProposerAddress: make([]byte, 20)})
	if err != nil {
		c.t.Fatalf("FinalizeBlock: %v", err)
	}
	return res
}

func sameOutcome(t *testing.T, got, want *abci.ResponseFinalizeBlock) {
	t.Helper()
	if !bytes.Equal(got.AppHash, want.AppHash) {
		t.Fatalf("app hash %X, plain execution %X", got.AppHash, want.AppHash)
	}
	if fmt.Sprint(got.TxResults) != fmt.Sprint(want.TxResults) {
		t.Fatalf("results differ:\n%v\n%v", got.TxResults, want.TxResults)
	}
}

func TestOptimisticExecutionIsUsedForTheDecidedBlock(t *testing.T) {
	oe, plain := twinChains(t)
	txs := registrations(t, 20)
	txs = append(txs, txs[0]) // a replay: the same result either way
	oe.propose(fakeBlockHash("b2"), txs)
	got := oe.finalizeHash(fakeBlockHash("b2"), txs)
	sameOutcome(t, got, plain.finalize(txs...))
	if n := testutil.ToFloat64(oe.app.metrics.optimisticTotal.WithLabelValues("used")); n != 1 {
		t.Fatalf("optimistic result used %v times, want 1", n)
	}
	oe.commit()
	plain.commit()
	if oe.appHash() != plain.appHash() {
		t.Fatal("committed state differs")
	}
}

func TestOptimisticExecutionIsDiscardedForAnotherBlock(t *testing.T) {
	oe, plain := twinChains(t)
	proposed, decided := registrations(t, 10), registrations(t, 5)
	oe.propose(fakeBlockHash("round0"), proposed)
	got := oe.finalizeHash(fakeBlockHash("round1"), decided)
	sameOutcome(t, got, plain.finalize(decided...))
	if n := testutil.ToFloat64(oe.app.metrics.optimisticTotal.WithLabelValues("discarded")); n != 1 {
		t.Fatalf("discarded %v, want 1", n)
	}
	oe.commit()
	plain.commit()
	// Nothing of the discarded proposal survived.
	for _, raw := range proposed {
		d, _ := tx.Decode(raw)
		if a, _ := oe.app.store.Working().Get([]byte("id/a/" + d.Signer)); a != nil {
			t.Fatalf("actor %s from a discarded proposal is in state", d.Signer)
		}
	}
}

func TestOptimisticExecutionFollowsRoundChanges(t *testing.T) {
	oe, plain := twinChains(t)
	first, second := registrations(t, 10), registrations(t, 10)
	oe.propose(fakeBlockHash("round0"), first)
	oe.propose(fakeBlockHash("round1"), second) // a new round: the first run is stopped
	got := oe.finalizeHash(fakeBlockHash("round1"), second)
	sameOutcome(t, got, plain.finalize(second...))
}

func TestNoOptimisticExecutionWithoutHashOrBeforeFirstCommit(t *testing.T) {
	c := newChain(t)
	c.propose(nil, registrations(t, 3))
	if c.app.optimistic != nil {
		t.Fatal("started without a block hash")
	}
	admin, _ := keyfile.Generate()
	fresh := startChain(t, state.OpenMemory(), admin) // genesis only in the working tree
	fresh.propose(fakeBlockHash("b1"), registrations(t, 3))
	if fresh.app.optimistic != nil {
		t.Fatal("started before the first commit, where a rollback would lose genesis")
	}
}
