package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// AuditHistory reads one page of patient's access history as key's actor.
// The read is a signed audit.query transaction: it succeeds only if the
// ledger permits it (the patient, a delegate allowed to read the history,
// or an auditor) and it is recorded in the history itself. A denial is an
// *Error with code access_denied.
func (c *Client) AuditHistory(ctx context.Context, key *keyfile.Key, patient string, f HistoryFilter) (*HistoryPage, []audit.Event, error) {
	raw, err := c.signAs(ctx, key.ID, key, &tx.QueryAuditHistory{Patient: patient})
	if err != nil {
		return nil, nil, err
	}
	var page HistoryPage
	if err := c.do(ctx, http.MethodPost, "/v1/audit/history", HistoryRequest{Tx: raw, Filter: f}, &page); err != nil {
		return nil, nil, err
	}
	var events []audit.Event
	if err := json.Unmarshal(page.Events, &events); err != nil {
		return nil, nil, fmt.Errorf("decode history: %w", err)
	}
	return &page, events, nil
}
