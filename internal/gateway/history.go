package gateway

import (
	"encoding/json"
	"net/http"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/tx"
)

// history answers a patient's access history. The request carries a
// signed audit.query transaction: the gateway submits it and answers only
// once the ledger has committed it as permitted, so the read is authorized
// by consensus and on the record before any event is returned.
func (g *Gateway) history(w http.ResponseWriter, r *http.Request) {
	var req client.HistoryRequest
	if !readQueryBody(w, r, &req, &req.Tx, `{"tx": "<base64 audit.query transaction>", "filter": {…}}`) {
		return
	}
	q, err := historyQuery(req)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return
	}
	res := g.runQuery(r.Context(), w, req.Tx)
	if res == nil {
		return
	}
	snap, _, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	events, next, err := audit.History(snap, q)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, err.Error())
		return
	}
	raw, err := json.Marshal(events)
	if err != nil {
		writeError(w, http.StatusInternalServerError, tx.CodeInternal, err.Error())
		return
	}
	if events == nil {
		raw = []byte("[]")
	}
	writeJSON(w, http.StatusOK, client.HistoryPage{Patient: q.Patient, Height: res.Height, Query: *res, Events: raw, NextCursor: next})
}

// historyQuery turns a request into an audit.Query for the patient its
// transaction names. Only an audit.query transaction opens a history.
func historyQuery(req client.HistoryRequest) (audit.Query, error) {
	t, err := tx.Decode(req.Tx)
	if err != nil {
		return audit.Query{}, err
	}
	m, err := tx.DecodeMsg(t.Type, t.Body)
	if err != nil {
		return audit.Query{}, err
	}
	qm, ok := m.(*tx.QueryAuditHistory)
	if !ok {
		return audit.Query{}, tx.Errorf(tx.CodeInvalid, "the transaction is a %s, not an audit.query", t.Type)
	}
	f := req.Filter
	q := audit.Query{Patient: qm.Patient, NoPatient: qm.Patient == "", From: f.From, To: f.To, Actor: f.Actor, Org: f.Org, Purpose: f.Purpose,
		Limit: f.Limit, Cursor: f.Cursor}
	if f.OldestFirst {
		q.Order = audit.OldestFirst
	}
	if f.Decision != "" {
		if err := q.Decision.UnmarshalText([]byte(f.Decision)); err != nil {
			return audit.Query{}, tx.Errorf(tx.CodeInvalid, "decision: %v", err)
		}
	}
	return q, nil
}
