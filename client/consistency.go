package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/internal/proof"
)

// AuditConsistency fetches the consistency bundle from the audit log of
// from events to the log of to events (0: the latest one a signed header
// covers), exactly as the node encoded it, ready to store. It checks only
// that it is a well-formed bundle for that range; VerifyAuditConsistency
// (or proof.VerifyConsistency) is what trusts nothing but the genesis.
// No signed query is needed: the bundle holds sizes and hashes, no event.
func (c *Client) AuditConsistency(ctx context.Context, from, to uint64) ([]byte, error) {
	path := "/v1/audit/consistency?from=" + strconv.FormatUint(from, 10)
	if to != 0 {
		path += "&to=" + strconv.FormatUint(to, 10)
	}
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, path, nil, &raw); err != nil {
		return nil, err
	}
	data := append([]byte(raw), '\n')
	b, err := proof.DecodeConsistency(data)
	if err != nil {
		return nil, fmt.Errorf("node at %s sent a bad consistency bundle: %w", c.base, err)
	}
	if b.From.Size != from || (to != 0 && b.To.Size != to) {
		return nil, fmt.Errorf("node at %s sent the bundle of %d→%d, not %d→%d", c.base, b.From.Size, b.To.Size, from, to)
	}
	return data, nil
}

// VerifyAuditConsistency asks the node for a proof that the audit log
// only grew since trusted, a checkpoint the caller verified before (from
// an earlier call, a proof bundle, or proof.EmptyLog() to start), and
// verifies it against the genesis. It returns the verified result, whose
// To() is the checkpoint to keep for next time, and the bundle's bytes.
// An error wrapping proof.ErrNotVerified means the node could not show
// the log it signs now to extend the one trusted: keep the old
// checkpoint and the bundle as evidence.
func (c *Client) VerifyAuditConsistency(ctx context.Context, genesis *types.GenesisDoc, trusted proof.Checkpoint) (*proof.VerifiedConsistency, []byte, error) {
	data, err := c.AuditConsistency(ctx, trusted.Size, 0)
	if err != nil {
		return nil, nil, err
	}
	v, err := proof.VerifyConsistency(data, genesis, trusted)
	if err != nil {
		return nil, data, err
	}
	return v, data, nil
}
