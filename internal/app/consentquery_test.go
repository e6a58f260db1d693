package app

import (
	"testing"
	"time"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// TestConsentQueries checks who may read which of a patient's consent
// metadata, and that every read, allowed or denied, is on the record and
// changes nothing else.
func TestConsentQueries(t *testing.T) {
	c := newChain(t)
	patient, stranger, guardian, lapsed := c.registerPatient(), c.registerPatient(), c.registerPatient(), c.registerPatient()
	auditor := newKey(t)
	c.mustBlock(c.sign(c.admin, reg(tx.KindAuditor, "Compliance office", "", auditor)))
	hospital := c.registerOrg("General Hospital")
	doctor := c.registerMember(hospital, tx.KindPractitioner, "Dr Who")
	clinic := c.registerOrg("Other Clinic")
	nurse := c.registerMember(clinic, tx.KindPractitioner, "Nurse")
	ended := consent.Period{End: genesisTime.Add(time.Second)}
	res := c.mustBlock(
		c.sign(patient, delegationMsg(consent.Delegation{Patient: patient.ID, Delegate: guardian.ID, Operations: []consent.Operation{consent.OpOptOut}})),
		c.sign(patient, delegationMsg(consent.Delegation{Patient: patient.ID, Delegate: lapsed.ID, Operations: []consent.Operation{consent.OpGrant},
			Period: ended})),
		c.sign(patient, grantOf(permitFor(patient.ID, consent.Organization(hospital.ID), consent.PurposeTreatment))),
	)
	var consentID string
	for _, ev := range res.TxResults[2].Events {
		for _, a := range ev.Attributes {
			if ev.Type == "consent.grant" && a.Key == "consent_id" {
				consentID = a.Value
			}
		}
	}
	if consentID == "" {
		t.Fatal("no consent id")
	}
	list := &tx.QueryConsents{Patient: patient.ID}
	one := &tx.QueryConsents{Patient: patient.ID, ConsentID: consentID}
	decide := &tx.QueryConsents{Patient: patient.ID, Requester: doctor.ID}
	const denied = "not-authorized-for-consents"
	cases := []struct {
		who    string
		key    *keyfile.Key
		m      *tx.QueryConsents
		action audit.Action
		code   tx.Code
		rule   string
	}{
		{"the patient lists", patient, list, audit.ActionConsentList, tx.CodeOK, "patient"},
		{"a delegate in effect lists", guardian, list, audit.ActionConsentList, tx.CodeOK, "delegate"},
		{"an auditor lists", auditor, list, audit.ActionConsentList, tx.CodeOK, "auditor"},
		{"a delegate whose delegation ended lists", lapsed, list, audit.ActionConsentList, tx.CodeAccessDenied, denied},
		{"a grantee's member lists", doctor, list, audit.ActionConsentList, tx.CodeAccessDenied, denied},
		{"a stranger lists", stranger, list, audit.ActionConsentList, tx.CodeAccessDenied, denied},
		{"the patient reads one", patient, one, audit.ActionConsentRead, tx.CodeOK, "patient"},
		{"the organization it names reads it", hospital, one, audit.ActionConsentRead, tx.CodeOK, "named-in-consent"},
		{"a member of that organization reads it", doctor, one, audit.ActionConsentRead, tx.CodeOK, "named-in-consent"},
		{"another organization's member reads it", nurse, one, audit.ActionConsentRead, tx.CodeAccessDenied, denied},
		{"a stranger reads it", stranger, one, audit.ActionConsentRead, tx.CodeAccessDenied, denied},
		{"a stranger reads a consent that does not exist", stranger, &tx.QueryConsents{Patient: patient.ID, ConsentID: "csnosuchconsent"},
			audit.ActionConsentRead, tx.CodeAccessDenied, denied},
		{"the requester previews their access", doctor, decide, audit.ActionConsentDecide, tx.CodeOK, "requester"},
		{"their organization previews it", hospital, decide, audit.ActionConsentDecide, tx.CodeOK, "requester-organization"},
		{"another organization previews it", clinic, decide, audit.ActionConsentDecide, tx.CodeAccessDenied, denied},
		{"a stranger previews it", stranger, decide, audit.ActionConsentDecide, tx.CodeAccessDenied, denied},
		{"the patient previews it", patient, decide, audit.ActionConsentDecide, tx.CodeOK, "patient"},
	}
	for _, tc := range cases {
		code, e := c.recordedQuery(tc.who, tc.key, tc.m)
		if code != tc.code || e.Action != tc.action || e.Patient != patient.ID || e.Reason.Rule != tc.rule ||
			(e.Decision == audit.Permit) != (tc.code == tx.CodeOK) || e.Target != tc.m.ConsentID {
			t.Fatalf("%s: code %s, recorded %+v", tc.who, code, e)
		}
	}

	// Asking about someone who is not a patient, or nobody, is a bad
	// request refused before it reaches a block.
	if res := c.check(c.signAt(patient, c.nonces[patient.ID]+1, &tx.QueryConsents{Patient: doctor.ID})); tx.Code(res.Code) != tx.CodeInvalid {
		t.Fatalf("query about a practitioner: %d %s", res.Code, res.Log)
	}
	if res := c.check(c.signAt(patient, c.nonces[patient.ID]+1, &tx.QueryConsents{Patient: "ccaaaaaaaaaaaaaaaaaaaaaaaa"})); tx.Code(res.Code) != tx.CodeNotFound {
		t.Fatalf("query about nobody: %d %s", res.Code, res.Log)
	}
}

// TestConsentQueryOnBehalfOf: an organization's gateway asks for one of
// its members; the ledger decides on the member, the event names the
// member as actor and the organization as recipient, and an organization
// cannot ask for another's member.
func TestConsentQueryOnBehalfOf(t *testing.T) {
	c := newChain(t)
	patient := c.registerPatient()
	hospital := c.registerOrg("General Hospital")
	doctor := c.registerMember(hospital, tx.KindPractitioner, "Dr Who")
	nurse := c.registerMember(hospital, tx.KindPractitioner, "Nurse")
	clinic := c.registerOrg("Other Clinic")
	res := c.mustBlock(c.sign(patient, grantOf(permitFor(patient.ID, consent.Identity(doctor.ID), consent.PurposeTreatment))))
	var consentID string
	for _, ev := range res.TxResults[0].Events {
		for _, a := range ev.Attributes {
			if ev.Type == "consent.grant" && a.Key == "consent_id" {
				consentID = a.Value
			}
		}
	}

	for _, tc := range []struct {
		member string
		code   tx.Code
	}{{doctor.ID, tx.CodeOK}, {nurse.ID, tx.CodeAccessDenied}} {
		raw := c.sign(hospital, &tx.QueryConsents{Patient: patient.ID, ConsentID: consentID, OnBehalfOf: tc.member})
		size := c.auditSize()
		r := c.block(raw).TxResults[0]
		e, err := audit.Get(c.store.Working(), size)
		if err != nil {
			t.Fatal(err)
		}
		if tx.Code(r.Code) != tc.code || e.Actor != tc.member || e.ActorOrg != hospital.ID || e.Recipient != hospital.ID {
			t.Errorf("for %s: code %s (%s), recorded %+v", tc.member, tx.Code(r.Code), r.Log, e)
		}
	}
	// The hospital itself is not named: asking for itself, it is refused.
	if code, _ := c.recordedQuery("the organization itself", hospital, &tx.QueryConsents{Patient: patient.ID, ConsentID: consentID}); code != tx.CodeAccessDenied {
		t.Errorf("the organization for itself: %s", code)
	}
	size := c.auditSize()
	r := c.block(c.sign(clinic, &tx.QueryConsents{Patient: patient.ID, ConsentID: consentID, OnBehalfOf: doctor.ID})).TxResults[0]
	if tx.Code(r.Code) != tx.CodeUnauthorized || c.auditSize() != size {
		t.Errorf("another organization for the doctor: code %s (%s), %d events", tx.Code(r.Code), r.Log, c.auditSize()-size)
	}
}
