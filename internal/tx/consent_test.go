package tx_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/tx"
)

// TestConsentIDGolden pins the consent id derivation: ids are stored on the
// ledger, printed to users and predicted by clients.
func TestConsentIDGolden(t *testing.T) {
	// Cross-checked with an independent implementation:
	//   python3 -c "import hashlib,base64; d=b'carechain/consent-id/v1\x00'+bytes([26])+b'ccqyd6fl3k6zwxk3feudbwjgd7'+bytes([1]); print('cs'+base64.b32encode(hashlib.sha256(d).digest()[:15]).decode().lower())"
	cases := []struct {
		signer string
		nonce  uint64
		want   string
	}{
		{"ccqyd6fl3k6zwxk3feudbwjgd7", 1, "cszzlpdyc7gl2eo5okrnefuqrm"},
		{"ccqyd6fl3k6zwxk3feudbwjgd7", 2, "csz5u5cuzgp2mqofg5jhdt6eil"},
		{"ccqyd6fl3k6zwxk3feudbwjgd7", 300, "csb5pn6mzleprwzzek5z3ic32m"}, // a two-byte uvarint
		{"", 0, "csfwp6xpsghfyin4xtoyv23dhs"},
	}
	for _, c := range cases {
		got := tx.ConsentID(c.signer, c.nonce)
		if got != c.want {
			t.Errorf("ConsentID(%q, %d) = %q, want %q", c.signer, c.nonce, got, c.want)
		}
		if len(got) != 26 || !consent.IsValidID(got) {
			t.Errorf("consent id %q is not cs + 24 base32 characters", got)
		}
	}
	// The signer is length-prefixed, so moving a digit between signer and
	// nonce changes the id.
	if tx.ConsentID("cca1", 2) == tx.ConsentID("cca", 12) {
		t.Error("signer and nonce are not separated")
	}
}

func TestConsentMsgDecodeRejects(t *testing.T) {
	msgs := sampleMsgs(t)
	patient := deterministicKey(t, "patient").id()
	grant := msgs["grant-consent"].Encode()
	// A consent whose set members are out of order is an encoding, but not
	// the canonical one: the message is malformed.
	purposes := sampleConsent(patient, "")
	purposes.Provision.Purposes = []consent.Purpose{consent.PurposeTreatment, consent.PurposePayment}
	canonical := consent.Encode(purposes)
	unsorted := swapPurposes(t, canonical)
	embedded := func(c []byte) []byte {
		w := codec.NewWriter(0)
		w.String(patient)
		w.BytesField(c)
		return w.Bytes()
	}
	delegationBody := func(d []byte) []byte {
		w := codec.NewWriter(0)
		w.BytesField(d)
		return w.Bytes()
	}
	cases := []struct {
		name string
		typ  tx.Type
		body []byte
	}{
		{"grant empty", tx.TypeGrantConsent, nil},
		{"grant trailing", tx.TypeGrantConsent, append(bytes.Clone(grant), 0)},
		{"grant truncated", tx.TypeGrantConsent, grant[:len(grant)-1]},
		{"grant of garbage", tx.TypeGrantConsent, embedded([]byte{1, 2, 3})},
		{"grant of an empty consent", tx.TypeGrantConsent, embedded(nil)},
		{"grant of a non-canonical consent", tx.TypeGrantConsent, embedded(unsorted)},
		{"update of a non-canonical consent", tx.TypeUpdateConsent, embedded(unsorted)},
		{"grant as revoke", tx.TypeRevokeConsent, grant},
		{"revoke trailing", tx.TypeRevokeConsent, append(msgs["revoke-consent"].Encode(), 0)},
		{"revoke id too long", tx.TypeRevokeConsent, (&tx.RevokeConsent{Patient: patient, ConsentID: strings.Repeat("c", tx.MaxIDLen+1)}).Encode()},
		{"delegation of garbage", tx.TypeSetDelegate, delegationBody([]byte{1, 0})},
		{"delegation empty", tx.TypeSetDelegate, delegationBody(nil)},
		{"remove delegate truncated", tx.TypeRemoveDelegate, msgs["remove-delegate"].Encode()[:5]},
		{"opt-out bool of 2", tx.TypeSetBreakGlassOptOut, append(msgs["opt-out-undo"].Encode()[:len(msgs["opt-out-undo"].Encode())-1], 2)},
		{"opt-out without the flag", tx.TypeSetBreakGlassOptOut, msgs["opt-out"].Encode()[:len(msgs["opt-out"].Encode())-1]},
	}
	if _, err := tx.DecodeMsg(tx.TypeGrantConsent, embedded(canonical)); err != nil {
		t.Fatalf("the canonical form of the consent used below does not decode: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := tx.DecodeMsg(c.typ, c.body)
			if m != nil || tx.CodeOf(err) != tx.CodeMalformed {
				t.Fatalf("DecodeMsg = %v, %v; want malformed", m, err)
			}
		})
	}
}

// swapPurposes returns enc with the root's two purposes in descending
// order: the same consent, written non-canonically.
func swapPurposes(t *testing.T, enc []byte) []byte {
	t.Helper()
	a, b := []byte("\x06HPAYMT\x05TREAT"), []byte("\x05TREAT\x06HPAYMT")
	if bytes.Count(enc, a) != 1 {
		t.Fatal("the purposes are not where this test expects them")
	}
	return bytes.Replace(enc, a, b, 1)
}

func TestConsentValidateBasic(t *testing.T) {
	patient := deterministicKey(t, "patient").id()
	delegate := deterministicKey(t, "doctor").id()
	const signer = "ccsigner"
	with := func(id string, f func(*consent.Consent)) []byte {
		c := sampleConsent(patient, id)
		f(&c)
		return consent.Encode(c)
	}
	grant := func(f func(*consent.Consent)) tx.Msg {
		return &tx.GrantConsent{Patient: patient, Consent: with("", f)}
	}
	update := func(f func(*consent.Consent)) tx.Msg {
		return &tx.UpdateConsent{Patient: patient, Consent: with("csold", f)}
	}
	none := func(*consent.Consent) {}
	delegation := func(f func(*consent.Delegation)) tx.Msg {
		d := sampleDelegation(patient, delegate)
		f(&d)
		return &tx.SetDelegate{Delegation: consent.EncodeDelegation(d)}
	}
	cases := []struct {
		name    string
		msg     tx.Msg
		want    tx.Code
		message string // part of the log a user sees
	}{
		{"grant", grant(none), tx.CodeOK, ""},
		{"grant with the signer as grantor", grant(func(c *consent.Consent) { c.Grantor = signer }), tx.CodeOK, ""},
		{"grant with another grantor", grant(func(c *consent.Consent) { c.Grantor = "ccsomeoneelse" }), tx.CodeInvalid, "grantor is whoever signs"},
		{"grant with an id", &tx.GrantConsent{Patient: patient, Consent: with("csmine", none)}, tx.CodeInvalid, "carries no id"},
		{"grant about another patient", &tx.GrantConsent{Patient: delegate, Consent: with("", none)}, tx.CodeInvalid, "is about patient"},
		{"grant of a draft", grant(func(c *consent.Consent) { c.Status = consent.StatusDraft }), tx.CodeInvalid, "status active, not draft"},
		{"grant of a condition that does not compile", grant(func(c *consent.Consent) { c.Provision.Condition = "request.purpose ==" }),
			tx.CodeInvalid, "provision.condition: ERROR: <input>:1:19: Syntax error"},
		{"grant of a condition with an unknown variable", grant(func(c *consent.Consent) { c.Provision.Condition = "request.nurse == 'x'" }),
			tx.CodeInvalid, "undeclared reference"},
		{"grant of a permit without actor", grant(func(c *consent.Consent) { c.Provision.Actors = nil }), tx.CodeInvalid, "(permit-without-actor)"},
		{"grant of an unknown purpose", grant(func(c *consent.Consent) { c.Provision.Purposes = []consent.Purpose{"SHOPPING"} }), tx.CodeInvalid, "(unknown-purpose)"},
		{"grant with a bad patient id", &tx.GrantConsent{Patient: "a/b", Consent: with("", none)}, tx.CodeInvalid, "not a valid id"},
		{"update", update(none), tx.CodeOK, ""},
		{"update without an id", &tx.UpdateConsent{Patient: patient, Consent: with("", none)}, tx.CodeInvalid, "its id is empty"},
		{"update of a condition that does not compile", update(func(c *consent.Consent) { c.Provision.Provisions[0].Condition = "1 +" }),
			tx.CodeInvalid, "provision.provision[0].condition"},
		{"update marking it inactive", update(func(c *consent.Consent) { c.Status = consent.StatusInactive }), tx.CodeInvalid, "revocation"},
		{"revoke", &tx.RevokeConsent{Patient: patient, ConsentID: "cs1"}, tx.CodeOK, ""},
		{"revoke without id", &tx.RevokeConsent{Patient: patient}, tx.CodeInvalid, "consent id"},
		{"revoke with a bad id", &tx.RevokeConsent{Patient: patient, ConsentID: "cs/1"}, tx.CodeInvalid, "consent id"},
		{"revoke without patient", &tx.RevokeConsent{ConsentID: "cs1"}, tx.CodeInvalid, "patient"},
		{"delegation", delegation(func(*consent.Delegation) {}), tx.CodeOK, ""},
		{"delegation to oneself", delegation(func(d *consent.Delegation) { d.Delegate = patient }), tx.CodeInvalid, "(self-delegation)"},
		{"delegation of an unknown operation", delegation(func(d *consent.Delegation) { d.Operations = []consent.Operation{"erase"} }),
			tx.CodeInvalid, "(unknown-operation)"},
		{"delegation ending before it starts", delegation(func(d *consent.Delegation) { d.Period.End = d.Period.Start.Add(-time.Hour) }),
			tx.CodeInvalid, "(bad-period)"},
		{"remove delegate", &tx.RemoveDelegate{Patient: patient, Delegate: delegate}, tx.CodeOK, ""},
		{"remove oneself as delegate", &tx.RemoveDelegate{Patient: patient, Delegate: patient}, tx.CodeInvalid, "not their own delegate"},
		{"remove delegate without id", &tx.RemoveDelegate{Patient: patient}, tx.CodeInvalid, "delegate"},
		{"opt out", &tx.SetBreakGlassOptOut{Patient: patient, OptOut: true}, tx.CodeOK, ""},
		{"opt out without patient", &tx.SetBreakGlassOptOut{OptOut: true}, tx.CodeInvalid, "patient"},
		// Built in code rather than decoded, a message may carry bytes
		// DecodeMsg would refuse; ValidateBasic refuses them too.
		{"grant of garbage built in code", &tx.GrantConsent{Patient: patient, Consent: []byte{9}}, tx.CodeMalformed, "decode consent"},
		{"delegation of garbage built in code", &tx.SetDelegate{Delegation: []byte{9}}, tx.CodeMalformed, "decode delegation"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := tx.ValidateBasic(testChain, envelopeFor(c.msg, signer), c.msg)
			if got := tx.CodeOf(err); got != c.want {
				t.Fatalf("ValidateBasic code %s, want %s (%v)", got, c.want, err)
			}
			if c.message != "" && !strings.Contains(err.Error(), c.message) {
				t.Fatalf("ValidateBasic says %q; want it to mention %q", err, c.message)
			}
		})
	}
}

// TestGrantedConsent checks what the ledger makes of a grant: the derived
// id and the signer as grantor, whatever the signer wrote.
func TestGrantedConsent(t *testing.T) {
	patient := deterministicKey(t, "patient").id()
	m := &tx.GrantConsent{Patient: patient, Consent: consent.Encode(sampleConsent(patient, ""))}
	c, err := tx.GrantedConsent("ccsigner", 7, m)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != tx.ConsentID("ccsigner", 7) || c.Grantor != "ccsigner" || c.Patient != patient {
		t.Fatalf("granted consent id %q grantor %q patient %q", c.ID, c.Grantor, c.Patient)
	}
	if err := consent.Validate(c); err != nil {
		t.Fatalf("the granted consent does not validate: %v", err)
	}
}

func TestQueryConsentsValidation(t *testing.T) {
	patient := deterministicKey(t, "patient").id()
	doc := deterministicKey(t, "doctor").id()
	for _, c := range []struct {
		name string
		m    *tx.QueryConsents
		ok   bool
	}{
		{"list", &tx.QueryConsents{Patient: patient}, true},
		{"one consent", &tx.QueryConsents{Patient: patient, ConsentID: "csgranted"}, true},
		{"decision", &tx.QueryConsents{Patient: patient, Requester: doc}, true},
		{"both", &tx.QueryConsents{Patient: patient, ConsentID: "csgranted", Requester: doc}, false},
		{"no patient", &tx.QueryConsents{}, false},
		{"bad consent id", &tx.QueryConsents{Patient: patient, ConsentID: "cs granted"}, false},
		{"bad requester", &tx.QueryConsents{Patient: patient, Requester: "dr\x00"}, false},
	} {
		err := tx.ValidateBasic(testChain, naturalEnvelope(c.m), c.m)
		if c.ok != (err == nil) || (err != nil && tx.CodeOf(err) != tx.CodeInvalid) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
