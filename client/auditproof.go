package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/carechain/carechain/internal/proof"
)

// AuditProof fetches the proof bundle of audit event seq (see
// docs/proof-bundle.md) and returns it exactly as the node encoded it,
// ready to store. The node is not trusted: whoever relies on the bundle
// checks it with proof.Verify (or 'carechain verify') against the chain's
// genesis. AuditProof only checks that it is a well-formed bundle for seq.
func (c *Client) AuditProof(ctx context.Context, seq uint64) ([]byte, error) {
	var raw json.RawMessage
	if err := c.do(ctx, http.MethodGet, "/v1/audit/"+strconv.FormatUint(seq, 10)+"/proof", nil, &raw); err != nil {
		return nil, err
	}
	data := append([]byte(raw), '\n')
	b, err := proof.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("node at %s sent a bad proof bundle: %w", c.base, err)
	}
	if b.Seq != seq {
		return nil, fmt.Errorf("node at %s sent the bundle of event %d, not %d", c.base, b.Seq, seq)
	}
	return data, nil
}
