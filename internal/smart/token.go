package smart

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/tx"
)

// AlgHS256 signs access tokens. Only the node that issues a token ever
// verifies it, so a symmetric key is enough and nothing needs publishing.
const AlgHS256 = "HS256"

// MinTokenKeyBytes is the shortest token key accepted: HS256 wants at
// least the hash's 32 bytes (RFC 7518 §3.2).
const MinTokenKeyBytes = 32

// MaxTokenBytes bounds a bearer token before it is decoded.
const MaxTokenBytes = 8 << 10

// Principal is the authenticated caller of a FHIR request: who the access
// token was issued to and what it grants.
type Principal struct {
	ClientID   string          // the client's ledger actor id (the assertion's iss)
	Kind       tx.Kind         // organization, practitioner or application
	Org        string          // the organization it acts for; its own id for an organization
	KeyVersion uint32          // the client's key version when the token was issued
	Scopes     Scopes          // granted scopes
	Purpose    consent.Purpose // purpose of use; empty if the client stated none
	TokenID    string          // the access token's jti, for audit
	IssuedAt   time.Time
	Expires    time.Time
}

// accessClaims are an access token's claims. The token is opaque to
// clients; these names are documented in docs/smart.md for operators.
type accessClaims struct {
	jwt.RegisteredClaims
	Kind       string `json:"kind"`
	Org        string `json:"org"`
	KeyVersion uint32 `json:"key_version"`
	Scope      string `json:"scope"`
	Purpose    string `json:"purpose_of_use,omitempty"`
}

// Tokens issues and verifies one node's access tokens.
type Tokens struct {
	key      []byte
	issuer   string // the node's base URL
	audience string // the node's FHIR base URL
}

// NewTokens returns the token signer of the node at issuer whose FHIR API
// is at audience.
func NewTokens(key []byte, issuer, audience string) (*Tokens, error) {
	if len(key) < MinTokenKeyBytes {
		return nil, fmt.Errorf("token key has %d bytes; at least %d are needed", len(key), MinTokenKeyBytes)
	}
	return &Tokens{key: append([]byte(nil), key...), issuer: issuer, audience: audience}, nil
}

// Mint signs an access token for p, which must have its times, token id
// and scopes set.
func (t *Tokens) Mint(p *Principal) (string, error) {
	if p.TokenID == "" || len(p.Scopes) == 0 || !p.Expires.After(p.IssuedAt) {
		return "", errors.New("an access token needs a token id, scopes and a lifetime")
	}
	c := accessClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: t.issuer, Subject: p.ClientID, Audience: jwt.ClaimStrings{t.audience}, ID: p.TokenID,
		IssuedAt: jwt.NewNumericDate(p.IssuedAt), ExpiresAt: jwt.NewNumericDate(p.Expires),
	}, Kind: p.Kind.String(), Org: p.Org, KeyVersion: p.KeyVersion, Scope: p.Scopes.String(), Purpose: string(p.Purpose)}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(t.key)
}

// Verify checks an access token at now: signed by this node's key, issued
// by this node for its FHIR API, unexpired, with claims that parse. It does
// not consult the ledger; Server.Authenticate does that too.
func (t *Tokens) Verify(raw string, now time.Time) (*Principal, *Error) {
	if len(raw) > MaxTokenBytes {
		return nil, refuse(oauthInvalidToken, ReasonTokenMalformed, "the bearer token is longer than %d bytes", MaxTokenBytes)
	}
	var c accessClaims
	parser := jwt.NewParser(jwt.WithValidMethods([]string{AlgHS256}), jwt.WithIssuer(t.issuer), jwt.WithAudience(t.audience),
		jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return now }))
	_, err := parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.key, nil })
	// The library reports every failed claim at once; expiry is named only
	// for a token that is otherwise this node's, so that an expired token
	// from elsewhere is not mistaken for one of ours.
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		return nil, refuse(oauthInvalidToken, ReasonTokenMalformed, "the bearer token is not a token this node issued")
	case errors.Is(err, jwt.ErrTokenExpired) && !errors.Is(err, jwt.ErrTokenSignatureInvalid) && !errors.Is(err, jwt.ErrTokenUnverifiable) &&
		!errors.Is(err, jwt.ErrTokenInvalidIssuer) && !errors.Is(err, jwt.ErrTokenInvalidAudience):
		return nil, refuse(oauthInvalidToken, ReasonTokenExpired, "the access token has expired; request a new one at the token endpoint")
	default:
		// A bad signature, another node's token, or claims that do not
		// validate: in each case not a token this node issued.
		return nil, refuse(oauthInvalidToken, ReasonTokenInvalid, "the bearer token was not issued by this node")
	}
	kind, ok := tx.ParseKind(c.Kind)
	scopes, serr := ParseScopes(c.Scope)
	if !ok || serr != nil || c.Subject == "" || c.ID == "" || c.IssuedAt == nil {
		// Signed with our key yet unreadable: only a changed format does that.
		return nil, refuse(oauthInvalidToken, ReasonTokenInvalid, "the access token's claims are not readable by this node")
	}
	return &Principal{ClientID: c.Subject, Kind: kind, Org: c.Org, KeyVersion: c.KeyVersion, Scopes: scopes,
		Purpose: consent.Purpose(c.Purpose), TokenID: c.ID, IssuedAt: c.IssuedAt.Time, Expires: c.ExpiresAt.Time}, nil
}

// Holder returns the client an access token was issued to, if this node
// signed it for its own FHIR API, whatever its times say. It lets the
// gateway name the client of a refused expired token or a since-revoked
// client in the audit log; it authorizes nothing.
func (t *Tokens) Holder(raw string) (string, bool) {
	if len(raw) > MaxTokenBytes {
		return "", false
	}
	var c accessClaims
	parser := jwt.NewParser(jwt.WithValidMethods([]string{AlgHS256}), jwt.WithoutClaimsValidation())
	if _, err := parser.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return t.key, nil }); err != nil {
		return "", false
	}
	if c.Issuer != t.issuer || !slices.Contains([]string(c.Audience), t.audience) || c.Subject == "" {
		return "", false
	}
	return c.Subject, true
}
