package client

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/smart"
)

// AssertionLifetime is how long the client assertions Token signs live:
// long enough for one round trip with a slow clock, well inside the five
// minutes the server allows.
const AssertionLifetime = 2 * time.Minute

// SMARTConfiguration reads the node's SMART discovery document.
func (c *Client) SMARTConfiguration(ctx context.Context) (*smart.Configuration, error) {
	var cfg smart.Configuration
	if err := c.do(ctx, http.MethodGet, smart.ConfigurationPath, nil, &cfg); err != nil {
		return nil, err
	}
	if cfg.TokenEndpoint == "" {
		return nil, fmt.Errorf("%s%s names no token endpoint", c.base, smart.ConfigurationPath)
	}
	return &cfg, nil
}

// Token gets a SMART Backend Services access token for key's actor: it
// finds the token endpoint, signs a fresh single-use assertion for it with
// the actor's ledger key, and asks for scope (e.g. "system/*.rs") with an
// optional purpose of use. A refusal is an *Error whose Name is the OAuth
// error and carechain reason, e.g. "invalid_client/client_revoked".
func (c *Client) Token(ctx context.Context, key *keyfile.Key, scope string, purpose consent.Purpose) (*smart.TokenResponse, error) {
	cfg, err := c.SMARTConfiguration(ctx)
	if err != nil {
		return nil, err
	}
	var jti [16]byte
	if _, err := rand.Read(jti[:]); err != nil {
		return nil, err
	}
	assertion, err := smart.NewAssertion(key.Sign, key.ID, cfg.TokenEndpoint, time.Now(), AssertionLifetime,
		base64.RawURLEncoding.EncodeToString(jti[:]), purpose)
	if err != nil {
		return nil, err
	}
	form := url.Values{"grant_type": {smart.GrantClientCredentials}, "client_assertion_type": {smart.AssertionTypeJWTBearer},
		"client_assertion": {assertion}, "scope": {scope}}
	if purpose != "" {
		form.Set("purpose_of_use", string(purpose))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the token endpoint %s: %w", cfg.TokenEndpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("read the token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e smart.ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Error != "" {
			return nil, &Error{HTTPStatus: resp.StatusCode, Name: e.Error + "/" + string(e.Reason), Message: e.Description}
		}
		return nil, &Error{HTTPStatus: resp.StatusCode, Message: strings.TrimSpace(string(data))}
	}
	var tok smart.TokenResponse
	if err := json.Unmarshal(data, &tok); err != nil || tok.AccessToken == "" {
		return nil, fmt.Errorf("the token endpoint answered without a token: %.200s", data)
	}
	return &tok, nil
}
