package gateway

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/tx"
)

// How the access stream paces itself.
const (
	streamPoll      = 250 * time.Millisecond // how often to look for a new committed height
	streamKeepAlive = 15 * time.Second       // comment lines that keep proxies from closing the stream
	streamMaxAge    = time.Hour              // a stream ends after this; reconnecting is a new, audited read
	streamPageSize  = 100
)

// stream sends a patient's new audit events as server-sent events, as
// blocks commit them: the patient sees each access to their records, and
// each break-the-glass, moments after it happens. Opening the stream is a
// read of the history like any other: the request carries a signed
// audit.query transaction (base64url in ?tx=), which the ledger must permit
// and records.
//
// Events are "event: access" with the audit event as JSON data and its
// sequence number as the id; break-the-glass events are "event: breakglass".
func (g *Gateway) stream(w http.ResponseWriter, r *http.Request) {
	if g.state == nil {
		writeStateError(w, errNoState)
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(r.URL.Query().Get("tx"))
	if err != nil || len(raw) == 0 {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, "?tx= must be a base64url (unpadded) audit.query transaction")
		return
	}
	q, err := historyQuery(client.HistoryRequest{Tx: raw})
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return
	}
	flusher, ok := w.(http.Flusher)
	if !ok {
		writeError(w, http.StatusInternalServerError, tx.CodeInternal, "streaming is not supported by this server")
		return
	}
	res := g.runQuery(r.Context(), w, raw)
	if res == nil {
		return
	}
	// Events after the query's own record are news.
	last, err := querySeq(res)
	if err != nil {
		writeError(w, http.StatusInternalServerError, tx.CodeInternal, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	fmt.Fprintf(w, ": access stream for %s from event %d\n\n", q.Patient, last+1)
	flusher.Flush()

	poll := time.NewTicker(streamPoll)
	defer poll.Stop()
	keepAlive := time.NewTicker(streamKeepAlive)
	defer keepAlive.Stop()
	end := time.NewTimer(streamMaxAge)
	defer end.Stop()
	seen := res.Height
	for {
		select {
		case <-r.Context().Done():
			return
		case <-end.C:
			fmt.Fprint(w, "event: end\ndata: reconnect with a new audit.query\n\n")
			flusher.Flush()
			return
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
		case <-poll.C:
			if height, _ := g.state.LastCommit(); height > seen {
				seen = height
				if last, err = g.sendNew(w, q.Patient, last); err != nil {
					g.log.Warn("access stream ended", "patient", q.Patient, "err", err)
					return
				}
				flusher.Flush()
			}
		}
	}
}

// sendNew writes the patient's events after seq last, oldest first, and
// returns the last one sent.
func (g *Gateway) sendNew(w http.ResponseWriter, patient string, last uint64) (uint64, error) {
	snap, _, err := g.latest()
	if err != nil {
		return last, err
	}
	// Newest first, back to what was already sent; then in order.
	var fresh []audit.Event
	cursor := ""
	for {
		page, next, err := audit.History(snap, audit.Query{Patient: patient, Limit: streamPageSize, Cursor: cursor})
		if err != nil {
			return last, err
		}
		done := false
		for _, e := range page {
			if e.Seq <= last {
				done = true
				break
			}
			fresh = append(fresh, e)
		}
		if done || next == "" {
			break
		}
		cursor = next
	}
	for i := len(fresh) - 1; i >= 0; i-- {
		e := fresh[i]
		data, err := json.Marshal(e)
		if err != nil {
			return last, err
		}
		kind := "access"
		if e.BreakGlass || e.Action == audit.ActionBreakGlass {
			kind = "breakglass"
		}
		if _, err := fmt.Fprintf(w, "event: %s\nid: %d\ndata: %s\n\n", kind, e.Seq, data); err != nil {
			return last, err
		}
		last = e.Seq
	}
	return last, nil
}

// querySeq is the audit sequence number a committed audit.query recorded.
func querySeq(res *client.TxResult) (uint64, error) {
	for _, e := range res.Events {
		if e.Type == "audit" {
			return strconv.ParseUint(e.Attributes["seq"], 10, 64)
		}
	}
	return 0, fmt.Errorf("the committed query recorded no audit event")
}
