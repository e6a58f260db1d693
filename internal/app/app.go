// Package app is carechain's ABCI 2.0 application: a thin adapter between
// CometBFT and the pure modules.
//
// Every transaction goes through the same steps in the same order: decode,
// validate without state (shared by CheckTx and ProcessProposal), stop if
// check-only, authenticate the signer and its nonce, verify the signature,
// then dispatch to the module that owns the message, whose changes apply all
// together or not at all. FinalizeBlock only stages changes in the working
// state tree; Commit saves them. Info reports the last saved height and app
// hash so that CometBFT replays exactly the blocks a crashed node is missing.
//
// CometBFT calls the app over separate connections (consensus, mempool,
// query) that may run at the same time: CheckTx reads a committed snapshot
// and its own overlay under a.mu, block execution writes the working tree,
// and queries read committed snapshots, which the state store keeps safe for
// concurrent use. CometBFT never runs CheckTx during Commit.
//
// Rejections caused by a transaction's content are result codes (package
// tx). A storage failure is different: the app returns an error, which stops
// the node rather than letting it diverge from the others.
package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// AppVersion is the application protocol version reported to CometBFT.
const AppVersion = 1

// GenesisState is the app_state section of genesis.json.
type GenesisState struct {
	Identity identity.Genesis `json:"identity"`
}

// App is the ABCI application.
type App struct {
	chainID string
	store   *state.Store
	log     *slog.Logger
	metrics *Metrics
	checked *checkCache
	// consents caches patients' consent indexes for decisions; see Decide.
	consents *ledgerstate.IndexCache

	mu         sync.Mutex // guards checkState and checkTime
	checkState *state.Overlay
	// checkTime is the time of the last committed block, at which CheckTx
	// judges what depends on time (a delegation's period). It is zero after
	// a restart until the next block commits: the block judges for good.
	checkTime time.Time

	// optimistic is the block being executed ahead of its decision, if any;
	// only the consensus connection touches it (see optimistic.go).
	optimistic *optimisticRun

	// set by FinalizeBlock, used by Commit
	pendingHeight int64
	pendingTime   time.Time
}

var _ abci.Application = (*App)(nil)

// New returns an application over store for chain chainID.
func New(chainID string, store *state.Store, log *slog.Logger, metrics *Metrics) *App {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if metrics == nil {
		metrics = NewMetrics(nil)
	}
	a := &App{chainID: chainID, store: store, log: log, metrics: metrics, checked: newCheckCache(checkCacheSize),
		consents: ledgerstate.NewIndexCache(ledgerstate.DefaultCacheSize)}
	a.resetCheckState()
	return a
}

// Info reports the last committed height and app hash.
func (a *App) Info(_ context.Context, _ *abci.RequestInfo) (*abci.ResponseInfo, error) {
	version, hash := a.store.LastCommit()
	return &abci.ResponseInfo{
		Data:             "carechain",
		Version:          "1",
		AppVersion:       AppVersion,
		LastBlockHeight:  version,
		LastBlockAppHash: appHashAt(version, hash),
	}, nil
}

// appHashAt returns the app hash CometBFT expects: empty before the first
// block, the state root after.
func appHashAt(version int64, hash []byte) []byte {
	if version == 0 {
		return nil
	}
	return hash
}

// InitChain writes the genesis state into the working tree; it is saved with
// the first block.
func (a *App) InitChain(_ context.Context, req *abci.RequestInitChain) (*abci.ResponseInitChain, error) {
	if req.ChainId != a.chainID {
		return nil, fmt.Errorf("genesis chain id %q, node configured for %q", req.ChainId, a.chainID)
	}
	if req.InitialHeight > 1 {
		return nil, fmt.Errorf("initial height %d: carechain chains start at height 1", req.InitialHeight)
	}
	var g GenesisState
	if err := json.Unmarshal(req.AppStateBytes, &g); err != nil {
		return nil, fmt.Errorf("decode genesis app_state: %w", err)
	}
	a.stopOptimistic()
	a.store.Rollback() // a crash between InitChain and the first Commit leaves nothing behind, but be explicit
	if err := identity.InitGenesis(a.store.Working(), g.Identity); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	return &abci.ResponseInitChain{AppHash: a.store.WorkingHash()}, nil
}

// CheckTx admits a transaction to the mempool if it would succeed against the
// committed state plus the transactions already admitted since.
func (a *App) CheckTx(_ context.Context, req *abci.RequestCheckTx) (*abci.ResponseCheckTx, error) {
	start := time.Now()
	defer func() { a.metrics.checkSeconds.Observe(time.Since(start).Seconds()) }()
	a.mu.Lock()
	defer a.mu.Unlock()
	mode := modeCheck
	if req.Type == abci.CheckTxType_Recheck {
		mode = modeRecheck
	}
	res := a.execute(a.checkState, req.Tx, block{height: a.checkHeight(), time: a.checkTime}, mode)
	a.metrics.checkTotal.WithLabelValues(res.code.String()).Inc()
	if res.code == tx.CodeInternal {
		return nil, res.err
	}
	return &abci.ResponseCheckTx{Code: uint32(res.code), Log: res.log(), Codespace: res.codespace()}, nil
}

// checkHeight is the height a transaction admitted now would most likely
// execute at.
func (a *App) checkHeight() int64 {
	v, _ := a.store.LastCommit()
	return v + 1
}

func (a *App) resetCheckState() {
	snap, _, err := a.store.Snapshot(0)
	if err != nil {
		// The latest version always exists; failing to read it is storage
		// corruption, which the next FinalizeBlock or Info will surface.
		a.log.Error("open check state", "err", err)
		return
	}
	a.checkState = state.NewOverlay(readOnly{snap})
}

// PrepareProposal takes mempool transactions in order up to the byte limit,
// dropping any that fail stateless validation, and puts each after its
// signer's previous nonce (proposalOrder).
func (a *App) PrepareProposal(_ context.Context, req *abci.RequestPrepareProposal) (*abci.ResponsePrepareProposal, error) {
	txs := make([][]byte, 0, len(req.Txs))
	keys := make([]signerNonce, 0, len(req.Txs))
	var total int64
	for _, raw := range req.Txs {
		if total+int64(len(raw)) > req.MaxTxBytes {
			break
		}
		v, err := a.validate(raw)
		if err != nil {
			continue
		}
		txs = append(txs, raw)
		keys = append(keys, signerNonce{v.tx.Signer, v.tx.Nonce})
		total += int64(len(raw))
	}
	out := make([][]byte, len(txs))
	for i, j := range proposalOrder(keys) {
		out[i] = txs[j]
	}
	return &abci.ResponsePrepareProposal{Txs: out}, nil
}

// ProcessProposal rejects a block that carries a transaction no correct
// proposer would include: one that fails stateless validation. It also
// verifies signatures of transactions this node has not seen, in parallel,
// so FinalizeBlock need not.
func (a *App) ProcessProposal(_ context.Context, req *abci.RequestProcessProposal) (*abci.ResponseProcessProposal, error) {
	if err := a.prevalidate(req.Txs); err != nil {
		a.log.Warn("rejecting proposal", "height", req.Height, "proposer", fmt.Sprintf("%X", req.ProposerAddress), "err", err)
		return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_REJECT}, nil
	}
	a.startOptimistic(req.Height, req.Hash, req.Time, req.Txs)
	return &abci.ResponseProcessProposal{Status: abci.ResponseProcessProposal_ACCEPT}, nil
}

// FinalizeBlock executes the block's transactions against the working tree.
func (a *App) FinalizeBlock(_ context.Context, req *abci.RequestFinalizeBlock) (*abci.ResponseFinalizeBlock, error) {
	start := time.Now()
	out := a.finishBlock(req)
	if out.err != nil {
		return nil, out.err
	}
	for i, res := range out.results {
		a.metrics.txTotal.WithLabelValues(out.types[i].String(), tx.Code(res.Code).String()).Inc()
	}
	a.pendingHeight, a.pendingTime = req.Height, req.Time
	a.metrics.finalizeSeconds.Observe(time.Since(start).Seconds())
	a.metrics.blockTxs.Observe(float64(len(req.Txs)))
	return &abci.ResponseFinalizeBlock{TxResults: out.results, AppHash: out.appHash, ValidatorUpdates: out.validators}, nil
}

// Commit saves the working tree as the block's version.
func (a *App) Commit(_ context.Context, _ *abci.RequestCommit) (*abci.ResponseCommit, error) {
	_, version, err := a.store.Commit()
	if err != nil {
		return nil, err
	}
	if version != a.pendingHeight {
		return nil, fmt.Errorf("state version %d after committing height %d: state and block store disagree", version, a.pendingHeight)
	}
	a.metrics.height.Set(float64(version))
	a.mu.Lock()
	a.checkTime = a.pendingTime
	a.resetCheckState()
	a.mu.Unlock()
	return &abci.ResponseCommit{}, nil
}

// PendingNonce is the last nonce an actor used, counting the transactions
// this node's mempool has admitted since the last block: the nonce a
// client's next transaction must follow. Committed state alone is a block
// behind a client whose last transaction is waiting here.
func (a *App) PendingNonce(id string) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return identity.LastNonce(a.checkState, id)
}

// Decide decides an access request against the patient's consents in st,
// in the block circ.Block, with the patient's break-the-glass opt-out as st
// holds it. Indexes come from the app's cache, keyed by the patient's
// consent revision, so a decision is the same as one from an index built
// afresh from st. The error is a storage failure only.
func (a *App) Decide(st kv.Reader, req consent.Request, circ consent.Circumstances) (consent.Decision, error) {
	return a.consents.Decide(st, req, circ)
}

// Vote extensions and state sync are not used.

func (a *App) ExtendVote(context.Context, *abci.RequestExtendVote) (*abci.ResponseExtendVote, error) {
	return &abci.ResponseExtendVote{}, nil
}

func (a *App) VerifyVoteExtension(context.Context, *abci.RequestVerifyVoteExtension) (*abci.ResponseVerifyVoteExtension, error) {
	return &abci.ResponseVerifyVoteExtension{Status: abci.ResponseVerifyVoteExtension_ACCEPT}, nil
}

func (a *App) ListSnapshots(context.Context, *abci.RequestListSnapshots) (*abci.ResponseListSnapshots, error) {
	return &abci.ResponseListSnapshots{}, nil
}

func (a *App) OfferSnapshot(context.Context, *abci.RequestOfferSnapshot) (*abci.ResponseOfferSnapshot, error) {
	return &abci.ResponseOfferSnapshot{Result: abci.ResponseOfferSnapshot_REJECT}, nil
}

func (a *App) LoadSnapshotChunk(context.Context, *abci.RequestLoadSnapshotChunk) (*abci.ResponseLoadSnapshotChunk, error) {
	return &abci.ResponseLoadSnapshotChunk{}, nil
}

func (a *App) ApplySnapshotChunk(context.Context, *abci.RequestApplySnapshotChunk) (*abci.ResponseApplySnapshotChunk, error) {
	return &abci.ResponseApplySnapshotChunk{Result: abci.ResponseApplySnapshotChunk_ABORT}, nil
}
