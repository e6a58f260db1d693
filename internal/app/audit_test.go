package app

import (
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// TestConsentChangesAreAudited checks that each consent change the ledger
// accepts appends one event to the audit log, with who, what and when, that
// a rejected one appends none, and that the log's proofs verify against the
// root committed in state.
func TestConsentChangesAreAudited(t *testing.T) {
	c := newChain(t)
	patient := c.registerPatient()
	doctor := c.registerPatient() // any registered actor can be a grantee
	stranger := c.registerPatient()

	grant := grantMsg(t, patient.ID, doctor.ID)
	res := c.mustBlock(c.sign(patient, grant))
	_, ev := attrs(t, res, 0)
	consentID := ev["consent_id"]

	// A stranger's revoke is refused and leaves the log alone.
	before := c.auditSize()
	bad := c.block(c.sign(stranger, &tx.RevokeConsent{Patient: patient.ID, ConsentID: consentID}))
	if tx.Code(bad.TxResults[0].Code) == tx.CodeOK || len(bad.TxResults[0].Data) != 0 {
		t.Fatalf("stranger's revoke: %v", bad.TxResults[0])
	}
	if c.auditSize() != before {
		t.Fatal("a refused consent change was audited")
	}

	c.mustBlock(c.sign(patient, &tx.RevokeConsent{Patient: patient.ID, ConsentID: consentID}))

	events, _, err := audit.History(c.store.Working(), audit.Query{Patient: patient.ID, Order: audit.OldestFirst})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("patient's history has %d events, want 2: %+v", len(events), events)
	}
	for i, want := range []audit.Action{audit.ActionConsentGrant, audit.ActionConsentRevoke} {
		e := events[i]
		if e.Action != want || e.Actor != patient.ID || e.Target != consentID || e.Decision != audit.Permit || e.Reason.Rule != "patient" {
			t.Fatalf("event %d = %+v, want %s by the patient on %s", i, e, want, consentID)
		}
		if !e.Time.Equal(genesisTime.Add(time.Duration(e.Height) * time.Second)) {
			t.Fatalf("event %d at %s, not its block's time", i, e.Time)
		}
	}

	// Every event proves into the root the committed state holds.
	size, root, err := audit.Root(c.store.Working())
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		p, err := audit.ProveEvent(c.store.Working(), e.Seq, size)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Verify()
		if err != nil || got.Seq != e.Seq || string(p.Root) != string(root) {
			t.Fatalf("proof of event %d: %v", e.Seq, err)
		}
	}
}

func (c *chain) auditSize() uint64 {
	c.t.Helper()
	size, _, err := audit.Root(c.store.Working())
	if err != nil {
		c.t.Fatal(err)
	}
	return size
}

func grantMsg(t *testing.T, patient, grantee string) *tx.GrantConsent {
	t.Helper()
	return grantOf(permitFor(patient, consent.Identity(grantee), consent.PurposeTreatment))
}

// TestHistoryQueries checks who may read a patient's access history and
// that every query, allowed or denied, is itself on the record.
func TestHistoryQueries(t *testing.T) {
	c := newChain(t)
	patient := c.registerPatient()
	stranger := c.registerPatient()
	guardian, reader := c.registerPatient(), c.registerPatient()
	auditor := newKey(t)
	c.mustBlock(c.sign(c.admin, reg(tx.KindAuditor, "Compliance office", "", auditor)))
	c.mustBlock(
		c.sign(patient, delegationMsg(consent.Delegation{Patient: patient.ID, Delegate: guardian.ID, Operations: []consent.Operation{consent.OpGrant}})),
		c.sign(patient, delegationMsg(consent.Delegation{Patient: patient.ID, Delegate: reader.ID, Operations: []consent.Operation{consent.OpReadHistory}})),
	)

	query := &tx.QueryAuditHistory{Patient: patient.ID}
	cases := []struct {
		who      string
		key      *keyfile.Key
		code     tx.Code
		decision audit.Decision
		rule     string
	}{
		{"the patient", patient, tx.CodeOK, audit.Permit, "patient"},
		{"a delegate allowed to read the history", reader, tx.CodeOK, audit.Permit, "delegate"},
		{"an auditor", auditor, tx.CodeOK, audit.Permit, "auditor"},
		{"a delegate for other operations", guardian, tx.CodeAccessDenied, audit.Deny, "not-authorized-for-history"},
		{"a stranger", stranger, tx.CodeAccessDenied, audit.Deny, "not-authorized-for-history"},
	}
	for _, tc := range cases {
		code, e := c.recordedQuery(tc.who, tc.key, query)
		if code != tc.code || e.Action != audit.ActionAuditQuery || e.Patient != patient.ID || e.Decision != tc.decision || e.Reason.Rule != tc.rule {
			t.Fatalf("%s: code %s, recorded %+v", tc.who, code, e)
		}
	}

	// Asking about someone who is not a patient is a bad request, refused
	// before it reaches a block.
	if res := c.check(c.signAt(patient, c.nonces[patient.ID]+1, &tx.QueryAuditHistory{Patient: auditor.ID})); tx.Code(res.Code) != tx.CodeInvalid {
		t.Fatalf("query about an auditor: %d %s", res.Code, res.Log)
	}
	if res := c.check(c.signAt(patient, c.nonces[patient.ID]+1, &tx.QueryAuditHistory{Patient: "ccaaaaaaaaaaaaaaaaaaaaaaaa"})); tx.Code(res.Code) != tx.CodeNotFound {
		t.Fatalf("query about nobody: %d %s", res.Code, res.Log)
	}
}

// recordedQuery signs and runs a query as key's actor in a block of its
// own and returns its code and the audit event it recorded. It fails the
// test unless the mempool admitted it (denials too: the block must record
// them), it recorded exactly one event by the signer, and it changed
// nothing but the signer's nonce and the audit log.
func (c *chain) recordedQuery(who string, key *keyfile.Key, m tx.Msg) (tx.Code, audit.Event) {
	c.t.Helper()
	raw := c.sign(key, m)
	if res := c.check(raw); res.Code != 0 {
		c.t.Fatalf("%s: CheckTx %d %s", who, res.Code, res.Log)
	}
	before, size := c.committed(), c.auditSize()
	r := c.block(raw).TxResults[0]
	if len(r.Data) != 32 || c.auditSize() != size+1 {
		c.t.Fatalf("%s: code %s (%s): the query was not recorded", who, tx.Code(r.Code), r.Log)
	}
	e, err := audit.Get(c.store.Working(), size)
	if err != nil {
		c.t.Fatal(err)
	}
	if e.Actor != key.ID {
		c.t.Fatalf("%s: recorded as %s", who, e.Actor)
	}
	for _, k := range diffKeys(before, c.committed()) {
		if k != nonceKey(key.ID) && !strings.HasPrefix(k, "audit/") {
			c.t.Fatalf("%s: the query changed %s", who, k)
		}
	}
	return tx.Code(r.Code), e
}

// TestRefusalReview: the events about no patient are an auditor's to read;
// the read is recorded among them, and anyone else's attempt is refused
// and recorded too.
func TestRefusalReview(t *testing.T) {
	c := newChain(t)
	auditor := newKey(t)
	c.mustBlock(c.sign(c.admin, reg(tx.KindAuditor, "Compliance office", "", auditor)))
	hospital := c.registerOrg("General Hospital")
	patient := c.registerPatient()
	review := &tx.QueryAuditHistory{}
	for _, tc := range []struct {
		who  string
		key  *keyfile.Key
		code tx.Code
	}{{"an auditor", auditor, tx.CodeOK}, {"an organization", hospital, tx.CodeAccessDenied}, {"a patient", patient, tx.CodeAccessDenied}} {
		code, e := c.recordedQuery(tc.who, tc.key, review)
		if code != tc.code || e.Action != audit.ActionAuditReview || e.Patient != "" || (e.Decision == audit.Permit) != (tc.code == tx.CodeOK) {
			t.Errorf("%s: code %s, recorded %+v", tc.who, code, e)
		}
	}
	events, _, err := audit.History(c.store.Working(), audit.Query{NoPatient: true})
	if err != nil || len(events) != 3 {
		t.Fatalf("events about no patient: %d, %v", len(events), err)
	}
}
