package app

import (
	"testing"
	"time"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
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
