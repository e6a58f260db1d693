package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/tx"
)

// proofWait bounds how long a proof request waits for the block that signs
// the state holding its event. With empty blocks every second it comes
// within one or two; a chain that is stuck gets a 503 instead.
const proofWait = 15 * time.Second

// errNotYetSigned means the event is committed but no signed header
// carries the state that holds it yet.
var errNotYetSigned = errors.New("not yet signed")

// auditProof serves GET /v1/audit/{seq}/proof: the proof bundle of one
// audit event (package proof), verified against this node's genesis
// before it is sent. The node is not trusted by whoever receives it: they
// verify it offline with the chain's genesis.
//
// The bundle reveals the event itself. Reading it is not yet an audited
// query: it will take the reader's signed request, as history reads do.
func (g *Gateway) auditProof(w http.ResponseWriter, r *http.Request) {
	seq, err := strconv.ParseUint(r.PathValue("seq"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "event id must be a sequence number (0, 1, 2, …)")
		return
	}
	if g.state == nil {
		writeStateError(w, errNoState)
		return
	}
	if !g.authorizeEventRead(w, r, seq) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), proofWait)
	defer cancel()
	data, err := untilSigned(ctx, func() ([]byte, error) { return g.tryAuditProof(ctx, seq) })
	writeBundle(w, data, err)
}

// writeBundle answers with a bundle, or with the error that kept it from
// being built.
func writeBundle(w http.ResponseWriter, data []byte, err error) {
	switch {
	case errors.Is(err, errBadRange):
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, err.Error())
		return
	case errors.Is(err, audit.ErrNotFound):
		writeError(w, http.StatusNotFound, tx.CodeNotFound, err.Error())
		return
	case errors.Is(err, errNotYetSigned):
		w.Header().Set("Retry-After", "2")
		writeError(w, http.StatusServiceUnavailable, tx.CodeInternal, err.Error())
		return
	case err != nil:
		writeStateError(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(data)
}

// untilSigned runs try until it builds a bundle or fails otherwise than
// with errNotYetSigned, or ctx ends. try proves against the latest state
// H whose root is already in a signed header, that of block H+1. The
// block store saves a block with the commit this node saw for it, so H+1
// needs only to be stored, not followed by H+2. Right after a block
// commits, H+1 may not exist yet: the request waits for it.
func untilSigned(ctx context.Context, try func() ([]byte, error)) ([]byte, error) {
	for {
		data, err := try()
		if !errors.Is(err, errNotYetSigned) {
			return data, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(100 * time.Millisecond): // polling for the next block, bounded by ctx
		}
	}
}

// tryAuditProof assembles and self-checks the bundle of event seq.
func (g *Gateway) tryAuditProof(ctx context.Context, seq uint64) ([]byte, error) {
	version, _ := g.state.LastCommit()
	height := min(version, g.node.BlockStore().Height()-1)
	if height < 1 {
		return nil, fmt.Errorf("event %d: %w: the chain has no signed state yet", seq, errNotYetSigned)
	}
	snap, _, err := g.state.Snapshot(height)
	if err != nil {
		return nil, err
	}
	size, _, err := audit.Root(snap)
	if err != nil {
		return nil, err
	}
	if seq >= size {
		latest, _, err := g.state.Snapshot(0)
		if err != nil {
			return nil, err
		}
		if n, _, err := audit.Root(latest); err != nil {
			return nil, err
		} else if seq >= n {
			return nil, fmt.Errorf("audit event %d: %w: the log has %d events", seq, audit.ErrNotFound, n)
		}
		return nil, fmt.Errorf("event %d: %w: the state after block %d holds %d events", seq, errNotYetSigned, height, size)
	}
	ep, err := audit.ProveEvent(snap, seq, size)
	if err != nil {
		return nil, err
	}
	st, block, trust, err := g.signedHead(ctx, height, size)
	if err != nil {
		return nil, err
	}
	genesis := g.node.GenesisDoc()
	b := &proof.Bundle{Version: proof.Version, ChainID: genesis.ChainID, Seq: seq, Audit: ep, State: st, Block: block, Trust: trust}
	data, err := b.Encode()
	if err != nil {
		return nil, err
	}
	// A bundle this node cannot verify itself would only mislead.
	if _, err := proof.Verify(data, genesis); err != nil {
		return nil, fmt.Errorf("built a bundle that does not verify: %w", err)
	}
	return data, nil
}

// signedHead proves the audit head (of a log of size events) in the state
// after block height and returns block height+1, whose app hash commits to
// it, with the light blocks that carry trust to it from the genesis: the
// part every kind of bundle shares.
func (g *Gateway) signedHead(ctx context.Context, height int64, size uint64) (proof.StateProof, proof.LightBlock, []proof.LightBlock, error) {
	var none proof.StateProof
	sp, err := g.state.Prove(proof.HeadKey, height)
	if err != nil {
		return none, proof.LightBlock{}, nil, err
	}
	if sp.Value == nil {
		return none, proof.LightBlock{}, nil, fmt.Errorf("audit head missing at height %d although the log has %d events", height, size)
	}
	spBytes, err := sp.Proof.Marshal()
	if err != nil {
		return none, proof.LightBlock{}, nil, err
	}
	block, err := g.lightBlock(ctx, height+1)
	if err != nil {
		return none, proof.LightBlock{}, nil, err
	}
	if !bytes.Equal(block.SignedHeader.AppHash, sp.Root) {
		return none, proof.LightBlock{}, nil, fmt.Errorf("block %d carries app hash %X, the state after block %d has root %X", height+1,
			[]byte(block.SignedHeader.AppHash), height, sp.Root)
	}
	genesis := g.node.GenesisDoc()
	genesisVals, err := proof.GenesisValidators(genesis)
	if err != nil {
		return none, proof.LightBlock{}, nil, err
	}
	var trust []proof.LightBlock
	if !bytes.Equal(block.SignedHeader.ValidatorsHash, genesisVals.Hash()) {
		trust, err = proof.TrustPath(genesis, block, func(h int64) (proof.LightBlock, error) { return g.lightBlock(ctx, h) })
		if err != nil {
			return none, proof.LightBlock{}, nil, fmt.Errorf("trust path to block %d: %w", height+1, err)
		}
	}
	return proof.StateProof{Height: height, Head: sp.Value, Proof: spBytes}, block, trust, nil
}

// lightBlock reads block h's header, the commit this node has for it
// (canonical once h+1 is stored, else the one it saw) and its validators.
func (g *Gateway) lightBlock(ctx context.Context, h int64) (proof.LightBlock, error) {
	c, err := g.rpc.Commit(ctx, &h)
	if err != nil {
		return proof.LightBlock{}, fmt.Errorf("commit of block %d: %w", h, err)
	}
	if c == nil || c.Header == nil || c.Commit == nil {
		return proof.LightBlock{}, fmt.Errorf("commit of block %d: %w: not stored", h, errNotYetSigned)
	}
	var vals []*types.Validator
	for page := 1; ; page++ {
		perPage := 100
		res, err := g.rpc.Validators(ctx, &h, &page, &perPage)
		if err != nil {
			return proof.LightBlock{}, fmt.Errorf("validators of block %d: %w", h, err)
		}
		vals = append(vals, res.Validators...)
		if len(vals) >= res.Total || len(res.Validators) == 0 {
			break
		}
	}
	set, err := types.ValidatorSetFromExistingValidators(vals)
	if err != nil {
		return proof.LightBlock{}, fmt.Errorf("validators of block %d: %w", h, err)
	}
	sh := c.SignedHeader
	return proof.NewLightBlock(&sh, set), nil
}

// authorizeEventRead lets a proof be read only as a read of the event's
// patient's history: the request carries a signed audit.query for that
// patient (?tx=, base64url), which the ledger must permit and records. An
// event about another patient answers as if it did not exist, so a reader
// learns nothing of other patients' logs. It writes the refusal itself.
func (g *Gateway) authorizeEventRead(w http.ResponseWriter, r *http.Request, seq uint64) bool {
	raw, err := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("tx"))
	if err != nil || len(raw) == 0 {
		writeError(w, http.StatusUnauthorized, tx.CodeUnauthorized,
			"a proof is read like the patient's history: pass ?tx= with a signed audit.query for the event's patient (base64url)")
		return false
	}
	q, err := historyQuery(client.HistoryRequest{Tx: raw})
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return false
	}
	snap, _, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return false
	}
	ev, err := audit.Get(snap, seq)
	if errors.Is(err, audit.ErrNotFound) || (err == nil && ev.Patient != q.Patient) {
		writeError(w, http.StatusNotFound, tx.CodeNotFound, fmt.Sprintf("patient %s has no audit event %d", q.Patient, seq))
		return false
	}
	if err != nil {
		writeStateError(w, err)
		return false
	}
	if g.runQuery(r.Context(), w, raw) == nil {
		return false
	}
	return true
}
