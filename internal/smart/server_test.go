package smart

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testBase = "http://127.0.0.1:1"

func newTestServer(t *testing.T, w *world) (*Server, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	s, err := NewServer(Config{BaseURL: testBase + "/", TokenKey: testKey, Clients: w.ledger, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func postToken(t *testing.T, s *Server, form url.Values) (int, http.Header, map[string]any) {
	t.Helper()
	r := httptest.NewRequest("POST", TokenPath, strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.ServeToken(rec, r)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	return rec.Code, rec.Header(), out
}

func tokenForm(assertion, scope string) url.Values {
	return url.Values{"grant_type": {GrantClientCredentials}, "client_assertion_type": {AssertionTypeJWTBearer},
		"client_assertion": {assertion}, "scope": {scope}}
}

func TestTokenEndpoint(t *testing.T) {
	w := newWorld()
	s, clk := newTestServer(t, w)
	if s.TokenURL() != testBase+"/auth/token" || s.FHIRBaseURL() != testBase+"/fhir" {
		t.Fatalf("urls %s %s", s.TokenURL(), s.FHIRBaseURL())
	}
	a := assertion(t, w.app, s.TokenURL(), t0, 2*time.Minute, "one")
	form := tokenForm(a, "system/Observation.rs")
	form.Set("purpose_of_use", "TREAT")
	status, hdr, body := postToken(t, s, form)
	if status != 200 || body["token_type"] != "bearer" || body["expires_in"] != 300.0 || body["scope"] != "system/Observation.rs" ||
		body["purpose_of_use"] != "TREAT" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("token: %d %v %v", status, hdr, body)
	}
	tok := body["access_token"].(string)

	req := func(tok string) *http.Request {
		r := httptest.NewRequest("GET", "/fhir/Observation/1", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		return r
	}
	p, err := s.Authenticate(req(tok))
	if err != nil {
		t.Fatal(err)
	}
	if p.ClientID != w.app.id || p.Org != w.org.id || p.Purpose != "TREAT" || !p.Expires.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("principal %+v", p)
	}
	if p.Require("Observation", PermRead) != nil {
		t.Error("in-scope read refused")
	}
	if e := p.Require("Patient", PermRead); e == nil || e.Status != 403 || e.Reason != ReasonScopeInsufficient {
		t.Errorf("out of scope: %v", e)
	}

	// The same assertion again is a replay.
	if status, _, body := postToken(t, s, form); status != 401 || body["carechain_reason"] != string(ReasonAssertionReplayed) {
		t.Fatalf("replay: %d %v", status, body)
	}

	// Revocation and rotation end the token at once.
	w.ledger.update(w.app.id, func(c *Client) { c.KeyVersion = 2 })
	if _, err := s.Authenticate(req(tok)); err == nil || err.Reason != ReasonClientKeyChanged {
		t.Fatalf("rotated: %v", err)
	}
	w.ledger.update(w.app.id, func(c *Client) { c.KeyVersion = 1; c.Revoked = true })
	if _, err := s.Authenticate(req(tok)); err == nil || err.Reason != ReasonClientRevoked {
		t.Fatalf("revoked: %v", err)
	}
	w.ledger.update(w.app.id, func(c *Client) { c.Revoked = false })
	clk.advance(5 * time.Minute)
	if _, err := s.Authenticate(req(tok)); err == nil || err.Reason != ReasonTokenExpired {
		t.Fatalf("expired: %v", err)
	}

	// No header, two headers, another scheme.
	r := httptest.NewRequest("GET", "/fhir/Patient", nil)
	if _, err := s.Authenticate(r); err == nil || err.Reason != ReasonTokenMissing || err.OAuth != "" || err.Status != 401 {
		t.Fatalf("missing: %v", err)
	}
	if Challenge(&Error{Reason: ReasonTokenMissing}, "") != `Bearer realm="carechain"` {
		t.Error("challenge without a token must carry no error (RFC 6750 §3.1)")
	}
	r.Header.Add("Authorization", "Basic abc")
	if _, err := s.Authenticate(r); err == nil || err.Reason != ReasonTokenMalformed {
		t.Fatalf("basic: %v", err)
	}
	r.Header.Add("Authorization", "Bearer "+tok)
	if _, err := s.Authenticate(r); err == nil || err.Reason != ReasonTokenMalformed {
		t.Fatalf("two headers: %v", err)
	}
}

func TestTokenRequestRefusals(t *testing.T) {
	w := newWorld()
	s, _ := newTestServer(t, w)
	n := 0
	fresh := func(p party) string {
		n++
		return assertion(t, p, s.TokenURL(), t0, time.Minute, "j"+string(rune('a'+n)))
	}
	with := func(f url.Values, k, v string) url.Values { f.Set(k, v); return f }
	cases := []struct {
		name   string
		form   url.Values
		status int
		oauth  string
		reason Reason
	}{
		{"no grant type", with(tokenForm(fresh(w.org), "system/*.rs"), "grant_type", ""), 400, "invalid_request", ReasonRequestMalformed},
		{"password grant", with(tokenForm(fresh(w.org), "system/*.rs"), "grant_type", "password"), 400, "unsupported_grant_type", ReasonGrantUnsupported},
		{"wrong assertion type", with(tokenForm(fresh(w.org), "system/*.rs"), "client_assertion_type", "saml"), 400, "invalid_request", ReasonAssertionType},
		{"no assertion", tokenForm("", "system/*.rs"), 400, "invalid_request", ReasonRequestMalformed},
		{"no scope", tokenForm(fresh(w.org), ""), 400, "invalid_scope", ReasonScopeInvalid},
		{"patient scope", tokenForm(fresh(w.org), "patient/*.rs"), 400, "invalid_scope", ReasonScopeInvalid},
		{"bad purpose", with(tokenForm(fresh(w.org), "system/*.rs"), "purpose_of_use", "SPAM"), 400, "invalid_request", ReasonPurposeInvalid},
		{"client_id differs", with(tokenForm(fresh(w.org), "system/*.rs"), "client_id", w.app.id), 401, "invalid_client", ReasonAssertionClaims},
		{"wrong aud", tokenForm(assertion(t, w.org, "http://other/auth/token", t0, time.Minute, "x"), "system/*.rs"), 401, "invalid_client", ReasonAssertionAudience},
		{"patient", tokenForm(fresh(w.patient), "system/*.rs"), 400, "unauthorized_client", ReasonClientKind},
		{"unknown", tokenForm(fresh(w.stray), "system/*.rs"), 401, "invalid_client", ReasonClientUnknown},
	}
	for _, c := range cases {
		status, hdr, body := postToken(t, s, c.form)
		if status != c.status || body["error"] != c.oauth || body["carechain_reason"] != string(c.reason) {
			t.Errorf("%s: %d %v", c.name, status, body)
		}
		if status == 401 && hdr.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: 401 without WWW-Authenticate", c.name)
		}
	}

	// Purposes in the form and in the assertion must agree.
	a, _ := NewAssertion(w.org.key, w.org.id, s.TokenURL(), t0, time.Minute, "p1", "HPAYMT")
	if status, _, body := postToken(t, s, with(tokenForm(a, "system/*.rs"), "purpose_of_use", "TREAT")); status != 400 || body["carechain_reason"] != string(ReasonPurposeInvalid) {
		t.Errorf("purpose mismatch: %d %v", status, body)
	}
	a, _ = NewAssertion(w.org.key, w.org.id, s.TokenURL(), t0, time.Minute, "p2", "HPAYMT")
	if status, _, body := postToken(t, s, tokenForm(a, "system/*.rs")); status != 200 || body["purpose_of_use"] != "HPAYMT" {
		t.Errorf("purpose from the assertion: %d %v", status, body)
	}

	// Form encoding, repeated parameters, method.
	r := httptest.NewRequest("POST", TokenPath, strings.NewReader(`{"grant_type":"client_credentials"}`))
	r.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeToken(rec, r)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "x-www-form-urlencoded") {
		t.Errorf("json body: %d %s", rec.Code, rec.Body)
	}
	f := tokenForm(fresh(w.org), "system/*.rs")
	f.Add("scope", "system/*.cruds")
	if status, _, body := postToken(t, s, f); status != 400 || !strings.Contains(body["error_description"].(string), "repeated") {
		t.Errorf("repeated scope: %d %v", status, body)
	}
	rec = httptest.NewRecorder()
	s.ServeToken(rec, httptest.NewRequest("GET", TokenPath, nil))
	if rec.Code != 405 || rec.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d", rec.Code)
	}
	big := strings.NewReader("scope=" + strings.Repeat("a", maxFormBytes))
	r = httptest.NewRequest("POST", TokenPath, big)
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec = httptest.NewRecorder()
	s.ServeToken(rec, r)
	if rec.Code != 400 {
		t.Errorf("oversized body: %d", rec.Code)
	}
}

// TestTokenEndpointServesItsOrganization: a gateway that acts for an
// organization issues tokens to it and its members only. Another
// organization's clients are refused as invalid_client before their jti
// is spent, and the refusal is logged with its reason.
func TestTokenEndpointServesItsOrganization(t *testing.T) {
	w := newWorld()
	var logs strings.Builder
	s, err := NewServer(Config{BaseURL: testBase, TokenKey: testKey, Clients: w.ledger, Org: w.org.id,
		Now: func() time.Time { return t0 }, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []party{w.org, w.app, w.doc} {
		if status, _, body := postToken(t, s, tokenForm(assertion(t, p, s.TokenURL(), t0, time.Minute, "own"), "system/*.rs")); status != 200 {
			t.Errorf("own organization's client %s: %d %v", p.id, status, body)
		}
	}
	spent := s.replay.Len()
	for _, p := range []party{w.other, w.outsider} {
		status, hdr, body := postToken(t, s, tokenForm(assertion(t, p, s.TokenURL(), t0, time.Minute, "foreign"), "system/*.rs"))
		desc, _ := body["error_description"].(string)
		if status != 401 || body["error"] != "invalid_client" || body["carechain_reason"] != string(ReasonOrganizationMismatch) ||
			hdr.Get("WWW-Authenticate") == "" || !strings.Contains(desc, w.other.id) || !strings.Contains(desc, "own organization's gateway") {
			t.Errorf("another organization's client %s: %d %v %v", p.id, status, hdr, body)
		}
	}
	if s.replay.Len() != spent {
		t.Errorf("refused assertions used up their jti: %d remembered, want %d", s.replay.Len(), spent)
	}
	if n := strings.Count(logs.String(), "reason="+string(ReasonOrganizationMismatch)); n != 2 {
		t.Errorf("%d refusals logged, want 2:\n%s", n, logs.String())
	}

	// Without an organization the endpoint serves every organization's clients.
	open, _ := newTestServer(t, w)
	if status, _, body := postToken(t, open, tokenForm(assertion(t, w.outsider, open.TokenURL(), t0, time.Minute, "any"), "system/*.rs")); status != 200 {
		t.Errorf("a gateway for no organization refused %s: %d %v", w.outsider.id, status, body)
	}
}

func TestConfigurationDocument(t *testing.T) {
	s, _ := newTestServer(t, newWorld())
	rec := httptest.NewRecorder()
	s.ServeConfiguration(rec, httptest.NewRequest("GET", ConfigurationPath, nil))
	b, _ := io.ReadAll(rec.Body)
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%s: %v", b, err)
	}
	if c["token_endpoint"] != testBase+"/auth/token" || c["grant_types_supported"].([]any)[0] != "client_credentials" ||
		c["token_endpoint_auth_methods_supported"].([]any)[0] != "private_key_jwt" ||
		c["token_endpoint_auth_signing_alg_values_supported"].([]any)[0] != "EdDSA" {
		t.Fatalf("configuration %s", b)
	}
	// Nothing of the user-facing flows is claimed.
	for _, k := range []string{"authorization_endpoint", "code_challenge_methods_supported", "jwks_uri"} {
		if _, ok := c[k]; ok {
			t.Errorf("configuration claims %s", k)
		}
	}
}

func TestNewServerChecks(t *testing.T) {
	w := newWorld()
	for _, cfg := range []Config{
		{BaseURL: "127.0.0.1:1", TokenKey: testKey, Clients: w.ledger},
		{BaseURL: testBase, TokenKey: testKey[:10], Clients: w.ledger},
		{BaseURL: testBase, TokenKey: testKey},
	} {
		if _, err := NewServer(cfg); err == nil {
			t.Errorf("accepted %+v", cfg)
		}
	}
}

// FuzzTokenRequest throws arbitrary bodies at the token endpoint: it must
// answer every one with JSON, a token only for a good assertion.
func FuzzTokenRequest(f *testing.F) {
	w := newWorld()
	good := tokenForm(assertion(f, w.org, testBase+TokenPath, t0, time.Minute, "seed"), "system/*.rs").Encode()
	f.Add(good)
	f.Add("grant_type=client_credentials&scope=system%2F*.rs")
	f.Add("a=1&a=2")
	f.Add("%zz")
	f.Fuzz(func(t *testing.T, body string) {
		s, _ := newTestServer(t, w)
		r := httptest.NewRequest("POST", TokenPath, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		s.ServeToken(rec, r)
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%q: answer %q is not JSON", body, rec.Body)
		}
		if rec.Code == 200 && out["access_token"] == nil || rec.Code != 200 && out["error"] == nil {
			t.Fatalf("%q: %d %v", body, rec.Code, out)
		}
	})
}

// TestTokenRefusalsAreReported checks that every refused token request,
// and no issued one, reaches Config.Refused with its reason and the client
// it claimed: the assertion's iss, else the client_id parameter.
func TestTokenRefusalsAreReported(t *testing.T) {
	w := newWorld()
	var mu sync.Mutex
	var heard []string
	clk := &clock{t: t0}
	s, err := NewServer(Config{BaseURL: testBase, TokenKey: testKey, Clients: w.ledger, Now: clk.now,
		Refused: func(reason Reason, claimed string) {
			mu.Lock()
			heard = append(heard, string(reason)+" "+claimed)
			mu.Unlock()
		}})
	if err != nil {
		t.Fatal(err)
	}
	// A forged assertion: signed by the stray key, claiming the app.
	forged, err := NewAssertion(w.stray.key, w.app.id, s.TokenURL(), t0, time.Minute, "forged", "")
	if err != nil {
		t.Fatal(err)
	}
	noAssertion := url.Values{"grant_type": {GrantClientCredentials}, "client_assertion_type": {AssertionTypeJWTBearer},
		"client_id": {w.doc.id}, "scope": {"system/*.rs"}}
	for _, form := range []url.Values{
		tokenForm(assertion(t, w.app, s.TokenURL(), t0, time.Minute, "good"), "system/*.rs"),
		tokenForm(forged, "system/*.rs"),
		tokenForm(assertion(t, w.stray, s.TokenURL(), t0, time.Minute, "stray"), "system/*.rs"),
		tokenForm("not a jwt", "system/*.rs"),
		noAssertion,
	} {
		postToken(t, s, form)
	}
	s.ServeToken(httptest.NewRecorder(), httptest.NewRequest("GET", TokenPath, nil))
	want := []string{
		"assertion_bad_signature " + w.app.id,
		"client_unknown " + w.stray.id,
		"assertion_malformed ",
		"request_malformed " + w.doc.id,
		"request_malformed ",
	}
	if strings.Join(heard, "\n") != strings.Join(want, "\n") {
		t.Errorf("heard\n%s\nwant\n%s", strings.Join(heard, "\n"), strings.Join(want, "\n"))
	}
}

// TestClaimedClient checks what a FHIR request's bearer token claims,
// signed or not: its sub, else its client_id, else nothing.
func TestClaimedClient(t *testing.T) {
	w := newWorld()
	s, _ := newTestServer(t, w)
	other, err := NewTokens([]byte(strings.Repeat("k", MinTokenKeyBytes)), "https://elsewhere", "https://elsewhere/fhir")
	if err != nil {
		t.Fatal(err)
	}
	scopes, _ := ParseScopes("system/*.rs")
	foreign, err := other.Mint(&Principal{ClientID: w.doc.id, Scopes: scopes, TokenID: "x", IssuedAt: t0, Expires: t0.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	// {"alg":"none"}.{"client_id":"ccunsigned"}.
	unsigned := "eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJjY3Vuc2lnbmVkIn0."
	for header, want := range map[string]string{
		"":                          "",
		"Bearer " + foreign:         w.doc.id,
		"bearer " + unsigned:        "ccunsigned",
		"Bearer not-a-token":        "",
		"Basic " + foreign:          "",
		"Bearer " + foreign + "xyz": w.doc.id, // a broken signature is still a claim
	} {
		r := httptest.NewRequest("GET", "/fhir/Patient", nil)
		if header != "" {
			r.Header.Set("Authorization", header)
		}
		if got := ClaimedClient(r); got != want {
			t.Errorf("%.30q: claimed %q, want %q", header, got, want)
		}
		if _, aerr := s.Authenticate(r); aerr == nil {
			t.Errorf("%.30q: authenticated", header)
		}
	}
}
