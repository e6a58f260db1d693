package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/tx"
)

// What a consent.query asks for, by which of its fields are set.
type consentScope int

const (
	scopeList   consentScope = iota // neither: everything about the patient's consents
	scopeRead                       // ConsentID: one consent
	scopeDecide                     // Requester: a decision preview
)

func scopeOf(m *tx.QueryConsents) consentScope {
	switch {
	case m.ConsentID != "":
		return scopeRead
	case m.Requester != "":
		return scopeDecide
	}
	return scopeList
}

var scopeNeeds = map[consentScope]string{
	scopeList:   "names only the patient",
	scopeRead:   "names the patient and the consent",
	scopeDecide: "names the patient and the requester",
}

// consentQuery checks that raw, the transaction of a request whose body
// has been read, is a consent.query asking for scope, checks the rest of
// the request against it with check (if any) and runs the query on the
// ledger. It
// returns the query once the ledger has permitted and recorded it, with
// its committed result; otherwise it has written the refusal and returns
// nil. A request that is wrong in itself is refused before it is
// submitted, so it is not recorded as a read that never happened.
func (g *Gateway) consentQuery(ctx context.Context, w http.ResponseWriter, raw []byte, scope consentScope,
	check func(*tx.Tx, *tx.QueryConsents) error) (*tx.QueryConsents, *client.TxResult) {
	if g.state == nil {
		writeStateError(w, errNoState)
		return nil, nil
	}
	t, m, err := decodeQuery(raw, tx.TypeQueryConsents)
	if err != nil {
		writeError(w, http.StatusBadRequest, tx.CodeOf(err), err.Error())
		return nil, nil
	}
	q := m.(*tx.QueryConsents)
	if scopeOf(q) != scope {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "this endpoint needs a consent.query that "+scopeNeeds[scope])
		return nil, nil
	}
	if check != nil {
		if err := check(t, q); err != nil {
			writeError(w, http.StatusBadRequest, tx.CodeInvalid, err.Error())
			return nil, nil
		}
	}
	res := g.runQuery(ctx, w, raw)
	if res == nil {
		return nil, nil
	}
	return q, res
}

// consentQueryShape is what the consent endpoints' bodies look like, for
// the error that refuses another.
const consentQueryShape = `{"tx": "<base64 consent.query transaction>", …}`

// patientConsents serves POST /v1/consents/list: a patient's consents,
// delegations and opt-out, all read from one committed version, once the
// ledger has permitted and recorded the reader's consent.query.
func (g *Gateway) patientConsents(w http.ResponseWriter, r *http.Request) {
	var req client.ConsentQueryRequest
	if !readQueryBody(w, r, &req, &req.Tx, consentQueryShape) {
		return
	}
	q, res := g.consentQuery(r.Context(), w, req.Tx, scopeList, nil)
	if q == nil {
		return
	}
	patient := q.Patient
	snap, version, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	records, err := ledgerstate.List(snap, patient)
	if err != nil {
		writeStateError(w, err)
		return
	}
	delegations, err := ledgerstate.Delegations(snap, patient)
	if err != nil {
		writeStateError(w, err)
		return
	}
	optedOut, err := ledgerstate.OptedOut(snap, patient)
	if err != nil {
		writeStateError(w, err)
		return
	}
	rev, err := ledgerstate.Revision(snap, patient)
	if err != nil {
		writeStateError(w, err)
		return
	}
	out := client.ConsentList{Patient: patient, Height: version, Revision: hex.EncodeToString(rev[:]), OptedOut: optedOut,
		Consents: []client.ConsentRecord{}, Delegations: []client.Delegation{}, Query: res}
	for _, rec := range records {
		v, err := client.ConsentView(rec)
		if err != nil {
			writeError(w, http.StatusInternalServerError, tx.CodeInternal, err.Error())
			return
		}
		out.Consents = append(out.Consents, v)
	}
	for _, d := range delegations {
		out.Delegations = append(out.Delegations, client.DelegationView(d))
	}
	writeJSON(w, http.StatusOK, out)
}

// consentByID serves POST /v1/consents/read: one consent with a proof of
// its record against the state root, once the ledger has permitted and
// recorded the reader's consent.query. A consent of another patient
// answers as if it did not exist.
func (g *Gateway) consentByID(w http.ResponseWriter, r *http.Request) {
	var req client.ConsentQueryRequest
	if !readQueryBody(w, r, &req, &req.Tx, consentQueryShape) {
		return
	}
	q, res := g.consentQuery(r.Context(), w, req.Tx, scopeRead, nil)
	if q == nil {
		return
	}
	id := q.ConsentID
	snap, version, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	rec, err := ledgerstate.Get(snap, id)
	if tx.CodeOf(err) == tx.CodeNotFound || (err == nil && rec.Consent.Patient != q.Patient) {
		writeError(w, http.StatusNotFound, tx.CodeNotFound, "patient "+q.Patient+" has no consent "+id)
		return
	}
	if err != nil {
		writeStateError(w, err)
		return
	}
	view, err := client.ConsentView(rec)
	if err != nil {
		writeError(w, http.StatusInternalServerError, tx.CodeInternal, err.Error())
		return
	}
	out := client.ConsentResponse{Consent: view, Query: res}
	if out.Proof, err = g.proven(ledgerstate.ConsentKey(rec.Consent.Patient, id), version); err != nil {
		writeStateError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// decide serves POST /v1/consents/decide: what the ledger would decide
// for an access at the latest committed block (its state and header time),
// once the ledger has permitted and recorded the asker's consent.query for
// the patient and requester. The requester's organization and roles come
// from their identity; roles adds roles the ledger does not hold yet (see
// docs/consent.md).
func (g *Gateway) decide(w http.ResponseWriter, r *http.Request) {
	var req client.DecideRequest
	if !readQueryBody(w, r, &req, &req.Tx, consentQueryShape) {
		return
	}
	q, res := g.consentQuery(r.Context(), w, req.Tx, scopeDecide, func(t *tx.Tx, q *tx.QueryConsents) error {
		if req.Access.Purpose == "" || req.Access.Type == "" {
			return errors.New("access.purpose and access.type are required (with the query's patient and requester they name the request)")
		}
		if len(req.Access.Roles) > 0 && t.Signer == q.Requester {
			return errNoAssertedRoles
		}
		return nil
	})
	if q == nil {
		return
	}
	acc := req.Access
	if len(acc.Roles) > 0 && queryRule(res) == ruleRequesterOrg {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, errNoAssertedRoles.Error())
		return
	}
	breakGlass := acc.BreakGlass
	snap, version, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	if version == 0 {
		writeError(w, http.StatusServiceUnavailable, tx.CodeInternal, "no block committed yet")
		return
	}
	requester := q.Requester
	actor, err := identity.Get(snap, requester)
	if tx.CodeOf(err) == tx.CodeNotFound {
		writeError(w, http.StatusNotFound, tx.CodeNotFound, "requester "+requester+" is not registered")
		return
	}
	if err != nil {
		writeStateError(w, err)
		return
	}
	at, err := g.blockTime(r.Context(), version)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, tx.CodeInternal, "read the time of block "+strconv.FormatInt(version, 10)+": "+err.Error())
		return
	}
	org, roles, err := identity.RequesterIn(snap, actor)
	if err != nil {
		writeStateError(w, err)
		return
	}
	roles = append(roles, acc.Roles...)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	action := acc.Action
	if action == "" {
		action = string(consent.ActionAccess)
	}
	creq := consent.Request{Requester: requester, RequesterOrg: org, Roles: roles, Patient: q.Patient,
		Action: consent.Action(action), Purpose: consent.Purpose(acc.Purpose), BreakGlass: breakGlass,
		Record: consent.Record{ID: acc.Record, Type: acc.Type, Labels: acc.Labels, AuthorOrg: acc.AuthorOrg}}
	d, err := g.consents.Decide(snap, creq, consent.Circumstances{Block: consent.Block{Height: version, Time: at}})
	if err != nil {
		writeStateError(w, err)
		return
	}
	out := client.Decision{Allowed: d.Allowed, Reason: string(d.Reason), ConsentID: d.ConsentID, Provision: d.Provision,
		Detail: d.Detail, BreakGlass: d.BreakGlass, NotifyPatient: d.NotifyPatient, Text: d.String(), Height: version, BlockTime: at.UTC(),
		Request: client.DecisionRequest{Patient: creq.Patient, Requester: requester, RequesterOrg: org, Roles: roles, Action: action,
			Purpose: string(creq.Purpose), Type: creq.Record.Type, Labels: creq.Record.Labels, Record: creq.Record.ID,
			AuthorOrg: creq.Record.AuthorOrg, BreakGlass: breakGlass}, Query: res}
	if !d.Expires.IsZero() {
		e := d.Expires.UTC()
		out.Expires = &e
	}
	writeJSON(w, http.StatusOK, out)
}

// errNoAssertedRoles refuses roles asserted in a requester's preview of
// its own access. The ledger holds no roles beyond those identities imply
// yet, so asserted roles are a what-if for the patient's circle; let the
// requester (or its organization) assert them and it could probe which
// roles the patient's consents name.
var errNoAssertedRoles = errors.New("access.roles may be asserted only by the patient, a delegate or an auditor; " +
	"a requester's preview of its own access uses the roles its identity implies")

// ruleRequesterOrg is the app's rule (internal/app ruleConsentsOrg) for
// an organization previewing its member's access; rules are recorded in
// the audit log and never renamed.
const ruleRequesterOrg = "requester-organization"

// queryRule is the rule the ledger recorded for a permitted consent query.
func queryRule(res *client.TxResult) string {
	for _, e := range res.Events {
		if e.Type == tx.TypeQueryConsents.String() {
			return e.Attributes["rule"]
		}
	}
	return ""
}

// cometBlockTime reads a block's header time from the node.
func (g *Gateway) cometBlockTime(ctx context.Context, height int64) (time.Time, error) {
	h, err := g.rpc.Header(ctx, &height)
	if err != nil {
		return time.Time{}, err
	}
	return h.Header.Time, nil
}
