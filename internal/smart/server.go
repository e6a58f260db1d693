package smart

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/carechain/carechain/internal/consent"
)

// Paths the gateway serves, relative to its base URL.
const (
	ConfigurationPath = "/.well-known/smart-configuration"
	TokenPath         = "/auth/token"
	FHIRPath          = "/fhir"
)

// OAuth parameter values of the client-credentials grant with a JWT
// assertion (RFC 6749 §4.4, RFC 7523 §2.2).
const (
	GrantClientCredentials = "client_credentials"
	AssertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
)

// maxFormBytes bounds a token request body.
const maxFormBytes = 64 << 10

// Config sets up a Server.
type Config struct {
	// BaseURL is the gateway's URL as clients reach it, without a trailing
	// slash, e.g. https://carechain.hospital.example. The token endpoint
	// (the assertions' audience) and the tokens' issuer and audience derive
	// from it, so it must be the URL clients use, not one taken from a
	// request's Host header, which the client controls.
	BaseURL string
	// TokenKey signs access tokens; at least MinTokenKeyBytes random bytes.
	TokenKey []byte
	// Clients reads clients from the ledger's committed state.
	Clients Clients
	// Org, if set, is the organization the gateway acts for: only it and
	// its practitioners and applications get tokens here. A client of
	// another organization could do nothing with one (the gateway signs
	// only as its own organization) and belongs at its own gateway. Empty:
	// any organization's clients.
	Org string
	// Now reads the clock; nil means time.Now.
	Now func() time.Time
	// ReplayCacheSize bounds the remembered jtis; 0 means the default.
	ReplayCacheSize int
	// Log receives a line per token issued or refused; nil discards them.
	// Assertions and tokens are never logged, only who, what and why.
	Log *slog.Logger
	// Refused, if set, hears of every refused token request: its reason
	// and the client it claimed to be (the assertion's iss, else its sub,
	// else the client_id parameter), as the request says it, unverified
	// and possibly empty or garbage. A refused request gets no token, so
	// no token of this node names its client; this is how the gateway
	// puts such requests on the record. It must not block.
	Refused func(reason Reason, claimed string)
}

// Server is the SMART authorization server of one node, and the check of
// its access tokens on FHIR requests.
type Server struct {
	base    string
	tokens  *Tokens
	clients Clients
	org     string
	now     func() time.Time
	replay  *ReplayCache
	log     *slog.Logger
	refused func(Reason, string)
}

// NewServer returns a server for cfg.
func NewServer(cfg Config) (*Server, error) {
	base := strings.TrimRight(cfg.BaseURL, "/")
	if !strings.HasPrefix(base, "http://") && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("base URL %q must start with http:// or https://", cfg.BaseURL)
	}
	if cfg.Clients == nil {
		return nil, errors.New("smart: no client lookup")
	}
	tokens, err := NewTokens(cfg.TokenKey, base, base+FHIRPath)
	if err != nil {
		return nil, err
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	refused := cfg.Refused
	if refused == nil {
		refused = func(Reason, string) {}
	}
	return &Server{base: base, tokens: tokens, clients: cfg.Clients, org: cfg.Org, now: now, replay: NewReplayCache(cfg.ReplayCacheSize), log: log,
		refused: refused}, nil
}

// TokenURL is the token endpoint's URL: the audience client assertions
// must name.
func (s *Server) TokenURL() string { return s.base + TokenPath }

// FHIRBaseURL is the FHIR API's base URL, the access tokens' audience.
func (s *Server) FHIRBaseURL() string { return s.base + FHIRPath }

// Configuration is the discovery document (SMART App Launch 2.x §2.1).
// It lists only what this server does: backend services, nothing else.
type Configuration struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgs      []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	Capabilities                      []string `json:"capabilities"`
	// PurposesOfUseSupported is carechain's: the purpose_of_use values the
	// token endpoint takes.
	PurposesOfUseSupported []string `json:"purpose_of_use_supported"`
}

// ConfigurationDocument returns the discovery document.
func (s *Server) ConfigurationDocument() Configuration {
	return Configuration{
		Issuer:                            s.base,
		TokenEndpoint:                     s.TokenURL(),
		GrantTypesSupported:               []string{GrantClientCredentials},
		TokenEndpointAuthMethodsSupported: []string{"private_key_jwt"},
		TokenEndpointAuthSigningAlgs:      []string{AlgEdDSA},
		// Any system/<Type>.<cruds subset> or v1 system/<Type>.read|write|*
		// is accepted; these are the wildcard forms.
		ScopesSupported: []string{"system/*.cruds", "system/*.rs", "system/*.read", "system/*.write", "system/*.*"},
		Capabilities:    []string{"client-confidential-asymmetric", "permission-v2", "permission-v1"},
		PurposesOfUseSupported: []string{string(consent.PurposeTreatment), string(consent.PurposeEmergencyTreatment),
			string(consent.PurposePayment), string(consent.PurposeOperations), string(consent.PurposeResearch),
			string(consent.PurposePatientRequest), string(consent.PurposeBreakTheGlass)},
	}
}

// ServeConfiguration answers GET /.well-known/smart-configuration.
func (s *Server) ServeConfiguration(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.ConfigurationDocument())
}

// TokenResponse is a successful token response (RFC 6749 §5.1), with the
// purpose of use the token carries.
type TokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
	Purpose     string `json:"purpose_of_use,omitempty"`
}

// ErrorResponse is an OAuth error response (RFC 6749 §5.2), with
// carechain's stable reason.
type ErrorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Reason      Reason `json:"carechain_reason"`
}

// ServeToken answers POST /auth/token; other methods get a 405.
func (s *Server) ServeToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusMethodNotAllowed)
		_ = json.NewEncoder(w).Encode(ErrorResponse{Error: oauthInvalidRequest, Description: "the token endpoint takes POST", Reason: ReasonRequestMalformed})
		s.refused(ReasonRequestMalformed, "")
		return
	}
	res, p, err := s.issue(w, r)
	if err != nil {
		s.log.Info("token refused", "reason", err.Reason, "error", err.OAuth, "remote", r.RemoteAddr)
		s.refused(err.Reason, claimedClient(r.PostForm))
	} else {
		s.log.Info("token issued", "client", p.ClientID, "org", p.Org, "scope", res.Scope, "purpose", res.Purpose, "token_id", p.TokenID)
	}
	// Tokens and refusals alike must not be cached (RFC 6749 §5.1).
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		if err.OAuth == oauthInvalidClient {
			// RFC 6749 §5.2: a 401 names the authentication scheme.
			w.Header().Set("WWW-Authenticate", `Bearer realm="carechain"`)
		}
		w.WriteHeader(err.Status)
		_ = json.NewEncoder(w).Encode(ErrorResponse{Error: err.OAuth, Description: err.Description, Reason: err.Reason})
		return
	}
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(res)
}

// issue runs a token request: the cheap checks of the form first, then the
// assertion and the client's organization, then its jti, so that only a
// good assertion is remembered.
func (s *Server) issue(w http.ResponseWriter, r *http.Request) (*TokenResponse, *Principal, *Error) {
	form, err := readForm(w, r)
	if err != nil {
		return nil, nil, err
	}
	if g := form["grant_type"]; g != GrantClientCredentials {
		if g == "" {
			return nil, nil, refuse(oauthInvalidRequest, ReasonRequestMalformed, "grant_type is required: grant_type=%s", GrantClientCredentials)
		}
		return nil, nil, refuse(oauthUnsupportedGrant, ReasonGrantUnsupported, "grant_type %q is not supported; use %s", clip(g), GrantClientCredentials)
	}
	if t := form["client_assertion_type"]; t != AssertionTypeJWTBearer {
		return nil, nil, refuse(oauthInvalidRequest, ReasonAssertionType, "client_assertion_type must be %s", AssertionTypeJWTBearer)
	}
	raw := form["client_assertion"]
	if raw == "" {
		return nil, nil, refuse(oauthInvalidRequest, ReasonRequestMalformed, "client_assertion is required: a JWT signed with the client's ledger key")
	}
	scopes, serr := ParseScopes(form["scope"])
	if serr != nil {
		return nil, nil, asRefusal(serr)
	}
	purpose := consent.Purpose(form["purpose_of_use"])
	if purpose != "" && !consent.IsKnownPurpose(purpose) {
		return nil, nil, purposeError(string(purpose))
	}
	now := s.now()
	a, verr := VerifyAssertion(raw, s.clients, s.TokenURL(), now)
	if verr != nil {
		return nil, nil, asRefusal(verr)
	}
	if id := form["client_id"]; id != "" && id != a.Client.ID {
		return nil, nil, refuse(oauthInvalidClient, ReasonAssertionClaims, "client_id %q differs from the assertion's iss", clip(id))
	}
	if s.org != "" && a.Client.Org != s.org {
		return nil, nil, refuse(oauthInvalidClient, ReasonOrganizationMismatch,
			"client %s belongs to organization %s; this gateway acts for organization %s only: ask your own organization's gateway for a token",
			a.Client.ID, a.Client.Org, s.org)
	}
	switch {
	case purpose == "":
		purpose = a.Purpose
	case a.Purpose != "" && a.Purpose != purpose:
		return nil, nil, refuse(oauthInvalidRequest, ReasonPurposeInvalid, "purpose_of_use %s differs from the assertion's %s", purpose, a.Purpose)
	}
	if rerr := s.replay.Use(a.Client.ID, a.JTI, a.Expires, now); rerr != nil {
		return nil, nil, asRefusal(rerr)
	}
	id, rerr := randomID()
	if rerr != nil {
		return nil, nil, refuse(oauthServerError, ReasonInternal, "draw a token id: %v", rerr)
	}
	// Whole seconds: a JWT's times are, so expires_in is exact.
	issued := now.Truncate(time.Second)
	p := &Principal{ClientID: a.Client.ID, Kind: a.Client.Kind, Org: a.Client.Org, KeyVersion: a.Client.KeyVersion,
		Scopes: scopes, Purpose: purpose, TokenID: id, IssuedAt: issued, Expires: issued.Add(TokenLifetime)}
	tok, merr := s.tokens.Mint(p)
	if merr != nil {
		return nil, nil, refuse(oauthServerError, ReasonInternal, "sign the access token: %v", merr)
	}
	return &TokenResponse{AccessToken: tok, TokenType: "bearer", ExpiresIn: int(TokenLifetime / time.Second),
		Scope: scopes.String(), Purpose: string(purpose)}, p, nil
}

// readForm reads a form-encoded body, refusing repeated parameters
// (RFC 6749 §3.2: parameters must not be included more than once).
func readForm(w http.ResponseWriter, r *http.Request) (map[string]string, *Error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, refuse(oauthInvalidRequest, ReasonRequestMalformed, "the token request must be application/x-www-form-urlencoded")
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return nil, refuse(oauthInvalidRequest, ReasonRequestMalformed, "cannot read the form: %v", err)
	}
	out := make(map[string]string, len(r.PostForm))
	for k, v := range r.PostForm {
		if len(v) > 1 {
			return nil, refuse(oauthInvalidRequest, ReasonRequestMalformed, "parameter %q is repeated", clip(k))
		}
		out[k] = v[0]
	}
	return out, nil
}

// claimedClient is the client a token request names: its assertion's iss,
// else its sub, else the client_id parameter — what the request says,
// verified or not. It is for recording a refusal, never for deciding one.
func claimedClient(form url.Values) string {
	if raw := form.Get("client_assertion"); raw != "" && len(raw) <= MaxAssertionBytes {
		var c jwt.RegisteredClaims
		if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err == nil {
			if c.Issuer != "" {
				return c.Issuer
			}
			if c.Subject != "" {
				return c.Subject
			}
		}
	}
	return form.Get("client_id")
}

func randomID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// Authenticate checks the bearer token of a FHIR request: issued by this
// node, unexpired, and its client still on the ledger, unrevoked and on the
// key it had when the token was issued — so a revocation or a rotation
// after a compromise takes effect at once, not five minutes later.
func (s *Server) Authenticate(r *http.Request) (*Principal, *Error) {
	vals := r.Header.Values("Authorization")
	if len(vals) == 0 {
		return nil, refuse("", ReasonTokenMissing, "this endpoint needs a bearer token from %s", s.TokenURL())
	}
	scheme, raw, _ := strings.Cut(vals[0], " ")
	raw = strings.TrimSpace(raw)
	if len(vals) > 1 || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return nil, refuse(oauthInvalidToken, ReasonTokenMalformed, "send one header Authorization: Bearer <token>")
	}
	p, err := s.tokens.Verify(raw, s.now())
	if err != nil {
		return nil, err
	}
	c, lerr := s.clients.Client(p.ClientID)
	switch {
	case errors.Is(lerr, ErrUnknownClient):
		return nil, refuse(oauthInvalidToken, ReasonClientUnknown, "the token's client is not on the ledger")
	case lerr != nil:
		return nil, refuse(oauthServerError, ReasonLedgerUnavailable, "cannot read the token's client from the ledger: %v", lerr)
	case c.Revoked:
		return nil, refuse(oauthInvalidToken, ReasonClientRevoked, "client %s was revoked", c.ID)
	case c.KeyVersion != p.KeyVersion:
		return nil, refuse(oauthInvalidToken, ReasonClientKeyChanged, "client %s has rotated its key since the token was issued; request a new token", c.ID)
	}
	return p, nil
}

// TokenHolder returns the client the bearer token of r was issued to by
// this node, even if it has expired or its client was since revoked: for
// naming the client of a refused request, never for letting it in.
func (s *Server) TokenHolder(r *http.Request) (string, bool) {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return s.tokens.Holder(strings.TrimSpace(raw))
}

// ClaimedClient returns the client the bearer token of a FHIR request
// names — its sub, else a client_id claim — without checking the token at
// all: a forged or foreign token names whom it likes. It is for recording
// a refusal that cannot be attributed, never for letting anyone in.
func ClaimedClient(r *http.Request) string {
	scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	raw = strings.TrimSpace(raw)
	if !strings.EqualFold(scheme, "Bearer") || raw == "" || len(raw) > MaxTokenBytes {
		return ""
	}
	var c struct {
		jwt.RegisteredClaims
		ClientID string `json:"client_id"`
	}
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &c); err != nil {
		return ""
	}
	if c.Subject != "" {
		return c.Subject
	}
	return c.ClientID
}

// Require refuses a principal whose scopes do not grant perm on
// resourceType.
func (p *Principal) Require(resourceType string, perm Permission) *Error {
	if p.Scopes.Allows(resourceType, perm) {
		return nil
	}
	return refuse(oauthInsufficient, ReasonScopeInsufficient, "the token's scopes (%s) do not include system/%s.%s", p.Scopes.String(), resourceType, perm)
}

// Challenge returns the WWW-Authenticate value for a refusal at the
// resource server (RFC 6750 §3). required, if set, is the scope that would
// have sufficed.
func Challenge(e *Error, required string) string {
	var b strings.Builder
	b.WriteString(`Bearer realm="carechain"`)
	if e.OAuth != "" {
		fmt.Fprintf(&b, `, error=%q`, e.OAuth)
		fmt.Fprintf(&b, `, error_description="%s"`, quotable(e.Description))
	}
	if required != "" {
		fmt.Fprintf(&b, `, scope="%s"`, quotable(required))
	}
	return b.String()
}

// quotable keeps only the characters RFC 6750 allows in a quoted
// attribute value (%x20-21 / %x23-5B / %x5D-7E).
func quotable(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '\''
		}
		return r
	}, s)
}

type ctxKey struct{}

// NewContext returns ctx carrying p, for the handlers behind the check.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal a FHIR request was authenticated as.
func FromContext(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(*Principal)
	return p, ok && p != nil
}
