package app

import (
	"bytes"
	"fmt"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// TestCrashRecovery stops a node on disk after FinalizeBlock but before
// Commit. On restart Info must report the last committed block, so that
// CometBFT replays the lost one, and the replay must reach the same app hash.
func TestCrashRecovery(t *testing.T) {
	dir := t.TempDir()
	store, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	admin := newKey(t)
	c := startChain(t, store, admin)
	org := newKey(t)
	doc := newKey(t)
	c.mustBlock(c.sign(admin, reg(tx.KindOrganization, "General Hospital", "", org)))
	c.mustBlock(c.sign(org, reg(tx.KindPractitioner, "Dr. Ng", org.ID, doc)))
	committedHash := c.appHash()

	// Block 3 executes, but the node dies before Commit.
	lost := [][]byte{c.sign(org, reg(tx.KindApplication, "EHR", org.ID, newKey(t))), c.sign(doc, rotation(doc.ID, rotated(t, doc)))}
	req := &abci.RequestFinalizeBlock{Height: 3, Time: genesisTime.Add(3e9), Txs: lost}
	res, err := c.app.FinalizeBlock(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(res.AppHash, c.info().LastBlockAppHash) {
		t.Fatal("block 3 did not change the app hash; the test would prove nothing")
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store, err = state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	app := New(testChain, store, nil, nil)
	info, err := app.Info(ctx, &abci.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if info.LastBlockHeight != 2 || fmt.Sprintf("%X", info.LastBlockAppHash) != committedHash {
		t.Fatalf("after restart Info reports %d/%X, want 2/%s", info.LastBlockHeight, info.LastBlockAppHash, committedHash)
	}
	// Nothing of block 3 survived, not even in the mempool's view.
	if res, _ := app.CheckTx(ctx, &abci.RequestCheckTx{Tx: lost[0]}); res.Code != 0 {
		t.Fatalf("CheckTx of a lost transaction after restart: %s", tx.Code(res.Code))
	}

	// CometBFT replays block 3.
	replayed, err := app.FinalizeBlock(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(replayed.AppHash, res.AppHash) {
		t.Fatalf("replay reached app hash %X, the first run %X", replayed.AppHash, res.AppHash)
	}
	for i := range res.TxResults {
		if replayed.TxResults[i].Code != res.TxResults[i].Code {
			t.Fatalf("tx %d: replay code %d, first run %d", i, replayed.TxResults[i].Code, res.TxResults[i].Code)
		}
	}
	if _, err := app.Commit(ctx, &abci.RequestCommit{}); err != nil {
		t.Fatal(err)
	}
	info, _ = app.Info(ctx, &abci.RequestInfo{})
	if info.LastBlockHeight != 3 || !bytes.Equal(info.LastBlockAppHash, res.AppHash) {
		t.Fatalf("after replay Info reports %d/%X", info.LastBlockHeight, info.LastBlockAppHash)
	}
}

// TestCrashBeforeFirstCommit: genesis lives in the working tree until block
// 1 commits, so a crash in between leaves an empty store that InitChain can
// fill again.
func TestCrashBeforeFirstCommit(t *testing.T) {
	dir := t.TempDir()
	store, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	admin := newKey(t)
	startChain(t, store, admin)
	first := store.WorkingHash()
	store.Close()

	store, err = state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	c := startChain(t, store, admin)
	if info := c.info(); info.LastBlockHeight != 0 || info.LastBlockAppHash != nil {
		t.Fatalf("Info after a crash before block 1: %+v", info)
	}
	if !bytes.Equal(store.WorkingHash(), first) {
		t.Fatal("InitChain after a restart produced a different genesis state")
	}
	c.mustBlock(c.sign(admin, reg(tx.KindOrganization, "General Hospital", "", newKey(t))))
}

// TestCommitWithoutFinalize guards the check that state and block store
// agree: a Commit with no block executed is a node failure, not a silent
// empty version.
func TestCommitWithoutFinalize(t *testing.T) {
	c := newChain(t)
	c.mustBlock()
	if _, err := c.app.Commit(ctx, &abci.RequestCommit{}); err == nil {
		t.Fatal("Commit without FinalizeBlock succeeded")
	}
}
