package app

import (
	"testing"

	"github.com/carechain/carechain/internal/tx"
)

// TestOnBehalfOfOnlyForOwnMembers checks who an organization may sign a
// record message for: only its own unrevoked practitioners and
// applications, and only an organization signs for anyone. Each refusal
// is the signer's (its nonce is used) and leaves no other trace.
func TestOnBehalfOfOnlyForOwnMembers(t *testing.T) {
	c := newChain(t)
	orgA, orgB := c.registerOrg("A"), c.registerOrg("B")
	docA := c.registerMember(orgA, tx.KindPractitioner, "a")
	gone := c.registerMember(orgA, tx.KindApplication, "gone")
	docB := c.registerMember(orgB, tx.KindPractitioner, "b")
	pat := c.registerPatient()
	c.mustBlock(c.sign(orgA, &tx.RevokeActor{Actor: gone.ID, Reason: "retired"}))

	access := func(member string) *tx.AccessRecords {
		return &tx.AccessRecords{Patient: pat.ID, Purpose: "TREAT", Records: []tx.RecordRef{{ID: "rcnone"}}, OnBehalfOf: member}
	}
	for _, tc := range []struct {
		name   string
		raw    []byte
		reason tx.Code
	}{
		{"another organization's member", c.sign(orgA, access(docB.ID)), tx.CodeUnauthorized},
		{"a practitioner signing for another", c.sign(docA, access(orgA.ID)), tx.CodeUnauthorized},
		{"a patient named as member", c.sign(orgA, access(pat.ID)), tx.CodeUnauthorized},
		{"a revoked member", c.sign(orgA, access(gone.ID)), tx.CodeSignerRevoked},
		{"an unknown member", c.sign(orgA, access("ccnosuchactor")), tx.CodeNotFound},
		{"an erasure for another organization's member", c.sign(orgA, &tx.EraseRecord{RecordID: "rcnone", OnBehalfOf: docB.ID}), tx.CodeUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.expectMsgRejected(tc.raw, tc.reason)
		})
	}
	// The organization's own member passes the check and meets the next
	// one: the record does not exist.
	c.t = t
	c.expectMsgRejected(c.sign(orgA, access(docA.ID)), tx.CodeNotFound)
	// Naming oneself is not canonical: stateless, so refused before the
	// signer is even looked up (and last here: it uses no nonce).
	c.expectRejected(c.sign(orgA, access(orgA.ID)), tx.CodeInvalid)
}
