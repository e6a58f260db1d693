package tx_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/tx"
)

func TestMessageRoundTrip(t *testing.T) {
	for name, m := range sampleMsgs(t) {
		t.Run(name, func(t *testing.T) {
			enc := m.Encode()
			got, err := tx.DecodeMsg(m.Type(), enc)
			if err != nil {
				t.Fatalf("DecodeMsg: %v", err)
			}
			if !sameMsg(got, m) {
				t.Fatalf("decoded %#v, want %#v", got, m)
			}
			if re := got.Encode(); !bytes.Equal(re, enc) {
				t.Fatalf("decode-then-encode changed the bytes:\n got %x\nwant %x", re, enc)
			}
			if err := tx.ValidateBasic(testChain, naturalEnvelope(got), got); err != nil {
				t.Fatalf("sample message fails ValidateBasic: %v", err)
			}
		})
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	signer := deterministicKey(t, "signer")
	for name, m := range sampleMsgs(t) {
		t.Run(name, func(t *testing.T) {
			raw := tx.Build(testChain, signer.id(), 7, m, signer.sign)
			got, err := tx.Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			want := &tx.Tx{ChainID: testChain, Signer: signer.id(), Nonce: 7, Type: m.Type(), Body: m.Encode(), Signature: got.Signature}
			if !sameMsg(got, want) {
				t.Fatalf("decoded %+v, want %+v", got, want)
			}
			if !bytes.Equal(got.Encode(), raw) {
				t.Fatal("decode-then-encode changed the bytes")
			}
			if !got.Verify(signer.pub()) {
				t.Fatal("signature made by Build does not verify")
			}
			if got.Verify(deterministicKey(t, "someone else").pub()) {
				t.Fatal("signature verifies under a different key")
			}
			if tx.Hash(raw) == tx.Hash(append(bytes.Clone(raw), 0)) {
				t.Fatal("hash ignores a trailing byte")
			}
		})
	}
}

// TestSignBytesSeparateEveryField checks that the signature commits to every
// envelope field, so a signed transaction cannot be moved to another chain,
// signer, nonce or message.
func TestSignBytesSeparateEveryField(t *testing.T) {
	k := deterministicKey(t, "signer")
	base := func() *tx.Tx {
		m := &tx.RevokeActor{Actor: "ccabc", Reason: "r"}
		tr := &tx.Tx{ChainID: testChain, Signer: k.id(), Nonce: 3, Type: m.Type(), Body: m.Encode()}
		tr.Sign(k.sign)
		return tr
	}
	if !base().Verify(k.pub()) {
		t.Fatal("unmodified transaction does not verify")
	}
	mutations := map[string]func(*tx.Tx){
		"chain id":     func(tr *tx.Tx) { tr.ChainID = "other-chain" },
		"signer":       func(tr *tx.Tx) { tr.Signer = "ccother" },
		"nonce":        func(tr *tx.Tx) { tr.Nonce = 4 },
		"type":         func(tr *tx.Tx) { tr.Type = tx.TypeRotateKey },
		"body":         func(tr *tx.Tx) { tr.Body = append(bytes.Clone(tr.Body), 'x') },
		"signature":    func(tr *tx.Tx) { tr.Signature = bytes.Clone(tr.Signature); tr.Signature[0] ^= 1 },
		"short sig":    func(tr *tx.Tx) { tr.Signature = tr.Signature[:63] },
		"no signature": func(tr *tx.Tx) { tr.Signature = nil },
	}
	for name, mutate := range mutations {
		tr := base()
		mutate(tr)
		if tr.Verify(k.pub()) {
			t.Errorf("changing the %s kept the signature valid", name)
		}
	}
	tr := base()
	if tr.Verify(k.pub()[:31]) {
		t.Error("a truncated public key verified")
	}

	sb := tr.SignBytes()
	if !bytes.HasPrefix(sb, []byte("carechain/tx/v1\x00")) {
		t.Fatalf("sign bytes lack the domain prefix: %q", sb[:20])
	}
	if !bytes.Equal(sb[len("carechain/tx/v1\x00"):], tr.Encode()[:len(tr.Encode())-ed25519.SignatureSize]) {
		t.Fatal("sign bytes are not the domain prefix followed by the unsigned envelope")
	}
	// A signature over the bare envelope (no domain) must not be accepted:
	// the same key may sign other carechain structures.
	tr.Signature = ed25519.Sign(k.sign, sb[len("carechain/tx/v1\x00"):])
	if tr.Verify(k.pub()) {
		t.Fatal("a signature without the domain prefix verified")
	}
	// Nor may a proof of possession, made by the same key over its own
	// domain, stand in for a transaction signature.
	reg := tx.NewRegistration(testChain, tx.KindOrganization, "Org", "", k.sign, k.hpke)
	if len(reg.Possession) != ed25519.SignatureSize {
		t.Fatal("a sponsored registration has no proof of possession")
	}
	tr.Signature = reg.Possession
	if tr.Verify(k.pub()) {
		t.Fatal("a proof of possession verified as a transaction signature")
	}
}

// rawEnvelope writes an envelope field by field, so tests can build
// encodings that Tx.Encode would never produce.
type rawEnvelope struct {
	version   byte
	chainID   []byte
	signer    []byte
	nonce     []byte // the varint bytes as they appear on the wire
	typ       []byte
	body      []byte
	signature []byte
}

func (e rawEnvelope) bytes() []byte {
	w := codec.NewWriter(0)
	w.Byte(e.version)
	w.BytesField(e.chainID)
	w.BytesField(e.signer)
	w.Fixed(e.nonce)
	w.Fixed(e.typ)
	w.BytesField(e.body)
	w.Fixed(e.signature)
	return w.Bytes()
}

func goodEnvelope() rawEnvelope {
	return rawEnvelope{version: tx.Version, chainID: []byte(testChain), signer: []byte("ccsigner"),
		nonce: []byte{1}, typ: []byte{byte(tx.TypeRevokeActor)}, body: (&tx.RevokeActor{Actor: "ccx"}).Encode(),
		signature: bytes.Repeat([]byte{0xaa}, 64)}
}

func TestDecodeRejects(t *testing.T) {
	good := goodEnvelope()
	if _, err := tx.Decode(good.bytes()); err != nil {
		t.Fatalf("the base envelope must decode: %v", err)
	}
	with := func(f func(*rawEnvelope)) []byte { e := goodEnvelope(); f(&e); return e.bytes() }
	cases := []struct {
		name string
		raw  []byte
		want tx.Code
	}{
		{"empty", nil, tx.CodeMalformed},
		{"one byte", []byte{tx.Version}, tx.CodeMalformed},
		{"version 0", with(func(e *rawEnvelope) { e.version = 0 }), tx.CodeMalformed},
		{"version 2", with(func(e *rawEnvelope) { e.version = 2 }), tx.CodeMalformed},
		{"trailing byte", append(good.bytes(), 0), tx.CodeMalformed},
		{"short signature", with(func(e *rawEnvelope) { e.signature = e.signature[:63] }), tx.CodeMalformed},
		{"non-minimal nonce", with(func(e *rawEnvelope) { e.nonce = []byte{0x81, 0x00} }), tx.CodeMalformed},
		{"non-minimal type", with(func(e *rawEnvelope) { e.typ = []byte{0x83, 0x00} }), tx.CodeMalformed},
		{"type beyond 32 bits", with(func(e *rawEnvelope) { e.typ = []byte{0x83, 0x80, 0x80, 0x80, 0x10} }), tx.CodeMalformed},
		{"overflowing nonce", with(func(e *rawEnvelope) { e.nonce = bytes.Repeat([]byte{0xff}, 11) }), tx.CodeMalformed},
		{"invalid UTF-8 chain id", with(func(e *rawEnvelope) { e.chainID = []byte{0xc3, 0x28} }), tx.CodeMalformed},
		{"chain id too long", with(func(e *rawEnvelope) { e.chainID = bytes.Repeat([]byte("c"), tx.MaxChainIDLen+1) }), tx.CodeMalformed},
		{"signer too long", with(func(e *rawEnvelope) { e.signer = bytes.Repeat([]byte("s"), tx.MaxIDLen+1) }), tx.CodeMalformed},
		{"body over its limit", with(func(e *rawEnvelope) { e.body = make([]byte, tx.MaxBodyBytes+1) }), tx.CodeMalformed},
		{"one byte over the size limit", make([]byte, tx.MaxTxBytes+1), tx.CodeTooLarge},
		{"far over the size limit", make([]byte, 4*tx.MaxTxBytes), tx.CodeTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := tx.Decode(c.raw)
			if got != nil || tx.CodeOf(err) != c.want {
				t.Fatalf("Decode = %v, %v; want code %s", got, err, c.want)
			}
		})
	}

	// Every proper prefix of a valid transaction is malformed: there is no
	// way to cut one short and still have it decode.
	raw := good.bytes()
	for i := 0; i < len(raw); i++ {
		if _, err := tx.Decode(raw[:i]); tx.CodeOf(err) != tx.CodeMalformed {
			t.Fatalf("prefix of %d bytes: err = %v, want malformed", i, err)
		}
	}
}

func TestDecodeAcceptsLimits(t *testing.T) {
	// Fields exactly at their limits decode; the limits are inclusive.
	e := goodEnvelope()
	e.chainID = bytes.Repeat([]byte("c"), tx.MaxChainIDLen)
	e.signer = bytes.Repeat([]byte("s"), tx.MaxIDLen)
	e.nonce = []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01} // MaxUint64
	e.typ = []byte{0xff, 0xff, 0xff, 0xff, 0x0f}                                 // MaxUint32
	e.body = make([]byte, tx.MaxBodyBytes)
	raw := e.bytes()
	if len(raw) > tx.MaxTxBytes {
		t.Fatalf("a maximal envelope is %d bytes, over MaxTxBytes %d: the limits are inconsistent", len(raw), tx.MaxTxBytes)
	}
	got, err := tx.Decode(raw)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if got.Nonce != ^uint64(0) || got.Type != tx.Type(^uint32(0)) {
		t.Fatalf("nonce %d type %d", got.Nonce, got.Type)
	}
	if !bytes.Equal(got.Encode(), raw) {
		t.Fatal("decode-then-encode changed a maximal envelope")
	}
}

func TestDecodeMsgRejects(t *testing.T) {
	msgs := sampleMsgs(t)
	reg := msgs["register-practitioner"].Encode()
	rot := msgs["rotate"].Encode()
	longName := &tx.RegisterActor{Kind: tx.KindOrganization, Name: strings.Repeat("n", tx.MaxNameLen+1),
		SignKey: make([]byte, 32), Possession: make([]byte, 64)}
	longReason := &tx.RevokeActor{Actor: "ccx", Reason: strings.Repeat("r", tx.MaxReasonLen+1)}
	cases := []struct {
		name string
		typ  tx.Type
		body []byte
		want tx.Code
	}{
		{"type 0", 0, nil, tx.CodeUnknownType},
		{"unreserved type", 9, reg, tx.CodeUnknownType},
		{"huge type", tx.Type(^uint32(0)), reg, tx.CodeUnknownType},
		{"register empty", tx.TypeRegisterActor, nil, tx.CodeMalformed},
		{"register trailing", tx.TypeRegisterActor, append(bytes.Clone(reg), 0), tx.CodeMalformed},
		{"register truncated possession", tx.TypeRegisterActor, reg[:len(reg)-1], tx.CodeMalformed},
		{"register name too long", tx.TypeRegisterActor, longName.Encode(), tx.CodeMalformed},
		{"register possession of 63 bytes", tx.TypeRegisterActor, withPossessionLen(msgs["register-practitioner"], 63), tx.CodeMalformed},
		{"register possession of 65 bytes", tx.TypeRegisterActor, withPossessionLen(msgs["register-practitioner"], 65), tx.CodeMalformed},
		{"register possession of 1 byte", tx.TypeRegisterActor, withPossessionLen(msgs["register-patient"], 1), tx.CodeMalformed},
		{"rotate as register", tx.TypeRegisterActor, rot, tx.CodeMalformed},
		{"rotate truncated", tx.TypeRotateKey, rot[:40], tx.CodeMalformed},
		{"rotate trailing", tx.TypeRotateKey, append(bytes.Clone(rot), 1), tx.CodeMalformed},
		{"revoke empty", tx.TypeRevokeActor, nil, tx.CodeMalformed},
		{"revoke reason too long", tx.TypeRevokeActor, longReason.Encode(), tx.CodeMalformed},
		{"revoke invalid UTF-8", tx.TypeRevokeActor, []byte{2, 0xc3, 0x28, 0}, tx.CodeMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, err := tx.DecodeMsg(c.typ, c.body)
			if m != nil || tx.CodeOf(err) != c.want {
				t.Fatalf("DecodeMsg = %v, %v; want code %s", m, err, c.want)
			}
		})
	}
}

func TestValidateBasic(t *testing.T) {
	patient := deterministicKey(t, "patient")
	org := deterministicKey(t, "org")
	doc := deterministicKey(t, "doctor")
	other := deterministicKey(t, "other")
	reg := func(kind tx.Kind, name, orgID string, k testKey) *tx.RegisterActor {
		return tx.NewRegistration(testChain, kind, name, orgID, k.sign, k.hpke)
	}
	forged := reg(tx.KindOrganization, "Org", "", org)
	forged.Possession = ed25519.Sign(other.sign, tx.PossessionBytes(testChain, org.id(), org.pub(), org.hpke))
	noPossession := reg(tx.KindOrganization, "Org", "", org)
	noPossession.Possession = nil
	otherChain := tx.NewRegistration("another-chain", tx.KindOrganization, "Org", "", org.sign, org.hpke)
	swappedHPKE := reg(tx.KindOrganization, "Org", "", org)
	swappedHPKE.HPKEKey = other.hpke // possession covers the HPKE key too
	badHPKE := reg(tx.KindOrganization, "Org", "", org)
	badHPKE.HPKEKey = badHPKE.HPKEKey[:100]
	badPatientHPKE := reg(tx.KindPatient, "", "", patient)
	badPatientHPKE.HPKEKey = badPatientHPKE.HPKEKey[:100]
	patientWithProof := reg(tx.KindPatient, "", "", patient)
	patientWithProof.Possession = ed25519.Sign(patient.sign, tx.PossessionBytes(testChain, patient.id(), patient.pub(), patient.hpke))
	// A rotation's possession is bound to the actor it is for.
	rotA := tx.NewRotation(testChain, doc.id(), other.sign, other.hpke)
	rotB := *rotA
	rotB.Actor = patient.id()

	const sponsor = "ccsponsor"
	cases := []struct {
		name   string
		signer string // "" for the id of the key being registered
		msg    tx.Msg
		want   tx.Code
	}{
		{"patient", "", reg(tx.KindPatient, "", "", patient), tx.CodeOK},
		{"delegate", "", reg(tx.KindDelegate, "", "", patient), tx.CodeOK},
		{"organization", sponsor, reg(tx.KindOrganization, "General", "", org), tx.CodeOK},
		{"auditor", sponsor, reg(tx.KindAuditor, "Audit Co", "", org), tx.CodeOK},
		{"practitioner", sponsor, reg(tx.KindPractitioner, "Dr. X", org.id(), doc), tx.CodeOK},
		{"application", sponsor, reg(tx.KindApplication, "EHR", org.id(), doc), tx.CodeOK},
		// The stateless part of the admission rules: a patient or delegate
		// registers itself, so the signer must be the new id.
		{"patient registered by someone else", sponsor, reg(tx.KindPatient, "", "", patient), tx.CodeUnauthorized},
		{"delegate registered by someone else", sponsor, reg(tx.KindDelegate, "", "", patient), tx.CodeUnauthorized},
		{"self-registration with a possession proof", "", patientWithProof, tx.CodeInvalid},
		{"patient with a name", "", reg(tx.KindPatient, "Jane Doe", "", patient), tx.CodeInvalid},
		{"patient with a bad HPKE key", "", badPatientHPKE, tx.CodeInvalid},
		{"admin kind", sponsor, reg(tx.KindAdmin, "root", "", org), tx.CodeInvalid},
		{"kind 0", sponsor, reg(0, "", "", org), tx.CodeInvalid},
		{"kind 200", sponsor, reg(200, "", "", org), tx.CodeInvalid},
		{"practitioner without org", sponsor, reg(tx.KindPractitioner, "Dr. X", "", doc), tx.CodeInvalid},
		{"application without org", sponsor, reg(tx.KindApplication, "EHR", "", doc), tx.CodeInvalid},
		{"organization with org", sponsor, reg(tx.KindOrganization, "Sub", org.id(), doc), tx.CodeInvalid},
		{"patient with org", "", reg(tx.KindPatient, "", org.id(), patient), tx.CodeInvalid},
		{"forged possession", sponsor, forged, tx.CodeBadSignature},
		{"missing possession", sponsor, noPossession, tx.CodeBadSignature},
		{"possession for another chain", sponsor, otherChain, tx.CodeBadSignature},
		{"HPKE key swapped after signing", sponsor, swappedHPKE, tx.CodeBadSignature},
		{"HPKE key malformed", sponsor, badHPKE, tx.CodeInvalid},
		{"rotate", sponsor, rotA, tx.CodeOK},
		{"rotate possession for another actor", sponsor, &rotB, tx.CodeBadSignature},
		{"rotate without actor", sponsor, tx.NewRotation(testChain, "", other.sign, other.hpke), tx.CodeInvalid},
		{"revoke", sponsor, &tx.RevokeActor{Actor: doc.id()}, tx.CodeOK},
		{"revoke without actor", sponsor, &tx.RevokeActor{Reason: "x"}, tx.CodeInvalid},
		{"unknown message", sponsor, unknownMsg{}, tx.CodeUnknownType},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := envelopeFor(c.msg, c.signer)
			err := tx.ValidateBasic(testChain, env, c.msg)
			if got := tx.CodeOf(err); got != c.want {
				t.Fatalf("ValidateBasic code %s, want %s (%v)", got, c.want, err)
			}
		})
	}
	// Messages built in code rather than decoded can carry keys of any
	// length; ValidateBasic must refuse them, not panic inside ed25519.
	for _, n := range []int{0, 31, 33} {
		short := reg(tx.KindOrganization, "Org", "", org)
		short.SignKey = make([]byte, n)
		rot := tx.NewRotation(testChain, doc.id(), other.sign, other.hpke)
		rot.SignKey = make([]byte, n)
		for _, m := range []tx.Msg{short, rot} {
			if err := tx.ValidateBasic(testChain, envelopeFor(m, sponsor), m); tx.CodeOf(err) != tx.CodeInvalid {
				t.Errorf("%s with a %d-byte signing key: %v", m.Type(), n, err)
			}
		}
	}
	if err := tx.ValidateBasic(testChain, nil, &tx.RevokeActor{Actor: "cca"}); tx.CodeOf(err) != tx.CodeMalformed {
		t.Fatalf("ValidateBasic without an envelope: %v", err)
	}
}

type unknownMsg struct{}

func (unknownMsg) Type() tx.Type  { return 42 }
func (unknownMsg) Encode() []byte { return nil }

func TestErrors(t *testing.T) {
	err := tx.Errorf(tx.CodeNotFound, "actor %s is not registered", "ccx")
	if got := err.Error(); got != "not_found: actor ccx is not registered" {
		t.Fatalf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("load: %w", err)
	cases := []struct {
		name string
		err  error
		want tx.Code
	}{
		{"nil", nil, tx.CodeOK},
		{"direct", err, tx.CodeNotFound},
		{"wrapped", wrapped, tx.CodeNotFound},
		{"double wrapped", fmt.Errorf("outer: %w", wrapped), tx.CodeNotFound},
		{"joined", errors.Join(errors.New("x"), tx.Errorf(tx.CodeInvalid, "y")), tx.CodeInvalid},
		{"plain error is a storage failure", errors.New("disk on fire"), tx.CodeInternal},
		{"wrapped plain error", fmt.Errorf("x: %w", errors.New("io")), tx.CodeInternal},
		{"sentinel", tx.ErrUnauthorized, tx.CodeUnauthorized},
	}
	for _, c := range cases {
		if got := tx.CodeOf(c.err); got != c.want {
			t.Errorf("%s: CodeOf = %s, want %s", c.name, got, c.want)
		}
	}

	// errors.Is matches the message-less sentinel of the same code only.
	if !errors.Is(wrapped, tx.ErrNotFound) {
		t.Error("wrapped not-found error does not match ErrNotFound")
	}
	for _, s := range []error{tx.ErrMalformed, tx.ErrUnauthorized, tx.ErrInvalid, tx.ErrAlreadyExists} {
		if errors.Is(wrapped, s) {
			t.Errorf("not-found error matches %v", s)
		}
	}
	// A target carrying a message is a specific error, not a class: only the
	// same value matches it.
	if errors.Is(tx.Errorf(tx.CodeNotFound, "a"), tx.Errorf(tx.CodeNotFound, "a")) {
		t.Error("two distinct errors with messages match each other")
	}
	if !errors.Is(err, err) {
		t.Error("an error does not match itself")
	}
	if errors.Is(errors.New("not_found: x"), tx.ErrNotFound) {
		t.Error("a plain error with the same text matches a sentinel")
	}
	sentinels := map[tx.Code]error{tx.CodeMalformed: tx.ErrMalformed, tx.CodeUnauthorized: tx.ErrUnauthorized,
		tx.CodeInvalid: tx.ErrInvalid, tx.CodeNotFound: tx.ErrNotFound, tx.CodeAlreadyExists: tx.ErrAlreadyExists}
	for code, s := range sentinels {
		if !errors.Is(tx.Errorf(code, "m"), s) || tx.CodeOf(s) != code {
			t.Errorf("sentinel for %s does not match its code", code)
		}
	}
}

// pinnedCodes is the protocol's table of result codes. Clients, operators
// and stored transaction results key on these numbers and names, so this
// table only ever grows: a renumbering or renaming must fail here.
var pinnedCodes = map[tx.Code]struct {
	num  uint32
	name string
}{
	tx.CodeOK:            {0, "ok"},
	tx.CodeMalformed:     {2, "malformed"},
	tx.CodeWrongChain:    {3, "wrong_chain"},
	tx.CodeUnknownSigner: {4, "unknown_signer"},
	tx.CodeBadSignature:  {5, "bad_signature"},
	tx.CodeNonceReplayed: {6, "nonce_replayed"},
	tx.CodeNonceGap:      {7, "nonce_gap"},
	tx.CodeSignerRevoked: {8, "signer_revoked"},
	tx.CodeTooLarge:      {9, "too_large"},
	tx.CodeUnknownType:   {10, "unknown_type"},
	tx.CodeUnauthorized:  {11, "unauthorized"},
	tx.CodeInvalid:       {12, "invalid"},
	tx.CodeAlreadyExists: {13, "already_exists"},
	tx.CodeNotFound:      {14, "not_found"},
	tx.CodeAccessDenied:  {15, "access_denied"},
	tx.CodeErased:        {16, "erased"},
	tx.CodeInternal:      {99, "internal"},
}

func TestCodesArePinned(t *testing.T) {
	codes := tx.Codes()
	if len(codes) != len(pinnedCodes) {
		t.Fatalf("tx.Codes() lists %d codes, the pinned table %d: add new codes to pinnedCodes (never renumber)", len(codes), len(pinnedCodes))
	}
	names := map[string]tx.Code{}
	nums := map[tx.Code]bool{}
	for _, c := range codes {
		p, ok := pinnedCodes[c]
		if !ok {
			t.Errorf("code %d (%s) is not pinned", uint32(c), c)
			continue
		}
		if uint32(c) != p.num {
			t.Errorf("code %s is %d, pinned as %d", c, uint32(c), p.num)
		}
		if c.String() != p.name {
			t.Errorf("code %d is named %q, pinned as %q", uint32(c), c.String(), p.name)
		}
		if prev, dup := names[c.String()]; dup {
			t.Errorf("codes %d and %d share the name %q", uint32(prev), uint32(c), c.String())
		}
		if nums[c] {
			t.Errorf("code %d listed twice", uint32(c))
		}
		names[c.String()], nums[c] = c, true
		if strings.HasPrefix(c.String(), "code_") {
			t.Errorf("code %d has no registered name", uint32(c))
		}
	}
	if got := tx.Code(42).String(); got != "code_42" {
		t.Errorf("unregistered code prints as %q", got)
	}
}

func TestTypesAndKindsArePinned(t *testing.T) {
	types := []struct {
		typ  tx.Type
		num  uint32
		name string
	}{
		{tx.TypeRegisterActor, 1, "identity.register"},
		{tx.TypeRotateKey, 2, "identity.rotate"},
		{tx.TypeRevokeActor, 3, "identity.revoke"},
		{tx.TypeSetValidator, 4, "validator.set"},
		{tx.TypeSetRoles, 5, "identity.roles"},
		{tx.TypeGrantConsent, 10, "consent.grant"},
		{tx.TypeUpdateConsent, 11, "consent.update"},
		{tx.TypeRevokeConsent, 12, "consent.revoke"},
		{tx.TypeSetDelegate, 13, "delegate.set"},
		{tx.TypeRemoveDelegate, 14, "delegate.remove"},
		{tx.TypeSetBreakGlassOptOut, 15, "breakglass.optout"},
		{tx.TypeQueryConsents, 16, "consent.query"},
		{tx.TypePutRecord, 30, "record.put"},
		{tx.TypeAccessRecords, 31, "record.access"},
		{tx.TypeEraseRecord, 32, "record.erase"},
		{tx.TypeQueryRecords, 33, "record.query"},
		{tx.TypeWriteBatch, 34, "record.batch"},
		{tx.TypeQueryAuditHistory, 50, "audit.query"},
		{tx.TypeRecordRefusal, 51, "audit.refusal"},
		{tx.TypeRecordUnattributedRefusals, 52, "audit.refusals"},
		{tx.TypePutDirectory, 70, "directory.put"},
	}
	for _, c := range types {
		if uint32(c.typ) != c.num || c.typ.String() != c.name {
			t.Errorf("type %d %q, pinned as %d %q", uint32(c.typ), c.typ, c.num, c.name)
		}
		if m, _ := tx.DecodeMsg(c.typ, nil); m != nil {
			t.Errorf("type %s decoded an empty body", c.typ)
		}
	}
	if len(tx.Types()) != len(types) {
		t.Errorf("tx.Types() lists %d types, the pinned table %d: pin new types here (never renumber)", len(tx.Types()), len(types))
	}
	for i, typ := range tx.Types() {
		if i < len(types) && typ != types[i].typ {
			t.Errorf("tx.Types()[%d] is %s, want %s in ascending order", i, typ, types[i].typ)
		}
	}
	if got := tx.Type(77).String(); got != "type_77" {
		t.Errorf("unknown type prints as %q", got)
	}
	kinds := []struct {
		kind tx.Kind
		num  uint8
		name string
	}{
		{tx.KindPatient, 1, "patient"}, {tx.KindOrganization, 2, "organization"},
		{tx.KindPractitioner, 3, "practitioner"}, {tx.KindApplication, 4, "application"},
		{tx.KindDelegate, 5, "delegate"}, {tx.KindAuditor, 6, "auditor"}, {tx.KindAdmin, 7, "admin"},
	}
	for _, c := range kinds {
		if uint8(c.kind) != c.num || c.kind.String() != c.name {
			t.Errorf("kind %d %q, pinned as %d %q", uint8(c.kind), c.kind, c.num, c.name)
		}
		if k, ok := tx.ParseKind(c.name); !ok || k != c.kind {
			t.Errorf("ParseKind(%q) = %v, %v", c.name, k, ok)
		}
	}
	if _, ok := tx.ParseKind("wizard"); ok {
		t.Error("ParseKind accepted an unknown kind")
	}
	if got := tx.Kind(0).String(); got != "kind_0" {
		t.Errorf("kind 0 prints as %q", got)
	}
}

// TestActorIDGolden pins the id derivation: ids are stored on the ledger and
// printed to users, so a change here orphans every existing identity.
func TestActorIDGolden(t *testing.T) {
	cases := []struct {
		key  []byte
		want string
	}{
		// Cross-checked with an independent implementation:
		//   python3 -c "import hashlib,base64; s=hashlib.sha256(b'carechain/actor-id/v1\x00'+bytes(32)).digest(); print('cc'+base64.b32encode(s[:15]).decode().lower())"
		{make([]byte, 32), "ccqyd6fl3k6zwxk3feudbwjgd7"},
		{ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey), "cc5rouaxmcidselwfihecnfnmk"},
		{deterministicKey(t, "patient").pub(), "cc4xmwdeda6ceg5gswkdy6ridy"},
	}
	for _, c := range cases {
		got := tx.ActorID(c.key)
		if got != c.want {
			t.Errorf("ActorID(%x) = %q, want %q", c.key, got, c.want)
		}
		if len(got) != 26 || strings.ToLower(got) != got || !strings.HasPrefix(got, "cc") {
			t.Errorf("ActorID %q is not cc + 24 lower-case base32 characters", got)
		}
	}
	// Distinct keys give distinct ids (a smoke test of the hash input, not a
	// collision proof).
	seen := map[string]bool{}
	for i := 0; i < 256; i++ {
		id := tx.ActorID(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{byte(i)}, 32)).Public().(ed25519.PublicKey))
		if seen[id] {
			t.Fatalf("duplicate id %s", id)
		}
		seen[id] = true
	}
}

func TestPossessionBytesBindEveryInput(t *testing.T) {
	base := tx.PossessionBytes("c", "a", []byte{1}, []byte{2})
	variants := [][]byte{
		tx.PossessionBytes("c2", "a", []byte{1}, []byte{2}),
		tx.PossessionBytes("c", "a2", []byte{1}, []byte{2}),
		tx.PossessionBytes("c", "a", []byte{1, 1}, []byte{2}),
		tx.PossessionBytes("c", "a", []byte{1}, []byte{2, 2}),
		// Length prefixes keep field boundaries: moving a byte from one
		// field to the next changes the encoding.
		tx.PossessionBytes("ca", "", []byte{1}, []byte{2}),
		tx.PossessionBytes("c", "a", nil, []byte{1, 2}),
	}
	for i, v := range variants {
		if bytes.Equal(v, base) {
			t.Errorf("variant %d has the same possession bytes as the base", i)
		}
	}
	if !bytes.HasPrefix(base, []byte("carechain/possession/v1\x00")) {
		t.Error("possession bytes lack their domain prefix")
	}
}

// TestCodesSorted keeps tx.Codes() in ascending order, which the table in
// docs/transactions.md follows.
func TestCodesSorted(t *testing.T) {
	codes := tx.Codes()
	if !sort.SliceIsSorted(codes, func(i, j int) bool { return codes[i] < codes[j] }) {
		t.Fatalf("tx.Codes() is not in ascending order: %v", codes)
	}
}
