package app

import (
	"context"
	"errors"

	abci "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"

	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// Query paths.
const (
	// QueryStore returns the value under the key in Data at a height, with
	// an ICS23 proof when Prove is set. The proof is against the state root
	// saved at that height, which is the AppHash in the header of the next
	// block.
	QueryStore = "/store"
)

// ProofOpICS23 is the ProofOp type of a state proof.
const ProofOpICS23 = "ics23:iavl"

// Query answers read-only questions about committed state.
func (a *App) Query(_ context.Context, req *abci.RequestQuery) (*abci.ResponseQuery, error) {
	switch req.Path {
	case QueryStore:
		p, err := a.store.Prove(req.Data, req.Height)
		if errors.Is(err, state.ErrVersionUnavailable) {
			return &abci.ResponseQuery{Code: uint32(tx.CodeNotFound), Codespace: "carechain", Log: err.Error()}, nil
		}
		if err != nil {
			return nil, err
		}
		res := &abci.ResponseQuery{Key: req.Data, Value: p.Value, Height: p.Version}
		if req.Prove {
			data, err := p.Proof.Marshal()
			if err != nil {
				return nil, err
			}
			res.ProofOps = &cmtcrypto.ProofOps{Ops: []cmtcrypto.ProofOp{{Type: ProofOpICS23, Key: req.Data, Data: data}}}
		}
		return res, nil
	}
	return &abci.ResponseQuery{Code: uint32(tx.CodeInvalid), Codespace: "carechain", Log: "unknown query path " + req.Path}, nil
}
