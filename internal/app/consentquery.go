package app

import (
	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

// Rules that decide a consent query, as the audit log records them.
const (
	ruleConsentsPatient   = "patient"
	ruleConsentsDelegate  = "delegate"
	ruleConsentsAuditor   = "auditor"
	ruleConsentsNamed     = "named-in-consent"
	ruleConsentsRequester = "requester"
	ruleConsentsOrg       = "requester-organization" // the gateway matches it (ruleRequesterOrg)
	ruleConsentsDenied    = "not-authorized-for-consents"
)

// consentQuery decides whether the signer may read what m asks of the
// patient's consents. Anyone who may act on or oversee the patient's
// consents may read all of them: the patient, a delegate whose delegation
// is in effect (whatever it delegates: acting for the patient needs
// knowing what they agreed to), or an auditor. Beyond them, an actor a
// consent names (by identity, or their organization) may read that one
// consent, since it is about them; and a requester, or the organization
// they belong to, may preview the decision on their own access. Nobody
// else learns whom the patient shares with. Either way the query is an
// audit event; a refusal is CodeAccessDenied and is kept on the record.
//
// An organization may ask for one of its practitioners or applications
// (OnBehalfOf): the rules apply to the member, whom the event names as
// actor, with the organization as the recipient of the answer.
func consentQuery(st kv.Reader, signer identity.Signer, m *tx.QueryConsents, b block, txHash [32]byte) ([]abci.Event, *audit.Event, error) {
	by, err := identity.Member(st, signer.Actor, m.OnBehalfOf)
	if err != nil {
		return nil, nil, err
	}
	e, err := queryEvent(st, identity.Signer{Actor: by}, m.Patient, audit.ActionConsentList, b, txHash)
	if err != nil {
		return nil, nil, err
	}
	if by != signer.Actor {
		e.Recipient = signer.Actor.ID // the organization whose gateway asked and is answered
	}
	what := "the consents"
	switch {
	case m.ConsentID != "":
		e.Action, e.Target, what = audit.ActionConsentRead, m.ConsentID, "consent "+m.ConsentID
	case m.Requester != "":
		e.Action, what = audit.ActionConsentDecide, "the decision on an access by "+m.Requester
	}
	rule, detail, err := consentQueryRule(st, by, m, b)
	if err != nil {
		return nil, nil, err
	}
	if rule == "" {
		e.Decision, e.Reason.Rule = audit.Deny, ruleConsentsDenied
		return nil, e, tx.Errorf(tx.CodeAccessDenied, "%s may not read %s of patient %s: %s", by.ID, what, m.Patient, detail)
	}
	e.Reason.Rule = rule
	attrs := []abci.EventAttribute{
		{Key: "patient", Value: m.Patient, Index: true},
		{Key: "by", Value: by.ID, Index: true},
		{Key: "rule", Value: rule},
	}
	switch {
	case m.ConsentID != "":
		attrs = append(attrs, abci.EventAttribute{Key: "consent_id", Value: m.ConsentID, Index: true})
	case m.Requester != "":
		attrs = append(attrs, abci.EventAttribute{Key: "requester", Value: m.Requester, Index: true})
	}
	return []abci.Event{{Type: tx.TypeQueryConsents.String(), Attributes: attrs}}, e, nil
}

// consentQueryRule returns the rule that lets by read what m asks, or ""
// and why not.
func consentQueryRule(st kv.Reader, by *identity.Actor, m *tx.QueryConsents, b block) (rule, detail string, err error) {
	switch {
	case by.ID == m.Patient:
		return ruleConsentsPatient, "", nil
	case by.Kind == tx.KindAuditor:
		return ruleConsentsAuditor, "", nil
	}
	delegate, err := delegateInEffect(st, m.Patient, by.ID, b)
	if err != nil {
		return "", "", err
	}
	if delegate {
		return ruleConsentsDelegate, "", nil
	}
	switch {
	case m.ConsentID != "":
		rec, err := ledgerstate.Get(st, m.ConsentID)
		if tx.CodeOf(err) == tx.CodeNotFound || (err == nil && rec.Consent.Patient != m.Patient) {
			// To anyone but the patient's own circle, a consent of
			// another patient is as absent as one that does not exist.
			return "", "only the patient, a delegate, an auditor or someone the consent names may read it", nil
		}
		if err != nil {
			return "", "", err
		}
		if rec.Consent.Provision.Names(by.ID, by.Org) {
			return ruleConsentsNamed, "", nil
		}
		return "", "the consent does not name " + by.ID + " or its organization", nil
	case m.Requester != "":
		if by.ID == m.Requester {
			return ruleConsentsRequester, "", nil
		}
		if by.Kind == tx.KindOrganization {
			requester, err := identity.Get(st, m.Requester)
			if err != nil && tx.CodeOf(err) != tx.CodeNotFound {
				return "", "", err
			}
			if err == nil && requester.Org == by.ID {
				return ruleConsentsOrg, "", nil
			}
		}
		return "", "only the patient, a delegate, an auditor, the requester or their organization may preview it", nil
	}
	return "", "only the patient, a delegate in effect or an auditor may list a patient's consents", nil
}

// delegateInEffect reports whether actor holds a delegation from patient in
// effect at the block's time, whatever operations it covers: enough to
// read what the patient agreed to and holds.
func delegateInEffect(st kv.Reader, patient, actor string, b block) (bool, error) {
	delegations, err := ledgerstate.Delegations(st, patient)
	if err != nil {
		return false, err
	}
	for _, d := range delegations {
		if d.Delegate == actor && d.Period.Contains(b.time) {
			return true, nil
		}
	}
	return false, nil
}
