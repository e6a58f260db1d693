package gateway

import (
	"context"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// patientConsents lists a patient's consents, delegations and opt-out, all
// read from one committed version.
func (g *Gateway) patientConsents(w http.ResponseWriter, r *http.Request) {
	patient := r.PathValue("id")
	snap, version, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	if !g.isPatient(w, snap, patient) {
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
		Consents: []client.ConsentRecord{}, Delegations: []client.Delegation{}}
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

// isPatient answers 404 unless id is a registered patient.
func (g *Gateway) isPatient(w http.ResponseWriter, snap kv.Reader, id string) bool {
	if !consent.IsValidID(id) {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "patient id "+strconv.Quote(id)+" is not a valid id")
		return false
	}
	a, err := identity.Get(snap, id)
	switch {
	case tx.CodeOf(err) == tx.CodeNotFound:
		writeError(w, http.StatusNotFound, tx.CodeNotFound, "patient "+id+" is not registered")
		return false
	case err != nil:
		writeStateError(w, err)
		return false
	case a.Kind != tx.KindPatient:
		writeError(w, http.StatusNotFound, tx.CodeNotFound, id+" is a "+a.Kind.String()+", not a patient")
		return false
	}
	return true
}

// consentByID returns one consent with a proof of its record against the
// state root. The patient is found first, and the proof taken, in the same
// committed version.
func (g *Gateway) consentByID(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	snap, version, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	rec, err := ledgerstate.Get(snap, id)
	if tx.CodeOf(err) == tx.CodeNotFound {
		writeError(w, http.StatusNotFound, tx.CodeNotFound, "no consent "+id)
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
	out := client.ConsentResponse{Consent: view}
	if r.URL.Query().Get("prove") != "false" {
		if out.Proof, err = g.proven(ledgerstate.ConsentKey(rec.Consent.Patient, id), version); err != nil {
			writeStateError(w, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// decide answers what the ledger would decide for a request at the latest
// committed block: its state and its header time. The requester's
// organization and roles come from their identity; roles= adds roles the
// ledger does not hold yet (see docs/consent.md).
func (g *Gateway) decide(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	for _, name := range []string{"patient", "requester", "purpose", "type"} {
		if q.Get(name) == "" {
			writeError(w, http.StatusBadRequest, tx.CodeInvalid, name+"= is required (patient, requester, purpose and type name the request)")
			return
		}
	}
	breakGlass := false
	switch q.Get("break_glass") {
	case "", "false":
	case "true":
		breakGlass = true
	default:
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "break_glass must be true or false")
		return
	}
	snap, version, err := g.latest()
	if err != nil {
		writeStateError(w, err)
		return
	}
	if version == 0 {
		writeError(w, http.StatusServiceUnavailable, tx.CodeInternal, "no block committed yet")
		return
	}
	if !g.isPatient(w, snap, q.Get("patient")) {
		return
	}
	requester := q.Get("requester")
	if !consent.IsValidID(requester) {
		writeError(w, http.StatusBadRequest, tx.CodeInvalid, "requester id "+strconv.Quote(requester)+" is not a valid id")
		return
	}
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
	org, roles := actor.Requester()
	given, err := identity.Roles(snap, requester)
	if err != nil {
		writeStateError(w, err)
		return
	}
	roles = append(roles, given...)
	roles = append(roles, splitList(q.Get("roles"))...)
	slices.Sort(roles)
	roles = slices.Compact(roles)
	action := q.Get("action")
	if action == "" {
		action = string(consent.ActionAccess)
	}
	req := consent.Request{Requester: requester, RequesterOrg: org, Roles: roles, Patient: q.Get("patient"),
		Action: consent.Action(action), Purpose: consent.Purpose(q.Get("purpose")), BreakGlass: breakGlass,
		Record: consent.Record{ID: q.Get("record"), Type: q.Get("type"), Labels: splitList(q.Get("labels")), AuthorOrg: q.Get("author_org")}}
	d, err := g.consents.Decide(snap, req, consent.Circumstances{Block: consent.Block{Height: version, Time: at}})
	if err != nil {
		writeStateError(w, err)
		return
	}
	out := client.Decision{Allowed: d.Allowed, Reason: string(d.Reason), ConsentID: d.ConsentID, Provision: d.Provision,
		Detail: d.Detail, BreakGlass: d.BreakGlass, NotifyPatient: d.NotifyPatient, Text: d.String(), Height: version, BlockTime: at.UTC(),
		Request: client.DecisionRequest{Patient: req.Patient, Requester: requester, RequesterOrg: org, Roles: roles, Action: action,
			Purpose: string(req.Purpose), Type: req.Record.Type, Labels: req.Record.Labels, Record: req.Record.ID,
			AuthorOrg: req.Record.AuthorOrg, BreakGlass: breakGlass}}
	if !d.Expires.IsZero() {
		e := d.Expires.UTC()
		out.Expires = &e
	}
	writeJSON(w, http.StatusOK, out)
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// cometBlockTime reads a block's header time from the node.
func (g *Gateway) cometBlockTime(ctx context.Context, height int64) (time.Time, error) {
	h, err := g.rpc.Header(ctx, &height)
	if err != nil {
		return time.Time{}, err
	}
	return h.Header.Time, nil
}
