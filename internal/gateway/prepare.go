package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/tx"
)

// prepare builds the unsigned transaction a JSON description asks for,
// with the signer's next nonce and the bytes to sign, for a signer whose
// key never leaves its own device: the portal signs in the browser and
// posts the result to POST /v1/txs. Nothing is submitted here, and nothing
// here needs a key. The node is trusted with these bytes no more than it
// is trusted with the portal's script, and the portal re-encodes the
// whole transaction from what it asked for before it signs (docs/portal.md).
func (g *Gateway) prepare(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, tx.MaxTxBytes))
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, "read body: "+err.Error())
		return
	}
	var req client.PrepareRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeMalformed, "body must be a JSON transaction description: "+err.Error())
		return
	}
	if !consent.IsValidID(req.Signer) {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "signer must be the signer's actor id")
		return
	}
	m, out, err := prepareMsg(req, time.Now())
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return
	}
	snap, _, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	last, err := identity.LastNonce(snap, req.Signer)
	if err != nil {
		writeStateError(w, err)
		return
	}
	st, err := g.rpc.Status(r.Context())
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, tx.CodeInternal, err.Error())
		return
	}
	t := &tx.Tx{ChainID: st.NodeInfo.Network, Signer: req.Signer, Nonce: last + 1, Type: m.Type(), Body: m.Encode()}
	// Check what the ledger would refuse on sight, so the page can say so
	// before asking anyone to sign: a body that does not decode back (a
	// field over its length limit, such as an erasure's reason) as well as
	// what ValidateBasic refuses.
	if _, err := tx.DecodeMsg(t.Type, t.Body); err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return
	}
	if err := tx.ValidateBasic(t.ChainID, t, m); err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return
	}
	out.ChainID, out.Signer, out.Nonce, out.Type, out.TypeName = t.ChainID, t.Signer, t.Nonce, uint32(t.Type), t.Type.String()
	out.Body, out.Unsigned, out.SignBytes = t.Body, t.Encode(), t.SignBytes()
	if t.Type == tx.TypeGrantConsent {
		out.ConsentID = tx.ConsentID(t.Signer, t.Nonce)
	}
	writeJSON(w, http.StatusOK, out)
}

// prepareMsg turns a description into its message; out carries what the
// message alone can say about itself. now dates a consent's agreement.
func prepareMsg(req client.PrepareRequest, now time.Time) (tx.Msg, *client.PreparedTx, error) {
	out := &client.PreparedTx{}
	switch req.Op {
	case tx.TypeGrantConsent.String(), tx.TypeUpdateConsent.String():
		if req.Consent == nil {
			return nil, nil, tx.Errorf(tx.CodeInvalid, "%s needs a consent", req.Op)
		}
		c, err := req.Consent.Consent(req.Patient, now)
		if err != nil {
			return nil, nil, tx.Errorf(tx.CodeInvalid, "consent: %v", err)
		}
		out.Summary = client.ConsentSummary(c)
		if req.Op == tx.TypeGrantConsent.String() {
			return &tx.GrantConsent{Patient: req.Patient, Consent: consent.Encode(c)}, out, nil
		}
		return &tx.UpdateConsent{Patient: req.Patient, Consent: consent.Encode(c)}, out, nil
	case tx.TypeRevokeConsent.String():
		return &tx.RevokeConsent{Patient: req.Patient, ConsentID: req.ConsentID}, out, nil
	case tx.TypeSetDelegate.String():
		if req.Delegation == nil {
			return nil, nil, tx.Errorf(tx.CodeInvalid, "delegate.set needs a delegation")
		}
		d := req.Delegation.Delegation()
		out.Summary = d.Delegate + " may " + strings.Join(client.StringsOf(d.Operations), ",")
		return &tx.SetDelegate{Delegation: consent.EncodeDelegation(d)}, out, nil
	case tx.TypeRemoveDelegate.String():
		return &tx.RemoveDelegate{Patient: req.Patient, Delegate: req.Delegate}, out, nil
	case tx.TypeSetBreakGlassOptOut.String():
		return &tx.SetBreakGlassOptOut{Patient: req.Patient, OptOut: req.OptOut}, out, nil
	case tx.TypeQueryAuditHistory.String():
		return &tx.QueryAuditHistory{Patient: req.Patient}, out, nil
	case tx.TypeQueryConsents.String():
		return &tx.QueryConsents{Patient: req.Patient, ConsentID: req.ConsentID, Requester: req.Requester}, out, nil
	case tx.TypeQueryRecords.String():
		return &tx.QueryRecords{Patient: req.Patient, RecordID: req.RecordID}, out, nil
	case tx.TypeEraseRecord.String():
		return &tx.EraseRecord{RecordID: req.RecordID, Reason: req.Reason}, out, nil
	}
	return nil, nil, tx.Errorf(tx.CodeUnknownType, "op %q is not one the portal prepares: consent.grant, consent.update, "+
		"consent.revoke, delegate.set, delegate.remove, breakglass.optout, audit.query, consent.query, record.query "+
		"or record.erase", req.Op)
}
