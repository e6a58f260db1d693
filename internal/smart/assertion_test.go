package smart

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain/internal/consent"
)

func TestVerifyAssertionAccepts(t *testing.T) {
	w := newWorld()
	for _, p := range []party{w.org, w.app, w.doc} {
		raw, err := NewAssertion(p.key, p.id, testAud, t0, 5*time.Minute, "jti-1", consent.PurposeTreatment)
		if err != nil {
			t.Fatal(err)
		}
		a, err := VerifyAssertion(raw, w.ledger, testAud, t0.Add(time.Minute))
		if err != nil {
			t.Fatalf("%s: %v", p.id, err)
		}
		if a.Client.ID != p.id || a.JTI != "jti-1" || !a.Expires.Equal(t0.Add(5*time.Minute)) || a.Purpose != consent.PurposeTreatment || a.Client.Org != w.org.id {
			t.Fatalf("assertion = %+v", a)
		}
	}
}

// signClaims signs arbitrary claims with alg and key, for assertions no
// well-behaved client would make.
func signClaims(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVerifyAssertionRefuses(t *testing.T) {
	w := newWorld()
	now := t0
	claims := func(p party, edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": p.id, "sub": p.id, "aud": testAud, "exp": now.Add(4 * time.Minute).Unix(), "jti": "j"}
		if edit != nil {
			edit(c)
		}
		return c
	}
	ed := func(p party, edit func(jwt.MapClaims)) string {
		return signClaims(t, jwt.SigningMethodEdDSA, p.key, claims(p, edit))
	}
	w.ledger.update(w.doc.id, func(c *Client) { c.Revoked = true })
	// A header claiming alg none, with no signature.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString(mustJSON(t, claims(w.org, nil))) + "."
	hs := signClaims(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), claims(w.org, nil))
	good := ed(w.org, nil)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(mustJSON(t, claims(w.org, func(c jwt.MapClaims) { c["jti"] = "other" }))) + "." + parts[2]

	cases := []struct {
		name   string
		raw    string
		reason Reason
		oauth  string
	}{
		{"empty", "", ReasonAssertionMalformed, "invalid_client"},
		{"garbage", "not.a.jwt", ReasonAssertionMalformed, "invalid_client"},
		{"too long", strings.Repeat("a", MaxAssertionBytes+1), ReasonAssertionMalformed, "invalid_client"},
		{"forged: another key", signClaims(t, jwt.SigningMethodEdDSA, w.stray.key, claims(w.org, nil)), ReasonAssertionSignature, "invalid_client"},
		{"tampered claims", tampered, ReasonAssertionSignature, "invalid_client"},
		{"alg none", none, ReasonAssertionSignature, "invalid_client"},
		{"alg HS256", hs, ReasonAssertionSignature, "invalid_client"},
		{"unknown client", ed(w.stray, nil), ReasonClientUnknown, "invalid_client"},
		{"revoked client", ed(w.doc, nil), ReasonClientRevoked, "invalid_client"},
		{"patient", ed(w.patient, nil), ReasonClientKind, "unauthorized_client"},
		{"no iss", ed(w.org, func(c jwt.MapClaims) { delete(c, "iss") }), ReasonAssertionClaims, "invalid_client"},
		{"sub differs", ed(w.org, func(c jwt.MapClaims) { c["sub"] = w.app.id }), ReasonAssertionClaims, "invalid_client"},
		{"wrong aud", ed(w.org, func(c jwt.MapClaims) { c["aud"] = "http://elsewhere/auth/token" }), ReasonAssertionAudience, "invalid_client"},
		{"aud list without us", ed(w.org, func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} }), ReasonAssertionAudience, "invalid_client"},
		{"no aud", ed(w.org, func(c jwt.MapClaims) { delete(c, "aud") }), ReasonAssertionClaims, "invalid_client"},
		{"no exp", ed(w.org, func(c jwt.MapClaims) { delete(c, "exp") }), ReasonAssertionClaims, "invalid_client"},
		{"expired", ed(w.org, func(c jwt.MapClaims) { c["exp"] = now.Add(-ClockSkew - time.Second).Unix() }), ReasonAssertionExpired, "invalid_client"},
		{"too long-lived", ed(w.org, func(c jwt.MapClaims) { c["exp"] = now.Add(MaxAssertionLifetime + ClockSkew + time.Second).Unix() }), ReasonAssertionLifetime, "invalid_client"},
		{"issued in the future", ed(w.org, func(c jwt.MapClaims) { c["iat"] = now.Add(time.Minute).Unix() }), ReasonAssertionClaims, "invalid_client"},
		{"not yet valid", ed(w.org, func(c jwt.MapClaims) { c["nbf"] = now.Add(time.Minute).Unix() }), ReasonAssertionClaims, "invalid_client"},
		{"no jti", ed(w.org, func(c jwt.MapClaims) { delete(c, "jti") }), ReasonAssertionClaims, "invalid_client"},
		{"long jti", ed(w.org, func(c jwt.MapClaims) { c["jti"] = strings.Repeat("j", MaxJTILen+1) }), ReasonAssertionClaims, "invalid_client"},
		{"exp not a number", ed(w.org, func(c jwt.MapClaims) { c["exp"] = "soon" }), ReasonAssertionMalformed, "invalid_client"},
		{"unknown purpose", ed(w.org, func(c jwt.MapClaims) { c["purpose_of_use"] = "MARKETING" }), ReasonPurposeInvalid, "invalid_request"},
	}
	for _, c := range cases {
		_, err := VerifyAssertion(c.raw, w.ledger, testAud, now)
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: accepted or unclassified: %v", c.name, err)
			continue
		}
		if e.Reason != c.reason || e.OAuth != c.oauth {
			t.Errorf("%s: %v; want %s/%s", c.name, err, c.oauth, c.reason)
		}
	}

	// Within the clock skew, an assertion just past its exp, or a little
	// over five minutes ahead, is still accepted.
	for _, exp := range []time.Time{now.Add(-ClockSkew + time.Second), now.Add(MaxAssertionLifetime + ClockSkew - time.Second)} {
		if _, err := VerifyAssertion(ed(w.org, func(c jwt.MapClaims) { c["exp"] = exp.Unix() }), w.ledger, testAud, now); err != nil {
			t.Errorf("exp %s: %v", exp.Sub(now), err)
		}
	}

	// The ledger failing is not the client's fault.
	w.ledger.fail = errors.New("disk on fire")
	if _, err := VerifyAssertion(good, w.ledger, testAud, now); reasonOf(err) != ReasonLedgerUnavailable {
		t.Errorf("ledger failure: %v", err)
	}
}

func TestNewAssertionBounds(t *testing.T) {
	p := newParty(9)
	for _, life := range []time.Duration{0, -time.Second, MaxAssertionLifetime + time.Second} {
		if _, err := NewAssertion(p.key, p.id, testAud, t0, life, "j", ""); err == nil {
			t.Errorf("lifetime %s accepted", life)
		}
	}
	if _, err := NewAssertion(p.key, p.id, testAud, t0, time.Minute, "", ""); err == nil {
		t.Error("empty jti accepted")
	}
	raw, _ := NewAssertion(p.key, p.id, testAud, t0, time.Minute, "j", "")
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
	if !strings.Contains(string(hdr), `"alg":"EdDSA"`) {
		t.Errorf("header %s", hdr)
	}
	var _ ed25519.PrivateKey = p.key
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func FuzzVerifyAssertion(f *testing.F) {
	w := newWorld()
	f.Add(assertion(f, w.org, testAud, t0, time.Minute, "j"))
	f.Add(assertion(f, w.patient, testAud, t0, time.Minute, "j"))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, raw string) {
		a, err := VerifyAssertion(raw, w.ledger, testAud, t0)
		if err == nil && (a.Client == nil || a.JTI == "" || !MayHoldSystemToken(a.Client.Kind)) {
			t.Fatalf("accepted %q as %+v", raw, a)
		}
		if err != nil && reasonOf(err) == "" {
			t.Fatalf("unclassified error %v", err)
		}
	})
}

// TestRFC8037Vector checks the EdDSA JWS signing the assertions rely on
// against RFC 8037 Appendix A.4: the same key and input give the same
// signature, and it verifies.
func TestRFC8037Vector(t *testing.T) {
	d, _ := base64.RawURLEncoding.DecodeString("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	const signingInput = "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1NTE5IHNpZ25pbmc"
	const sig = "hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhijcNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg"
	key := ed25519.NewKeyFromSeed(d)
	if !key.Public().(ed25519.PublicKey).Equal(ed25519.PublicKey(x)) {
		t.Fatal("public key differs from the RFC's")
	}
	got, err := jwt.SigningMethodEdDSA.Sign(signingInput, key)
	if err != nil || base64.RawURLEncoding.EncodeToString(got) != sig {
		t.Fatalf("signature %s, %v", base64.RawURLEncoding.EncodeToString(got), err)
	}
	want, _ := base64.RawURLEncoding.DecodeString(sig)
	if err := jwt.SigningMethodEdDSA.Verify(signingInput, want, ed25519.PublicKey(x)); err != nil {
		t.Fatal(err)
	}
	want[0] ^= 1
	if jwt.SigningMethodEdDSA.Verify(signingInput, want, ed25519.PublicKey(x)) == nil {
		t.Fatal("a changed signature verified")
	}
}
