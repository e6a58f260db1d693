package fhir

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain/internal/smart"
)

// Authenticator checks a request's bearer token; smart.Server is one.
type Authenticator interface {
	Authenticate(r *http.Request) (*smart.Principal, *smart.Error)
}

// Config sets up a Server.
type Config struct {
	// BaseURL is the FHIR base as clients reach it, e.g.
	// https://carechain.hospital.example/fhir.
	BaseURL string
	// TokenURL is the SMART token endpoint, advertised in the
	// CapabilityStatement.
	TokenURL string
	// Auth checks bearer tokens. Required.
	Auth Authenticator
	// Version is the software version reported in the CapabilityStatement.
	Version string
	// Started is when the server started: the CapabilityStatement's date.
	Started time.Time
}

// Server serves /fhir. Handlers are registered with Handle and friends
// before the server takes requests; registering later is safe but a
// request may see the old set.
type Server struct {
	cfg Config

	mu       sync.RWMutex
	handlers map[handlerKey]http.Handler
	search   map[string][]SearchParam // by resource type
}

type handlerKey struct {
	interaction Interaction
	typ         string // "" at system level
	operation   string // for Operation
	instance    bool   // for Operation: instance level
}

// SearchParam is a search parameter a resource type supports, for the
// CapabilityStatement.
type SearchParam struct {
	Name          string `json:"name"`
	Type          string `json:"type"` // number, date, string, token, reference, …
	Documentation string `json:"documentation,omitempty"`
}

// New returns a server with no resources: it answers metadata, and 401,
// 403, 404 or 405 to everything else until handlers are registered.
func New(cfg Config) *Server {
	return &Server{cfg: cfg, handlers: map[handlerKey]http.Handler{}, search: map[string][]SearchParam{}}
}

// BaseURL is the FHIR base as clients reach it, for the URLs handlers
// answer with (Location, fullUrl, paging links).
func (s *Server) BaseURL() string { return s.cfg.BaseURL }

// Handle registers h for a resource-level interaction on resourceType
// (Read, VRead, Update, Delete, HistoryInstance, HistoryType, Create,
// SearchType). The token's scopes are checked before h runs. It panics on
// a nonsensical registration, as http.ServeMux does: that is a programming
// error, not input.
func (s *Server) Handle(resourceType string, in Interaction, h http.Handler) {
	if !smart.IsResourceTypeName(resourceType) || in.Perm() == 0 {
		panic("fhir: cannot register " + string(in) + " on " + resourceType)
	}
	s.register(handlerKey{interaction: in, typ: resourceType}, h)
}

// HandleSystem registers h for a system-level interaction (Transaction,
// Batch, SearchSystem, HistorySystem). Such a request names no single
// resource type, so h must check the token's scopes for every type it
// touches (RequireScope). Batch only declares, in the CapabilityStatement,
// that the Transaction handler takes batch Bundles too.
func (s *Server) HandleSystem(in Interaction, h http.Handler) {
	if in != Transaction && in != Batch && in != SearchSystem && in != HistorySystem {
		panic("fhir: " + string(in) + " is not a system interaction")
	}
	s.register(handlerKey{interaction: in}, h)
}

// HandleOperation registers h for the operation $name on resourceType
// ("" for a system-level operation), at instance level (/Type/id/$name) or
// type level (/Type/$name). The token must grant perm on resourceType
// before h runs; h checks anything further the operation returns (e.g.
// Patient/$everything returns other types too).
func (s *Server) HandleOperation(resourceType, name string, instance bool, perm smart.Permission, h http.Handler) {
	if (resourceType != "" && !smart.IsResourceTypeName(resourceType)) || !isOperationName(name) || (resourceType == "" && instance) ||
		(resourceType != "" && perm == 0) {
		panic("fhir: cannot register operation $" + name + " on " + resourceType)
	}
	s.register(handlerKey{interaction: Operation, typ: resourceType, operation: name, instance: instance}, operationHandler{perm, h})
}

// operationHandler carries the permission an operation needs.
type operationHandler struct {
	perm smart.Permission
	http.Handler
}

// Search declares the search parameters a resource type supports, for the
// CapabilityStatement. (The SearchType handler interprets them.)
func (s *Server) Search(resourceType string, params ...SearchParam) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.search[resourceType] = append(s.search[resourceType], params...)
}

func (s *Server) register(k handlerKey, h http.Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.handlers[k]; dup {
		panic("fhir: " + string(k.interaction) + " on " + k.typ + " registered twice")
	}
	s.handlers[k] = h
}

func (s *Server) lookup(rt Route) (http.Handler, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	h, ok := s.handlers[keyOf(rt)]
	return h, ok
}

func keyOf(rt Route) handlerKey {
	k := handlerKey{interaction: rt.Interaction, typ: rt.Type}
	if rt.Interaction == Operation {
		k.operation, k.instance = rt.Operation, rt.ID != ""
	}
	return k
}

// supportsType reports whether any interaction is registered on typ.
func (s *Server) supportsType(typ string) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for k := range s.handlers {
		if k.typ == typ {
			return true
		}
	}
	return false
}

// ServeHTTP serves a request whose path starts with the FHIR base path
// (prefix must be stripped: mount it with http.StripPrefix). The steps, in
// order: the token (401), the route (400/404), the scopes (403), whether
// the interaction is implemented (404/405), the media types (406/415),
// then the handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.EscapedPath()
	if strings.Trim(path, "/") == "metadata" && r.Method == http.MethodGet {
		if e := negotiate(r, Route{Interaction: Capabilities}); e != nil {
			WriteError(w, e)
			return
		}
		WriteResource(w, http.StatusOK, s.CapabilityStatement())
		return
	}
	p, aerr := s.cfg.Auth.Authenticate(r)
	if aerr != nil {
		WriteError(w, authError(aerr, ""))
		return
	}
	rt, e := parseRoute(r.Method, path)
	if e != nil {
		if e.Status == http.StatusMethodNotAllowed {
			e.Header = http.Header{"Allow": {s.allowed(path)}}
		}
		WriteError(w, e)
		return
	}
	h, found := s.lookup(rt)
	perm := rt.Interaction.Perm()
	if oh, ok := h.(operationHandler); ok {
		perm = oh.perm
	}
	// Scope before existence, so an out-of-scope caller learns nothing
	// about what is implemented. System-level routes name no type: their
	// handlers check each type they touch.
	if rt.Type != "" && perm != 0 {
		if serr := p.Require(rt.Type, perm); serr != nil {
			WriteError(w, authError(serr, "system/"+rt.Type+"."+perm.String()))
			return
		}
	}
	if !found {
		WriteError(w, s.unsupported(rt, path))
		return
	}
	if e := negotiate(r, rt); e != nil {
		WriteError(w, e)
		return
	}
	ctx := smart.NewContext(r.Context(), p)
	h.ServeHTTP(w, r.WithContext(withRoute(ctx, rt)))
}

// RequireScope refuses, as a 403 OperationOutcome, a caller whose token
// does not grant perm on resourceType. System-level handlers call it for
// each type they touch.
func RequireScope(r *http.Request, resourceType string, perm smart.Permission) *Error {
	p, ok := smart.FromContext(r.Context())
	if !ok {
		return Errorf(http.StatusUnauthorized, IssueLogin, string(smart.ReasonTokenMissing), "no authenticated caller")
	}
	if serr := p.Require(resourceType, perm); serr != nil {
		return authError(serr, "system/"+resourceType+"."+perm.String())
	}
	return nil
}

// unsupported is the answer for a well-formed route nothing handles: 404
// for a resource type the server has nothing for, 405 for an interaction
// it lacks on a type it has.
func (s *Server) unsupported(rt Route, path string) *Error {
	if rt.Type != "" && !s.supportsType(rt.Type) {
		return Errorf(http.StatusNotFound, IssueNotSupported, "type_not_supported", "resource type %s is not supported by this server (see /fhir/metadata)", rt.Type)
	}
	what := string(rt.Interaction)
	if rt.Interaction == Operation {
		what = "$" + rt.Operation
	}
	e := Errorf(http.StatusMethodNotAllowed, IssueNotSupported, "interaction_not_supported", "%s is not supported here (see /fhir/metadata)", what)
	if rt.Type != "" {
		e.Message = what + " is not supported on " + rt.Type + " (see /fhir/metadata)"
	}
	e.Header = http.Header{"Allow": {s.allowed(path)}}
	return e
}

// allowed lists the methods that reach a handler at path, for Allow.
func (s *Server) allowed(path string) string {
	var out []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		rt, err := parseRoute(m, path)
		if err != nil {
			continue
		}
		if _, ok := s.lookup(rt); ok || rt.Interaction == Capabilities {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// authError turns a token refusal into an OperationOutcome with the
// WWW-Authenticate challenge RFC 6750 asks for.
func authError(e *smart.Error, requiredScope string) *Error {
	issue := IssueUnknown
	switch {
	case e.Reason == smart.ReasonTokenMissing:
		issue = IssueLogin
	case e.Reason == smart.ReasonTokenExpired:
		issue = IssueExpired
	case e.Status == http.StatusForbidden:
		issue = IssueForbidden
	case e.Status >= 500:
		issue = IssueTransient
	}
	out := Errorf(e.Status, issue, string(e.Reason), "%s", e.Description)
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		out.Header = http.Header{}
		out.Header.Set("WWW-Authenticate", smart.Challenge(e, requiredScope))
	}
	return out
}
