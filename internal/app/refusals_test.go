package app

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

// TestUnattributedRefusals checks that an organization's tally of refusals
// that named nobody records one access.refused event of the
// unauthenticated actor per entry, with the rule, the claimed client and
// the count, that the result data is their leaf hashes in log order, and
// that it changes nothing else but the signer's nonce.
func TestUnattributedRefusals(t *testing.T) {
	c, org, doctor := refusalChain(t)
	entries := []tx.RefusalTally{
		{Code: "assertion_bad_signature", Claimed: doctor.ID, Count: 2},
		{Code: "token_invalid", Claimed: "ccnotonthisledgeratall", Count: 1},
		{Code: "token_missing", Count: 40},
	}
	raw := c.sign(org, &tx.RecordUnattributedRefusals{Entries: entries})
	if res := c.check(raw); res.Code != 0 {
		t.Fatalf("CheckTx %d %s", res.Code, res.Log)
	}
	before, size := c.committed(), c.auditSize()
	r := c.mustBlock(raw).TxResults[0]
	if c.auditSize() != size+uint64(len(entries)) || len(r.Data) != 32*len(entries) {
		t.Fatalf("%d events and %d bytes of result data for %d entries", c.auditSize()-size, len(r.Data), len(entries))
	}
	hash := tx.Hash(raw)
	for i, en := range entries {
		e, err := audit.Get(c.store.Working(), size+uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		want := audit.Event{Seq: size + uint64(i), Height: e.Height, Time: e.Time, Actor: audit.Unauthenticated,
			Action: audit.ActionAccessRefused, Target: en.Claimed, Decision: audit.Deny, Reason: audit.Reason{Rule: en.Code}, TxHash: hash[:]}
		if en.Count > 1 {
			want.Count = en.Count
		}
		got, _ := e.Encode()
		wantEnc, err := want.Encode()
		if err != nil || !bytes.Equal(got, wantEnc) || e.Height != uint64(c.height) {
			t.Errorf("event %d = %+v, want %+v (%v)", i, e, want, err)
		}
		if !bytes.Equal(audit.LeafHash(got), r.Data[32*i:32*(i+1)]) {
			t.Errorf("result data %d is not event %d's leaf hash", i, e.Seq)
		}
	}
	var tallies, audits int
	for _, ev := range r.Events {
		switch ev.Type {
		case "audit":
			audits++
		case tx.TypeRecordUnattributedRefusals.String():
			a := map[string]string{}
			for _, at := range ev.Attributes {
				a[at.Key] = at.Value
			}
			en := entries[tallies]
			if a["by"] != org.ID || a["code"] != en.Code || a["claimed"] != en.Claimed || a["count"] != strconv.FormatUint(en.Count, 10) {
				t.Errorf("event %d: %v, want %+v by %s", tallies, a, en, org.ID)
			}
			tallies++
		}
	}
	if tallies != len(entries) || audits != len(entries) {
		t.Errorf("%d audit.refusals and %d audit events for %d entries", tallies, audits, len(entries))
	}
	for _, k := range diffKeys(before, c.committed()) {
		if k != nonceKey(org.ID) && !strings.HasPrefix(k, "audit/") {
			t.Errorf("the tally changed %s", k)
		}
	}
}

// TestUnattributedRefusalsRefused checks that only an organization may
// report refusals that name nobody, and that a tally breaking the
// stateless rules is refused before its signer is looked at.
func TestUnattributedRefusalsRefused(t *testing.T) {
	c, org, doctor := refusalChain(t)
	patient := c.registerPatient()
	ok := &tx.RecordUnattributedRefusals{Entries: []tx.RefusalTally{{Code: "token_missing", Count: 1}}}
	for who, key := range map[string]*keyfile.Key{"a practitioner": doctor, "a patient": patient} {
		size := c.auditSize()
		c.expectMsgRejected(c.sign(key, ok), tx.CodeUnauthorized)
		if c.auditSize() != size {
			t.Fatalf("a tally signed by %s was recorded", who)
		}
	}
	for name, m := range map[string]*tx.RecordUnattributedRefusals{
		"no entries":   {},
		"out of order": {Entries: []tx.RefusalTally{{Code: "token_missing", Count: 1}, {Code: "token_invalid", Count: 1}}},
		"duplicate":    {Entries: []tx.RefusalTally{{Code: "token_missing", Count: 1}, {Code: "token_missing", Count: 1}}},
		"no attempts":  {Entries: []tx.RefusalTally{{Code: "token_missing"}}},
		"bad claim":    {Entries: []tx.RefusalTally{{Code: "token_invalid", Claimed: "two words", Count: 1}}},
		"bad code":     {Entries: []tx.RefusalTally{{Code: "", Count: 1}}},
	} {
		t.Run(name, func(t *testing.T) {
			c.expectRejected(c.signAt(org, c.nonces[org.ID]+1, m), tx.CodeInvalid)
		})
	}
}

// refusalChain is a chain with an organization, whose gateway would report
// refusals, and one of its practitioners, who may not.
func refusalChain(t *testing.T) (*chain, *keyfile.Key, *keyfile.Key) {
	c := newChain(t)
	org := c.registerOrg("General")
	return c, org, c.registerMember(org, tx.KindPractitioner, "Dr. Who")
}
