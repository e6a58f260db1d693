package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/tx"
)

// errBadRange marks a consistency request the log cannot answer as asked.
var errBadRange = errors.New("bad range")

// auditConsistency serves GET /v1/audit/consistency?from=SIZE[&to=SIZE]:
// a consistency bundle (package proof) proving that the audit log of to
// events — by default the latest one a signed header covers — extends the
// log of from events, with the state proof and signed header that commit
// to the later log.
//
// It needs no signed query: the bundle holds sizes and hashes only, no
// event, and the audit head it proves is public state (every proven read
// of the state commits to it).
func (g *Gateway) auditConsistency(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	from, err := strconv.ParseUint(q.Get("from"), 10, 64)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "from= must be the size of the log you hold (0, 1, 2, …)")
		return
	}
	var to uint64
	if s := q.Get("to"); s != "" {
		if to, err = strconv.ParseUint(s, 10, 64); err != nil || to == 0 {
			writeError(w, http.StatusBadRequest, tx.CodeInvalid, "to= must be a log size of at least 1, or left out for the latest signed one")
			return
		}
	}
	if g.state == nil {
		writeStateError(w, errNoState)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), proofWait)
	defer cancel()
	data, err := untilSigned(ctx, func() ([]byte, error) { return g.tryConsistency(ctx, from, to) })
	writeBundle(w, data, err)
}

// tryConsistency assembles and self-checks a consistency bundle.
func (g *Gateway) tryConsistency(ctx context.Context, from, to uint64) ([]byte, error) {
	version, _ := g.state.LastCommit()
	height := min(version, g.node.BlockStore().Height()-1)
	if height < 1 {
		return nil, fmt.Errorf("%w: the chain has no signed state yet", errNotYetSigned)
	}
	size, err := g.logSizeAt(height)
	if err != nil {
		return nil, err
	}
	switch {
	case to == 0 && size == 0, to > size:
		latest, err := g.logSizeAt(0)
		if err != nil {
			return nil, err
		}
		if latest == 0 || to > latest {
			return nil, fmt.Errorf("audit log of size %d: %w: the log has %d events", max(to, 1), audit.ErrNotFound, latest)
		}
		return nil, fmt.Errorf("%w: the state after block %d holds %d events", errNotYetSigned, height, size)
	case to == 0:
		to = size
	case to < size:
		// An earlier log is proven by the state of the block that ended
		// with it; a size reached in the middle of a block was never
		// signed.
		if height, err = g.heightOfSize(to, height); err != nil {
			return nil, err
		}
	}
	if from > to {
		return nil, fmt.Errorf("%w: from=%d is beyond the log of %d events being proven: a log never shrinks, so ask for a later to=, "+
			"or another node if this one is behind", errBadRange, from, to)
	}
	snap, _, err := g.state.Snapshot(height)
	if err != nil {
		return nil, err
	}
	p, err := audit.ConsistencyProof(snap, from, to)
	if err != nil {
		return nil, err
	}
	fromRoot, err := audit.RootAt(snap, from)
	if err != nil {
		return nil, err
	}
	toRoot, err := audit.RootAt(snap, to)
	if err != nil {
		return nil, err
	}
	st, block, trust, err := g.signedHead(ctx, height, to)
	if err != nil {
		return nil, err
	}
	genesis := g.node.GenesisDoc()
	c := &proof.Consistency{Version: proof.Version, Type: proof.ConsistencyType, ChainID: genesis.ChainID,
		From: proof.Checkpoint{Size: from, Root: fromRoot}, To: proof.Checkpoint{Size: to, Root: toRoot},
		Proof: make([]audit.HexBytes, len(p)), State: st, Block: block, Trust: trust}
	for i, h := range p {
		c.Proof[i] = h
	}
	data, err := c.Encode()
	if err != nil {
		return nil, err
	}
	// A bundle this node cannot verify itself would only mislead.
	if _, err := proof.VerifyConsistency(data, genesis, c.From); err != nil {
		return nil, fmt.Errorf("built a consistency bundle that does not verify: %w", err)
	}
	return data, nil
}

// logSizeAt is the audit log's size in the state after block height (0:
// the latest committed state).
func (g *Gateway) logSizeAt(height int64) (uint64, error) {
	snap, _, err := g.state.Snapshot(height)
	if err != nil {
		return 0, err
	}
	size, _, err := audit.Root(snap)
	return size, err
}

// heightOfSize finds the first block, at most last, after which the log
// had exactly size events. The log never shrinks, so the sizes after
// blocks 1..last ascend and a binary search finds it in O(log last) reads.
func (g *Gateway) heightOfSize(size uint64, last int64) (int64, error) {
	var readErr error
	i := sort.Search(int(last), func(i int) bool {
		n, err := g.logSizeAt(int64(i) + 1)
		if err != nil {
			readErr = err
			return true
		}
		return n >= size
	})
	if readErr != nil {
		return 0, readErr
	}
	h := int64(i) + 1
	n, err := g.logSizeAt(h)
	if err != nil {
		return 0, err
	}
	if n == size {
		return h, nil
	}
	before := uint64(0)
	if h > 1 {
		if before, err = g.logSizeAt(h - 1); err != nil {
			return 0, err
		}
	}
	return 0, fmt.Errorf("%w: no block ended with the log at %d events (block %d ended it at %d, block %d at %d); "+
		"ask for a size a bundle or checkpoint showed you, or leave to= out", errBadRange, size, h-1, before, h, n)
}
