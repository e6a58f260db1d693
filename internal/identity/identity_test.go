package identity

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/carechain/carechain/internal/codec"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/tx"
)

func TestCheckNonce(t *testing.T) {
	cases := []struct {
		last, nonce uint64
		want        tx.Code
	}{
		{0, 1, tx.CodeOK},
		{0, 0, tx.CodeNonceReplayed},
		{0, 2, tx.CodeNonceGap},
		{0, math.MaxUint64, tx.CodeNonceGap},
		{5, 6, tx.CodeOK},
		{5, 5, tx.CodeNonceReplayed},
		{5, 1, tx.CodeNonceReplayed},
		{5, 7, tx.CodeNonceGap},
		{math.MaxUint64 - 1, math.MaxUint64, tx.CodeOK},
		// The last possible nonce is spent: nothing more from this signer.
		{math.MaxUint64, math.MaxUint64, tx.CodeNonceReplayed},
		{math.MaxUint64, 0, tx.CodeNonceReplayed},
	}
	for _, c := range cases {
		if got := tx.CodeOf(CheckNonce(c.last, c.nonce)); got != c.want {
			t.Errorf("CheckNonce(last %d, nonce %d) = %s, want %s", c.last, c.nonce, got, c.want)
		}
	}
}

func TestNonceStorage(t *testing.T) {
	st := kv.NewMemory()
	if n, err := LastNonce(st, "cca"); n != 0 || err != nil {
		t.Fatalf("LastNonce of a new actor = %d, %v", n, err)
	}
	for _, n := range []uint64{1, 2, 300, math.MaxUint64} {
		if err := UseNonce(st, "cca", n); err != nil {
			t.Fatal(err)
		}
		if got, err := LastNonce(st, "cca"); got != n || err != nil {
			t.Fatalf("LastNonce = %d, %v; want %d", got, err, n)
		}
	}
	if n, _ := LastNonce(st, "ccb"); n != 0 {
		t.Fatal("one actor's nonce leaked to another")
	}
	// A corrupt nonce is a storage failure, not a user error.
	for _, bad := range [][]byte{{}, {0x80}, {0x01, 0x00}} {
		_ = st.Set([]byte(prefixNonce+"ccc"), bad)
		if _, err := LastNonce(st, "ccc"); err == nil || tx.CodeOf(err) != tx.CodeInternal {
			t.Errorf("corrupt nonce %x: err = %v, want a storage error", bad, err)
		}
	}
	if _, err := LastNonce(brokenStore{}, "cca"); !errors.Is(err, errDisk) {
		t.Errorf("LastNonce on a failing store: %v", err)
	}
	if err := UseNonce(brokenStore{}, "cca", 1); !errors.Is(err, errDisk) {
		t.Errorf("UseNonce on a failing store: %v", err)
	}
}

func TestAuthenticate(t *testing.T) {
	l := newLedger(t)
	org := l.org("org")
	doc := l.member(org, "doctor")
	pat := l.patient("patient")
	gone := l.patient("revoked patient")
	l.mustRun(gone.id(), &tx.RevokeActor{Actor: gone.id()})
	rotated := l.patient("rotated patient")
	rotatedNew := newKey(t, "rotated patient, new key")
	l.mustRun(rotated.id(), tx.NewRotation(testChain, rotated.id(), rotatedNew.sign, rotatedNew.hpke))

	fresh := newKey(t, "fresh")
	revokeMsg := &tx.RevokeActor{Actor: doc.id()}
	cases := []struct {
		name      string
		signer    string
		nonce     uint64
		msg       tx.Msg
		want      tx.Code
		wantKey   []byte
		wantActor string // "" for a self-registration
	}{
		{"admin", l.admin.id(), l.nonces[l.admin.id()] + 1, revokeMsg, tx.CodeOK, l.admin.pub(), l.admin.id()},
		{"practitioner", doc.id(), 1, revokeMsg, tx.CodeOK, doc.pub(), doc.id()},
		{"unknown signer", fresh.id(), 1, revokeMsg, tx.CodeUnknownSigner, nil, ""},
		{"replayed nonce", org.id(), l.nonces[org.id()], revokeMsg, tx.CodeNonceReplayed, nil, ""},
		{"nonce zero", doc.id(), 0, revokeMsg, tx.CodeNonceReplayed, nil, ""},
		{"skipped nonce", doc.id(), 2, revokeMsg, tx.CodeNonceGap, nil, ""},
		{"revoked signer", gone.id(), 2, revokeMsg, tx.CodeSignerRevoked, nil, ""},
		{"patient self-registration", fresh.id(), 1, l.reg(tx.KindPatient, "", "", fresh), tx.CodeOK, fresh.pub(), ""},
		{"delegate self-registration", fresh.id(), 1, l.reg(tx.KindDelegate, "", "", fresh), tx.CodeOK, fresh.pub(), ""},
		{"self-registration with nonce 2", fresh.id(), 2, l.reg(tx.KindPatient, "", "", fresh), tx.CodeNonceGap, nil, ""},
		{"self-registration with nonce 0", fresh.id(), 0, l.reg(tx.KindPatient, "", "", fresh), tx.CodeNonceReplayed, nil, ""},
		{"organization registering itself", fresh.id(), 1, l.reg(tx.KindOrganization, "Self", "", fresh), tx.CodeUnauthorized, nil, ""},
		{"auditor registering itself", fresh.id(), 1, l.reg(tx.KindAuditor, "Self", "", fresh), tx.CodeUnauthorized, nil, ""},
		{"practitioner registering itself", fresh.id(), 1, l.reg(tx.KindPractitioner, "Self", org.id(), fresh), tx.CodeUnauthorized, nil, ""},
		// Once an id exists, its self-registration is refused before the
		// signature or nonce count, so the actor's first key cannot spend
		// nonces after it was rotated away or revoked.
		{"registered patient re-registering", pat.id(), 2, l.reg(tx.KindPatient, "", "", pat), tx.CodeAlreadyExists, nil, ""},
		{"rotated patient's old key re-registering", rotated.id(), 3, l.reg(tx.KindPatient, "", "", rotated), tx.CodeAlreadyExists, nil, ""},
		{"revoked patient re-registering", gone.id(), 3, l.reg(tx.KindPatient, "", "", gone), tx.CodeAlreadyExists, nil, ""},
		{"admin re-registering as an organization", l.admin.id(), l.nonces[l.admin.id()] + 1, l.reg(tx.KindOrganization, "A", "", l.admin), tx.CodeAlreadyExists, nil, ""},
		// Registering someone else's key is not a self-registration: the
		// signer must exist.
		{"unknown signer registering a patient", fresh.id(), 1, l.reg(tx.KindPatient, "", "", newKey(t, "x")), tx.CodeUnknownSigner, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := dump(l.st)
			tr := &tx.Tx{ChainID: testChain, Signer: c.signer, Nonce: c.nonce, Type: c.msg.Type(), Body: c.msg.Encode()}
			s, err := Authenticate(l.st, tr, c.msg)
			if got := tx.CodeOf(err); got != c.want {
				t.Fatalf("code %s, want %s (%v)", got, c.want, err)
			}
			if dump(l.st) != before {
				t.Fatal("Authenticate wrote to state")
			}
			if err != nil {
				return
			}
			if !bytes.Equal(s.Key, c.wantKey) {
				t.Errorf("key %x, want %x", s.Key, c.wantKey)
			}
			switch {
			case c.wantActor == "" && s.Actor != nil:
				t.Errorf("self-registration authenticated as existing actor %s", s.Actor.ID)
			case c.wantActor != "" && (s.Actor == nil || s.Actor.ID != c.wantActor):
				t.Errorf("authenticated as %v, want %s", s.Actor, c.wantActor)
			}
		})
	}

	t.Run("storage failure", func(t *testing.T) {
		tr := &tx.Tx{ChainID: testChain, Signer: doc.id(), Nonce: 1, Type: revokeMsg.Type()}
		if _, err := Authenticate(brokenStore{}, tr, revokeMsg); !errors.Is(err, errDisk) || tx.CodeOf(err) != tx.CodeInternal {
			t.Fatalf("err = %v, want the storage failure, not a user error", err)
		}
		reg := l.reg(tx.KindPatient, "", "", fresh)
		tr = &tx.Tx{ChainID: testChain, Signer: fresh.id(), Nonce: 1, Type: reg.Type()}
		if _, err := Authenticate(brokenStore{}, tr, reg); tx.CodeOf(err) != tx.CodeInternal {
			t.Fatalf("self-registration on a failing store: err = %v, want a storage failure", err)
		}
	})
}

// TestAdmission walks the admission rules: who may register whom.
func TestAdmission(t *testing.T) {
	l := newLedger(t)
	org := l.org("org")
	org2 := l.org("org 2")
	doc := l.member(org, "doctor")
	pat := l.patient("patient")
	aud := newKey(t, "auditor")
	l.mustRun(l.admin.id(), l.reg(tx.KindAuditor, "Auditor", "", aud))

	cases := []struct {
		name   string
		signer string
		msg    *tx.RegisterActor
		want   tx.Code
	}{
		{"admin admits an organization", l.admin.id(), l.reg(tx.KindOrganization, "New Org", "", newKey(t, "o3")), tx.CodeOK},
		{"admin admits an auditor", l.admin.id(), l.reg(tx.KindAuditor, "Audit", "", newKey(t, "a2")), tx.CodeOK},
		{"organization admits an organization", org.id(), l.reg(tx.KindOrganization, "Sub", "", newKey(t, "o4")), tx.CodeUnauthorized},
		{"organization admits an auditor", org.id(), l.reg(tx.KindAuditor, "A", "", newKey(t, "a3")), tx.CodeUnauthorized},
		{"patient admits an organization", pat.id(), l.reg(tx.KindOrganization, "P", "", newKey(t, "o5")), tx.CodeUnauthorized},
		{"organization admits its practitioner", org.id(), l.reg(tx.KindPractitioner, "Dr", org.id(), newKey(t, "d2")), tx.CodeOK},
		{"organization admits its application", org.id(), l.reg(tx.KindApplication, "EHR", org.id(), newKey(t, "app")), tx.CodeOK},
		{"organization admits another's practitioner", org2.id(), l.reg(tx.KindPractitioner, "Dr", org.id(), newKey(t, "d3")), tx.CodeUnauthorized},
		{"admin admits a practitioner", l.admin.id(), l.reg(tx.KindPractitioner, "Dr", org.id(), newKey(t, "d4")), tx.CodeUnauthorized},
		{"practitioner admits a colleague", doc.id(), l.reg(tx.KindPractitioner, "Dr", org.id(), newKey(t, "d5")), tx.CodeUnauthorized},
		{"practitioner names itself as the organization", doc.id(), l.reg(tx.KindApplication, "App", doc.id(), newKey(t, "app2")), tx.CodeUnauthorized},
		{"auditor admits an organization", aud.id(), l.reg(tx.KindOrganization, "X", "", newKey(t, "o6")), tx.CodeUnauthorized},
		{"organization registers a patient", org.id(), l.reg(tx.KindPatient, "", "", newKey(t, "p2")), tx.CodeUnauthorized},
		{"admin registers a delegate", l.admin.id(), l.reg(tx.KindDelegate, "", "", newKey(t, "g")), tx.CodeUnauthorized},
		{"duplicate organization", l.admin.id(), l.reg(tx.KindOrganization, "Again", "", org), tx.CodeAlreadyExists},
		{"duplicate practitioner", org.id(), l.reg(tx.KindPractitioner, "Dr", org.id(), doc), tx.CodeAlreadyExists},
		{"organization registers its own admin key", l.admin.id(), l.reg(tx.KindOrganization, "Admin", "", l.admin), tx.CodeAlreadyExists},
		{"patient registers again", pat.id(), l.reg(tx.KindPatient, "", "", pat), tx.CodeAlreadyExists},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, code := l.run(c.signer, c.msg)
			if code != c.want {
				t.Fatalf("code %s, want %s", code, c.want)
			}
			if code != tx.CodeOK {
				return
			}
			id := tx.ActorID(c.msg.SignKey)
			if ev != (Event{Type: "identity.register", Actor: id, Kind: c.msg.Kind, By: c.signer}) {
				t.Errorf("event %+v", ev)
			}
			a := l.actor(id)
			want := &Actor{ID: id, Kind: c.msg.Kind, Name: c.msg.Name, Org: c.msg.Org, SignKey: c.msg.SignKey,
				HPKEKey: c.msg.HPKEKey, Sponsor: c.signer, RegisteredAt: l.height, KeyVersion: 1}
			if !reflect.DeepEqual(a, want) {
				t.Errorf("stored %+v\nwant   %+v", a, want)
			}
		})
	}

	p := l.actor(pat.id())
	if p.Sponsor != "" || p.Kind != tx.KindPatient || p.KeyVersion != 1 {
		t.Errorf("self-registered patient stored as %+v", p)
	}
	members, err := Members(l.st, org.id())
	if err != nil {
		t.Fatal(err)
	}
	wantMembers := sorted(doc.id(), newKey(t, "d2").id(), newKey(t, "app").id())
	if !reflect.DeepEqual(members, wantMembers) {
		t.Errorf("members of org %v, want %v", members, wantMembers)
	}
	if m, err := Members(l.st, org2.id()); err != nil || len(m) != 0 {
		t.Errorf("members of org 2 = %v, %v; want none", m, err)
	}
}

func TestRotate(t *testing.T) {
	l := newLedger(t)
	org := l.org("org")
	other := l.org("other org")
	doc := l.member(org, "doctor")
	pat := l.patient("patient")
	k2, k3, k4, k5 := newKey(t, "k2"), newKey(t, "k3"), newKey(t, "k4"), newKey(t, "k5")

	// The actor rotates its own key; the id and everything else stay.
	before := l.actor(doc.id())
	ev := l.mustRun(doc.id(), tx.NewRotation(testChain, doc.id(), k2.sign, k2.hpke))
	if ev != (Event{Type: "identity.rotate", Actor: doc.id(), Kind: tx.KindPractitioner, By: doc.id()}) {
		t.Errorf("event %+v", ev)
	}
	after := l.actor(doc.id())
	want := *before
	want.SignKey, want.HPKEKey, want.KeyVersion = k2.pub(), k2.hpke, 2
	if !reflect.DeepEqual(after, &want) {
		t.Fatalf("after rotation %+v\nwant %+v", after, &want)
	}
	// Authentication now wants the new key.
	revoke := &tx.RevokeActor{Actor: doc.id()}
	s, err := Authenticate(l.st, &tx.Tx{Signer: doc.id(), Nonce: l.nonces[doc.id()] + 1}, revoke)
	if err != nil || !bytes.Equal(s.Key, k2.pub()) {
		t.Fatalf("after rotation Authenticate = %x, %v; want the new key", s.Key, err)
	}

	// The sponsor recovers a lost key; so may the admin.
	l.mustRun(org.id(), tx.NewRotation(testChain, doc.id(), k3.sign, k3.hpke))
	l.mustRun(l.admin.id(), tx.NewRotation(testChain, doc.id(), k4.sign, k4.hpke))
	if a := l.actor(doc.id()); !bytes.Equal(a.SignKey, k4.pub()) || a.KeyVersion != 4 {
		t.Fatalf("after three rotations: key %x version %d", a.SignKey, a.KeyVersion)
	}

	cases := []struct {
		name   string
		signer string
		msg    *tx.RotateKey
		want   tx.Code
	}{
		{"another organization", other.id(), tx.NewRotation(testChain, doc.id(), k5.sign, k5.hpke), tx.CodeUnauthorized},
		{"a patient", pat.id(), tx.NewRotation(testChain, doc.id(), k5.sign, k5.hpke), tx.CodeUnauthorized},
		{"the practitioner rotating its organization", doc.id(), tx.NewRotation(testChain, org.id(), k5.sign, k5.hpke), tx.CodeUnauthorized},
		{"an unknown actor", org.id(), tx.NewRotation(testChain, "ccnobody", k5.sign, k5.hpke), tx.CodeNotFound},
		{"to the current key", doc.id(), tx.NewRotation(testChain, doc.id(), k4.sign, k4.hpke), tx.CodeInvalid},
		{"the admin rotating an organization", l.admin.id(), tx.NewRotation(testChain, org.id(), k5.sign, k5.hpke), tx.CodeOK},
		{"a patient rotating itself", pat.id(), tx.NewRotation(testChain, pat.id(), k2.sign, k2.hpke), tx.CodeOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, code := l.run(c.signer, c.msg); code != c.want {
				t.Fatalf("code %s, want %s", code, c.want)
			}
		})
	}

	// A revoked actor cannot be given new keys, even by its sponsor.
	l.mustRun(org.id(), &tx.RevokeActor{Actor: doc.id(), Reason: "left"})
	if _, code := l.run(org.id(), tx.NewRotation(testChain, doc.id(), k5.sign, k5.hpke)); code != tx.CodeSignerRevoked {
		t.Fatalf("rotating a revoked actor: %s", code)
	}
}

func TestRevoke(t *testing.T) {
	l := newLedger(t)
	org := l.org("org")
	other := l.org("other")
	d1, d2, d3 := l.member(org, "d1"), l.member(org, "d2"), l.member(org, "d3")
	pat := l.patient("patient")

	l.height = 7
	ev := l.mustRun(d1.id(), &tx.RevokeActor{Actor: d1.id(), Reason: "lost laptop"})
	if ev != (Event{Type: "identity.revoke", Actor: d1.id(), Kind: tx.KindPractitioner, By: d1.id()}) {
		t.Errorf("event %+v", ev)
	}
	if a := l.actor(d1.id()); !a.Revoked || a.RevokedAt != 7 {
		t.Fatalf("after revoke: revoked %v at %d", a.Revoked, a.RevokedAt)
	}

	cases := []struct {
		name   string
		signer string
		target string
		want   tx.Code
	}{
		{"already revoked", org.id(), d1.id(), tx.CodeSignerRevoked},
		{"by a stranger organization", other.id(), d2.id(), tx.CodeUnauthorized},
		{"by a colleague", d3.id(), d2.id(), tx.CodeUnauthorized},
		{"by a patient", pat.id(), d2.id(), tx.CodeUnauthorized},
		{"an unknown actor", l.admin.id(), "ccnobody", tx.CodeNotFound},
		{"the admin by itself", l.admin.id(), l.admin.id(), tx.CodeUnauthorized},
		{"the admin by an organization", org.id(), l.admin.id(), tx.CodeUnauthorized},
		{"by the sponsor", org.id(), d2.id(), tx.CodeOK},
		{"by the admin", l.admin.id(), d3.id(), tx.CodeOK},
		{"an organization by the admin", l.admin.id(), other.id(), tx.CodeOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, code := l.run(c.signer, &tx.RevokeActor{Actor: c.target}); code != c.want {
				t.Fatalf("code %s, want %s", code, c.want)
			}
		})
	}
	// A revoked actor authenticates no more.
	for _, k := range []key{d1, d2, d3, other} {
		if _, code := l.run(k.id(), &tx.RevokeActor{Actor: pat.id()}); code != tx.CodeSignerRevoked {
			t.Errorf("revoked %s: code %s", k.id(), code)
		}
	}
}

func TestApplyRejectsForeignMessages(t *testing.T) {
	l := newLedger(t)
	admin := l.actor(l.admin.id())
	_, err := Apply(l.st, Signer{Actor: admin, Key: admin.SignKey}, admin.ID, foreignMsg{}, 1)
	if tx.CodeOf(err) != tx.CodeUnknownType {
		t.Fatalf("err = %v, want unknown_type", err)
	}
}

type foreignMsg struct{}

func (foreignMsg) Type() tx.Type  { return 10 }
func (foreignMsg) Encode() []byte { return nil }

func TestApplyStorageFailure(t *testing.T) {
	l := newLedger(t)
	admin := l.actor(l.admin.id())
	s := Signer{Actor: admin, Key: admin.SignKey}
	k := newKey(t, "org")
	msgs := []tx.Msg{
		l.reg(tx.KindOrganization, "Org", "", k),
		tx.NewRotation(testChain, admin.ID, k.sign, k.hpke),
		&tx.RevokeActor{Actor: admin.ID},
	}
	for _, m := range msgs {
		if _, err := Apply(brokenStore{}, s, admin.ID, m, 1); !errors.Is(err, errDisk) || tx.CodeOf(err) != tx.CodeInternal {
			t.Errorf("%s on a failing store: %v; want the storage error", m.Type(), err)
		}
	}
}

func TestGet(t *testing.T) {
	st := kv.NewMemory()
	if _, err := Get(st, "ccnobody"); !errors.Is(err, tx.ErrNotFound) {
		t.Fatalf("missing actor: %v", err)
	}
	_ = st.Set(ActorKey("cccorrupt"), []byte{0xff})
	if _, err := Get(st, "cccorrupt"); err == nil || tx.CodeOf(err) != tx.CodeInternal {
		t.Fatalf("corrupt actor: %v; want a storage error", err)
	}
	if _, err := Get(brokenStore{}, "cca"); !errors.Is(err, errDisk) {
		t.Fatalf("failing store: %v", err)
	}
}

func TestActorEncoding(t *testing.T) {
	k := newKey(t, "a")
	actors := []*Actor{
		{ID: k.id(), Kind: tx.KindPractitioner, Name: "Dr. Ünal", Org: "ccorg", SignKey: k.pub(), HPKEKey: k.hpke,
			Sponsor: "ccorg", RegisteredAt: 12, KeyVersion: 3, Revoked: true, RevokedAt: 40},
		{ID: "ccx", Kind: tx.KindPatient, SignKey: k.pub(), HPKEKey: []byte{}, KeyVersion: 1},
		{ID: "ccmax", Kind: tx.KindAdmin, SignKey: k.pub(), HPKEKey: []byte{}, RegisteredAt: math.MaxInt64,
			KeyVersion: math.MaxUint32, RevokedAt: math.MinInt64},
	}
	for _, a := range actors {
		enc := a.encode()
		got, err := DecodeActor(enc)
		if err != nil {
			t.Fatalf("%s: %v", a.ID, err)
		}
		if !reflect.DeepEqual(got, a) {
			t.Fatalf("decoded %+v\nwant    %+v", got, a)
		}
		if !bytes.Equal(got.encode(), enc) {
			t.Fatal("decode-then-encode changed the bytes")
		}
		// The decoded actor must not alias the input: state iterators reuse
		// their buffers.
		for i := range enc {
			enc[i] ^= 0xff
		}
		if !reflect.DeepEqual(got.SignKey, a.SignKey) || !reflect.DeepEqual(got.HPKEKey, a.HPKEKey) {
			t.Fatal("decoded keys alias the encoding")
		}
	}

	good := actors[1].encode()
	tooBigVersion := func() []byte {
		a := *actors[1]
		w := codec.NewWriter(0)
		w.String(a.ID)
		w.Byte(byte(a.Kind))
		w.String(a.Name)
		w.String(a.Org)
		w.BytesField(a.SignKey)
		w.BytesField(a.HPKEKey)
		w.String(a.Sponsor)
		w.Varint(a.RegisteredAt)
		w.Uvarint(math.MaxUint32 + 1) // would wrap to 0 as a uint32
		w.Bool(a.Revoked)
		w.Varint(a.RevokedAt)
		return w.Bytes()
	}()
	for name, b := range map[string][]byte{
		"empty":                nil,
		"trailing byte":        append(bytes.Clone(good), 0),
		"truncated":            good[:len(good)-1],
		"revoked flag 2":       append(bytes.Clone(good[:len(good)-2]), 2, 0),
		"long signing key":     bytes.Replace(bytes.Clone(good), append([]byte{32}, k.pub()...), append(append([]byte{33}, k.pub()...), 0), 1),
		"key version > 2^32":   tooBigVersion,
		"id longer than an id": (&Actor{ID: strings.Repeat("c", tx.MaxIDLen+1), SignKey: k.pub()}).encode(),
	} {
		if _, err := DecodeActor(b); !errors.Is(err, codec.ErrMalformed) {
			t.Errorf("%s: err = %v, want malformed", name, err)
		}
	}
}

func TestMembers(t *testing.T) {
	l := newLedger(t)
	org := l.org("org")
	// An organization whose id extends another's must not see its members.
	var ids []string
	for _, label := range []string{"m1", "m2", "m3", "m4", "m5"} {
		ids = append(ids, l.member(org, label).id())
	}
	app := newKey(t, "app")
	l.mustRun(org.id(), l.reg(tx.KindApplication, "EHR", org.id(), app))
	ids = append(ids, app.id())
	got, err := Members(l.st, org.id())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sorted(ids...)) {
		t.Fatalf("Members = %v, want %v (id order)", got, sorted(ids...))
	}
	if got, _ := Members(l.st, org.id()[:10]); len(got) != 0 {
		t.Fatalf("a prefix of the org id lists members: %v", got)
	}
	// Revocation does not remove membership; the record shows who was admitted.
	l.mustRun(org.id(), &tx.RevokeActor{Actor: ids[0]})
	if got, _ := Members(l.st, org.id()); len(got) != len(ids) {
		t.Fatalf("after revoke: %d members, want %d", len(got), len(ids))
	}
	if _, err := Members(brokenStore{}, org.id()); !errors.Is(err, errDisk) {
		t.Fatalf("failing store: %v", err)
	}
}

func TestGenesisAndValidators(t *testing.T) {
	admin := newKey(t, "admin")
	v1, v2, v3 := newKey(t, "v1"), newKey(t, "v2"), newKey(t, "v3")
	g := Genesis{
		Admin: GenesisKeys{SignKey: admin.pub(), HPKEKey: admin.hpke},
		Validators: []GenesisValidator{
			{Name: "node-c", Address: bytes.Repeat([]byte{0xcc}, 20), HPKEKey: v3.hpke},
			{Name: "node-a", Address: bytes.Repeat([]byte{0x0a}, 20), HPKEKey: v1.hpke},
			{Name: "node-b", Address: bytes.Repeat([]byte{0xb0}, 20), HPKEKey: v2.hpke},
		},
	}
	st := kv.NewMemory()
	if err := InitGenesis(st, g); err != nil {
		t.Fatal(err)
	}
	id, err := AdminID(st)
	if err != nil || id != admin.id() {
		t.Fatalf("AdminID = %q, %v; want %s", id, err, admin.id())
	}
	a, err := Get(st, id)
	if err != nil {
		t.Fatal(err)
	}
	if a.Kind != tx.KindAdmin || !bytes.Equal(a.SignKey, admin.pub()) || !bytes.Equal(a.HPKEKey, admin.hpke) || a.KeyVersion != 1 {
		t.Fatalf("admin stored as %+v", a)
	}
	vals, err := Validators(st)
	if err != nil {
		t.Fatal(err)
	}
	want := []Validator{
		{Name: "node-a", Address: g.Validators[1].Address, HPKEKey: v1.hpke},
		{Name: "node-b", Address: g.Validators[2].Address, HPKEKey: v2.hpke},
		{Name: "node-c", Address: g.Validators[0].Address, HPKEKey: v3.hpke},
	}
	if !reflect.DeepEqual(vals, want) {
		t.Fatalf("Validators = %+v\nwant (address order) %+v", vals, want)
	}
	if vals, err := Validators(kv.NewMemory()); err != nil || len(vals) != 0 {
		t.Fatalf("Validators of an empty state = %v, %v", vals, err)
	}
	_ = st.Set([]byte(prefixValidator+"ff"), []byte{1})
	if _, err := Validators(st); err == nil {
		t.Fatal("a corrupt validator record went unnoticed")
	}
	if _, err := Validators(brokenStore{}); !errors.Is(err, errDisk) {
		t.Fatalf("failing store: %v", err)
	}
}

func TestInitGenesisErrors(t *testing.T) {
	admin := newKey(t, "admin")
	v := newKey(t, "v")
	okAdmin := GenesisKeys{SignKey: admin.pub(), HPKEKey: admin.hpke}
	addr := func(b byte) []byte { return bytes.Repeat([]byte{b}, 20) }
	cases := []struct {
		name string
		g    Genesis
	}{
		{"no admin", Genesis{}},
		{"admin key too short", Genesis{Admin: GenesisKeys{SignKey: admin.pub()[:31], HPKEKey: admin.hpke}}},
		{"admin key too long", Genesis{Admin: GenesisKeys{SignKey: append(bytes.Clone(admin.pub()), 0), HPKEKey: admin.hpke}}},
		{"admin without HPKE key", Genesis{Admin: GenesisKeys{SignKey: admin.pub()}}},
		{"admin HPKE key truncated", Genesis{Admin: GenesisKeys{SignKey: admin.pub(), HPKEKey: admin.hpke[:1000]}}},
		{"validator HPKE key invalid", Genesis{Admin: okAdmin, Validators: []GenesisValidator{{Name: "n", Address: addr(1), HPKEKey: []byte{1, 2, 3}}}}},
		// Whatever InitGenesis accepts, Validators must be able to read back.
		{"validator name too long", Genesis{Admin: okAdmin, Validators: []GenesisValidator{{Name: strings.Repeat("n", tx.MaxNameLen+1), Address: addr(1), HPKEKey: v.hpke}}}},
		{"validator name not UTF-8", Genesis{Admin: okAdmin, Validators: []GenesisValidator{{Name: "\xff", Address: addr(1), HPKEKey: v.hpke}}}},
		{"validator address too long", Genesis{Admin: okAdmin, Validators: []GenesisValidator{{Name: "n", Address: make([]byte, 65), HPKEKey: v.hpke}}}},
		{"validator without address", Genesis{Admin: okAdmin, Validators: []GenesisValidator{{Name: "n", HPKEKey: v.hpke}}}},
		{"duplicate validator address", Genesis{Admin: okAdmin, Validators: []GenesisValidator{
			{Name: "a", Address: addr(1), HPKEKey: v.hpke}, {Name: "b", Address: addr(1), HPKEKey: v.hpke}}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := InitGenesis(kv.NewMemory(), c.g)
			if err == nil {
				t.Fatal("InitGenesis accepted a bad genesis")
			}
			var te *tx.Error
			if errors.As(err, &te) {
				t.Fatalf("genesis error is a transaction error: %v", err)
			}
		})
	}
	if err := InitGenesis(brokenStore{}, Genesis{Admin: okAdmin}); !errors.Is(err, errDisk) {
		t.Fatalf("failing store: %v", err)
	}
}
