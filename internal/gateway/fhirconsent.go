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

// registerConsents puts Consent (create, read, search) and AuditEvent
// (read, search) on the FHIR server.
func (g *Gateway) registerConsents() {
	srv := g.fhir
	srv.Handle("Consent", fhir.Create, http.HandlerFunc(g.fhirConsentCreate))
	srv.Handle("Consent", fhir.Read, http.HandlerFunc(g.fhirConsentRead))
	srv.Handle("Consent", fhir.SearchType, http.HandlerFunc(g.fhirConsentSearch))
	srv.Search("Consent", fhir.SearchParam{Name: "patient", Type: "reference"})
	if g.org != nil {
		srv.Handle("AuditEvent", fhir.Read, g.handler(g.fhirAuditRead))
		srv.Handle("AuditEvent", fhir.SearchType, g.handler(g.fhirAuditSearch))
		srv.Search("AuditEvent", fhir.SearchParam{Name: "patient", Type: "reference"}, fhir.SearchParam{Name: "_count", Type: "number"})
	}
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

func (g *Gateway) fhirConsentCreate(w http.ResponseWriter, r *http.Request) {
	if ferr := g.consentCreate(w, r); ferr != nil {
		fhir.WriteError(w, ferr)
	}
}

func (g *Gateway) consentCreate(w http.ResponseWriter, r *http.Request) *fhir.Error {
	rt, _ := fhir.RouteFrom(r.Context())
	body, ferr := fhir.ReadResource(r, rt)
	if ferr != nil {
		return ferr
	}
	want, err := consent.FromFHIR(body)
	if err != nil {
		var ce *consent.Error
		if errors.As(err, &ce) && ce.Path != "" {
			return fhir.Unprocessable("Consent."+strings.TrimPrefix(ce.Path, "Consent."), "%s", ce.Error())
		}
		return fhir.Unprocessable("Consent", "%v", err)
	}
	h := r.Header.Get(SignedTxHeader)
	if h == "" {
		return fhir.Errorf(http.StatusUnprocessableEntity, fhir.IssueRequired, "consent_unsigned",
			"a Consent needs the patient's or a delegate's signature: send the signed consent.grant transaction, base64, in %s", SignedTxHeader)
	}
	raw, err := base64.StdEncoding.DecodeString(h)
	if err != nil {
		return fhir.Invalid("", "%s is not base64: %v", SignedTxHeader, err)
	}
	t, err := tx.Decode(raw)
	if err != nil {
		return fhir.FromTx(tx.CodeOf(err), err.Error())
	}
	m, err := tx.DecodeMsg(t.Type, t.Body)
	if err != nil {
		return fhir.FromTx(tx.CodeOf(err), err.Error())
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
	res, status, err := g.submitAndWait(r.Context(), raw, true)
	if err != nil {
		return fhir.Errorf(status, fhir.IssueException, "internal", "%v", err)
	}
	if res.Code != 0 {
		return fhir.FromTx(tx.Code(res.Code), res.Log)
	}
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	rec, err := ledgerstate.Get(snap, granted.ID)
	if err != nil {
		return stateError(err)
	}
	out, ferr := consentResource(rec)
	if ferr != nil {
		return ferr
	}
	w.Header().Set("Location", g.fhir.BaseURL()+"/Consent/"+granted.ID)
	fhir.WriteResource(w, http.StatusCreated, out)
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

func (g *Gateway) fhirConsentRead(w http.ResponseWriter, r *http.Request) {
	if ferr := g.consentRead(w, r); ferr != nil {
		fhir.WriteError(w, ferr)
	}
}

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
	if snap, _, err = g.latest(); err != nil {
		return stateError(err)
	}
	if rec, err = ledgerstate.Get(snap, rt.ID); err != nil {
		return stateError(err)
	}
	out, ferr := consentResource(rec)
	if ferr != nil {
		return ferr
	}
	fhir.WriteResource(w, http.StatusOK, out)
	return nil
}

// askConsents has the ledger permit and record the consent.query want:
// the one the request carries signed, which must ask exactly that, or
// else one the gateway's organization signs for the SMART client.
func (g *Gateway) askConsents(r *http.Request, want *tx.QueryConsents) *fhir.Error {
	if h := r.Header.Get(SignedTxHeader); h != "" {
		raw, err := base64.StdEncoding.DecodeString(h)
		if err != nil {
			return fhir.Invalid("", "%s is not base64: %v", SignedTxHeader, err)
		}
		_, m, err := decodeQuery(raw, tx.TypeQueryConsents)
		if err != nil {
			return fhir.FromTx(tx.CodeOf(err), err.Error())
		}
		if q := m.(*tx.QueryConsents); q.Patient != want.Patient || q.ConsentID != want.ConsentID || q.Requester != "" {
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
	err := g.org.send(r.Context(), false, func() error {
		_, err := g.org.c.Send(r.Context(), g.org.key, &q)
		return err
	})
	if err != nil {
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

func (g *Gateway) fhirConsentSearch(w http.ResponseWriter, r *http.Request) {
	if ferr := g.consentSearch(w, r); ferr != nil {
		fhir.WriteError(w, ferr)
	}
}

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
	patient, ferr := searchPatient(snap, q.Get("patient"))
	if ferr != nil {
		return ferr
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
		page, next, err := audit.History(snap, audit.Query{Patient: patient, Org: g.org.key.ID, Limit: limit - len(events), Cursor: cursor})
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
