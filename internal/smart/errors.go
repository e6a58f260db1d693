package smart

import (
	"errors"
	"fmt"
	"net/http"
)

// Reason is carechain's stable name for why a token was refused. OAuth's
// error codes are coarse (a bad signature and an unknown client are both
// invalid_client); a Reason says which, in responses and logs. Reasons
// are never renamed: clients and operators key on them.
type Reason string

// Reasons at the token endpoint.
const (
	ReasonRequestMalformed   Reason = "request_malformed"
	ReasonGrantUnsupported   Reason = "grant_type_unsupported"
	ReasonAssertionType      Reason = "assertion_type_unsupported"
	ReasonAssertionMalformed Reason = "assertion_malformed"
	ReasonAssertionSignature Reason = "assertion_bad_signature"
	ReasonAssertionExpired   Reason = "assertion_expired"
	ReasonAssertionLifetime  Reason = "assertion_lifetime_too_long"
	ReasonAssertionAudience  Reason = "assertion_wrong_audience"
	ReasonAssertionClaims    Reason = "assertion_claims_invalid"
	ReasonAssertionReplayed  Reason = "assertion_replayed"
	ReasonClientUnknown      Reason = "client_unknown"
	ReasonClientRevoked      Reason = "client_revoked"
	ReasonClientKind         Reason = "client_kind_not_allowed"
	ReasonScopeInvalid       Reason = "scope_invalid"
	ReasonPurposeInvalid     Reason = "purpose_invalid"
	ReasonBusy               Reason = "replay_cache_full"
	ReasonLedgerUnavailable  Reason = "ledger_unavailable"
	ReasonInternal           Reason = "internal"

	// ReasonOrganizationMismatch: the client is not a member of the
	// organization this gateway acts for. The FHIR API answers a token
	// for another organization with the same reason.
	ReasonOrganizationMismatch Reason = "organization_mismatch"
)

// Reasons at the resource server (the FHIR API).
const (
	ReasonTokenMissing      Reason = "token_missing"
	ReasonTokenMalformed    Reason = "token_malformed"
	ReasonTokenInvalid      Reason = "token_invalid"
	ReasonTokenExpired      Reason = "token_expired"
	ReasonClientKeyChanged  Reason = "client_key_changed"
	ReasonScopeInsufficient Reason = "scope_insufficient"
)

// Reasons lists every reason, for documentation and its test.
func Reasons() []Reason {
	return []Reason{ReasonRequestMalformed, ReasonGrantUnsupported, ReasonAssertionType, ReasonAssertionMalformed,
		ReasonAssertionSignature, ReasonAssertionExpired, ReasonAssertionLifetime, ReasonAssertionAudience,
		ReasonAssertionClaims, ReasonAssertionReplayed, ReasonClientUnknown, ReasonClientRevoked, ReasonClientKind,
		ReasonScopeInvalid, ReasonPurposeInvalid, ReasonBusy, ReasonLedgerUnavailable, ReasonInternal, ReasonOrganizationMismatch,
		ReasonTokenMissing, ReasonTokenMalformed, ReasonTokenInvalid, ReasonTokenExpired, ReasonClientKeyChanged,
		ReasonScopeInsufficient}
}

// Error is a refusal: the OAuth error code (RFC 6749 §5.2 at the token
// endpoint, RFC 6750 §3.1 at the resource server), carechain's reason, the
// HTTP status to answer with and a description for people.
type Error struct {
	OAuth       string // e.g. invalid_client; empty for a request with no token at all (RFC 6750 §3.1)
	Reason      Reason
	Status      int
	Description string
}

func (e *Error) Error() string {
	if e.OAuth == "" {
		return fmt.Sprintf("%s: %s", e.Reason, e.Description)
	}
	return fmt.Sprintf("%s (%s): %s", e.OAuth, e.Reason, e.Description)
}

// The OAuth error codes used here.
const (
	oauthInvalidRequest   = "invalid_request"
	oauthInvalidClient    = "invalid_client"
	oauthUnauthorized     = "unauthorized_client"
	oauthUnsupportedGrant = "unsupported_grant_type"
	oauthInvalidScope     = "invalid_scope"
	oauthUnavailable      = "temporarily_unavailable"
	oauthServerError      = "server_error"
	oauthInvalidToken     = "invalid_token"
	oauthInsufficient     = "insufficient_scope"
)

// oauthStatus is the HTTP status each OAuth error code is answered with.
var oauthStatus = map[string]int{
	oauthInvalidRequest:   http.StatusBadRequest,
	oauthInvalidClient:    http.StatusUnauthorized, // RFC 6749 §5.2: client authentication failed
	oauthUnauthorized:     http.StatusBadRequest,
	oauthUnsupportedGrant: http.StatusBadRequest,
	oauthInvalidScope:     http.StatusBadRequest,
	oauthUnavailable:      http.StatusServiceUnavailable,
	oauthServerError:      http.StatusInternalServerError,
	oauthInvalidToken:     http.StatusUnauthorized,
	oauthInsufficient:     http.StatusForbidden,
	"":                    http.StatusUnauthorized,
}

func refuse(oauth string, reason Reason, format string, args ...any) *Error {
	return &Error{OAuth: oauth, Reason: reason, Status: oauthStatus[oauth], Description: fmt.Sprintf(format, args...)}
}

func scopeErrorf(format string, args ...any) *Error {
	return refuse(oauthInvalidScope, ReasonScopeInvalid, format, args...)
}

// asRefusal returns err as a refusal; an error that is not one is a
// failure of this server.
func asRefusal(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return refuse(oauthServerError, ReasonInternal, "%v", err)
}
