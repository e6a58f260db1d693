package app

import (
	"strconv"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// Rules that decide a history query, as the audit log records them.
const (
	ruleHistoryPatient  = "patient"
	ruleHistoryDelegate = "delegate"
	ruleHistoryAuditor  = "auditor"
	ruleHistoryDenied   = "not-authorized-for-history"
)

// historyQuery decides whether the signer may read the patient's access
// history: the patient, a delegate whose delegation includes read-history
// at the block's time, or an auditor the consortium admitted. Either way
// the query is an audit event; a refusal is CodeAccessDenied and is kept on
// the record.
func historyQuery(st kv.Reader, signer identity.Signer, m *tx.QueryAuditHistory, b block, txHash [32]byte) ([]abci.Event, *audit.Event, error) {
	if m.Patient == "" {
		return refusalReview(signer, b, txHash)
	}
	e, err := queryEvent(st, signer, m.Patient, audit.ActionAuditQuery, b, txHash)
	if err != nil {
		return nil, nil, err
	}
	by := signer.Actor
	switch {
	case by.ID == m.Patient:
		e.Reason.Rule = ruleHistoryPatient
	case by.Kind == tx.KindAuditor:
		e.Reason.Rule = ruleHistoryAuditor
	default:
		delegations, err := ledgerstate.Delegations(st, m.Patient)
		if err != nil {
			return nil, nil, err
		}
		auth := consent.Authorize(consent.OperationRequest{Signer: by.ID, Patient: m.Patient, Operation: consent.OpReadHistory},
			delegations, consent.Block{Height: b.height, Time: b.time})
		if !auth.Allowed {
			e.Decision, e.Reason.Rule = audit.Deny, ruleHistoryDenied
			return nil, e, tx.Errorf(tx.CodeAccessDenied, "%s may not read the access history of %s: %s", by.ID, m.Patient, auth.Detail)
		}
		e.Reason.Rule = ruleHistoryDelegate
	}
	return []abci.Event{{Type: tx.TypeQueryAuditHistory.String(), Attributes: []abci.EventAttribute{
		{Key: "patient", Value: m.Patient, Index: true},
		{Key: "by", Value: by.ID, Index: true},
		{Key: "rule", Value: e.Reason.Rule},
	}}}, e, nil
}

// queryEvent checks that patient is a registered patient and returns the
// audit event of signer's query about them, permitted until the caller
// decides otherwise.
func queryEvent(st kv.Reader, signer identity.Signer, patient string, action audit.Action, b block, txHash [32]byte) (*audit.Event, error) {
	p, err := identity.Get(st, patient)
	if err != nil {
		return nil, err
	}
	if p.Kind != tx.KindPatient {
		return nil, tx.Errorf(tx.CodeInvalid, "%s is a %s, not a patient", patient, p.Kind)
	}
	by := signer.Actor
	return &audit.Event{Height: uint64(b.height), Time: b.time, Actor: by.ID, ActorOrg: by.Org, Patient: patient,
		Action: action, Decision: audit.Permit, TxHash: txHash[:]}, nil
}

// refusalReview decides a read of the events about no patient — the
// requests gateways refused, which name clients and what they tried — and
// records it among them. Only an auditor may.
func refusalReview(signer identity.Signer, b block, txHash [32]byte) ([]abci.Event, *audit.Event, error) {
	by := signer.Actor
	e := &audit.Event{Height: uint64(b.height), Time: b.time, Actor: by.ID, ActorOrg: by.Org, Action: audit.ActionAuditReview,
		Decision: audit.Permit, Reason: audit.Reason{Rule: ruleHistoryAuditor}, TxHash: txHash[:]}
	if by.Kind == tx.KindOrganization {
		e.ActorOrg = by.ID
	}
	if by.Kind != tx.KindAuditor {
		e.Decision, e.Reason.Rule = audit.Deny, ruleHistoryDenied
		return nil, e, tx.Errorf(tx.CodeAccessDenied, "only an auditor may read the refused requests; %s is a %s", by.ID, by.Kind)
	}
	return []abci.Event{{Type: tx.TypeQueryAuditHistory.String(), Attributes: []abci.EventAttribute{
		{Key: "by", Value: by.ID, Index: true},
		{Key: "rule", Value: e.Reason.Rule},
	}}}, e, nil
}

// recordRefusal puts on the record a request the signer's gateway refused
// before the ledger was asked. Only an organization records refusals, and
// only of a registered actor: the actor's signature is not here, but the
// organization's is, and the event says which organization vouched for it.
func recordRefusal(st kv.Reader, signer identity.Signer, m *tx.RecordRefusal, b block, txHash [32]byte) ([]abci.Event, *audit.Event, error) {
	by := signer.Actor
	if by.Kind != tx.KindOrganization {
		return nil, nil, tx.Errorf(tx.CodeUnauthorized, "only an organization's gateway records refused requests; signer is a %s", by.Kind)
	}
	actor, err := identity.Get(st, m.Actor)
	if err != nil {
		return nil, nil, err
	}
	org, _ := actor.Requester()
	e := &audit.Event{Height: uint64(b.height), Time: b.time, Actor: actor.ID, ActorOrg: org, Action: audit.ActionAccessRefused,
		Decision: audit.Deny, Reason: audit.Reason{Rule: m.Code}, TxHash: txHash[:]}
	return []abci.Event{{Type: tx.TypeRecordRefusal.String(), Attributes: []abci.EventAttribute{
		{Key: "actor", Value: actor.ID, Index: true},
		{Key: "by", Value: by.ID, Index: true},
		{Key: "code", Value: m.Code},
	}}}, e, nil
}

// unattributedRefusals puts on the record a gateway's tallies of requests
// it refused without being able to name who made them. Only an
// organization reports them; each entry is one access.refused event of the
// Unauthenticated actor, with the claimed client as its target and the
// attempts as its count. Nothing here is checked against the ledger's
// actors: a claim is only what the request said, which is the point of
// recording it, and the signing organization is named by the transaction.
func unattributedRefusals(signer identity.Signer, m *tx.RecordUnattributedRefusals, b block, txHash [32]byte) ([]abci.Event, []audit.Event, error) {
	by := signer.Actor
	if by.Kind != tx.KindOrganization {
		return nil, nil, tx.Errorf(tx.CodeUnauthorized, "only an organization's gateway records refused requests; signer is a %s", by.Kind)
	}
	events := make([]abci.Event, 0, len(m.Entries))
	records := make([]audit.Event, 0, len(m.Entries))
	for _, en := range m.Entries {
		e := audit.Event{Height: uint64(b.height), Time: b.time, Actor: audit.Unauthenticated, Action: audit.ActionAccessRefused,
			Target: en.Claimed, Decision: audit.Deny, Reason: audit.Reason{Rule: en.Code}, TxHash: txHash[:]}
		if en.Count > 1 {
			e.Count = en.Count // one attempt is written without a count
		}
		records = append(records, e)
		attrs := []abci.EventAttribute{{Key: "by", Value: by.ID, Index: true}, {Key: "code", Value: en.Code}}
		if en.Claimed != "" {
			attrs = append(attrs, abci.EventAttribute{Key: "claimed", Value: en.Claimed, Index: true})
		}
		attrs = append(attrs, abci.EventAttribute{Key: "count", Value: strconv.FormatUint(en.Count, 10)})
		events = append(events, abci.Event{Type: tx.TypeRecordUnattributedRefusals.String(), Attributes: attrs})
	}
	return events, records, nil
}
