package client

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// Consent reads consent id of patient as key's actor and checks its state
// proof. The read is a signed consent.query: it succeeds only if the
// ledger permits it — the patient, a delegate in effect, an auditor, or an
// actor the consent names (or its organization) — and it is recorded in
// the patient's access history. A denial is an *Error with code
// access_denied (HTTP 403); a consent the patient does not have is
// not_found (404). What it returns is rebuilt from the proven record, so
// every field, the FHIR rendering included, is what the ledger holds,
// whatever the node said.
func (c *Client) Consent(ctx context.Context, key *keyfile.Key, patient, id string) (*ConsentResponse, error) {
	raw, err := c.signAs(ctx, key.ID, key, &tx.QueryConsents{Patient: patient, ConsentID: id})
	if err != nil {
		return nil, err
	}
	var res ConsentResponse
	if err := c.do(ctx, http.MethodPost, "/v1/consents/read", ConsentQueryRequest{Tx: raw}, &res); err != nil {
		return nil, err
	}
	if res.Consent.ID != id || res.Consent.Patient != patient {
		return nil, fmt.Errorf("asked for consent %s, the node answered with %s", id, res.Consent.ID)
	}
	if err := VerifyStateProof(res.Proof, ledgerstate.ConsentKey(res.Consent.Patient, id)); err != nil {
		return nil, err
	}
	if res.Proof.Value == nil {
		return nil, fmt.Errorf("the node proves consent %s absent", id)
	}
	proven, err := ledgerstate.DecodeRecord(res.Proof.Value)
	if err != nil {
		return nil, fmt.Errorf("proven consent record does not decode: %w", err)
	}
	view, err := ConsentView(proven)
	if err != nil {
		return nil, err
	}
	got := res.Consent
	if view.ID != got.ID || view.Patient != got.Patient || view.Grantor != got.Grantor || view.Status != got.Status ||
		view.GrantedAt != got.GrantedAt || view.UpdatedAt != got.UpdatedAt || view.RevokedAt != got.RevokedAt ||
		view.RevokedBy != got.RevokedBy || !bytes.Equal(view.Encoded, got.Encoded) {
		return nil, fmt.Errorf("node's view of consent %s differs from the proven record", id)
	}
	res.Consent = view
	return &res, nil
}

// ConsentView renders a stored consent record in its API form.
func ConsentView(r *ledgerstate.Record) (ConsentRecord, error) {
	fhir, err := consent.ToFHIR(r.Consent)
	if err != nil {
		return ConsentRecord{}, fmt.Errorf("render consent %s: %w", r.Consent.ID, err)
	}
	c := r.Consent
	return ConsentRecord{ID: c.ID, Patient: c.Patient, Grantor: c.Grantor, Status: c.Status.String(),
		GrantedAt: r.GrantedAt, UpdatedAt: r.UpdatedAt, RevokedAt: r.RevokedAt, RevokedBy: r.RevokedBy,
		Summary: ConsentSummary(c), FHIR: fhir, Encoded: consent.Encode(c), Form: formOrNil(c)}, nil
}

func formOrNil(c consent.Consent) *ConsentForm {
	if f, ok := FormOf(c); ok {
		return f
	}
	return nil
}

// ConsentSummary describes a consent's root rule on one line, for
// example "permit org:ccx… for TREAT, Observation, access, until
// 2027-01-01T00:00:00Z, 1 exception".
func ConsentSummary(c consent.Consent) string {
	p := c.Provision
	var parts []string
	who := "anyone"
	if len(p.Actors) > 0 {
		names := make([]string, len(p.Actors))
		for i, a := range p.Actors {
			names[i] = a.String()
		}
		who = strings.Join(names, ",")
	}
	head := p.Type.String() + " " + who
	list := func(label string, items []string) {
		if len(items) > 0 {
			parts = append(parts, label+strings.Join(items, ","))
		}
	}
	list("for ", StringsOf(p.Purposes))
	list("types ", p.Classes)
	list("labels ", p.Labels)
	list("actions ", StringsOf(p.Actions))
	list("records ", p.Records)
	list("codes ", p.Codes)
	if !p.Period.Start.IsZero() {
		parts = append(parts, "from "+p.Period.Start.UTC().Format(time.RFC3339))
	}
	if !p.Period.End.IsZero() {
		parts = append(parts, "until "+p.Period.End.UTC().Format(time.RFC3339))
	}
	if p.Condition != "" {
		parts = append(parts, "if "+p.Condition)
	}
	switch n := len(p.Provisions); n {
	case 0:
	case 1:
		parts = append(parts, "1 exception")
	default:
		parts = append(parts, fmt.Sprintf("%d exceptions", n))
	}
	if len(parts) == 0 {
		return head
	}
	return head + " " + strings.Join(parts, ", ")
}

// StringsOf converts a list of string-like values to strings.
func StringsOf[S ~string](in []S) []string {
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = string(s)
	}
	return out
}

// DelegationView renders a delegation in its API form.
func DelegationView(d consent.Delegation) Delegation {
	out := Delegation{Patient: d.Patient, Delegate: d.Delegate, Operations: StringsOf(d.Operations),
		Purposes: StringsOf(d.Purposes), Types: d.Classes}
	out.Start, out.End = periodBounds(d.Period)
	return out
}

// Delegation returns the delegation in the consent module's form.
func (d Delegation) Delegation() consent.Delegation {
	out := consent.Delegation{Patient: d.Patient, Delegate: d.Delegate, Classes: d.Types, Period: periodOf(d.Start, d.End)}
	for _, op := range d.Operations {
		out.Operations = append(out.Operations, consent.Operation(op))
	}
	for _, p := range d.Purposes {
		out.Purposes = append(out.Purposes, consent.Purpose(p))
	}
	return out
}

// PatientConsents lists patient's consents (revoked ones included),
// delegations and break-the-glass opt-out at the latest height, as key's
// actor. The read is a signed consent.query: only the patient, a delegate
// whose delegation is in effect, or an auditor may list them, and the
// read is recorded in the patient's access history. A denial is an *Error
// with code access_denied (HTTP 403). The list carries no proofs; read
// one consent with Consent for a proven copy.
func (c *Client) PatientConsents(ctx context.Context, key *keyfile.Key, patient string) (*ConsentList, error) {
	raw, err := c.signAs(ctx, key.ID, key, &tx.QueryConsents{Patient: patient})
	if err != nil {
		return nil, err
	}
	var res ConsentList
	if err := c.do(ctx, http.MethodPost, "/v1/consents/list", ConsentQueryRequest{Tx: raw}, &res); err != nil {
		return nil, err
	}
	if res.Patient != patient {
		return nil, fmt.Errorf("asked for the consents of %s, the node answered with those of %s", patient, res.Patient)
	}
	return &res, nil
}

// Decide asks, as key's actor, what the ledger would decide for q at the
// latest block. It is a preview: an access is decided, and recorded, in
// the block that carries its request. The preview itself discloses the
// patient's consents, so it is a signed consent.query that the ledger must
// permit — the patient, a delegate in effect, an auditor, the requester or
// the requester's organization — and records.
func (c *Client) Decide(ctx context.Context, key *keyfile.Key, q DecideQuery) (*Decision, error) {
	raw, err := c.signAs(ctx, key.ID, key, &tx.QueryConsents{Patient: q.Patient, Requester: q.Requester})
	if err != nil {
		return nil, err
	}
	req := DecideRequest{Tx: raw, Access: AccessDetail{Purpose: q.Purpose, Type: q.Type, Action: q.Action, Labels: q.Labels,
		Roles: q.Roles, Record: q.Record, AuthorOrg: q.AuthorOrg, BreakGlass: q.BreakGlass}}
	var res Decision
	if err := c.do(ctx, http.MethodPost, "/v1/consents/decide", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
