package client

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/carechain/carechain/internal/consent"
)

// ConsentForm is a consent whose whole rule is one provision, in the shape
// a form edits: who, for which purposes, which kinds of data, which
// sensitive labels, which actions and when. The portal edits consents in
// this shape; a consent with exceptions, a condition, codes, records or a
// data period has no form and can only be revoked or replaced.
type ConsentForm struct {
	// ID names the consent an update replaces; empty for a new grant.
	ID     string      `json:"id,omitempty"`
	Deny   bool        `json:"deny,omitempty"`
	Actors []FormActor `json:"actors"`
	// Purposes of use, Types (FHIR resource types), Labels (security
	// labels; a sensitive one is released only when named here) and
	// Actions; empty means any. A permit with no actions means access.
	Purposes []string   `json:"purposes,omitempty"`
	Types    []string   `json:"types,omitempty"`
	Labels   []string   `json:"labels,omitempty"`
	Actions  []string   `json:"actions,omitempty"`
	From     *time.Time `json:"from,omitempty"`
	Until    *time.Time `json:"until,omitempty"`
}

// FormActor is one actor of a ConsentForm: Kind is "id" (an identity),
// "org" (every member of an organization) or "role" (a role code).
type FormActor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

var actorKinds = map[string]consent.ActorKind{
	consent.ActorIdentity.String():     consent.ActorIdentity,
	consent.ActorOrganization.String(): consent.ActorOrganization,
	consent.ActorRole.String():         consent.ActorRole,
}

// FormOf returns the form of c, or false when c's rule does not fit one.
func FormOf(c consent.Consent) (*ConsentForm, bool) {
	p := c.Provision
	if len(p.Provisions) > 0 || p.Condition != "" || len(p.Codes) > 0 || len(p.Records) > 0 || !p.DataPeriod.IsZero() {
		return nil, false
	}
	f := &ConsentForm{ID: c.ID, Deny: p.Type == consent.Deny, Actors: []FormActor{},
		Purposes: StringsOf(p.Purposes), Types: p.Classes, Labels: p.Labels, Actions: StringsOf(p.Actions)}
	for _, a := range p.Actors {
		f.Actors = append(f.Actors, FormActor{Kind: a.Kind.String(), ID: a.ID})
	}
	f.From, f.Until = periodBounds(p.Period)
	return f, true
}

// periodBounds gives a period's ends in the API's form: nil where open.
func periodBounds(p consent.Period) (start, end *time.Time) {
	if !p.Start.IsZero() {
		s := p.Start.UTC()
		start = &s
	}
	if !p.End.IsZero() {
		e := p.End.UTC()
		end = &e
	}
	return start, end
}

// periodOf is the inverse of periodBounds.
func periodOf(start, end *time.Time) consent.Period {
	var p consent.Period
	if start != nil {
		p.Start = start.UTC()
	}
	if end != nil {
		p.End = end.UTC()
	}
	return p
}

// Consent returns the active consent the form describes, about patient and
// agreed at agreed. The ledger validates it; this only checks what the
// form alone can get wrong.
func (f *ConsentForm) Consent(patient string, agreed time.Time) (consent.Consent, error) {
	p := consent.Provision{Type: consent.Permit, Classes: f.Types, Labels: f.Labels}
	if f.Deny {
		p.Type = consent.Deny
	}
	for _, a := range f.Actors {
		kind, ok := actorKinds[a.Kind]
		if !ok {
			return consent.Consent{}, fmt.Errorf("actor kind %q is not id, org or role", a.Kind)
		}
		p.Actors = append(p.Actors, consent.Actor{Kind: kind, ID: a.ID})
	}
	for _, s := range f.Purposes {
		p.Purposes = append(p.Purposes, consent.Purpose(s))
	}
	actions := f.Actions
	if len(actions) == 0 && !f.Deny {
		// As the CLI does: a permit that names no action lets its actors read.
		actions = []string{string(consent.ActionAccess)}
	}
	for _, s := range actions {
		p.Actions = append(p.Actions, consent.Action(s))
	}
	p.Period = periodOf(f.From, f.Until)
	return consent.Consent{ID: f.ID, Status: consent.StatusActive, Patient: patient, DateTime: agreed.UTC().Truncate(time.Second),
		Provision: p}, nil
}

// PrepareRequest is the body of POST /v1/txs/prepare: a transaction
// described in JSON, for a signer that holds its key elsewhere (the
// portal signs in the browser). Op is the message type's name:
//
//	consent.grant      Patient, Consent (a form without id)
//	consent.update     Patient, Consent (a form with the id it replaces)
//	consent.revoke     Patient, ConsentID
//	delegate.set       Delegation
//	delegate.remove    Patient, Delegate
//	breakglass.optout  Patient, OptOut
//	audit.query        Patient (empty: the refused requests, for an auditor)
//	consent.query      Patient, and ConsentID (one consent) or Requester (a
//	                   decision preview), or neither (the whole list)
//	record.query       Patient (the list), or RecordID (one record; Patient
//	                   may then be empty)
//	record.erase       RecordID, Reason (optional, at most 256 bytes)
type PrepareRequest struct {
	Signer     string       `json:"signer"`
	Op         string       `json:"op"`
	Patient    string       `json:"patient,omitempty"`
	Consent    *ConsentForm `json:"consent,omitempty"`
	ConsentID  string       `json:"consent_id,omitempty"`
	Delegation *Delegation  `json:"delegation,omitempty"`
	Delegate   string       `json:"delegate,omitempty"`
	OptOut     bool         `json:"opt_out,omitempty"`
	Requester  string       `json:"requester,omitempty"`
	RecordID   string       `json:"record_id,omitempty"`
	Reason     string       `json:"reason,omitempty"`
}

// PreparedTx is an unsigned transaction with the bytes to sign. The
// signer signs SignBytes with Ed25519; the signed transaction is Unsigned
// followed by the 64-byte signature, submitted to POST /v1/txs. SignBytes is
// the domain prefix "carechain/tx/v1\x00" followed by Unsigned, and
// Unsigned is the envelope of ChainID, Signer, Nonce, Type and Body, so a
// signer can re-encode and check all of it (see docs/portal.md).
type PreparedTx struct {
	ChainID   string `json:"chain_id"`
	Signer    string `json:"signer"`
	Nonce     uint64 `json:"nonce"`
	Type      uint32 `json:"type"`
	TypeName  string `json:"type_name"`
	Body      []byte `json:"body"`
	Unsigned  []byte `json:"unsigned"`
	SignBytes []byte `json:"sign_bytes"`
	// ConsentID is the id a consent.grant will get, known in advance.
	ConsentID string `json:"consent_id,omitempty"`
	// Summary describes a consent or delegation on one line, for people.
	Summary string `json:"summary,omitempty"`
}

// Prepare asks the node to build the unsigned transaction req describes.
func (c *Client) Prepare(ctx context.Context, req PrepareRequest) (*PreparedTx, error) {
	var res PreparedTx
	if err := c.do(ctx, http.MethodPost, "/v1/txs/prepare", req, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
