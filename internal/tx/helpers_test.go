package tx_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"flag"
	"reflect"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/tx"
)

const testChain = "carechain-test"

// update rewrites testdata/envelopes.json and the result-code table in
// docs/transactions.md from the code:
//
//	go test ./internal/tx -run 'TestEnvelopeVectors|TestTransactionsDoc' -update
var update = flag.Bool("update", false, "rewrite golden vectors and the code table in docs/transactions.md")

// testKey is a deterministic actor key: Ed25519 signatures are
// deterministic and so is HPKE's DeriveKeyPair, so every encoding built from
// these keys is reproducible byte for byte.
type testKey struct {
	sign ed25519.PrivateKey
	hpke []byte // HPKE public key
}

func deterministicKey(t testing.TB, label string) testKey {
	t.Helper()
	seed := sha256.Sum256([]byte("carechain/test-key/sign/" + label))
	ikm := sha256.Sum256([]byte("carechain/test-key/hpke/" + label))
	priv, err := tx.HPKE.DeriveKeyPair(ikm[:])
	if err != nil {
		t.Fatalf("derive HPKE key %q: %v", label, err)
	}
	return testKey{sign: ed25519.NewKeyFromSeed(seed[:]), hpke: priv.PublicKey().Bytes()}
}

func (k testKey) pub() ed25519.PublicKey { return k.sign.Public().(ed25519.PublicKey) }
func (k testKey) id() string             { return tx.ActorID(k.pub()) }

// sampleMsgs returns one valid message of every type, each passing
// ValidateBasic on testChain.
func sampleMsgs(t testing.TB) map[string]tx.Msg {
	t.Helper()
	patient := deterministicKey(t, "patient")
	org := deterministicKey(t, "org")
	doc := deterministicKey(t, "doctor")
	doc2 := deterministicKey(t, "doctor-2")
	return map[string]tx.Msg{
		"register-patient":      tx.NewRegistration(testChain, tx.KindPatient, "", "", patient.sign, patient.hpke),
		"register-organization": tx.NewRegistration(testChain, tx.KindOrganization, "St. Elsewhere", "", org.sign, org.hpke),
		"register-practitioner": tx.NewRegistration(testChain, tx.KindPractitioner, "Dr. Ünal", org.id(), doc.sign, doc.hpke),
		"rotate":                tx.NewRotation(testChain, doc.id(), doc2.sign, doc2.hpke),
		"revoke":                &tx.RevokeActor{Actor: doc.id(), Reason: "left the practice"},
		"revoke-no-reason":      &tx.RevokeActor{Actor: doc.id()},
		"grant-consent":         &tx.GrantConsent{Patient: patient.id(), Consent: consent.Encode(sampleConsent(patient.id(), ""))},
		"update-consent":        &tx.UpdateConsent{Patient: patient.id(), Consent: consent.Encode(sampleConsent(patient.id(), "csupdated"))},
		"revoke-consent":        &tx.RevokeConsent{Patient: patient.id(), ConsentID: "csrevoked"},
		"set-delegate":          &tx.SetDelegate{Delegation: consent.EncodeDelegation(sampleDelegation(patient.id(), doc.id()))},
		"remove-delegate":       &tx.RemoveDelegate{Patient: patient.id(), Delegate: doc.id()},
		"opt-out":               &tx.SetBreakGlassOptOut{Patient: patient.id(), OptOut: true},
		"opt-out-undo":          &tx.SetBreakGlassOptOut{Patient: patient.id()},
		"put-record-version": &tx.PutRecord{Patient: patient.id(), RecordID: "rcexample", Version: 2, ResourceType: "Observation",
			Labels: []string{"HIV", "PSY"}, Date: 1767312000, Size: 1024, BlobHash: bytes.Repeat([]byte{7}, 32),
			Anchor: []byte{1, 2, 3}, Custodians: bytes.Repeat([]byte{9}, 32)},
		"access-records": &tx.AccessRecords{Patient: patient.id(), Purpose: "TREAT",
			Records: []tx.RecordRef{{ID: "rca", Version: 0}, {ID: "rcb", Version: 3}}},
		"access-break-glass": &tx.AccessRecords{Patient: patient.id(), Purpose: "ETREAT", BreakGlass: true, Records: []tx.RecordRef{{ID: "rca"}}},
		"add-validator":      &tx.SetValidator{Name: "node4", PubKey: bytes.Repeat([]byte{4}, 32), Power: 10, HPKEKey: org.hpke, API: "https://node4.example.org"},
		"remove-validator":   &tx.SetValidator{PubKey: bytes.Repeat([]byte{4}, 32)},
		"set-roles":          &tx.SetRoles{Actor: doc.id(), Roles: []string{"emergency", "practitioner"}},
		"clear-roles":        &tx.SetRoles{Actor: doc.id()},
		"query-records":      &tx.QueryRecords{Patient: patient.id()},
		"query-one-record":   &tx.QueryRecords{Patient: patient.id(), RecordID: "rcexample"},
		"record-refusal":     &tx.RecordRefusal{Actor: doc.id(), Code: "insufficient_scope"},
		"record-unattributed-refusals": &tx.RecordUnattributedRefusals{Entries: []tx.RefusalTally{
			{Code: "assertion_bad_signature", Claimed: doc.id(), Count: 2}, {Code: "token_missing", Count: 41},
			{Code: "token_missing", Claimed: "not-a-ledger-id", Count: 1}}},
		"erase-record":             &tx.EraseRecord{RecordID: "rcexample", Reason: "entered in error"},
		"query-consents":           &tx.QueryConsents{Patient: patient.id()},
		"query-one-consent":        &tx.QueryConsents{Patient: patient.id(), ConsentID: "csgranted"},
		"query-decision":           &tx.QueryConsents{Patient: patient.id(), Requester: doc.id()},
		"query-consent-for-member": &tx.QueryConsents{Patient: patient.id(), ConsentID: "csgranted", OnBehalfOf: doc.id()},
		"put-record-for-member": &tx.PutRecord{Patient: patient.id(), RecordID: "rcexample", Version: 2, ResourceType: "Observation",
			Size: 10, BlobHash: bytes.Repeat([]byte{7}, 32), Anchor: []byte{1}, Custodians: bytes.Repeat([]byte{9}, 32), OnBehalfOf: doc.id()},
		"access-records-for-member": &tx.AccessRecords{Patient: patient.id(), Purpose: "TREAT", Records: []tx.RecordRef{{ID: "rca"}}, OnBehalfOf: doc.id()},
		"erase-record-for-member":   &tx.EraseRecord{RecordID: "rcexample", OnBehalfOf: doc.id()},
		"put-directory-version": &tx.PutDirectory{ID: "drexample", Version: 2, ResourceType: "Organization",
			Resource: []byte(`{"resourceType":"Organization","name":"General"}`)},
		"put-directory-for-member": &tx.PutDirectory{ID: "drexample", Version: 3, ResourceType: "Practitioner",
			Resource: []byte(`{"resourceType":"Practitioner"}`), OnBehalfOf: doc.id()},
		"write-batch": &tx.WriteBatch{Entries: []tx.Msg{
			&tx.PutRecord{Patient: patient.id(), RecordID: "rcexample", Version: 2, ResourceType: "Observation",
				Size: 10, BlobHash: bytes.Repeat([]byte{7}, 32), Anchor: []byte{1}, Custodians: bytes.Repeat([]byte{9}, 32), OnBehalfOf: doc.id()},
			&tx.PutDirectory{ID: "drexample", Version: 2, ResourceType: "Organization", Resource: []byte(`{"resourceType":"Organization"}`)},
		}},
	}
}

// sampleConsent is an active consent of patient with the given id (empty
// for a grant) and no grantor, so that it is valid whoever signs it: a
// permit for an organization's treatment reads of observations, except
// psychiatric ones, under a condition.
func sampleConsent(patient, id string) consent.Consent {
	return consent.Consent{
		ID: id, Status: consent.StatusActive, Patient: patient,
		DateTime: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Provision: consent.Provision{
			Type:      consent.Permit,
			Period:    consent.Period{End: time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
			Actors:    []consent.Actor{consent.Organization("ccorganization")},
			Actions:   []consent.Action{consent.ActionAccess},
			Classes:   []string{"Observation"},
			Purposes:  []consent.Purpose{consent.PurposeTreatment},
			Condition: "block.height > 0",
			Provisions: []consent.Provision{
				{Type: consent.Deny, Labels: []string{"PSY"}},
			},
		},
	}
}

func sampleDelegation(patient, delegate string) consent.Delegation {
	return consent.Delegation{Patient: patient, Delegate: delegate,
		Operations: []consent.Operation{consent.OpGrant, consent.OpRevoke},
		Purposes:   []consent.Purpose{consent.PurposeTreatment},
		Period:     consent.Period{Start: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}}
}

// envelopeFor returns an unsigned envelope carrying m from signer, as
// ValidateBasic sees it; an empty signer means the id of the key m
// registers.
func envelopeFor(m tx.Msg, signer string) *tx.Tx {
	if r, ok := m.(*tx.RegisterActor); ok && signer == "" {
		signer = tx.ActorID(r.SignKey)
	}
	return &tx.Tx{ChainID: testChain, Signer: signer, Nonce: 1, Type: m.Type(), Body: m.Encode()}
}

// naturalEnvelope is envelopeFor with the signer the rules expect: the new
// actor for a self-registration, a sponsor for anything else.
func naturalEnvelope(m tx.Msg) *tx.Tx {
	if r, ok := m.(*tx.RegisterActor); ok && tx.SelfRegistered(r.Kind) {
		return envelopeFor(m, "")
	}
	return envelopeFor(m, "ccsponsor")
}

// sameMsg compares two structs field by field, treating a nil and an empty
// byte slice as equal: both encode the same way.
func sameMsg(a, b any) bool {
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	if va.Type() != vb.Type() {
		return false
	}
	if va.Kind() == reflect.Pointer {
		va, vb = va.Elem(), vb.Elem()
	}
	for i := 0; i < va.NumField(); i++ {
		fa, fb := va.Field(i), vb.Field(i)
		if fa.Type() == reflect.TypeOf([]byte(nil)) {
			if !bytes.Equal(fa.Bytes(), fb.Bytes()) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(fa.Interface(), fb.Interface()) {
			return false
		}
	}
	return true
}

// withPossessionLen re-encodes a registration with a possession field of n
// bytes, which the decoder must refuse unless n is 0 or 64.
func withPossessionLen(m tx.Msg, n int) []byte {
	r := *m.(*tx.RegisterActor)
	w := codec.NewWriter(0)
	w.Byte(byte(r.Kind))
	w.String(r.Name)
	w.String(r.Org)
	w.Fixed(r.SignKey)
	w.BytesField(r.HPKEKey)
	w.BytesField(make([]byte, n))
	return w.Bytes()
}
