package smart

import (
	"bytes"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/tx"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func testPrincipal(t *testing.T) *Principal {
	scopes, err := ParseScopes("system/Observation.rs system/*.read")
	if err != nil {
		t.Fatal(err)
	}
	return &Principal{ClientID: "ccapp", Kind: tx.KindApplication, Org: "ccorg", KeyVersion: 2, Scopes: scopes,
		Purpose: consent.PurposeTreatment, TokenID: "tid", IssuedAt: t0, Expires: t0.Add(TokenLifetime)}
}

func TestTokensRoundTrip(t *testing.T) {
	tk, err := NewTokens(testKey, "http://n", "http://n/fhir")
	if err != nil {
		t.Fatal(err)
	}
	p := testPrincipal(t)
	raw, err := tk.Mint(p)
	if err != nil {
		t.Fatal(err)
	}
	got, verr := tk.Verify(raw, t0.Add(4*time.Minute))
	if verr != nil {
		t.Fatal(verr)
	}
	if got.ClientID != p.ClientID || got.Kind != p.Kind || got.Org != p.Org || got.KeyVersion != 2 || got.Scopes.String() != p.Scopes.String() ||
		got.Purpose != p.Purpose || got.TokenID != "tid" || !got.IssuedAt.Equal(t0) || !got.Expires.Equal(p.Expires) {
		t.Fatalf("round trip: %+v", got)
	}

	other, _ := NewTokens([]byte(strings.Repeat("x", 32)), "http://n", "http://n/fhir")
	otherNode, _ := NewTokens(testKey, "http://m", "http://m/fhir")
	forgedRaw, _ := other.Mint(p)
	otherNodeRaw, _ := otherNode.Mint(p)
	noScope := signClaims(t, jwt.SigningMethodHS256, testKey, jwt.MapClaims{"iss": "http://n", "aud": "http://n/fhir", "sub": "x", "jti": "t",
		"iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix(), "kind": "application", "scope": "openid"})
	edToken := assertion(t, newParty(1), "http://n/fhir", t0, time.Minute, "j")
	cases := []struct {
		name string
		raw  string
		at   time.Time
		want Reason
	}{
		{"expired", raw, p.Expires, ReasonTokenExpired},
		{"another key", forgedRaw, t0, ReasonTokenInvalid},
		{"another node", otherNodeRaw, t0, ReasonTokenInvalid},
		{"another node, expired", otherNodeRaw, p.Expires.Add(time.Hour), ReasonTokenInvalid},
		{"unreadable claims", noScope, t0, ReasonTokenInvalid},
		{"an EdDSA assertion", edToken, t0, ReasonTokenInvalid},
		{"garbage", "abc", t0, ReasonTokenMalformed},
		{"huge", strings.Repeat("a", MaxTokenBytes+1), t0, ReasonTokenMalformed},
	}
	for _, c := range cases {
		if _, err := tk.Verify(c.raw, c.at); err == nil || err.Reason != c.want || err.OAuth != "invalid_token" || err.Status != 401 {
			t.Errorf("%s: %v, want %s", c.name, err, c.want)
		}
	}
	if _, err := NewTokens(testKey[:31], "a", "b"); err == nil {
		t.Error("short key accepted")
	}
}

func FuzzVerifyToken(f *testing.F) {
	tk, _ := NewTokens(testKey, "http://n", "http://n/fhir")
	scopes, _ := ParseScopes("system/*.rs")
	good, _ := tk.Mint(&Principal{ClientID: "c", Kind: tx.KindOrganization, Scopes: scopes, TokenID: "t", IssuedAt: t0, Expires: t0.Add(time.Minute)})
	f.Add(good)
	f.Add("e30.e30.")
	f.Fuzz(func(t *testing.T, raw string) {
		p, err := tk.Verify(raw, t0)
		if err == nil && (p.ClientID == "" || len(p.Scopes) == 0) {
			t.Fatalf("accepted %q as %+v", raw, p)
		}
	})
}

// TestRFC7515Vector checks the HS256 signing of access tokens against
// RFC 7515 Appendix A.1.
func TestRFC7515Vector(t *testing.T) {
	key, _ := base64.RawURLEncoding.DecodeString("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
	const signingInput = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ"
	got, err := jwt.SigningMethodHS256.Sign(signingInput, key)
	if err != nil || base64.RawURLEncoding.EncodeToString(got) != "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" {
		t.Fatalf("signature %s, %v", base64.RawURLEncoding.EncodeToString(got), err)
	}
}

// TestTokenHolder names the client of this node's token whatever its
// times, and nobody for another node's token or garbage.
func TestTokenHolder(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	ours, err := NewTokens(key, "http://node", "http://node/fhir")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewTokens(bytes.Repeat([]byte{8}, 32), "http://node", "http://node/fhir")
	elsewhere, _ := NewTokens(key, "http://other", "http://other/fhir")
	scopes, _ := ParseScopes("system/*.rs")
	issued := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // long expired
	p := &Principal{ClientID: "ccclient", Kind: tx.KindApplication, Org: "ccorg", KeyVersion: 1, Scopes: scopes,
		TokenID: "t1", IssuedAt: issued, Expires: issued.Add(TokenLifetime)}
	for _, c := range []struct {
		name   string
		tokens *Tokens
		want   bool
	}{{"ours, expired", ours, true}, {"another key", other, false}, {"another node", elsewhere, false}} {
		raw, err := c.tokens.Mint(p)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := ours.Holder(raw)
		if ok != c.want || (ok && got != "ccclient") {
			t.Errorf("%s: holder %q %v", c.name, got, ok)
		}
	}
	if _, ok := ours.Holder("not.a.token"); ok {
		t.Error("garbage has a holder")
	}
}
