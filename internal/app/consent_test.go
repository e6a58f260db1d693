package app

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	abci "github.com/cometbft/cometbft/abci/types"
	"github.com/google/go-cmp/cmp"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/consent/ledgerstate"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/tx"
)

func (c *chain) registerDelegate() *keyfile.Key {
	c.t.Helper()
	k := newKey(c.t)
	c.mustBlock(c.sign(k, reg(tx.KindDelegate, "", "", k)))
	return k
}

// blockTime is the time of block h in these tests.
func blockTime(h int64) time.Time { return genesisTime.Add(time.Duration(h) * time.Second) }

// permitFor is a patient's permit for actor's reads for purpose.
func permitFor(patient string, actor consent.Actor, purposes ...consent.Purpose) consent.Consent {
	return consent.Consent{Status: consent.StatusActive, Patient: patient, Provision: consent.Provision{
		Type: consent.Permit, Actors: []consent.Actor{actor}, Actions: []consent.Action{consent.ActionAccess}, Purposes: purposes}}
}

func grantOf(c consent.Consent) *tx.GrantConsent {
	return &tx.GrantConsent{Patient: c.Patient, Consent: consent.Encode(c)}
}

func delegationMsg(d consent.Delegation) *tx.SetDelegate {
	return &tx.SetDelegate{Delegation: consent.EncodeDelegation(d)}
}

// attrs returns the attributes of a consent transaction's module event, and
// its type. Every consent change also records exactly one audit event, whose
// leaf hash is the transaction's result data; attrs checks that too.
func attrs(t *testing.T, res *abci.ResponseFinalizeBlock, i int) (string, map[string]string) {
	t.Helper()
	ev := res.TxResults[i].Events
	if len(ev) != 2 || ev[1].Type != "audit" {
		t.Fatalf("tx %d emitted %v, want the module's event and one audit event", i, ev)
	}
	var leaf string
	for _, a := range ev[1].Attributes {
		if a.Key == "leaf_hash" {
			leaf = a.Value
		}
	}
	if leaf == "" || leaf != hex.EncodeToString(res.TxResults[i].Data) {
		t.Fatalf("tx %d: audit leaf hash %q, result data %x", i, leaf, res.TxResults[i].Data)
	}
	out := map[string]string{}
	for _, a := range ev[0].Attributes {
		out[a.Key] = a.Value
	}
	return ev[0].Type, out
}

// read is a request by requester (with org and roles) to read one of
// patient's records of type typ.
func read(requester, org, patient string, purpose consent.Purpose, typ string, roles ...string) consent.Request {
	return consent.Request{Requester: requester, RequesterOrg: org, Roles: roles, Patient: patient,
		Action: consent.ActionAccess, Purpose: purpose, Record: consent.Record{Type: typ}}
}

// decide decides req against committed state at the next block, through
// the app's cache, and checks the answer against an index built afresh.
func (c *chain) decide(req consent.Request) consent.Decision {
	c.t.Helper()
	snap, _, err := c.store.Snapshot(0)
	if err != nil {
		c.t.Fatal(err)
	}
	circ := consent.Circumstances{Block: consent.Block{Height: c.height + 1, Time: blockTime(c.height + 1)}}
	got, err := c.app.Decide(snap, req, circ)
	if err != nil {
		c.t.Fatal(err)
	}
	fresh, err := ledgerstate.LoadIndex(snap, req.Patient)
	if err != nil {
		c.t.Fatal(err)
	}
	if circ.OptedOut, err = ledgerstate.OptedOut(snap, req.Patient); err != nil {
		c.t.Fatal(err)
	}
	if d := cmp.Diff(consent.Decide(fresh, req, circ), got); d != "" {
		c.t.Fatalf("the app's cached decision differs from a fresh index (-fresh +cached):\n%s", d)
	}
	return got
}

func (c *chain) record(id string) *ledgerstate.Record {
	c.t.Helper()
	snap, _, err := c.store.Snapshot(0)
	if err != nil {
		c.t.Fatal(err)
	}
	r, err := ledgerstate.Get(snap, id)
	if err != nil {
		c.t.Fatalf("consent %s: %v", id, err)
	}
	return r
}

func TestConsentGrantAndRevoke(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	pat := c.registerPatient()
	treat := read(doc.ID, org.ID, pat.ID, consent.PurposeTreatment, "Observation", "practitioner")
	if d := c.decide(treat); d.Allowed || d.Reason != consent.ReasonNoConsent {
		t.Fatalf("before any consent: %s", d)
	}

	// The patient grants; the ledger derives the id from signer and nonce.
	raw := c.sign(pat, grantOf(permitFor(pat.ID, consent.Identity(doc.ID), consent.PurposeTreatment)))
	wantID := tx.ConsentID(pat.ID, c.nonces[pat.ID])
	res := c.mustBlock(raw)
	typ, a := attrs(t, res, 0)
	if typ != "consent.grant" || a["consent_id"] != wantID || a["patient"] != pat.ID || a["by"] != pat.ID || a["delegate"] != "" {
		t.Fatalf("grant event %s %v; want consent_id %s", typ, a, wantID)
	}
	r := c.record(wantID)
	if r.Consent.Grantor != pat.ID || r.GrantedAt != c.height || r.Revoked() || r.Consent.Status != consent.StatusActive {
		t.Fatalf("stored %+v", r)
	}
	if d := c.decide(treat); !d.Allowed || d.ConsentID != wantID || d.Provision != "provision" {
		t.Fatalf("after the grant: %s", d)
	}
	// Only the named practitioner, only for treatment.
	if d := c.decide(read(doc.ID, org.ID, pat.ID, consent.PurposeResearch, "Observation")); d.Allowed {
		t.Fatalf("research read: %s", d)
	}

	// Revocation: kept for history, inactive, and out of every decision from
	// the next transaction on.
	res = c.mustBlock(c.sign(pat, &tx.RevokeConsent{Patient: pat.ID, ConsentID: wantID}))
	if typ, a := attrs(t, res, 0); typ != "consent.revoke" || a["consent_id"] != wantID || a["by"] != pat.ID {
		t.Fatalf("revoke event %s %v", typ, a)
	}
	r = c.record(wantID)
	if r.Consent.Status != consent.StatusInactive || r.RevokedAt != c.height || r.RevokedBy != pat.ID || r.GrantedAt == 0 {
		t.Fatalf("after revocation stored %+v", r)
	}
	if d := c.decide(treat); d.Allowed || d.Reason != consent.ReasonNoConsent {
		t.Fatalf("after the revocation: %s", d)
	}
	c.expectMsgRejected(c.sign(pat, &tx.RevokeConsent{Patient: pat.ID, ConsentID: wantID}), tx.CodeInvalid)
	c.expectMsgRejected(c.sign(pat, &tx.UpdateConsent{Patient: pat.ID, Consent: consent.Encode(withID(permitFor(pat.ID, consent.Identity(doc.ID)), wantID))}), tx.CodeInvalid)
	c.expectMsgRejected(c.sign(pat, &tx.RevokeConsent{Patient: pat.ID, ConsentID: "csnosuchconsent"}), tx.CodeNotFound)

	// Grant and revoke in one block: the revocation sees the grant, and the
	// block ends with the consent revoked.
	g := c.sign(pat, grantOf(permitFor(pat.ID, consent.Role("gp"), consent.PurposeTreatment)))
	id2 := tx.ConsentID(pat.ID, c.nonces[pat.ID])
	if got := codes(c.block(g, c.sign(pat, &tx.RevokeConsent{Patient: pat.ID, ConsentID: id2}))); got != "ok,ok" {
		t.Fatalf("grant then revoke in one block: %s", got)
	}
	if !c.record(id2).Revoked() {
		t.Fatal("the consent revoked in its own block is active")
	}
	snap, _, _ := c.store.Snapshot(0)
	if list, err := ledgerstate.List(snap, pat.ID); err != nil || len(list) != 2 {
		t.Fatalf("list: %d consents, %v; want both, revoked ones kept", len(list), err)
	}
}

func withID(c consent.Consent, id string) consent.Consent {
	c.ID = id
	return c
}

func TestConsentWhoMaySign(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	pat := c.registerPatient()
	other := c.registerPatient()
	grant := grantOf(permitFor(pat.ID, consent.Identity(doc.ID), consent.PurposeTreatment))

	// Nobody but the patient (or a delegate) grants for the patient: not
	// the practitioner who benefits, not its organization, not another
	// patient, not the admin.
	for name, k := range map[string]*keyfile.Key{"practitioner": doc, "organization": org, "another patient": other, "admin": c.admin} {
		t.Run(name, func(t *testing.T) {
			c.t = t
			c.expectMsgRejected(c.sign(k, grant), tx.CodeUnauthorized)
		})
	}
	c.t = t
	// The subject must be a registered patient.
	c.expectMsgRejected(c.sign(org, grantOf(permitFor(org.ID, consent.Identity(doc.ID)))), tx.CodeInvalid)
	stranger := newKey(t)
	c.expectMsgRejected(c.sign(pat, grantOf(permitFor(stranger.ID, consent.Identity(doc.ID)))), tx.CodeNotFound)
	// Consent and message must name the same patient, and the grantor is
	// the signer: refused before the signer is even looked up.
	mismatch := &tx.GrantConsent{Patient: other.ID, Consent: consent.Encode(permitFor(pat.ID, consent.Identity(doc.ID)))}
	c.expectRejected(c.signAt(pat, c.nonces[pat.ID]+1, mismatch), tx.CodeInvalid)
	forged := permitFor(pat.ID, consent.Identity(doc.ID))
	forged.Grantor = other.ID
	c.expectRejected(c.signAt(pat, c.nonces[pat.ID]+1, grantOf(forged)), tx.CodeInvalid)

	// The patient's own grant goes through; others cannot revoke it.
	raw := c.sign(pat, grant)
	id := tx.ConsentID(pat.ID, c.nonces[pat.ID])
	c.mustBlock(raw)
	c.expectMsgRejected(c.sign(doc, &tx.RevokeConsent{Patient: pat.ID, ConsentID: id}), tx.CodeUnauthorized)
	c.expectMsgRejected(c.sign(other, &tx.RevokeConsent{Patient: other.ID, ConsentID: id}), tx.CodeNotFound)
	c.expectMsgRejected(c.sign(other, &tx.SetBreakGlassOptOut{Patient: pat.ID, OptOut: true}), tx.CodeUnauthorized)
	c.expectMsgRejected(c.sign(org, delegationMsg(consent.Delegation{Patient: pat.ID, Delegate: other.ID,
		Operations: []consent.Operation{consent.OpGrant}})), tx.CodeUnauthorized)
	if !c.decide(read(doc.ID, org.ID, pat.ID, consent.PurposeTreatment, "Observation")).Allowed {
		t.Fatal("the patient's consent does not permit")
	}
}

// TestConsentBadCondition: a condition that does not compile is refused at
// submission, with the compiler's message, before anything is written.
func TestConsentBadCondition(t *testing.T) {
	c := newChain(t)
	pat := c.registerPatient()
	bad := permitFor(pat.ID, consent.Role("gp"), consent.PurposeTreatment)
	bad.Provision.Condition = "block.height >"
	raw := c.signAt(pat, c.nonces[pat.ID]+1, grantOf(bad))
	res := c.check(raw)
	if tx.Code(res.Code) != tx.CodeInvalid || !strings.Contains(res.Log, "provision.condition: ERROR: <input>:1:15: Syntax error") ||
		!strings.Contains(res.Log, "(bad-condition)") {
		t.Fatalf("CheckTx %s: %s", tx.Code(res.Code), res.Log)
	}
	c.expectRejected(raw, tx.CodeInvalid)
	undeclared := permitFor(pat.ID, consent.Role("gp"))
	undeclared.Provision.Condition = "request.ward == 'icu'"
	res = c.check(c.signAt(pat, c.nonces[pat.ID]+1, grantOf(undeclared)))
	if tx.Code(res.Code) != tx.CodeInvalid || !strings.Contains(res.Log, "undeclared reference to 'request'") ||
		!strings.Contains(res.Log, "conditions may use request.requester") {
		t.Fatalf("CheckTx %s: %s", tx.Code(res.Code), res.Log)
	}
	snap, _, _ := c.store.Snapshot(0)
	if list, _ := ledgerstate.List(snap, pat.ID); len(list) != 0 {
		t.Fatalf("a refused consent is in state: %v", list)
	}
	// The nonce was not spent: the next good grant uses it.
	good := permitFor(pat.ID, consent.Role("gp"))
	good.Provision.Condition = "block.height > 0"
	c.mustBlock(c.sign(pat, grantOf(good)))
}

func TestConsentUpdate(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	pat := c.registerPatient()
	raw := c.sign(pat, grantOf(permitFor(pat.ID, consent.Identity(doc.ID), consent.PurposeTreatment)))
	id := tx.ConsentID(pat.ID, c.nonces[pat.ID])
	c.mustBlock(raw)
	granted := c.height

	// Widen it to the whole organization; the id stays.
	res := c.mustBlock(c.sign(pat, &tx.UpdateConsent{Patient: pat.ID,
		Consent: consent.Encode(withID(permitFor(pat.ID, consent.Organization(org.ID), consent.PurposeTreatment), id))}))
	if typ, a := attrs(t, res, 0); typ != "consent.update" || a["consent_id"] != id {
		t.Fatalf("update event %s %v", typ, a)
	}
	r := c.record(id)
	if r.GrantedAt != granted || r.UpdatedAt != c.height || r.Consent.Provision.Actors[0] != consent.Organization(org.ID) {
		t.Fatalf("after update %+v", r)
	}
	nurse := c.registerMember(org, tx.KindPractitioner, "Nurse Ratched")
	if d := c.decide(read(nurse.ID, org.ID, pat.ID, consent.PurposeTreatment, "Observation")); !d.Allowed || d.ConsentID != id {
		t.Fatalf("a colleague after the update: %s", d)
	}
	// Update names an existing consent of the same patient.
	other := c.registerPatient()
	c.expectMsgRejected(c.sign(other, &tx.UpdateConsent{Patient: other.ID,
		Consent: consent.Encode(withID(permitFor(other.ID, consent.Organization(org.ID)), id))}), tx.CodeNotFound)
	c.expectMsgRejected(c.sign(pat, &tx.UpdateConsent{Patient: pat.ID,
		Consent: consent.Encode(withID(permitFor(pat.ID, consent.Organization(org.ID)), "csnotthere"))}), tx.CodeNotFound)
}

func TestConsentDelegates(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	pat := c.registerPatient()
	guardian := c.registerDelegate()
	proxy := c.registerDelegate()

	// A delegate must be a person's identity: not a practitioner.
	c.expectMsgRejected(c.sign(pat, delegationMsg(consent.Delegation{Patient: pat.ID, Delegate: doc.ID,
		Operations: []consent.Operation{consent.OpGrant}})), tx.CodeInvalid)
	c.expectMsgRejected(c.sign(pat, delegationMsg(consent.Delegation{Patient: pat.ID, Delegate: newKey(t).ID,
		Operations: []consent.Operation{consent.OpGrant}})), tx.CodeNotFound)

	// The guardian may grant and revoke treatment consents for observations
	// until block 40.
	until := blockTime(40)
	res := c.mustBlock(c.sign(pat, delegationMsg(consent.Delegation{Patient: pat.ID, Delegate: guardian.ID,
		Operations: []consent.Operation{consent.OpGrant}, Purposes: []consent.Purpose{consent.PurposeTreatment},
		Classes: []string{"Observation"}, Period: consent.Period{End: until}})))
	if typ, a := attrs(t, res, 0); typ != "delegate.set" || a["delegate_id"] != guardian.ID || a["patient"] != pat.ID || a["by"] != pat.ID {
		t.Fatalf("delegate.set event %s %v", typ, a)
	}

	// Within scope: the grant is the guardian's, attributed as a delegate's.
	inScope := permitFor(pat.ID, consent.Identity(doc.ID), consent.PurposeTreatment)
	inScope.Provision.Classes = []string{"Observation"}
	raw := c.sign(guardian, grantOf(inScope))
	id := tx.ConsentID(guardian.ID, c.nonces[guardian.ID])
	res = c.mustBlock(raw)
	if typ, a := attrs(t, res, 0); typ != "consent.grant" || a["consent_id"] != id || a["by"] != guardian.ID || a["delegate"] != "true" {
		t.Fatalf("delegate's grant event %s %v", typ, a)
	}
	if r := c.record(id); r.Consent.Grantor != guardian.ID || r.Consent.Patient != pat.ID {
		t.Fatalf("delegate's consent stored as %+v", r.Consent)
	}
	if d := c.decide(read(doc.ID, org.ID, pat.ID, consent.PurposeTreatment, "Observation")); !d.Allowed {
		t.Fatalf("the delegate's consent does not permit: %s", d)
	}

	// Beyond scope: another purpose, every record type, an operation not
	// delegated, managing delegates.
	research := permitFor(pat.ID, consent.Identity(doc.ID), consent.PurposeResearch)
	research.Provision.Classes = []string{"Observation"}
	everything := permitFor(pat.ID, consent.Identity(doc.ID), consent.PurposeTreatment)
	for name, m := range map[string]tx.Msg{
		"another purpose":  grantOf(research),
		"every type":       grantOf(everything),
		"revoke":           &tx.RevokeConsent{Patient: pat.ID, ConsentID: id},
		"delegate further": delegationMsg(consent.Delegation{Patient: pat.ID, Delegate: proxy.ID, Operations: []consent.Operation{consent.OpGrant}}),
		"opt out":          &tx.SetBreakGlassOptOut{Patient: pat.ID, OptOut: true},
		"remove another":   &tx.RemoveDelegate{Patient: pat.ID, Delegate: proxy.ID},
	} {
		t.Run(name, func(t *testing.T) {
			c.t = t
			want := tx.CodeUnauthorized
			if name == "remove another" {
				want = tx.CodeNotFound // proxy holds no delegation yet
			}
			c.expectMsgRejected(c.sign(guardian, m), want)
		})
	}
	c.t = t
	res = c.block(c.sign(guardian, grantOf(research)))
	if log := res.TxResults[0].Log; !strings.Contains(log, "(outside-delegated-scope)") {
		t.Fatalf("refusal does not say why: %q", log)
	}
	res = c.block(c.sign(guardian, &tx.RevokeConsent{Patient: pat.ID, ConsentID: id}))
	if log := res.TxResults[0].Log; !strings.Contains(log, "(operation-not-delegated)") {
		t.Fatalf("refusal does not say why: %q", log)
	}
	// Someone with no delegation at all.
	res = c.block(c.sign(proxy, grantOf(inScope)))
	if log := res.TxResults[0].Log; tx.Code(res.TxResults[0].Code) != tx.CodeUnauthorized || !strings.Contains(log, "(not-a-delegate)") {
		t.Fatalf("stranger's grant: %s %q", tx.Code(res.TxResults[0].Code), log)
	}

	// The patient hands the proxy the management of delegates and opt-out;
	// the proxy can then only hand on what it holds.
	c.mustBlock(c.sign(pat, delegationMsg(consent.Delegation{Patient: pat.ID, Delegate: proxy.ID,
		Operations: []consent.Operation{consent.OpManageDelegates, consent.OpOptOut, consent.OpRevoke}})))
	c.expectMsgRejected(c.sign(proxy, delegationMsg(consent.Delegation{Patient: pat.ID, Delegate: guardian.ID,
		Operations: []consent.Operation{consent.OpGrant}})), tx.CodeUnauthorized) // proxy does not hold grant
	res = c.mustBlock(c.sign(proxy, &tx.SetBreakGlassOptOut{Patient: pat.ID, OptOut: true}))
	if typ, a := attrs(t, res, 0); typ != "breakglass.optout" || a["opt_out"] != "true" || a["by"] != proxy.ID || a["delegate"] != "true" {
		t.Fatalf("opt-out event %s %v", typ, a)
	}
	// An unscoped revoker may revoke the guardian's consent.
	res = c.mustBlock(c.sign(proxy, &tx.RevokeConsent{Patient: pat.ID, ConsentID: id}))
	if _, a := attrs(t, res, 0); a["delegate"] != "true" || a["by"] != proxy.ID {
		t.Fatalf("delegate's revocation event %v", a)
	}

	// A delegation ends at its period's end: past block 40 the guardian can
	// no longer grant.
	for c.height < 40 {
		c.mustBlock()
	}
	res = c.block(c.sign(guardian, grantOf(inScope)))
	if code, log := tx.Code(res.TxResults[0].Code), res.TxResults[0].Log; code != tx.CodeUnauthorized || !strings.Contains(log, "(delegation-not-in-effect)") {
		t.Fatalf("grant after the delegation ended: %s %q", code, log)
	}

	// A delegate may step down without any operation; the patient removes
	// the other.
	res = c.mustBlock(c.sign(guardian, &tx.RemoveDelegate{Patient: pat.ID, Delegate: guardian.ID}))
	if typ, a := attrs(t, res, 0); typ != "delegate.remove" || a["delegate_id"] != guardian.ID || a["by"] != guardian.ID {
		t.Fatalf("delegate.remove event %s %v", typ, a)
	}
	c.mustBlock(c.sign(pat, &tx.RemoveDelegate{Patient: pat.ID, Delegate: proxy.ID}))
	c.expectMsgRejected(c.sign(proxy, &tx.SetBreakGlassOptOut{Patient: pat.ID}), tx.CodeUnauthorized)
	snap, _, _ := c.store.Snapshot(0)
	if ds, err := ledgerstate.Delegations(snap, pat.ID); err != nil || len(ds) != 0 {
		t.Fatalf("delegations left: %v, %v", ds, err)
	}
}

func TestConsentBreakGlassOptOut(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	er := c.registerMember(org, tx.KindPractitioner, "Dr. ER")
	pat := c.registerPatient()
	emergency := read(er.ID, org.ID, pat.ID, consent.PurposeEmergencyTreatment, "Observation", consent.DefaultEmergencyRole)
	emergency.BreakGlass = true
	if d := c.decide(emergency); !d.Allowed || d.Reason != consent.ReasonBreakTheGlass {
		t.Fatalf("break-the-glass before opting out: %s", d)
	}
	res := c.mustBlock(c.sign(pat, &tx.SetBreakGlassOptOut{Patient: pat.ID, OptOut: true}))
	if typ, a := attrs(t, res, 0); typ != "breakglass.optout" || a["opt_out"] != "true" || a["patient"] != pat.ID {
		t.Fatalf("opt-out event %s %v", typ, a)
	}
	if d := c.decide(emergency); d.Allowed || d.Reason != consent.ReasonBreakTheGlassOptedOut || !d.NotifyPatient {
		t.Fatalf("break-the-glass after opting out: %s", d)
	}
	// Opting out twice changes no consent state and is not an error; like
	// every signed request it uses a nonce and is on the audit record.
	before := c.committed()
	c.mustBlock(c.sign(pat, &tx.SetBreakGlassOptOut{Patient: pat.ID, OptOut: true}))
	for _, k := range diffKeys(before, c.committed()) {
		if k != nonceKey(pat.ID) && !strings.HasPrefix(k, "audit/") {
			t.Fatalf("a repeated opt-out changed %s", k)
		}
	}
	res = c.mustBlock(c.sign(pat, &tx.SetBreakGlassOptOut{Patient: pat.ID}))
	if _, a := attrs(t, res, 0); a["opt_out"] != "false" {
		t.Fatalf("undo event %v", a)
	}
	if d := c.decide(emergency); !d.Allowed {
		t.Fatalf("break-the-glass after undoing the opt-out: %s", d)
	}
}

// TestConsentCheckTx: the mempool sees pending consent changes, so a grant
// and its revocation can wait in it together; neither touches committed
// state before a block.
func TestConsentCheckTx(t *testing.T) {
	c := newChain(t)
	pat := c.registerPatient()
	g := c.sign(pat, grantOf(permitFor(pat.ID, consent.Role("gp"), consent.PurposeTreatment)))
	id := tx.ConsentID(pat.ID, c.nonces[pat.ID])
	r := c.sign(pat, &tx.RevokeConsent{Patient: pat.ID, ConsentID: id})
	before := c.committed()
	for i, raw := range [][]byte{g, r} {
		if res := c.check(raw); res.Code != 0 {
			t.Fatalf("CheckTx(%d) = %s %s", i, tx.Code(res.Code), res.Log)
		}
	}
	if d := diffKeys(before, c.committed()); len(d) != 0 {
		t.Fatalf("CheckTx changed committed state: %v", d)
	}
	// Consent messages are judged for good in the block: a recheck after an
	// unrelated block keeps both without applying them again.
	c.mustBlock()
	for i, raw := range [][]byte{g, r} {
		if res := c.recheck(raw); res.Code != 0 {
			t.Fatalf("recheck(%d) = %s %s", i, tx.Code(res.Code), res.Log)
		}
	}
	if got := codes(c.block(g, r)); got != "ok,ok" {
		t.Fatalf("block: %s", got)
	}
}

// TestConsentCacheFollowsState runs decisions through the app's cache
// across grants, updates and revocations in blocks and in the mempool's
// view, each checked against a fresh index (see chain.decide), and
// confirms the cache is consulted, so the comparison means something.
func TestConsentCacheFollowsState(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	pat := c.registerPatient()
	req := read(doc.ID, org.ID, pat.ID, consent.PurposeTreatment, "Observation", "practitioner")
	var ids []string
	steps := []func() tx.Msg{
		func() tx.Msg { return grantOf(permitFor(pat.ID, consent.Identity(doc.ID), consent.PurposeTreatment)) },
		func() tx.Msg {
			deny := permitFor(pat.ID, consent.Organization(org.ID))
			deny.Provision.Type = consent.Deny
			return grantOf(deny)
		},
		func() tx.Msg { return &tx.RevokeConsent{Patient: pat.ID, ConsentID: ids[1]} },
		func() tx.Msg {
			return &tx.UpdateConsent{Patient: pat.ID, Consent: consent.Encode(withID(permitFor(pat.ID, consent.Role("gp"), consent.PurposeTreatment), ids[0]))}
		},
		func() tx.Msg {
			return &tx.UpdateConsent{Patient: pat.ID, Consent: consent.Encode(withID(permitFor(pat.ID, consent.Role("practitioner")), ids[0]))}
		},
		func() tx.Msg { return &tx.RevokeConsent{Patient: pat.ID, ConsentID: ids[0]} },
	}
	want := []bool{true, false, true, false, true, false}
	for i, step := range steps {
		m := step()
		raw := c.sign(pat, m)
		if _, ok := m.(*tx.GrantConsent); ok {
			ids = append(ids, tx.ConsentID(pat.ID, c.nonces[pat.ID]))
		}
		// The mempool's view first: admitted but not committed, the change
		// is visible there and not in committed state.
		if res := c.check(raw); res.Code != 0 {
			t.Fatalf("step %d CheckTx: %s %s", i, tx.Code(res.Code), res.Log)
		}
		c.app.mu.Lock()
		pending, err := c.app.Decide(c.app.checkState, req, consent.Circumstances{Block: consent.Block{Height: c.height + 1, Time: blockTime(c.height + 1)}})
		c.app.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
		if pending.Allowed != want[i] {
			t.Fatalf("step %d: the mempool's view decides %s", i, pending)
		}
		if i > 0 && c.decide(req).Allowed != want[i-1] {
			t.Fatalf("step %d: committed state already shows a change only admitted to the mempool", i)
		}
		c.mustBlock(raw)
		for range 3 {
			if got := c.decide(req); got.Allowed != want[i] {
				t.Fatalf("step %d: %s, want allowed=%v", i, got, want[i])
			}
		}
	}
	entries, builds := c.app.consents.Stats()
	if entries == 0 || builds == 0 || builds >= uint64(3*len(steps)) {
		t.Fatalf("cache: %d entries, %d builds over %d decisions per step: not being used as a cache", entries, builds, 3)
	}
}

// TestConsentRecheckChangesNoSigner keeps consent messages out of
// recheck's re-application: they change no signer.
func TestConsentRecheckChangesNoSigner(t *testing.T) {
	for _, m := range []tx.Msg{&tx.GrantConsent{}, &tx.UpdateConsent{}, &tx.RevokeConsent{}, &tx.SetDelegate{},
		&tx.RemoveDelegate{}, &tx.SetBreakGlassOptOut{}} {
		if changesSigners(m) {
			t.Errorf("%s is applied on recheck", m.Type())
		}
	}
}
