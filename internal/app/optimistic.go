package app

import (
	"bytes"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/tx"
)

// Optimistic execution: a validator that accepts a proposal starts
// executing it at once, on its own goroutine, while consensus collects
// prevotes and precommits for it. When FinalizeBlock arrives for the same
// block (the usual case) the work is done; for any other block — a later
// round decided something else — the optimistic run is stopped, the working
// tree rolled back to the last commit, and the decided block executed.
//
// It changes when the work happens, never its result: the block, the state
// it starts from and the code are the same. Only the consensus connection
// touches the working tree (ProcessProposal, FinalizeBlock, Commit), and it
// calls the app one request at a time, so at most one run is under way and
// nothing else writes while it runs. CheckTx and queries read committed
// snapshots, never the working tree.

// optimisticRun is one block being executed ahead of its decision.
type optimisticRun struct {
	height int64
	hash   []byte
	abort  atomic.Bool
	done   chan struct{}
	result blockResult
}

// blockResult is the outcome of executing a block's transactions.
type blockResult struct {
	results []*abci.ExecTxResult
	types   []tx.Type
	appHash []byte
	// validators are the block's changes to the validator set, one per
	// key, last change winning, in the order the keys first changed.
	validators []abci.ValidatorUpdate
	err        error // storage failure, or errAborted
}

var errAborted = errors.New("optimistic execution aborted")

// blockHashSize is the size of a CometBFT block hash (SHA-256).
const blockHashSize = 32

// executeBlock runs txs in order against the working tree. abort, if set,
// stops it between transactions.
func (a *App) executeBlock(height int64, t time.Time, txs [][]byte, abort *atomic.Bool) blockResult {
	b := block{height: height, time: t}
	working := a.store.Working()
	out := blockResult{results: make([]*abci.ExecTxResult, len(txs)), types: make([]tx.Type, len(txs))}
	for i, raw := range txs {
		if abort != nil && abort.Load() {
			return blockResult{err: errAborted}
		}
		res := a.execute(working, raw, b, modeDeliver)
		if res.code == tx.CodeInternal {
			return blockResult{err: fmt.Errorf("height %d tx %d: %w", height, i, res.err)}
		}
		out.types[i] = res.typ
		if res.validator != nil {
			out.validators = mergeValidatorUpdate(out.validators, *res.validator)
		}
		out.results[i] = &abci.ExecTxResult{Code: uint32(res.code), Codespace: res.codespace(), Log: res.log(), Events: res.events, Data: res.data}
	}
	out.appHash = a.store.WorkingHash()
	return out
}

// startOptimistic begins executing an accepted proposal. The first block
// is never executed optimistically: until it commits, the working tree also
// holds the genesis state, which a rollback would lose.
func (a *App) startOptimistic(height int64, hash []byte, t time.Time, txs [][]byte) {
	a.stopOptimistic()
	if len(hash) != blockHashSize {
		return // without the block's hash the decided block could not be matched
	}
	if last, _ := a.store.LastCommit(); last == 0 || height != last+1 {
		return
	}
	run := &optimisticRun{height: height, hash: bytes.Clone(hash), done: make(chan struct{})}
	a.optimistic = run
	go func() {
		defer close(run.done)
		run.result = a.executeBlock(height, t, txs, &run.abort)
	}()
}

// stopOptimistic stops any run under way and discards what it wrote.
func (a *App) stopOptimistic() {
	run := a.optimistic
	if run == nil {
		return
	}
	run.abort.Store(true)
	<-run.done
	a.optimistic = nil
	a.store.Rollback()
}

// finishBlock returns the outcome of the decided block: the optimistic run's
// if it executed this very block, otherwise a fresh execution.
func (a *App) finishBlock(req *abci.RequestFinalizeBlock) blockResult {
	if run := a.optimistic; run != nil && run.height == req.Height && len(req.Hash) == blockHashSize && bytes.Equal(run.hash, req.Hash) {
		<-run.done
		a.optimistic = nil
		if run.result.err == nil {
			a.metrics.optimisticTotal.WithLabelValues("used").Inc()
			return run.result
		}
		// A storage failure is reported as is; an abort cannot happen here
		// (only stopOptimistic aborts) but would be handled by re-executing.
		if !errors.Is(run.result.err, errAborted) {
			return run.result
		}
		a.store.Rollback()
	} else if run != nil {
		a.metrics.optimisticTotal.WithLabelValues("discarded").Inc()
		a.stopOptimistic()
	}
	return a.executeBlock(req.Height, req.Time, req.Txs, nil)
}

// mergeValidatorUpdate adds u to a block's updates; CometBFT refuses two
// updates of one key in a block, so a later one replaces the earlier.
func mergeValidatorUpdate(us []abci.ValidatorUpdate, u abci.ValidatorUpdate) []abci.ValidatorUpdate {
	for i := range us {
		if us[i].PubKey.Equal(u.PubKey) {
			us[i] = u
			return us
		}
	}
	return append(us, u)
}
