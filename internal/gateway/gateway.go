// Package gateway is a node's HTTP face: /healthz, Prometheus /metrics, the
// native JSON API under /v1 for submitting transactions, reading state with
// proofs, encrypted records (custody of blobs and key shares), and the
// audited reads — access history, proof bundles, consents and consent
// decision previews — each answered only once the ledger has permitted and
// recorded the reader's signed query; and, once enabled, SMART Backend
// Services (/auth/token) in front of the FHIR API at /fhir, and the
// patient portal at /ui (package web). It listens where
// the node tells it (loopback by default) and holds no state of its own
// beyond waiters for commits and the replay cache of token requests.
package gateway

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	cmtnode "github.com/cometbft/cometbft/node"
	"github.com/cometbft/cometbft/rpc/client/local"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/custody"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/tx"
	"github.com/carechain/carechain/internal/web"
)

// commitTimeout bounds how long a submission waits for its block.
const commitTimeout = 30 * time.Second

// Gateway serves one node's HTTP API.
type Gateway struct {
	node    *cmtnode.Node
	state   State // nil on a node without carechain state (the benchmark baseline)
	rpc     *local.Local
	log     *slog.Logger
	waiters *commitWaiter
	cancel  context.CancelFunc
	// consents caches patients' consent indexes for the decide endpoint.
	// It is the gateway's own: a cache entry is a pure function of the
	// state it was built from, so it need not be shared with the app's.
	consents *ledgerstate.IndexCache
	// custody is this validator's record custody; nil on a node without
	// carechain state.
	custody *custody.Service
	// pendingNonce, if set, reads an actor's last nonce counting this
	// node's mempool (app.PendingNonce).
	pendingNonce func(id string) (uint64, error)
	peers        sync.Map // peer gateway URL → *client.Client
	// blockTime reads a committed block's header time.
	blockTime func(ctx context.Context, height int64) (time.Time, error)
	// smart and fhir serve SMART Backend Services and /fhir once
	// EnableFHIR has run.
	smart *smart.Server
	fhir  *fhir.Server
	// fhirEntries serves a batch Bundle's entries: fhir behind the same
	// refusal logging as /fhir, without the base path.
	fhirEntries http.Handler
	// submitQuery submits a signed query and waits for its block. It is
	// submitAndWait on a node; tests of what the gateway serves after a
	// permitted query replace it, since what the ledger permits is the
	// app's to decide and tested there.
	submitQuery func(ctx context.Context, raw []byte) (*client.TxResult, int, error)
	// org is the organization the gateway acts for on /fhir; nil unless
	// the node is configured with its key.
	org *orgAgent
	// refusals counts the refusals that name nobody for certain, and
	// reporter puts them on the ledger as org; both nil without org.
	refusals *refusalTally
	reporter *refusalReporter
}

// New returns a gateway over a started node and its committed state.
func New(n *cmtnode.Node, st State, cust *custody.Service, log *slog.Logger) (*Gateway, error) {
	ctx, cancel := context.WithCancel(context.Background())
	w, err := newCommitWaiter(ctx, n.EventBus(), log)
	if err != nil {
		cancel()
		return nil, err
	}
	g := &Gateway{node: n, state: st, custody: cust, rpc: local.New(n), log: log, waiters: w, cancel: cancel,
		consents: ledgerstate.NewIndexCache(ledgerstate.DefaultCacheSize)}
	g.blockTime = g.cometBlockTime
	g.submitQuery = func(ctx context.Context, raw []byte) (*client.TxResult, int, error) {
		return g.submitAndWait(ctx, raw, true)
	}
	return g, nil
}

// SetPendingNonces makes the nonce endpoint count transactions waiting in
// this node's mempool.
func (g *Gateway) SetPendingNonces(f func(id string) (uint64, error)) { g.pendingNonce = f }

// Close stops the gateway's background work. Refusals still in the tally
// are reported first, while the gateway can still submit: call Close
// before the node stops.
func (g *Gateway) Close() {
	if g.reporter != nil {
		g.reporter.close()
	}
	g.cancel()
}

// Handler returns the HTTP handler.
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", g.health)
	mux.Handle("GET /metrics", promhttp.Handler())
	mux.HandleFunc("GET /v1/status", g.status)
	mux.HandleFunc("GET /v1/network", g.network)
	mux.HandleFunc("GET /v1/custodians", g.custodians)
	mux.HandleFunc("POST /v1/txs", g.submit)
	mux.HandleFunc("POST /v1/txs/prepare", g.prepare)
	mux.HandleFunc("GET /v1/txs/{hash}", g.lookupTx)
	mux.HandleFunc("POST /v1/audit/history", g.history)
	mux.HandleFunc("GET /v1/audit/stream", g.stream)
	mux.HandleFunc("GET /v1/audit/{seq}/proof", g.auditProof)
	mux.HandleFunc("GET /v1/audit/consistency", g.auditConsistency)
	mux.HandleFunc("GET /v1/actors/{id}", g.actor)
	mux.HandleFunc("GET /v1/actors/{id}/nonce", g.nonce)
	mux.HandleFunc("GET /v1/state/{key}", g.stateValue)
	mux.HandleFunc("POST /v1/consents/list", g.patientConsents)
	mux.HandleFunc("POST /v1/consents/read", g.consentByID)
	mux.HandleFunc("POST /v1/consents/decide", g.decide)
	mux.HandleFunc("POST /v1/records", g.putRecord)
	mux.HandleFunc("POST /v1/records/batch", g.putBatch)
	mux.HandleFunc("POST /v1/records/read", g.record)
	mux.HandleFunc("POST /v1/records/list", g.patientRecords)
	mux.HandleFunc("GET /v1/records/{id}/versions/{version}/share", g.share)
	mux.HandleFunc("GET /v1/records/{id}/versions/{version}/shares", g.shares)
	mux.HandleFunc("GET /v1/blobs/{hash}", g.blob)
	g.mountFHIR(mux)
	// The patient portal: static files, and the same /v1 API as everyone.
	mux.Handle("GET /ui/", web.Handler())
	mux.Handle("GET /ui", web.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, tx.CodeNotFound, "no such endpoint: "+r.Method+" "+r.URL.Path)
	})
	return mux
}

func (g *Gateway) health(w http.ResponseWriter, r *http.Request) {
	st, err := g.rpc.Status(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, tx.CodeInternal, err.Error())
		return
	}
	height, root := g.committed(st)
	h := client.Health{Status: "ok", ChainID: st.NodeInfo.Network, Height: height,
		AppHash: hex.EncodeToString(root), CatchingUp: st.SyncInfo.CatchingUp}
	code := http.StatusOK
	switch {
	case h.CatchingUp:
		h.Status = "catching_up"
	case g.stalled(st.SyncInfo.LatestBlockTime):
		// The process is up but the chain is not moving here: consensus
		// failed on this node, or it has lost its peers.
		h.Status, code = "stalled", http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}

// committed returns the last height whose state this node has committed,
// and the state root after it: reads at that height succeed. CometBFT
// stores a block before the application has executed it, so its latest
// block height can run one ahead.
func (g *Gateway) committed(st *ctypes.ResultStatus) (int64, []byte) {
	if g.state != nil {
		return g.state.LastCommit()
	}
	return st.SyncInfo.LatestBlockHeight, st.SyncInfo.LatestAppHash
}

// stalled reports whether the chain has gone quiet for longer than a live
// one can: with empty blocks on, a block comes at least every
// create_empty_blocks_interval.
func (g *Gateway) stalled(latest time.Time) bool {
	c := g.node.Config().Consensus
	return quietTooLong(time.Now(), latest, c.CreateEmptyBlocks, c.CreateEmptyBlocksInterval)
}

// quietTooLong judges a chain whose latest block is from latest, at now.
// Without empty blocks an idle chain is legitimately quiet, so it never is.
func quietTooLong(now, latest time.Time, emptyBlocks bool, emptyInterval time.Duration) bool {
	if !emptyBlocks || latest.IsZero() {
		return false
	}
	return now.Sub(latest) > max(30*time.Second, 5*emptyInterval)
}

func (g *Gateway) status(w http.ResponseWriter, r *http.Request) {
	st, err := g.rpc.Status(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, tx.CodeInternal, err.Error())
		return
	}
	height, root := g.committed(st)
	out := client.Status{ChainID: st.NodeInfo.Network, NodeID: string(st.NodeInfo.DefaultNodeID), Moniker: st.NodeInfo.Moniker,
		Height: height, AppHash: hex.EncodeToString(root), LatestBlockTime: st.SyncInfo.LatestBlockTime,
		CatchingUp: st.SyncInfo.CatchingUp}
	if meta := g.node.BlockStore().LoadBlockMeta(height); meta != nil {
		out.LatestBlockTime = meta.Header.Time
	}
	vals, err := g.validators(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, tx.CodeInternal, err.Error())
		return
	}
	out.Validators = vals
	writeJSON(w, http.StatusOK, out)
}

func (g *Gateway) validators(ctx context.Context) ([]client.Validator, error) {
	perPage := 100
	res, err := g.rpc.Validators(ctx, nil, nil, &perPage)
	if err != nil {
		return nil, err
	}
	hpkeKeys, err := g.validatorKeys()
	if err != nil {
		return nil, err
	}
	out := make([]client.Validator, 0, len(res.Validators))
	for _, v := range res.Validators {
		cv := client.Validator{Address: v.Address.String(), Power: v.VotingPower}
		if k, ok := hpkeKeys[cv.Address]; ok {
			cv.Name, cv.HPKEKey = k.Name, k.HPKEKey
		}
		out = append(out, cv)
	}
	return out, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, code tx.Code, msg string) {
	writeJSON(w, status, client.ErrorBody{Error: client.ErrorDetail{Code: uint32(code), Name: code.String(), Message: msg}})
}

// queryHeight parses ?height=, 0 meaning latest.
func queryHeight(r *http.Request) (int64, error) {
	s := r.URL.Query().Get("height")
	if s == "" {
		return 0, nil
	}
	h, err := strconv.ParseInt(s, 10, 64)
	if err != nil || h < 0 {
		return 0, errors.New("height must be a non-negative integer")
	}
	return h, nil
}
