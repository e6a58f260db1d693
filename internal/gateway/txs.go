package gateway

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	abci "github.com/cometbft/cometbft/abci/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/tx"
)

// submit accepts a signed transaction. With ?wait=sync it returns once the
// mempool admitted it; by default it waits until a block commits it.
func (g *Gateway) submit(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 2*tx.MaxTxBytes+1024))
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, "read body: "+err.Error())
		return
	}
	var req client.TxRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.Tx) == 0 {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, `body must be JSON {"tx": "<base64 transaction>"}`)
		return
	}
	untilCommit, ok := waitParam(w, r)
	if !ok {
		return
	}
	res, status, err := g.submitAndWait(r.Context(), req.Tx, untilCommit)
	if err != nil {
		writeError(w, status, tx.CodeInternal, err.Error())
		return
	}
	writeTxResult(w, *res)
}

// submitAndWait hands raw to the mempool and, if untilCommit, waits for
// the block that commits it. A rejection is a result with its code; an
// error comes with the HTTP status to answer it with.
func (g *Gateway) submitAndWait(ctx context.Context, raw []byte, untilCommit bool) (*client.TxResult, int, error) {
	if g.node.ConsensusReactor().WaitSync() {
		// A catching-up node keeps what it admits to itself until it has
		// synced, and judges it against old state: a submission through it
		// would wait for nothing.
		return nil, http.StatusServiceUnavailable, fmt.Errorf("this node is still catching up with the chain; submit through another node, or wait (GET /healthz says when)")
	}
	hash := tx.Hash(raw)
	var ch <-chan abci.TxResult
	if untilCommit {
		var cancel func()
		ch, cancel = g.waiters.wait(hash)
		defer cancel()
	}
	res, err := g.rpc.BroadcastTxSync(ctx, raw)
	if g.org != nil {
		code := uint32(0)
		if res != nil {
			code = res.Code
		}
		g.org.admitted(raw, code, err)
	}
	if err != nil {
		status := http.StatusServiceUnavailable
		if strings.Contains(err.Error(), "tx already exists in cache") {
			status = http.StatusConflict
		}
		return nil, status, fmt.Errorf("submit: %w", err)
	}
	out := &client.TxResult{Hash: hex.EncodeToString(hash[:]), Code: res.Code, CodeName: tx.Code(res.Code).String(), Log: res.Log}
	if res.Code != 0 || !untilCommit {
		return out, http.StatusOK, nil
	}
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	select {
	case committed := <-ch:
		out.Height = committed.Height
		out.Code, out.CodeName, out.Log = committed.Result.Code, tx.Code(committed.Result.Code).String(), committed.Result.Log
		out.Events = events(committed.Result.Events)
		return out, http.StatusOK, nil
	case <-ctx.Done():
		return nil, http.StatusGatewayTimeout, fmt.Errorf("transaction %s was admitted but not committed in time; look it up with GET /v1/txs/%s", out.Hash, out.Hash)
	}
}

func writeTxResult(w http.ResponseWriter, res client.TxResult) {
	status := http.StatusOK
	if res.Code != 0 {
		status = http.StatusUnprocessableEntity
	}
	writeJSON(w, status, res)
}

func (g *Gateway) lookupTx(w http.ResponseWriter, r *http.Request) {
	hash, err := hex.DecodeString(r.PathValue("hash"))
	if err != nil || len(hash) != 32 {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "hash must be 64 hex characters")
		return
	}
	res, err := g.rpc.Tx(r.Context(), hash, false)
	if err != nil {
		writeError(w, http.StatusNotFound, tx.CodeNotFound, "transaction not found in a committed block")
		return
	}
	writeTxResult(w, client.TxResult{Hash: hex.EncodeToString(hash), Height: res.Height, Code: res.TxResult.Code,
		CodeName: tx.Code(res.TxResult.Code).String(), Log: res.TxResult.Log, Events: events(res.TxResult.Events)})
}

func events(in []abci.Event) []client.Event {
	out := make([]client.Event, 0, len(in))
	for _, e := range in {
		attrs := make(map[string]string, len(e.Attributes))
		for _, a := range e.Attributes {
			attrs[a.Key] = a.Value
		}
		out = append(out, client.Event{Type: e.Type, Attributes: attrs})
	}
	return out
}

// commitWaiter delivers committed transaction results to the requests
// waiting for them, from one subscription to the node's event bus (rather
// than one per request, which CometBFT caps).
type commitWaiter struct {
	mu      sync.Mutex
	waiting map[[32]byte][]chan abci.TxResult
}

const subscriber = "carechain-gateway"

func newCommitWaiter(ctx context.Context, bus *cmttypes.EventBus, log *slog.Logger) (*commitWaiter, error) {
	c := &commitWaiter{waiting: make(map[[32]byte][]chan abci.TxResult)}
	sub, err := bus.Subscribe(ctx, subscriber, cmttypes.EventQueryTx, 100_000)
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case msg := <-sub.Out():
				if data, ok := msg.Data().(cmttypes.EventDataTx); ok {
					c.deliver(data.TxResult)
				}
			case <-sub.Canceled():
				if ctx.Err() != nil {
					return
				}
				// Too slow to keep up: resubscribe. Waiters for results
				// missed meanwhile time out and can look the hash up.
				log.Warn("commit subscription dropped; resubscribing", "err", sub.Err())
				_ = bus.Unsubscribe(context.Background(), subscriber, cmttypes.EventQueryTx)
				if sub, err = bus.Subscribe(ctx, subscriber, cmttypes.EventQueryTx, 100_000); err != nil {
					log.Error("commit subscription lost", "err", err)
					return
				}
			}
		}
	}()
	return c, nil
}

func (c *commitWaiter) wait(hash [32]byte) (<-chan abci.TxResult, func()) {
	ch := make(chan abci.TxResult, 1)
	c.mu.Lock()
	c.waiting[hash] = append(c.waiting[hash], ch)
	c.mu.Unlock()
	return ch, func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		list := c.waiting[hash]
		for i, x := range list {
			if x == ch {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(c.waiting, hash)
		} else {
			c.waiting[hash] = list
		}
	}
}

func (c *commitWaiter) deliver(res abci.TxResult) {
	hash := tx.Hash(res.Tx)
	c.mu.Lock()
	list := c.waiting[hash]
	delete(c.waiting, hash)
	c.mu.Unlock()
	for _, ch := range list {
		ch <- res
	}
}

// runQuery submits a signed query transaction (audit.query,
// consent.query) and waits for its block. It returns the committed result
// only if the ledger permitted the query; otherwise it writes the refusal
// (403 for a denial, which the block recorded; 404 for a patient that is
// not registered; 422 for another rejection) and returns nil. Answering after the commit is what makes a read
// authorized by consensus and on the record before anything is returned.
func (g *Gateway) runQuery(ctx context.Context, w http.ResponseWriter, raw []byte) *client.TxResult {
	res, status, err := g.submitQuery(ctx, raw)
	if err != nil {
		writeError(w, status, tx.CodeInternal, err.Error())
		return nil
	}
	if res.Code != 0 {
		status := http.StatusUnprocessableEntity
		switch tx.Code(res.Code) {
		case tx.CodeAccessDenied:
			status = http.StatusForbidden
		case tx.CodeNotFound:
			status = http.StatusNotFound
		}
		writeError(w, status, tx.Code(res.Code), res.Log)
		return nil
	}
	return res
}

// readQueryBody reads a query request's JSON body into req, whose
// transaction is *raw, and writes a 400 naming shape unless it decodes
// with a transaction in it.
func readQueryBody(w http.ResponseWriter, r *http.Request, req any, raw *[]byte, shape string) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 2*tx.MaxTxBytes+4096))
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, "read body: "+err.Error())
		return false
	}
	if err := json.Unmarshal(body, req); err != nil || len(*raw) == 0 {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, "body must be JSON "+shape)
		return false
	}
	return true
}

// decodeQuery decodes a signed query transaction of type want and checks
// it without state, so a malformed one is refused before it is submitted
// and recorded. Errors carry the result code to answer with.
func decodeQuery(raw []byte, want tx.Type) (*tx.Tx, tx.Msg, error) {
	t, err := tx.Decode(raw)
	if err != nil {
		return nil, nil, err
	}
	m, err := tx.DecodeMsg(t.Type, t.Body)
	if err != nil {
		return nil, nil, err
	}
	if t.Type != want {
		return nil, nil, tx.Errorf(tx.CodeInvalid, "the transaction is a %s, not a %s", t.Type, want)
	}
	if err := tx.ValidateBasic(t.ChainID, t, m); err != nil {
		return nil, nil, err
	}
	return t, m, nil
}

// waitParam reads ?wait=: commit (the default) or sync, whether a
// submission waits for its block or only for the mempool. Anything else
// is answered 400 and ok is false.
func waitParam(w http.ResponseWriter, r *http.Request) (untilCommit, ok bool) {
	switch r.URL.Query().Get("wait") {
	case "", "commit":
		return true, true
	case "sync":
		return false, true
	}
	writeError(w, http.StatusBadRequest, tx.CodeInvalid, "wait must be sync or commit")
	return false, false
}
