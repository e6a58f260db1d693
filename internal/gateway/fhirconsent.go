package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// SignedTxHeader carries, on a Consent create, the consent.grant
// transaction the patient (or a delegate) signed. The gateway never holds
// patient keys: it checks that the transaction grants exactly the consent
// in the body and submits it as signed.
const SignedTxHeader = "X-Carechain-Signed-Transaction"

// registerConsents puts Consent (create, update, delete, read, search) and AuditEvent
// (read, search) on the FHIR server.
func (g *Gateway) registerConsents() {
	srv := g.fhir
	srv.Handle("Consent", fhir.Create, answering(g.consentCreate))
	srv.Handle("Consent", fhir.Update, answering(g.consentUpdate))
	srv.Handle("Consent", fhir.Delete, answering(g.consentDelete))
	srv.Handle("Consent", fhir.Read, answering(g.consentRead))
	srv.Handle("Consent", fhir.SearchType, answering(g.consentSearch))
	srv.Search("Consent", fhir.SearchParam{Name: "patient", Type: "reference"})
	if g.org != nil {
		srv.Handle("AuditEvent", fhir.Read, g.handler(g.fhirAuditRead))
		srv.Handle("AuditEvent", fhir.SearchType, g.handler(g.fhirAuditSearch))
		srv.Search("AuditEvent", fhir.SearchParam{Name: "patient", Type: "reference", Documentation: "the patient; without it, the organization's clients' refused requests, which name no patient"},
			fhir.SearchParam{Name: "_count", Type: "number"})
	}
}

// answering serves a handler that returns its failure as an
// OperationOutcome.
func answering(h func(http.ResponseWriter, *http.Request) *fhir.Error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ferr := h(w, r); ferr != nil {
			fhir.WriteError(w, ferr)
		}
	})
}

// consentResource renders a ledger consent as FHIR: a revoked one is
// inactive.
func consentResource(rec *ledgerstate.Record) (json.RawMessage, *fhir.Error) {
	c := rec.Consent
	if rec.Revoked() {
		c.Status = consent.StatusInactive
	}
	b, err := consent.ToFHIR(c)
	if err != nil {
		return nil, fhir.Errorf(http.StatusInternalServerError, fhir.IssueException, "internal", "render consent %s: %v", c.ID, err)
	}
	return b, nil
}

func (g *Gateway) consentCreate(w http.ResponseWriter, r *http.Request) *fhir.Error {
	rt, _ := fhir.RouteFrom(r.Context())
	body, ferr := fhir.ReadResource(r, rt)
	if ferr != nil {
		return ferr
	}
	want, ferr := consentFromFHIR(body)
	if ferr != nil {
		return ferr
	}
	raw, t, m, ferr := signedTransaction(r, "consent.grant")
	if ferr != nil {
		return ferr
	}
	grant, ok := m.(*tx.GrantConsent)
	if !ok {
		return fhir.Invalid("", "%s carries a %s, not a consent.grant", SignedTxHeader, t.Type)
	}
	granted, err := tx.GrantedConsent(t.Signer, t.Nonce, grant)
	if err != nil {
		return fhir.FromTx(tx.CodeOf(err), err.Error())
	}
	want.ID, want.Grantor, want.DateTime = granted.ID, granted.Grantor, granted.DateTime
	if !bytes.Equal(consent.Encode(consent.Normalize(want)), consent.Encode(granted)) {
		return fhir.Unprocessable("Consent", "the signed transaction grants another consent than the resource describes")
	}
	if ferr := g.submitSigned(r, raw); ferr != nil {
		return ferr
	}
	w.Header().Set("Location", g.fhir.BaseURL()+"/Consent/"+granted.ID)
	return g.answerConsent(w, http.StatusCreated, granted.ID)
}

// consentFromFHIR maps a Consent resource onto the consent contract,
// naming the element carechain cannot enforce.
func consentFromFHIR(body []byte) (consent.Consent, *fhir.Error) {
	c, err := consent.FromFHIR(body)
	if err != nil {
		var ce *consent.Error
		if errors.As(err, &ce) && ce.Path != "" {
			return c, fhir.Unprocessable("Consent."+strings.TrimPrefix(ce.Path, "Consent."), "%s", ce.Error())
		}
		return c, fhir.Unprocessable("Consent", "%v", err)
	}
	return c, nil
}

// signedTransaction decodes the transaction a consent change carries in
// SignedTxHeader, signed by the patient or a delegate; what names the
// message expected, for the error when there is none.
func signedTransaction(r *http.Request, what string) ([]byte, *tx.Tx, tx.Msg, *fhir.Error) {
	h := r.Header.Get(SignedTxHeader)
	if h == "" {
		return nil, nil, nil, fhir.Errorf(http.StatusUnprocessableEntity, fhir.IssueRequired, "consent_unsigned",
			"a consent change needs the patient's or a delegate's signature: send the signed %s transaction, base64, in %s", what, SignedTxHeader)
	}
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return nil, nil, nil, fhir.Invalid("", "%s is not base64: %v", SignedTxHeader, err)
	}
	t, err := tx.Decode(raw)
	if err != nil {
		return nil, nil, nil, fhir.FromTx(tx.CodeOf(err), err.Error())
	}
	m, err := tx.DecodeMsg(t.Type, t.Body)
	if err != nil {
		return nil, nil, nil, fhir.FromTx(tx.CodeOf(err), err.Error())
	}
	return raw, t, m, nil
}

// submitSigned submits a transaction as its signer signed it and waits
// for its block; the ledger's refusal is the answer.
func (g *Gateway) submitSigned(r *http.Request, raw []byte) *fhir.Error {
	res, status, err := g.submitAndWait(r.Context(), raw, true)
	if err != nil {
		return fhir.Errorf(status, fhir.IssueException, "internal", "%v", err)
	}
	if res.Code != 0 {
		return fhir.FromTx(tx.Code(res.Code), res.Log)
	}
	return nil
}

// answerConsent answers with a consent as the committed state holds it.
func (g *Gateway) answerConsent(w http.ResponseWriter, status int, id string) *fhir.Error {
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	rec, err := ledgerstate.Get(snap, id)
	if err != nil {
		return stateError(err)
	}
	out, ferr := consentResource(rec)
	if ferr != nil {
		return ferr
	}
	fhir.WriteResource(w, status, out)
	return nil
}

// consentUpdate replaces a consent (PUT with the signed consent.update of
// the same consent) or revokes it (PUT of the Consent with status
// inactive and the signed consent.revoke of it). The gateway checks that
// the transaction does what the body says and submits it as signed.
func (g *Gateway) consentUpdate(w http.ResponseWriter, r *http.Request) *fhir.Error {
	rt, _ := fhir.RouteFrom(r.Context())
	body, ferr := fhir.ReadResource(r, rt)
	if ferr != nil {
		return ferr
	}
	var head struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(body, &head) // ReadResource checked it is an object
	raw, t, m, ferr := signedTransaction(r, "consent.update (or, for status inactive, consent.revoke)")
	if ferr != nil {
		return ferr
	}
	switch m := m.(type) {
	case *tx.RevokeConsent:
		if head.Status != "inactive" {
			return fhir.Unprocessable("Consent.status", "a consent.revoke makes the Consent inactive: send it with status inactive, not %.20q", head.Status)
		}
		if m.ConsentID != rt.ID {
			return fhir.Unprocessable("Consent.id", "the signed consent.revoke revokes %s, not %s", m.ConsentID, rt.ID)
		}
	case *tx.UpdateConsent:
		want, ferr := consentFromFHIR(body)
		if ferr != nil {
			return ferr
		}
		updated, err := tx.UpdatedConsent(t.Signer, m)
		if err != nil {
			return fhir.FromTx(tx.CodeOf(err), err.Error())
		}
		if updated.ID != rt.ID {
			return fhir.Unprocessable("Consent.id", "the signed consent.update replaces %s, not %s", updated.ID, rt.ID)
		}
		want.ID, want.Grantor, want.DateTime = updated.ID, updated.Grantor, updated.DateTime
		if !bytes.Equal(consent.Encode(consent.Normalize(want)), consent.Encode(updated)) {
			return fhir.Unprocessable("Consent", "the signed transaction makes another consent than the resource describes")
		}
	default:
		return fhir.Invalid("", "%s carries a %s, not a consent.update or consent.revoke", SignedTxHeader, t.Type)
	}
	if ferr := g.submitSigned(r, raw); ferr != nil {
		return ferr
	}
	return g.answerConsent(w, http.StatusOK, rt.ID)
}

// consentDelete revokes a consent with the signed consent.revoke of it.
// The ledger keeps a revoked consent, inactive, for the patient's
// history: a later read answers it with status inactive.
func (g *Gateway) consentDelete(w http.ResponseWriter, r *http.Request) *fhir.Error {
	rt, _ := fhir.RouteFrom(r.Context())
	raw, t, m, ferr := signedTransaction(r, "consent.revoke")
	if ferr != nil {
		return ferr
	}
	rev, ok := m.(*tx.RevokeConsent)
	if !ok {
		return fhir.Invalid("", "%s carries a %s, not a consent.revoke", SignedTxHeader, t.Type)
	}
	if rev.ConsentID != rt.ID {
		return fhir.Unprocessable("", "the signed consent.revoke revokes %s, not %s", rev.ConsentID, rt.ID)
	}
	if ferr := g.submitSigned(r, raw); ferr != nil {
		return ferr
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// Consent reads are disclosures (who the patient shares with), so over
// FHIR as natively each is a consent.query the ledger permits and records
// before anything is answered. The query is the one in the
// X-Carechain-Signed-Transaction header, signed by the patient, a
// delegate or an auditor; without it, a gateway acting for an
// organization signs it for the SMART client, and the ledger decides on
// that client: it may read the consents that name it or its
// organization.

func (g *Gateway) consentRead(w http.ResponseWriter, r *http.Request) *fhir.Error {
	rt, _ := fhir.RouteFrom(r.Context())
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	rec, err := ledgerstate.Get(snap, rt.ID)
	if tx.CodeOf(err) == tx.CodeNotFound {
		return fhir.NotFound("Consent/%s is not on this ledger", rt.ID)
	}
	if err != nil {
		return stateError(err)
	}
	if ferr := g.askConsents(r, &tx.QueryConsents{Patient: rec.Consent.Patient, ConsentID: rt.ID}); ferr != nil {
		return ferr
	}
	// Answer from the state the query was permitted in, or later.
	return g.answerConsent(w, http.StatusOK, rt.ID)
}

// askConsents has the ledger permit and record the consent.query want:
// the one the request carries signed, which must ask exactly that, or
// else one the gateway's organization signs for the SMART client.
func (g *Gateway) askConsents(r *http.Request, want *tx.QueryConsents) *fhir.Error {
	if r.Header.Get(SignedTxHeader) != "" {
		raw, t, m, ferr := signedTransaction(r, "consent.query")
		if ferr != nil {
			return ferr
		}
		q, ok := m.(*tx.QueryConsents)
		if !ok {
			return fhir.Invalid("", "%s carries a %s, not a consent.query", SignedTxHeader, t.Type)
		}
		if q.Patient != want.Patient || q.ConsentID != want.ConsentID || q.Requester != "" {
			return fhir.Unprocessable("", "the signed consent.query asks for something else than this request (patient %s, consent %q)", want.Patient, want.ConsentID)
		}
		res, status, err := g.submitQuery(r.Context(), raw)
		if err != nil {
			return fhir.Errorf(status, fhir.IssueException, "internal", "%v", err)
		}
		if res.Code != 0 {
			return fhir.FromTx(tx.Code(res.Code), res.Log)
		}
		return nil
	}
	if g.org == nil {
		return fhir.Forbidden("consent_query_unsigned", "reading consents is recorded on the ledger: this gateway acts for no organization, so send the consent.query the patient, a delegate or an auditor signed, base64, in %s", SignedTxHeader)
	}
	c, ferr := g.callerOf(r)
	if ferr != nil {
		return ferr
	}
	q := *want
	q.OnBehalfOf = c.member
	if err := g.sendAsOrg(r.Context(), &q); err != nil {
		return clientError(err)
	}
	return nil
}

// searchPatient is the ledger patient a patient= search names: a ledger
// patient id, or a Patient resource (Patient/<record id>).
func searchPatient(snap kv.Reader, v string) (string, *fhir.Error) {
	if v == "" {
		return "", fhir.Invalid("patient", "the search needs the patient (patient=Patient/<id> or the ledger patient id)")
	}
	id := strip(v, "Patient")
	if a, err := identity.Get(snap, id); err == nil && a.Kind == tx.KindPatient {
		return id, nil
	}
	return patientOfRef(snap, id, "patient")
}

// maxNamedConsents bounds the consents a SMART client's search reads:
// each is a ledger transaction.
const maxNamedConsents = 50

// consentSearch answers a patient's consents: all of them for a signed
// list query (the patient, a delegate, an auditor), and for a SMART
// client those that name it or its organization, each read recorded.
func (g *Gateway) consentSearch(w http.ResponseWriter, r *http.Request) *fhir.Error {
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	patient, ferr := searchPatient(snap, r.URL.Query().Get("patient"))
	if ferr != nil {
		return ferr
	}
	recs, err := ledgerstate.List(snap, patient)
	if err != nil {
		return stateError(err)
	}
	if r.Header.Get(SignedTxHeader) != "" || g.org == nil {
		if ferr := g.askConsents(r, &tx.QueryConsents{Patient: patient}); ferr != nil {
			return ferr
		}
		if snap, _, err = g.latest(); err != nil {
			return stateError(err)
		}
		if recs, err = ledgerstate.List(snap, patient); err != nil {
			return stateError(err)
		}
	} else {
		c, ferr := g.callerOf(r)
		if ferr != nil {
			return ferr
		}
		id, org := g.org.key.ID, ""
		if c.member != "" {
			id, org = c.member, g.org.key.ID
		}
		named := recs[:0:0]
		for _, rec := range recs {
			if rec.Consent.Provision.Names(id, org) {
				named = append(named, rec)
			}
		}
		if len(named) > maxNamedConsents {
			return fhir.Errorf(http.StatusUnprocessableEntity, fhir.IssueTooCostly, "too_costly",
				"%d consents of the patient name you; a search reads at most %d (read them by id)", len(named), maxNamedConsents)
		}
		recs = recs[:0]
		for _, rec := range named {
			if ferr := g.askConsents(r, &tx.QueryConsents{Patient: patient, ConsentID: rec.Consent.ID}); ferr != nil {
				if ferr.Code == tx.CodeAccessDenied.String() {
					continue // changed since: the ledger's answer stands
				}
				return ferr
			}
			recs = append(recs, rec)
		}
	}
	total := len(recs)
	b := bundle{ResourceType: "Bundle", Type: "searchset", Total: &total, Entry: []bundleEntry{},
		Link: []bundleLink{{Relation: "self", URL: g.fhir.BaseURL() + "/Consent?" + r.URL.RawQuery}}}
	for _, rec := range recs {
		raw, ferr := consentResource(rec)
		if ferr != nil {
			return ferr
		}
		res, err := fhir.ParseResource(raw)
		if err != nil {
			return fhir.Errorf(http.StatusInternalServerError, fhir.IssueException, "internal", "%v", err)
		}
		b.Entry = append(b.Entry, bundleEntry{FullURL: g.fhir.BaseURL() + "/Consent/" + rec.Consent.ID, Resource: res, Search: &bundleSearch{Mode: "match"}})
	}
	fhir.WriteResource(w, http.StatusOK, b)
	return nil
}

// The organization's view of the audit trail is what it did itself: the
// events whose actor belongs to it. A patient's whole trail is the
// patient's (and their delegates' and auditors') to read, through the
// audited audit.query.

func (g *Gateway) auditOptions() audit.FHIROptions {
	return audit.FHIROptions{Observer: "carechain", ServerAddress: g.fhir.BaseURL()}
}

func (g *Gateway) fhirAuditRead(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	seq, err := strconv.ParseUint(rt.ID, 10, 64)
	if err != nil {
		return fhir.NotFound("AuditEvent/%s is not on this ledger", rt.ID)
	}
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	size, _, err := audit.Root(snap)
	if err != nil {
		return stateError(err)
	}
	if seq >= size {
		return fhir.NotFound("AuditEvent/%s is not on this ledger", rt.ID)
	}
	e, err := audit.Get(snap, seq)
	if err != nil {
		return stateError(err)
	}
	if e.ActorOrg != g.org.key.ID {
		// Not the organization's own: as far as it may know, not there.
		return fhir.NotFound("AuditEvent/%s is not on this ledger", rt.ID)
	}
	out, err := audit.FHIRAuditEvent(e, g.auditOptions())
	if err != nil {
		return fhir.Errorf(http.StatusInternalServerError, fhir.IssueException, "internal", "%v", err)
	}
	fhir.WriteResource(w, http.StatusOK, json.RawMessage(out))
	return nil
}

func (g *Gateway) fhirAuditSearch(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	q := r.URL.Query()
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	// Without a patient: the events about no patient that are the
	// organization's, its clients' refused requests.
	var patient string
	if q.Get("patient") != "" {
		var ferr *fhir.Error
		if patient, ferr = searchPatient(snap, q.Get("patient")); ferr != nil {
			return ferr
		}
	}
	limit := defaultPage
	if v := q.Get("_count"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 {
			return fhir.Invalid("_count", "_count must be a positive whole number, not %q", v)
		}
		limit = min(limit, audit.MaxLimit)
	}
	var events []audit.Event
	cursor := q.Get("_cursor")
	// History stops after a bounded scan; go on until a page is full or
	// the trail ends.
	for {
		page, next, err := audit.History(snap, audit.Query{Patient: patient, NoPatient: patient == "", Org: g.org.key.ID, Limit: limit - len(events), Cursor: cursor})
		if err != nil {
			return fhir.Invalid("_cursor", "%v", err)
		}
		events = append(events, page...)
		cursor = next
		if cursor == "" || len(events) >= limit {
			break
		}
	}
	total := len(events)
	b := bundle{ResourceType: "Bundle", Type: "searchset", Entry: []bundleEntry{},
		Link: []bundleLink{{Relation: "self", URL: g.fhir.BaseURL() + "/AuditEvent?" + r.URL.RawQuery}}}
	if cursor == "" {
		b.Total = &total // the whole view fit on this page
	} else {
		next := q
		next.Set("_cursor", cursor)
		b.Link = append(b.Link, bundleLink{Relation: "next", URL: g.fhir.BaseURL() + "/AuditEvent?" + next.Encode()})
	}
	for _, e := range events {
		raw, err := audit.FHIRAuditEvent(e, g.auditOptions())
		if err != nil {
			return fhir.Errorf(http.StatusInternalServerError, fhir.IssueException, "internal", "%v", err)
		}
		res, err := fhir.ParseResource(raw)
		if err != nil {
			return fhir.Errorf(http.StatusInternalServerError, fhir.IssueException, "internal", "%v", err)
		}
		b.Entry = append(b.Entry, bundleEntry{FullURL: g.fhir.BaseURL() + "/AuditEvent/" + strconv.FormatUint(e.Seq, 10), Resource: res,
			Search: &bundleSearch{Mode: "match"}})
	}
	fhir.WriteResource(w, http.StatusOK, b)
	return nil
}
