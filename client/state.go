package client

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"

	ics23 "github.com/cosmos/ics23/go"

	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/state"
)

// VerifyStateProof checks that p proves p.Value (or absence) for key under
// p.Root. It does not establish that p.Root is the chain's: that takes the
// signed header of block p.Height+1, which carries it as AppHash.
func VerifyStateProof(p *StateProof, key []byte) error {
	if p == nil {
		return fmt.Errorf("no proof")
	}
	if !bytes.Equal(p.Key, key) {
		return fmt.Errorf("proof is for key %q, not %q", p.Key, key)
	}
	var cp ics23.CommitmentProof
	if err := cp.Unmarshal(p.Proof); err != nil {
		return fmt.Errorf("decode proof: %w", err)
	}
	if !state.Verify(p.Root, key, p.Value, &cp) {
		return fmt.Errorf("state proof for %q does not verify against root %X", key, p.Root)
	}
	return nil
}

// Actor reads an actor and checks its state proof.
func (c *Client) Actor(ctx context.Context, id string) (*ActorResponse, error) {
	var res ActorResponse
	if err := c.do(ctx, http.MethodGet, "/v1/actors/"+id, nil, &res); err != nil {
		return nil, err
	}
	if err := VerifyStateProof(res.Proof, identity.ActorKey(id)); err != nil {
		return nil, err
	}
	proven, err := identity.DecodeActor(res.Proof.Value)
	if err != nil {
		return nil, fmt.Errorf("proven actor record does not decode: %w", err)
	}
	if proven.ID != res.Actor.ID || !bytes.Equal(proven.SignKey, res.Actor.SignKey) || proven.Revoked != res.Actor.Revoked ||
		proven.KeyVersion != res.Actor.KeyVersion || !bytes.Equal(proven.HPKEKey, res.Actor.HPKEKey) {
		return nil, fmt.Errorf("node's actor view differs from the proven record")
	}
	return &res, nil
}

// StateAt reads a raw state key at a height (0: latest) with its proof,
// verified.
func (c *Client) StateAt(ctx context.Context, key []byte, height int64) (*StateProof, error) {
	var p StateProof
	path := "/v1/state/" + hex.EncodeToString(key)
	if height > 0 {
		path += "?height=" + strconv.FormatInt(height, 10)
	}
	if err := c.do(ctx, http.MethodGet, path, nil, &p); err != nil {
		return nil, err
	}
	return &p, VerifyStateProof(&p, key)
}
