package app

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	abci "github.com/cometbft/cometbft/abci/types"

	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/state"
	"github.com/carechain/carechain/internal/tx"
)

// TestRejectedBeforeAuthentication covers transactions that must be turned
// away before their signer is authenticated: each gets its exact code in
// CheckTx and in a block, and changes neither state nor the app hash.
func TestRejectedBeforeAuthentication(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	stranger := newKey(t)
	committedRaw := c.sign(org, reg(tx.KindApplication, "EHR", org.ID, newKey(t)))
	c.mustBlock(committedRaw)

	next := func(k *keyfile.Key) uint64 { return c.nonces[k.ID] + 1 }
	revokeDoc := &tx.RevokeActor{Actor: doc.ID, Reason: "test"}
	valid := c.signAt(org, next(org), revokeDoc)
	flipped := bytes.Clone(valid)
	flipped[len(flipped)-10] ^= 0x40
	wrongVersion := bytes.Clone(valid)
	wrongVersion[0] = 2
	withBody := func(typ tx.Type, body []byte) []byte {
		tr := &tx.Tx{ChainID: testChain, Signer: org.ID, Nonce: next(org), Type: typ, Body: body}
		tr.Sign(org.Sign)
		return tr.Encode()
	}
	forged := reg(tx.KindOrganization, "Forged", "", stranger)
	forged.Possession = bytes.Clone(forged.Possession)
	forged.Possession[0] ^= 1

	cases := []struct {
		name string
		raw  []byte
		want tx.Code
	}{
		{"empty", nil, tx.CodeMalformed},
		{"one byte", []byte{tx.Version}, tx.CodeMalformed},
		{"junk", []byte("GET / HTTP/1.1\r\n\r\n"), tx.CodeMalformed},
		{"JSON", []byte(`{"chain_id":"carechain-test","nonce":1}`), tx.CodeMalformed},
		{"trailing byte", append(bytes.Clone(valid), 0), tx.CodeMalformed},
		{"truncated", valid[:len(valid)-1], tx.CodeMalformed},
		{"envelope version 2", wrongVersion, tx.CodeMalformed},
		{"body does not decode", withBody(tx.TypeRegisterActor, []byte{1, 2, 3}), tx.CodeMalformed},
		{"wrong chain id", tx.Build("other-chain", org.ID, next(org), revokeDoc, org.Sign), tx.CodeWrongChain},
		{"replayed bytes", committedRaw, tx.CodeNonceReplayed},
		{"replayed nonce", c.signAt(org, c.nonces[org.ID], revokeDoc), tx.CodeNonceReplayed},
		{"nonce zero", c.signAt(org, 0, revokeDoc), tx.CodeNonceReplayed},
		{"skipped nonce", c.signAt(org, next(org)+1, revokeDoc), tx.CodeNonceGap},
		{"signed by another key", tx.Build(testChain, org.ID, next(org), revokeDoc, stranger.Sign), tx.CodeBadSignature},
		{"signature bit flipped", flipped, tx.CodeBadSignature},
		{"unknown signer", c.signAt(stranger, 1, revokeDoc), tx.CodeUnknownSigner},
		{"oversize", c.signAt(org, next(org), &tx.RevokeActor{Actor: doc.ID, Reason: strings.Repeat("x", tx.MaxTxBytes)}), tx.CodeTooLarge},
		{"unknown message type", withBody(9, []byte{1, 2, 3}), tx.CodeUnknownType},
		{"message type with no module yet", withBody(40, nil), tx.CodeUnknownType},
		{"record message that does not decode", withBody(30, nil), tx.CodeMalformed},
		{"patient with a name", c.signAt(stranger, 1, reg(tx.KindPatient, "Jane Doe", "", stranger)), tx.CodeInvalid},
		{"practitioner without organization", c.signAt(org, next(org), reg(tx.KindPractitioner, "Dr. X", "", stranger)), tx.CodeInvalid},
		{"forged proof of possession", c.signAt(c.admin, next(c.admin), forged), tx.CodeBadSignature},
		{"organization registering itself", c.signAt(stranger, 1, reg(tx.KindOrganization, "Me", "", stranger)), tx.CodeUnauthorized},
		// A self-registration's possession proof is its envelope signature.
		{"self-registration signed by another key", tx.Build(testChain, stranger.ID, 1, reg(tx.KindPatient, "", "", stranger), org.Sign), tx.CodeBadSignature},
		{"self-registration carrying a possession proof", c.signAt(stranger, 1, withPossession(reg(tx.KindPatient, "", "", stranger), stranger)), tx.CodeInvalid},
		{"patient registered by an organization", c.signAt(org, next(org), reg(tx.KindPatient, "", "", stranger)), tx.CodeUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.expectRejected(tc.raw, tc.want)
		})
	}
	c.t = t

	// None of that spent a nonce: the next transactions still go through.
	c.mustBlock(c.sign(org, revokeDoc))
}

func TestRevokedSignerIsRejected(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	pat := c.registerPatient()

	res := c.mustBlock(c.sign(org, &tx.RevokeActor{Actor: doc.ID, Reason: "left"}))
	if ev := res.TxResults[0].Events; len(ev) != 1 || ev[0].Type != "identity.revoke" {
		t.Fatalf("revoke events %v", ev)
	}
	if a := c.actor(doc.ID); !a.Revoked || a.RevokedAt != c.height {
		t.Fatalf("after revoke: revoked %v at %d, want at %d", a.Revoked, a.RevokedAt, c.height)
	}
	// Its next transaction, correctly signed with the next nonce, is refused.
	c.expectRejected(c.signAt(doc, c.nonces[doc.ID]+1, rotation(doc.ID, rotated(t, doc))), tx.CodeSignerRevoked)
	c.expectRejected(c.signAt(doc, c.nonces[doc.ID]+1, &tx.RevokeActor{Actor: doc.ID}), tx.CodeSignerRevoked)

	// A revoked patient cannot come back through self-registration either.
	c.mustBlock(c.sign(pat, &tx.RevokeActor{Actor: pat.ID}))
	c.expectRejected(c.signAt(pat, c.nonces[pat.ID]+1, reg(tx.KindPatient, "", "", pat)), tx.CodeAlreadyExists)
	c.expectRejected(c.signAt(pat, c.nonces[pat.ID]+1, &tx.RevokeActor{Actor: pat.ID}), tx.CodeSignerRevoked)
	// Nor can its sponsor give a revoked practitioner new keys.
	c.expectMsgRejected(c.sign(org, rotation(doc.ID, rotated(t, doc))), tx.CodeSignerRevoked)
}

func TestAdmissionRules(t *testing.T) {
	c := newChain(t)

	// A patient registers itself, with no name and no sponsor.
	pat := newKey(t)
	res := c.mustBlock(c.sign(pat, reg(tx.KindPatient, "", "", pat)))
	ev := res.TxResults[0].Events
	if len(ev) != 1 || ev[0].Type != "identity.register" || ev[0].Attributes[0].Value != pat.ID || ev[0].Attributes[1].Value != "patient" {
		t.Fatalf("registration events %v", ev)
	}
	if a := c.actor(pat.ID); a.Kind != tx.KindPatient || a.Sponsor != "" || a.Name != "" || a.RegisteredAt != c.height {
		t.Fatalf("patient stored as %+v", a)
	}

	// Organizations come only from the admin.
	org := c.registerOrg("General Hospital")
	if a := c.actor(org.ID); a.Sponsor != c.admin.ID || a.Kind != tx.KindOrganization || a.Name != "General Hospital" {
		t.Fatalf("organization stored as %+v", a)
	}
	org2 := c.registerOrg("County Lab")
	c.expectMsgRejected(c.sign(org, reg(tx.KindOrganization, "Subsidiary", "", newKey(t))), tx.CodeUnauthorized)
	c.expectMsgRejected(c.sign(pat, reg(tx.KindOrganization, "Patient's Org", "", newKey(t))), tx.CodeUnauthorized)
	c.expectRejected(c.signAt(newKey(t), 1, reg(tx.KindOrganization, "Self-made", "", newKey(t))), tx.CodeUnknownSigner)

	// Practitioners and applications come only from their own organization.
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	ehr := c.registerMember(org, tx.KindApplication, "EHR")
	for _, k := range []*keyfile.Key{doc, ehr} {
		if a := c.actor(k.ID); a.Org != org.ID || a.Sponsor != org.ID {
			t.Fatalf("member stored as %+v", a)
		}
	}
	snap, _, _ := c.store.Snapshot(0)
	if m, err := identity.Members(snap, org.ID); err != nil || len(m) != 2 {
		t.Fatalf("members of org = %v, %v", m, err)
	}
	c.expectMsgRejected(c.sign(org2, reg(tx.KindPractitioner, "Dr. Poach", org.ID, newKey(t))), tx.CodeUnauthorized)
	c.expectMsgRejected(c.sign(c.admin, reg(tx.KindApplication, "Admin App", org.ID, newKey(t))), tx.CodeUnauthorized)
	c.expectMsgRejected(c.sign(doc, reg(tx.KindPractitioner, "Dr. Friend", org.ID, newKey(t))), tx.CodeUnauthorized)
	// A patient registers itself only; a registration of one signed by
	// anyone else is refused without looking at state.
	c.expectRejected(c.signAt(org, c.nonces[org.ID]+1, reg(tx.KindPatient, "", "", newKey(t))), tx.CodeUnauthorized)
	c.expectRejected(c.signAt(org, c.nonces[org.ID]+1, reg(tx.KindDelegate, "", "", newKey(t))), tx.CodeUnauthorized)

	// Stateless rules.
	named := newKey(t)
	c.expectRejected(c.signAt(named, 1, reg(tx.KindPatient, "Jane Doe", "", named)), tx.CodeInvalid)
	forged := reg(tx.KindPractitioner, "Dr. Forged", org.ID, newKey(t))
	forged.Possession = forgedPossession(newKey(t), forged)
	c.expectRejected(c.signAt(org, c.nonces[org.ID]+1, forged), tx.CodeBadSignature)

	// Duplicates.
	c.expectMsgRejected(c.sign(c.admin, reg(tx.KindOrganization, "General Hospital again", "", org)), tx.CodeAlreadyExists)
	c.expectMsgRejected(c.sign(org, reg(tx.KindPractitioner, "Dr. Ng", org.ID, doc)), tx.CodeAlreadyExists)
	c.expectRejected(c.signAt(pat, c.nonces[pat.ID]+1, reg(tx.KindPatient, "", "", pat)), tx.CodeAlreadyExists)
}

// withPossession adds a (valid) proof of possession by k to m.
func withPossession(m *tx.RegisterActor, k *keyfile.Key) *tx.RegisterActor {
	m.Possession = ed25519.Sign(k.Sign, tx.PossessionBytes(testChain, k.ID, m.SignKey, m.HPKEKey))
	return m
}

// forgedPossession makes a proof of possession for m signed by the wrong key.
func forgedPossession(wrong *keyfile.Key, m *tx.RegisterActor) []byte {
	return tx.NewRegistration(testChain, m.Kind, m.Name, m.Org, wrong.Sign, m.HPKEKey).Possession
}

func TestRotation(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	org2 := c.registerOrg("County Lab")
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	pat := c.registerPatient()

	// The practitioner rotates its own key: the id stays, the key changes.
	doc2 := rotated(t, doc)
	res := c.mustBlock(c.sign(doc, rotation(doc.ID, doc2)))
	if ev := res.TxResults[0].Events; len(ev) != 1 || ev[0].Type != "identity.rotate" || ev[0].Attributes[0].Value != doc.ID {
		t.Fatalf("rotation events %v", ev)
	}
	a := c.actor(doc.ID)
	if a.ID != doc.ID || !bytes.Equal(a.SignKey, doc2.SignPublic()) || !bytes.Equal(a.HPKEKey, doc2.HPKEPublic()) || a.KeyVersion != 2 {
		t.Fatalf("after rotation %+v", a)
	}
	// The old key no longer signs for it; the new one does.
	c.expectRejected(c.signAt(doc, c.nonces[doc.ID]+1, &tx.RevokeActor{Actor: pat.ID}), tx.CodeBadSignature)
	doc3 := rotated(t, doc)
	c.mustBlock(c.sign(doc2, rotation(doc.ID, doc3)))

	// Its organization recovers a lost key.
	doc4 := rotated(t, doc)
	c.mustBlock(c.sign(org, rotation(doc.ID, doc4)))
	c.expectRejected(c.signAt(doc3, c.nonces[doc.ID]+1, rotation(doc.ID, rotated(t, doc))), tx.CodeBadSignature)
	if a := c.actor(doc.ID); a.KeyVersion != 4 || !bytes.Equal(a.SignKey, doc4.SignPublic()) {
		t.Fatalf("after sponsor rotation: version %d", a.KeyVersion)
	}

	// A stranger organization, a patient, or the practitioner against its
	// organization may not.
	c.expectMsgRejected(c.sign(org2, rotation(doc.ID, rotated(t, doc))), tx.CodeUnauthorized)
	c.expectMsgRejected(c.sign(pat, rotation(doc.ID, rotated(t, doc))), tx.CodeUnauthorized)
	c.expectMsgRejected(c.sign(doc4, rotation(org.ID, rotated(t, org))), tx.CodeUnauthorized)
	// Rotating to the current key is refused, as is an actor that does not exist.
	c.expectMsgRejected(c.sign(doc4, rotation(doc.ID, doc4)), tx.CodeInvalid)
	c.expectMsgRejected(c.sign(org, rotation("ccnobodyatall", rotated(t, doc))), tx.CodeNotFound)
	// A rotation's proof of possession is bound to its actor.
	stolen := rotation(pat.ID, doc4)
	stolen.Actor = doc.ID
	c.expectRejected(c.signAt(org, c.nonces[org.ID]+1, stolen), tx.CodeBadSignature)

	// The patient's first key cannot act after rotation, not even through
	// a registration of itself (which would otherwise look like a fresh
	// self-registration signed by that key).
	pat2 := rotated(t, pat)
	c.mustBlock(c.sign(pat, rotation(pat.ID, pat2)))
	c.expectRejected(c.signAt(pat, c.nonces[pat.ID]+1, reg(tx.KindPatient, "", "", pat)), tx.CodeAlreadyExists)
	c.expectRejected(c.signAt(pat, c.nonces[pat.ID]+1, &tx.RevokeActor{Actor: pat.ID}), tx.CodeBadSignature)
	c.mustBlock(c.sign(pat2, &tx.RevokeActor{Actor: pat.ID}))
}

// TestSignatureCacheAcrossRotation checks that a signature remembered from
// CheckTx or ProcessProposal under key K never vouches for a transaction
// once a rotation earlier in the same block has replaced K.
func TestSignatureCacheAcrossRotation(t *testing.T) {
	for _, path := range []string{"CheckTx", "ProcessProposal"} {
		t.Run(path, func(t *testing.T) {
			c := newChain(t)
			org := c.registerOrg("General Hospital")
			doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
			k2 := rotated(t, doc)

			// stale is signed by doc's current key K and would succeed on
			// its own: doc moves itself to a third key.
			k3 := rotated(t, doc)
			stale := c.signAt(doc, 1, rotation(doc.ID, k3))
			rot := c.sign(org, rotation(doc.ID, k2))
			switch path {
			case "CheckTx":
				// The order a mempool would see them in: stale first, so
				// it verifies under K against the check state.
				for _, raw := range [][]byte{stale, rot} {
					if res := c.check(raw); res.Code != 0 {
						t.Fatalf("CheckTx: %s %s", tx.Code(res.Code), res.Log)
					}
				}
			case "ProcessProposal":
				res, err := c.app.ProcessProposal(ctx, &abci.RequestProcessProposal{Height: c.height + 1, Txs: [][]byte{rot, stale}})
				if err != nil || res.Status != abci.ResponseProcessProposal_ACCEPT {
					t.Fatalf("ProcessProposal = %v, %v", res, err)
				}
			}
			// The verification under K is remembered ...
			v := c.app.checked.get(tx.Hash(stale))
			if v == nil || !v.verifiedUnder(doc.SignPublic()) {
				t.Fatal("the signature was not remembered; this test would prove nothing")
			}
			// ... but the block rotates K away before stale runs.
			res := c.block(rot, stale)
			if got := codes(res); got != "ok,bad_signature" {
				t.Fatalf("block results %s, want ok,bad_signature", got)
			}
			if a := c.actor(doc.ID); !bytes.Equal(a.SignKey, k2.SignPublic()) || a.KeyVersion != 2 {
				t.Fatalf("after the block the key is %x (version %d), want the sponsor's rotation only", a.SignKey, a.KeyVersion)
			}
			// stale did not spend doc's nonce 1; the new key can use it.
			c.mustBlock(c.signAt(k2, 1, &tx.RevokeActor{Actor: doc.ID}))
		})
	}

	t.Run("new key in the same block", func(t *testing.T) {
		// The converse: a transaction signed by the key a rotation earlier in
		// the block installs fails against committed state, so ProcessProposal
		// must not reject the block for it, and FinalizeBlock accepts it.
		c := newChain(t)
		org := c.registerOrg("General Hospital")
		doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
		k2 := rotated(t, doc)
		rot := c.sign(doc, rotation(doc.ID, k2))
		fresh := c.sign(k2, &tx.RevokeActor{Actor: doc.ID})
		res, err := c.app.ProcessProposal(ctx, &abci.RequestProcessProposal{Height: c.height + 1, Txs: [][]byte{rot, fresh}})
		if err != nil || res.Status != abci.ResponseProcessProposal_ACCEPT {
			t.Fatalf("ProcessProposal = %v, %v", res, err)
		}
		if got := codes(c.block(rot, fresh)); got != "ok,ok" {
			t.Fatalf("block results %s", got)
		}
		if !c.actor(doc.ID).Revoked {
			t.Fatal("the transaction signed with the new key did not apply")
		}
	})
}

// TestSignatureCacheIsConsulted shows that FinalizeBlock really does trust a
// remembered verification (so the rotation test above tests something), and
// that the memory is dropped once the transaction has run in a block.
func TestSignatureCacheIsConsulted(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	doc := c.registerMember(org, tx.KindPractitioner, "Dr. Ng")
	bad := tx.Build(testChain, doc.ID, 1, &tx.RevokeActor{Actor: doc.ID}, newKey(t).Sign)
	v, err := c.app.validate(bad)
	if err != nil {
		t.Fatal(err)
	}
	v.markVerified(doc.SignPublic()) // as if a verification had succeeded
	if got := codes(c.block(bad)); got != "ok" {
		t.Fatalf("FinalizeBlock ignored the remembered verification: %s", got)
	}
	if c.app.checked.get(tx.Hash(bad)) != nil {
		t.Fatal("a transaction executed in a block is still remembered")
	}
}

func TestFailedTransactionNonce(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	n := c.nonces[org.ID] + 1

	// In CheckTx a failing transaction keeps nothing: the same nonce is
	// still free for a good transaction.
	bad := c.signAt(org, n, reg(tx.KindOrganization, "Subsidiary", "", newKey(t)))
	good := c.signAt(org, n, reg(tx.KindPractitioner, "Dr. Ng", org.ID, newKey(t)))
	if res := c.check(bad); tx.Code(res.Code) != tx.CodeUnauthorized {
		t.Fatalf("CheckTx(bad) = %s", tx.Code(res.Code))
	}
	if res := c.check(good); res.Code != 0 {
		t.Fatalf("CheckTx(good) after a failed one with the same nonce = %s %s", tx.Code(res.Code), res.Log)
	}

	// In a block the failing transaction spends its nonce, so neither it nor
	// anything else with that nonce can run afterwards. (An empty block
	// first, so the mempool's view forgets good.)
	c.mustBlock()
	c.nonces[org.ID] = n
	c.expectMsgRejected(bad, tx.CodeUnauthorized)
	c.expectRejected(bad, tx.CodeNonceReplayed)
	c.expectRejected(good, tx.CodeNonceReplayed)
	c.mustBlock(c.sign(org, reg(tx.KindPractitioner, "Dr. Ng", org.ID, newKey(t))))
}

func TestCheckTxSeesPendingNonces(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	drA := newKey(t)
	t1 := c.sign(org, reg(tx.KindPractitioner, "Dr. A", org.ID, drA))
	t2 := c.sign(org, reg(tx.KindPractitioner, "Dr. B", org.ID, newKey(t)))
	n2 := c.nonces[org.ID]

	for i, raw := range [][]byte{t1, t2} {
		if res := c.check(raw); res.Code != 0 {
			t.Fatalf("CheckTx(t%d) = %s %s", i+1, tx.Code(res.Code), res.Log)
		}
	}
	cases := []struct {
		name string
		raw  []byte
		want tx.Code
	}{
		{"t1 again", t1, tx.CodeNonceReplayed},
		{"another tx with t2's nonce", c.signAt(org, n2, reg(tx.KindPractitioner, "Dr. C", org.ID, newKey(t))), tx.CodeNonceReplayed},
		{"a gap after t2", c.signAt(org, n2+2, reg(tx.KindPractitioner, "Dr. D", org.ID, newKey(t))), tx.CodeNonceGap},
		// t1's registration is pending, so registering the same key again
		// already conflicts in the mempool's view.
		{"t1's practitioner again", c.signAt(org, n2+1, reg(tx.KindPractitioner, "Dr. A", org.ID, drA)), tx.CodeAlreadyExists},
	}
	for _, tc := range cases {
		if res := c.check(tc.raw); tx.Code(res.Code) != tc.want {
			t.Errorf("%s: CheckTx = %s, want %s", tc.name, tx.Code(res.Code), tc.want)
		}
	}
	if got, ok := c.committed()[nonceKey(org.ID)]; ok {
		t.Fatalf("CheckTx wrote to committed state: nonce %s", got)
	}

	// A block without them commits; the mempool's view starts again from
	// committed state, where t1 has not happened.
	c.mustBlock()
	if res := c.check(t2); tx.Code(res.Code) != tx.CodeNonceGap {
		t.Fatalf("after Commit, CheckTx(t2) = %s; the check state was not reset", tx.Code(res.Code))
	}
	for _, raw := range [][]byte{t1, t2} {
		if res := c.check(raw); res.Code != 0 {
			t.Fatalf("recheck after Commit = %s %s", tx.Code(res.Code), res.Log)
		}
	}
	c.mustBlock(t1, t2)
	if got := c.committed()[nonceKey(org.ID)]; got != "02" {
		t.Fatalf("after the block, nonce %s, want 02", got)
	}
}

func TestProcessProposal(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	next := c.nonces[org.ID] + 1
	good := c.signAt(org, next, reg(tx.KindPractitioner, "Dr. Ng", org.ID, newKey(t)))
	patient := newKey(t)
	cases := []struct {
		name string
		txs  [][]byte
		want abci.ResponseProcessProposal_ProposalStatus
	}{
		{"empty block", nil, abci.ResponseProcessProposal_ACCEPT},
		{"good transactions", [][]byte{good, c.signAt(patient, 1, reg(tx.KindPatient, "", "", patient))}, abci.ResponseProcessProposal_ACCEPT},
		// Faults only state can judge are FinalizeBlock's to report; a
		// correct proposer may include them.
		{"bad signature", [][]byte{tx.Build(testChain, org.ID, next, &tx.RevokeActor{Actor: org.ID}, patient.Sign)}, abci.ResponseProcessProposal_ACCEPT},
		{"nonce gap", [][]byte{c.signAt(org, next+5, &tx.RevokeActor{Actor: org.ID})}, abci.ResponseProcessProposal_ACCEPT},
		{"unknown signer", [][]byte{c.signAt(patient, 2, &tx.RevokeActor{Actor: org.ID})}, abci.ResponseProcessProposal_ACCEPT},
		// Stateless faults mean the proposer is broken or malicious.
		{"malformed", [][]byte{good, []byte("not a transaction")}, abci.ResponseProcessProposal_REJECT},
		{"trailing byte", [][]byte{append(bytes.Clone(good), 0)}, abci.ResponseProcessProposal_REJECT},
		{"wrong chain", [][]byte{tx.Build("other", org.ID, next, &tx.RevokeActor{Actor: org.ID}, org.Sign)}, abci.ResponseProcessProposal_REJECT},
		{"oversize", [][]byte{c.signAt(org, next, &tx.RevokeActor{Actor: org.ID, Reason: strings.Repeat("x", tx.MaxTxBytes)})}, abci.ResponseProcessProposal_REJECT},
		{"invalid message", [][]byte{good, c.signAt(patient, 1, reg(tx.KindPatient, "Named", "", patient))}, abci.ResponseProcessProposal_REJECT},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, hash := c.committed(), c.store.WorkingHash()
			res, err := c.app.ProcessProposal(ctx, &abci.RequestProcessProposal{Height: c.height + 1, Txs: tc.txs, ProposerAddress: make([]byte, 20)})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.want {
				t.Fatalf("status %s, want %s", res.Status, tc.want)
			}
			if !bytes.Equal(c.store.WorkingHash(), hash) || len(diffKeys(before, c.committed())) != 0 {
				t.Fatal("ProcessProposal changed state")
			}
		})
	}
	// The accepted good block then executes as proposed.
	if got := codes(c.block(good)); got != "ok" {
		t.Fatalf("block: %s", got)
	}
}

func TestPrepareProposal(t *testing.T) {
	c := newChain(t)
	org := c.registerOrg("General Hospital")
	a := c.sign(org, reg(tx.KindPractitioner, "Dr. A", org.ID, newKey(t)))
	b := c.sign(org, reg(tx.KindPractitioner, "Dr. B", org.ID, newKey(t)))
	junk := []byte("junk")
	wrongChain := tx.Build("other", org.ID, 9, &tx.RevokeActor{Actor: org.ID}, org.Sign)
	gap := c.signAt(org, 99, &tx.RevokeActor{Actor: org.ID})

	res, err := c.app.PrepareProposal(ctx, &abci.RequestPrepareProposal{MaxTxBytes: 1 << 20, Txs: [][]byte{a, junk, wrongChain, b, gap}})
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]byte{a, b, gap}; !equalTxs(res.Txs, want) {
		t.Fatalf("proposal keeps %d txs, want a, b and gap in mempool order", len(res.Txs))
	}
	res, err = c.app.PrepareProposal(ctx, &abci.RequestPrepareProposal{MaxTxBytes: int64(len(a) + len(b) - 1), Txs: [][]byte{a, b}})
	if err != nil {
		t.Fatal(err)
	}
	if !equalTxs(res.Txs, [][]byte{a}) {
		t.Fatalf("proposal over the byte limit: %d txs", len(res.Txs))
	}
	// A proposal this node prepares passes its own ProcessProposal.
	pp, err := c.app.ProcessProposal(ctx, &abci.RequestProcessProposal{Height: c.height + 1, Txs: [][]byte{a, b, gap}})
	if err != nil || pp.Status != abci.ResponseProcessProposal_ACCEPT {
		t.Fatalf("ProcessProposal of a prepared proposal: %v %v", pp, err)
	}
}

func equalTxs(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func TestInfo(t *testing.T) {
	app := New(testChain, state.OpenMemory(), nil, nil)
	info, err := app.Info(ctx, &abci.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	if info.LastBlockHeight != 0 || info.LastBlockAppHash != nil || info.AppVersion != AppVersion {
		t.Fatalf("Info of a new app: %+v", info)
	}

	c := newChain(t)
	hashes := map[string]bool{c.appHash(): true}
	for i := 0; i < 3; i++ {
		c.registerOrg("Org")
		if c.info().LastBlockHeight != c.height {
			t.Fatalf("Info height %d, want %d", c.info().LastBlockHeight, c.height)
		}
		if h := c.appHash(); hashes[h] {
			t.Fatalf("app hash %s repeated after a state change", h)
		} else {
			hashes[h] = true
		}
	}
	// An empty block leaves the app hash alone.
	h := c.appHash()
	c.mustBlock()
	if c.appHash() != h || c.info().LastBlockHeight != c.height {
		t.Fatal("an empty block changed the app hash")
	}
}

func TestInitChainErrors(t *testing.T) {
	admin := newKey(t)
	good := genesisJSON(t, admin)
	badKey, _ := json.Marshal(GenesisState{Identity: identity.Genesis{Admin: identity.GenesisKeys{SignKey: []byte{1, 2, 3}, HPKEKey: admin.HPKEPublic()}}})
	cases := []struct {
		name string
		req  *abci.RequestInitChain
	}{
		{"wrong chain id", &abci.RequestInitChain{ChainId: "other", InitialHeight: 1, AppStateBytes: good}},
		{"initial height 5", &abci.RequestInitChain{ChainId: testChain, InitialHeight: 5, AppStateBytes: good}},
		{"app state not JSON", &abci.RequestInitChain{ChainId: testChain, InitialHeight: 1, AppStateBytes: []byte("{")}},
		{"no admin", &abci.RequestInitChain{ChainId: testChain, InitialHeight: 1, AppStateBytes: []byte("{}")}},
		{"bad admin key", &abci.RequestInitChain{ChainId: testChain, InitialHeight: 1, AppStateBytes: badKey}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := state.OpenMemory()
			app := New(testChain, store, nil, nil)
			if _, err := app.InitChain(ctx, tc.req); err == nil {
				t.Fatal("InitChain accepted a bad genesis")
			}
		})
	}
}

func (c *chain) recheck(raw []byte) *abci.ResponseCheckTx {
	c.t.Helper()
	res, err := c.app.CheckTx(ctx, &abci.RequestCheckTx{Tx: raw, Type: abci.CheckTxType_Recheck})
	if err != nil {
		c.t.Fatalf("CheckTx (recheck) returned an error: %v", err)
	}
	return res
}

// TestRecheck follows the mempool through a block that did not include its
// transactions. CometBFT rechecks what is left, in order, against the new
// state; a transaction that depends on an earlier pending one (an
// organization's first act after its registration, a signature by a key a
// pending rotation installs) must survive that, or it is evicted and lost.
func TestRecheck(t *testing.T) {
	c := newChain(t)
	org := newKey(t)
	doc := c.registerPatient()
	doc2 := rotated(t, doc)

	pending := [][]byte{
		c.sign(c.admin, reg(tx.KindOrganization, "General Hospital", "", org)),
		c.sign(org, reg(tx.KindPractitioner, "Dr. Ng", org.ID, newKey(t))),
		c.sign(doc, rotation(doc.ID, doc2)),
		c.sign(doc2, rotation(doc.ID, rotated(t, doc))),
	}
	for i, raw := range pending {
		if res := c.check(raw); res.Code != 0 {
			t.Fatalf("CheckTx(%d) = %s %s", i, tx.Code(res.Code), res.Log)
		}
	}
	c.mustBlock() // a block proposed before they arrived
	for i, raw := range pending {
		if res := c.recheck(raw); res.Code != 0 {
			t.Fatalf("recheck of pending tx %d after an unrelated block: %s %s", i, tx.Code(res.Code), res.Log)
		}
	}
	// The next block takes the first two; the rest wait, and pass recheck.
	c.mustBlock(pending[:2]...)
	for i, raw := range pending[:2] {
		if res := c.recheck(raw); tx.Code(res.Code) != tx.CodeNonceReplayed {
			t.Fatalf("recheck of committed tx %d: %s, want nonce_replayed (evicted)", i, tx.Code(res.Code))
		}
	}
	for i, raw := range pending[2:] {
		if res := c.recheck(raw); res.Code != 0 {
			t.Fatalf("recheck of waiting tx %d: %s %s", i+2, tx.Code(res.Code), res.Log)
		}
	}
	c.mustBlock(pending[2:]...)

	// A signer revoked by a block loses its waiting transactions.
	waiting := c.sign(org, reg(tx.KindApplication, "EHR", org.ID, newKey(t)))
	if res := c.check(waiting); res.Code != 0 {
		t.Fatalf("CheckTx = %s", tx.Code(res.Code))
	}
	c.mustBlock(c.sign(c.admin, &tx.RevokeActor{Actor: org.ID}))
	if res := c.recheck(waiting); tx.Code(res.Code) != tx.CodeSignerRevoked {
		t.Fatalf("recheck after the signer's revocation: %s", tx.Code(res.Code))
	}
}
