package gateway

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// State is the committed application state the gateway reads: snapshots for
// plain reads, proofs for answers a client checks.
type State interface {
	LastCommit() (version int64, root []byte)
	Snapshot(version int64) (kv.Reader, int64, error)
	Prove(key []byte, version int64) (*state.Proof, error)
}

func (g *Gateway) proven(key []byte, height int64) (*client.StateProof, error) {
	if g.state == nil {
		return nil, errNoState
	}
	p, err := g.state.Prove(key, height)
	if err != nil {
		return nil, err
	}
	data, err := p.Proof.Marshal()
	if err != nil {
		return nil, err
	}
	return &client.StateProof{Height: p.Version, Root: p.Root, Key: key, Value: p.Value, Proof: data}, nil
}

var errNoState = errors.New("this node runs no carechain application state")

// stateValue serves GET /v1/state/{hex key}: any state key with its
// proof, except a patient's consent metadata and audit events, which are
// disclosed only through the audited reads (consent.query, audit.query);
// serving them raw here would let anyone read around the record.
func (g *Gateway) stateValue(w http.ResponseWriter, r *http.Request) {
	key, err := hex.DecodeString(r.PathValue("key"))
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "key must be hex")
		return
	}
	if bytes.HasPrefix(key, []byte(ledgerstate.Prefix)) || audit.IsPatientData(key) {
		writeError(w, http.StatusForbidden, tx.CodeUnauthorized,
			"consent metadata and audit events are read with a signed query: POST /v1/consents/list|read|decide, POST /v1/audit/history, GET /v1/audit/{seq}/proof")
		return
	}
	height, err := queryHeight(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, err.Error())
		return
	}
	p, err := g.proven(key, height)
	if err != nil {
		writeStateError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (g *Gateway) actor(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	p, err := g.proven(identity.ActorKey(id), 0)
	if err != nil {
		writeStateError(w, err)
		return
	}
	if p.Value == nil {
		writeError(w, http.StatusNotFound, tx.CodeNotFound, "actor "+id+" is not registered")
		return
	}
	a, err := identity.DecodeActor(p.Value)
	if err != nil {
		writeError(w, http.StatusInternalServerError, tx.CodeInternal, "corrupt actor record: "+err.Error())
		return
	}
	out := client.ActorResponse{Actor: ActorView(a)}
	if r.URL.Query().Get("prove") != "false" {
		out.Proof = p
	}
	writeJSON(w, http.StatusOK, out)
}

// ActorView converts an actor to its API form.
func ActorView(a *identity.Actor) client.Actor {
	return client.Actor{ID: a.ID, Kind: a.Kind.String(), Name: a.Name, Org: a.Org, SignKey: a.SignKey, HPKEKey: a.HPKEKey,
		Sponsor: a.Sponsor, RegisteredAt: a.RegisteredAt, KeyVersion: a.KeyVersion, Revoked: a.Revoked, RevokedAt: a.RevokedAt}
}

func (g *Gateway) nonce(w http.ResponseWriter, r *http.Request) {
	snap, _, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	last, err := identity.LastNonce(snap, r.PathValue("id"))
	if err != nil {
		writeStateError(w, err)
		return
	}
	if g.pendingNonce != nil {
		pending, err := g.pendingNonce(r.PathValue("id"))
		if err != nil {
			writeStateError(w, err)
			return
		}
		last = max(last, pending)
	}
	writeJSON(w, http.StatusOK, client.Nonce{Last: last, Next: last + 1})
}

// latest returns the latest committed state and its version.
func (g *Gateway) latest() (kv.Reader, int64, error) {
	if g.state == nil {
		return nil, 0, errNoState
	}
	return g.state.Snapshot(0)
}

// validatorKeys maps validator addresses (upper-case hex) to their entries.
func (g *Gateway) validatorKeys() (map[string]identity.Validator, error) {
	out := map[string]identity.Validator{}
	if g.state == nil {
		return out, nil
	}
	snap, _, err := g.latest()
	if err != nil {
		return nil, err
	}
	vals, err := identity.Validators(snap)
	if err != nil {
		return nil, err
	}
	for _, v := range vals {
		out[strings.ToUpper(hex.EncodeToString(v.Address))] = v
	}
	return out, nil
}

func writeStateError(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, state.ErrVersionUnavailable):
		writeError(w, http.StatusNotFound, tx.CodeNotFound, err.Error())
	case errors.Is(err, errNoState):
		writeError(w, http.StatusNotImplemented, tx.CodeInternal, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, tx.CodeInternal, err.Error())
	}
}
