package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/tx"
)

// fhirGet calls the node's FHIR API with an optional bearer token and
// returns the status, the WWW-Authenticate header and the OperationOutcome's
// issue code and carechain code (empty for any other body).
func fhirGet(t *testing.T, base, path, token string) (status int, wwwAuth, issue, code string) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	var oo struct {
		ResourceType string `json:"resourceType"`
		Issue        []struct {
			Code    string `json:"code"`
			Details struct {
				Coding []struct{ Code string } `json:"coding"`
			} `json:"details"`
		} `json:"issue"`
	}
	if json.Unmarshal(b, &oo) == nil && oo.ResourceType == "OperationOutcome" && len(oo.Issue) == 1 {
		issue = oo.Issue[0].Code
		if len(oo.Issue[0].Details.Coding) > 0 {
			code = oo.Issue[0].Details.Coding[0].Code
		}
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), issue, code
}

// postToken sends a token request with an assertion signed by signer's key
// in the name of clientID, and returns the status and the OAuth error and
// carechain reason (or the access token on success).
func postToken(t *testing.T, tokenURL string, signer *keyfile.Key, clientID, aud, jti, scope string) (int, string, string, string) {
	t.Helper()
	a, err := smart.NewAssertion(signer.Sign, clientID, aud, time.Now(), time.Minute, jti, "")
	if err != nil {
		t.Fatal(err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {smart.AssertionTypeJWTBearer},
		"client_assertion": {a}, "scope": {scope}}
	resp, err := http.PostForm(tokenURL, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Reason      string `json:"carechain_reason"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body.Error, body.Reason, body.AccessToken
}

// TestSMARTNegativeMatrix drives a real single-validator node: every way a
// system client can fail to get or use a token is refused with the right
// status and reason, at the token endpoint as an OAuth error (RFC 6749
// §5.2) and at /fhir as an OperationOutcome with a WWW-Authenticate
// challenge.
func TestSMARTNegativeMatrix(t *testing.T) {
	home := filepath.Join(t.TempDir(), "node")
	n := nodetest.Start(t, home, "gateway-test")
	c := client.New(n.APIURL)
	ctx := context.Background()
	admin, err := keyfile.Load(filepath.Join(home, node.AdminKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	org := register(t, c, tx.KindOrganization, admin)
	app := register(t, c, tx.KindApplication, org)
	doomed := register(t, c, tx.KindApplication, org)
	patient := register(t, c, tx.KindPatient, nil)
	stranger, _ := keyfile.Generate()
	tokenURL := n.APIURL + smart.TokenPath

	// Public: discovery and the capability statement.
	cfg, err := c.SMARTConfiguration(ctx)
	if err != nil || cfg.TokenEndpoint != tokenURL || cfg.TokenEndpointAuthMethodsSupported[0] != "private_key_jwt" {
		t.Fatalf("smart-configuration = %+v, %v", cfg, err)
	}
	if status, _, _, _ := fhirGet(t, n.APIURL, "/fhir/metadata", ""); status != 200 {
		t.Fatalf("metadata: %d", status)
	}
	_, meta := get(t, n.APIURL+"/fhir/metadata")
	for _, want := range []string{`"resourceType":"CapabilityStatement"`, `"fhirVersion":"4.0.1"`, `"code":"SMART-on-FHIR"`, `"valueUri":"` + tokenURL + `"`} {
		if !strings.Contains(string(meta), want) {
			t.Errorf("metadata lacks %s: %s", want, meta)
		}
	}
	// The FHIR base itself is behind the token too, with or without a slash.
	for _, p := range []string{"/fhir", "/fhir/", "/fhir/Patient?name=x"} {
		if status, _, issue, _ := fhirGet(t, n.APIURL, p, ""); status != 401 || issue != "login" {
			t.Errorf("GET %s without a token: %d %s", p, status, issue)
		}
	}
	if status, _ := get(t, tokenURL); status != 405 {
		t.Errorf("GET /auth/token: %d", status)
	}

	// A good token works: nothing is registered on /fhir yet, so an
	// in-scope read is told the type is not supported, not refused.
	tok, err := c.Token(ctx, app, "system/*.rs", "TREAT")
	if err != nil || tok.ExpiresIn != 300 || tok.Purpose != "TREAT" {
		t.Fatalf("token = %+v, %v", tok, err)
	}
	if status, _, _, code := fhirGet(t, n.APIURL, "/fhir/Observation/1", tok.AccessToken); status != 404 || code != "type_not_supported" {
		t.Fatalf("good token: %d %s", status, code)
	}

	// Token endpoint refusals.
	tokenCases := []struct {
		name                   string
		signer                 *keyfile.Key
		client, aud, jti, scop string
		status                 int
		oauth                  string
		reason                 smart.Reason
	}{
		{"unknown client", stranger, stranger.ID, tokenURL, "u1", "system/*.rs", 401, "invalid_client", smart.ReasonClientUnknown},
		{"forged assertion", stranger, app.ID, tokenURL, "f1", "system/*.rs", 401, "invalid_client", smart.ReasonAssertionSignature},
		{"wrong aud", app, app.ID, "http://127.0.0.1:1/auth/token", "a1", "system/*.rs", 401, "invalid_client", smart.ReasonAssertionAudience},
		{"patient kind", patient, patient.ID, tokenURL, "p1", "system/*.rs", 400, "unauthorized_client", smart.ReasonClientKind},
		{"patient scope", app, app.ID, tokenURL, "s1", "patient/*.rs", 400, "invalid_scope", smart.ReasonScopeInvalid},
	}
	for _, tc := range tokenCases {
		status, oauth, reason, _ := postToken(t, tokenURL, tc.signer, tc.client, tc.aud, tc.jti, tc.scop)
		if status != tc.status || oauth != tc.oauth || reason != string(tc.reason) {
			t.Errorf("%s: %d %s/%s, want %d %s/%s", tc.name, status, oauth, reason, tc.status, tc.oauth, tc.reason)
		}
	}
	// A replayed jti.
	if status, _, _, _ := postToken(t, tokenURL, app, app.ID, tokenURL, "r1", "system/*.rs"); status != 200 {
		t.Fatalf("first use: %d", status)
	}
	if status, oauth, reason, _ := postToken(t, tokenURL, app, app.ID, tokenURL, "r1", "system/*.rs"); status != 401 || oauth != "invalid_client" || reason != string(smart.ReasonAssertionReplayed) {
		t.Errorf("replayed jti: %d %s/%s", status, oauth, reason)
	}

	// Tokens the node's own key signs, for what a client cannot ask for:
	// an expired token, and one naming a client the ledger does not know.
	key, err := smart.LoadOrCreateTokenKey(filepath.Join(home, node.TokenKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	own, _ := smart.NewTokens(key, n.APIURL, n.APIURL+smart.FHIRPath)
	other, _ := smart.NewTokens([]byte(strings.Repeat("k", 32)), n.APIURL, n.APIURL+smart.FHIRPath)
	scopes, _ := smart.ParseScopes("system/*.rs")
	mint := func(tk *smart.Tokens, id string, issued time.Time) string {
		raw, err := tk.Mint(&smart.Principal{ClientID: id, Kind: tx.KindApplication, Org: org.ID, KeyVersion: 1, Scopes: scopes,
			TokenID: "t", IssuedAt: issued, Expires: issued.Add(smart.TokenLifetime)})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	// A token issued before the client was revoked stops working at once.
	doomedTok, err := c.Token(ctx, doomed, "system/*.rs", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Send(ctx, org, &tx.RevokeActor{Actor: doomed.ID, Reason: "decommissioned"}); err != nil {
		t.Fatal(err)
	}
	narrow, err := c.Token(ctx, app, "system/Patient.rs", "")
	if err != nil {
		t.Fatal(err)
	}

	fhirCases := []struct {
		name, token string
		status      int
		issue, code string
		challenge   string
	}{
		{"no token", "", 401, "login", "token_missing", `Bearer realm="carechain"`},
		{"expired token", mint(own, app.ID, time.Now().Add(-smart.TokenLifetime-time.Minute)), 401, "expired", "token_expired", `error="invalid_token"`},
		{"forged token", mint(other, app.ID, time.Now()), 401, "unknown", "token_invalid", `error="invalid_token"`},
		{"garbage token", "abc.def", 401, "unknown", "token_malformed", `error="invalid_token"`},
		{"unknown client", mint(own, stranger.ID, time.Now()), 401, "unknown", "client_unknown", `error="invalid_token"`},
		{"revoked client", doomedTok.AccessToken, 401, "unknown", "client_revoked", `error="invalid_token"`},
		{"wrong scope", narrow.AccessToken, 403, "forbidden", "scope_insufficient", `error="insufficient_scope", error_description=`},
	}
	for _, fc := range fhirCases {
		status, challenge, issue, code := fhirGet(t, n.APIURL, "/fhir/Observation/1", fc.token)
		if status != fc.status || issue != fc.issue || code != fc.code || !strings.Contains(challenge, fc.challenge) {
			t.Errorf("%s: %d %s/%s %q, want %d %s/%s %q", fc.name, status, issue, code, challenge, fc.status, fc.issue, fc.code, fc.challenge)
		}
	}
	// And the revoked client gets no new token.
	if _, err := c.Token(ctx, doomed, "system/*.rs", ""); !isReason(err, smart.ReasonClientRevoked) {
		t.Errorf("revoked client's token request: %v", err)
	}

	// A rotated key ends the tokens issued under the old one.
	next, _ := keyfile.GenerateFor(app.ID)
	if _, err := c.Send(ctx, app, tx.NewRotation("gateway-test", app.ID, next.Sign, next.HPKEPublic())); err != nil {
		t.Fatal(err)
	}
	if status, _, _, code := fhirGet(t, n.APIURL, "/fhir/Observation/1", tok.AccessToken); status != 401 || code != "client_key_changed" {
		t.Errorf("token after rotation: %d %s", status, code)
	}
	if _, err := c.Token(ctx, app, "system/*.rs", ""); !isReason(err, smart.ReasonAssertionSignature) {
		t.Errorf("old key after rotation: %v", err)
	}
	if _, err := c.Token(ctx, next, "system/*.rs", ""); err != nil {
		t.Errorf("new key after rotation: %v", err)
	}
}

func isReason(err error, r smart.Reason) bool {
	var ce *client.Error
	return errors.As(err, &ce) && strings.HasSuffix(ce.Name, "/"+string(r))
}
