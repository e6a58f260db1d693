package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/proof"
	"github.com/carechain/carechain/internal/tx"
)

// AuditProof fetches the proof bundle of audit event seq, an event about
// patient (see docs/proof-bundle.md), and returns it exactly as the node
// encoded it, ready to store. Reading it is reading the patient's history:
// the request carries key's signed audit.query, which the ledger must
// permit and records. The node is not trusted: whoever relies on the bundle
// checks it with proof.Verify (or 'carechain verify') against the chain's
// genesis. AuditProof only checks that it is a well-formed bundle for seq.
func (c *Client) AuditProof(ctx context.Context, key *keyfile.Key, patient string, seq uint64) ([]byte, error) {
	query, err := c.signAs(ctx, key.ID, key, &tx.QueryAuditHistory{Patient: patient})
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	path := "/v1/audit/" + strconv.FormatUint(seq, 10) + "/proof?tx=" + base64.RawURLEncoding.EncodeToString(query)
	if err := c.do(ctx, http.MethodGet, path, nil, &raw); err != nil {
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
