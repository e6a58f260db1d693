package smart

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/tx"
)

// Lifetimes and tolerances. Five minutes is the ceiling SMART Backend
// Services sets for both the client's assertion and the access token.
const (
	MaxAssertionLifetime = 5 * time.Minute
	TokenLifetime        = 5 * time.Minute
	// ClockSkew is how far a client's clock may be from the node's: an
	// assertion is accepted this long after its exp, and its exp may lie
	// this much beyond the five minutes.
	ClockSkew = 30 * time.Second
	// MaxAssertionBytes bounds an assertion before it is decoded; a real
	// one is a few hundred bytes.
	MaxAssertionBytes = 8 << 10
	// MaxJTILen bounds a jti, which the replay cache keeps.
	MaxJTILen = 256
)

// AlgEdDSA is the only assertion signing algorithm: ledger keys are Ed25519.
const AlgEdDSA = "EdDSA"

// Client is what the ledger holds about a would-be client.
type Client struct {
	ID         string
	Kind       tx.Kind
	Org        string // its organization; for an organization, itself
	SignKey    ed25519.PublicKey
	KeyVersion uint32
	Revoked    bool
}

// Clients finds clients on the ledger's committed state. Client returns an
// error wrapping ErrUnknownClient when id is not registered; any other
// error means the state could not be read.
type Clients interface {
	Client(id string) (*Client, error)
}

// ErrUnknownClient is returned by Clients for an id not on the ledger.
var ErrUnknownClient = errors.New("not registered on the ledger")

// MayHoldSystemToken reports whether actors of kind k may act as system
// clients: organizations and the practitioners and applications they
// admitted. Patients, delegates and auditors use the native API with their
// own signatures, the admin nothing.
func MayHoldSystemToken(k tx.Kind) bool {
	return k == tx.KindOrganization || k == tx.KindPractitioner || k == tx.KindApplication
}

// Assertion is a verified client assertion.
type Assertion struct {
	Client  *Client
	JTI     string
	Expires time.Time
	Purpose consent.Purpose // empty if the assertion states none
}

// assertionClaims are the claims of a client assertion (RFC 7523 §3, SMART
// Backend Services), with carechain's optional purpose of use.
type assertionClaims struct {
	jwt.RegisteredClaims
	Purpose string `json:"purpose_of_use,omitempty"`
}

// VerifyAssertion checks a client assertion for the token endpoint at
// audience, at time now: well-formed, signed with EdDSA by the current key
// of the client named in iss (= sub), unrevoked and of a kind that may hold
// a system token, aimed at audience, unexpired, at most five minutes
// (plus ClockSkew) ahead, with a jti. It does not check that the jti is
// new: that is the replay cache's job, once the assertion is known good.
func VerifyAssertion(raw string, clients Clients, audience string, now time.Time) (*Assertion, error) {
	if len(raw) > MaxAssertionBytes {
		return nil, refuse(oauthInvalidClient, ReasonAssertionMalformed, "client_assertion is longer than %d bytes", MaxAssertionBytes)
	}
	var claims assertionClaims
	var client *Client
	var lookupErr error
	parser := jwt.NewParser(jwt.WithValidMethods([]string{AlgEdDSA}), jwt.WithAudience(audience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt(), jwt.WithLeeway(ClockSkew),
		jwt.WithTimeFunc(func() time.Time { return now }))
	_, err := parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		c, ok := t.Claims.(*assertionClaims)
		if !ok || c.Issuer == "" {
			lookupErr = refuse(oauthInvalidClient, ReasonAssertionClaims, "the assertion has no iss: it must be the client's ledger id")
			return nil, lookupErr
		}
		if c.Subject != c.Issuer {
			lookupErr = refuse(oauthInvalidClient, ReasonAssertionClaims, "the assertion's sub must equal its iss (the client's ledger id)")
			return nil, lookupErr
		}
		client, lookupErr = lookupClient(clients, c.Issuer)
		if lookupErr != nil {
			return nil, lookupErr
		}
		return client.SignKey, nil
	})
	if lookupErr != nil {
		return nil, lookupErr
	}
	if err != nil {
		return nil, assertionError(err)
	}
	if !MayHoldSystemToken(client.Kind) {
		return nil, refuse(oauthUnauthorized, ReasonClientKind, "a %s cannot hold a system token; only organizations, practitioners and applications can", client.Kind)
	}
	if claims.ID == "" || len(claims.ID) > MaxJTILen {
		return nil, refuse(oauthInvalidClient, ReasonAssertionClaims, "the assertion needs a jti of 1 to %d bytes", MaxJTILen)
	}
	exp := claims.ExpiresAt.Time
	if exp.After(now.Add(MaxAssertionLifetime + ClockSkew)) {
		return nil, refuse(oauthInvalidClient, ReasonAssertionLifetime, "the assertion expires %s from now; at most %s is allowed",
			exp.Sub(now).Round(time.Second), MaxAssertionLifetime)
	}
	purpose := consent.Purpose(claims.Purpose)
	if purpose != "" && !consent.IsKnownPurpose(purpose) {
		return nil, purposeError(claims.Purpose)
	}
	return &Assertion{Client: client, JTI: claims.ID, Expires: exp, Purpose: purpose}, nil
}

// lookupClient finds an unrevoked client; its errors are refusals except
// when the ledger cannot be read.
func lookupClient(clients Clients, id string) (*Client, error) {
	c, err := clients.Client(id)
	switch {
	case errors.Is(err, ErrUnknownClient):
		return nil, refuse(oauthInvalidClient, ReasonClientUnknown, "client %s is not registered on the ledger", clip(id))
	case err != nil:
		return nil, refuse(oauthServerError, ReasonLedgerUnavailable, "cannot read client %s from the ledger: %v", clip(id), err)
	case c.Revoked:
		return nil, refuse(oauthInvalidClient, ReasonClientRevoked, "client %s was revoked", c.ID)
	case len(c.SignKey) != ed25519.PublicKeySize:
		return nil, refuse(oauthServerError, ReasonLedgerUnavailable, "client %s has no Ed25519 key on the ledger", c.ID)
	}
	return c, nil
}

// assertionError maps the JWT library's errors to refusals with a reason.
func assertionError(err error) *Error {
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return refuse(oauthInvalidClient, ReasonAssertionMalformed, "client_assertion is not a JWT: %v", err)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		return refuse(oauthInvalidClient, ReasonAssertionSignature, "the assertion is not signed with EdDSA by the client's key on the ledger")
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return refuse(oauthInvalidClient, ReasonAssertionAudience, "the assertion's aud must be this node's token endpoint")
	case errors.Is(err, jwt.ErrTokenExpired):
		return refuse(oauthInvalidClient, ReasonAssertionExpired, "the assertion has expired")
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return refuse(oauthInvalidClient, ReasonAssertionClaims, "the assertion lacks a required claim: %v", err)
	default:
		return refuse(oauthInvalidClient, ReasonAssertionClaims, "the assertion's claims are not acceptable: %v", err)
	}
}

func purposeError(p string) *Error {
	return refuse(oauthInvalidRequest, ReasonPurposeInvalid, "purpose_of_use %q is not one of TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT, BTG", clip(p))
}

// NewAssertion signs a client assertion as clientID with key, for the token
// endpoint at audience, valid from now for lifetime (at most five
// minutes), with the given single-use jti and optional purpose of use.
// It is the client's half of the flow; the CLI uses it.
func NewAssertion(key ed25519.PrivateKey, clientID, audience string, now time.Time, lifetime time.Duration, jti string, purpose consent.Purpose) (string, error) {
	if lifetime <= 0 || lifetime > MaxAssertionLifetime {
		return "", fmt.Errorf("assertion lifetime %s must be positive and at most %s", lifetime, MaxAssertionLifetime)
	}
	if jti == "" {
		return "", errors.New("an assertion needs a jti")
	}
	claims := assertionClaims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: clientID, Subject: clientID, Audience: jwt.ClaimStrings{audience}, ID: jti,
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(lifetime)),
	}, Purpose: string(purpose)}
	return jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(key)
}
