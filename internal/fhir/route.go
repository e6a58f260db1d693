package fhir

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/carechain/carechain/internal/smart"
)

// Interaction is a FHIR RESTful interaction (CapabilityStatement's
// TypeRestfulInteraction and SystemRestfulInteraction codes), or an
// operation.
type Interaction string

// The interactions. Each resource-level one needs a SMART permission on
// its resource type (Perm).
const (
	Read            Interaction = "read"
	VRead           Interaction = "vread"
	Update          Interaction = "update"
	Patch           Interaction = "patch"
	Delete          Interaction = "delete"
	HistoryInstance Interaction = "history-instance"
	HistoryType     Interaction = "history-type"
	Create          Interaction = "create"
	SearchType      Interaction = "search-type"
	Capabilities    Interaction = "capabilities"
	Transaction     Interaction = "transaction" // POST [base] with a Bundle: transaction or batch
	// Batch is declared beside Transaction when the POST [base] handler
	// also takes batch Bundles; requests route to Transaction either way.
	Batch         Interaction = "batch"
	HistorySystem Interaction = "history-system"
	SearchSystem  Interaction = "search-system"
	Operation     Interaction = "operation" // $name at system, type or instance level
)

// Perm is the SMART v2 permission an interaction needs on its resource
// type: reads and history of one resource need r, searches and type
// history s, and so on. System-level interactions and operations have
// none here; their handlers check each resource type they touch.
func (in Interaction) Perm() smart.Permission {
	switch in {
	case Read, VRead, HistoryInstance:
		return smart.PermRead
	case SearchType, HistoryType:
		return smart.PermSearch
	case Create:
		return smart.PermCreate
	case Update, Patch:
		return smart.PermUpdate
	case Delete:
		return smart.PermDelete
	}
	return 0
}

// Route is a parsed FHIR request.
type Route struct {
	Interaction Interaction
	Type        string // resource type; empty at system level
	ID          string // logical id, for instance-level interactions
	VersionID   string // for vread
	Operation   string // operation name without the $, for Operation
}

// parseRoute maps a method and a path below the FHIR base (e.g.
// "/Observation/123/_history/2", still escaped) to a route. A path that cannot be a FHIR
// URL is a 404 (no such resource type) or a 400 (a malformed id); a known
// path with a method FHIR does not define there is a 405.
func parseRoute(method, path string) (Route, *Error) {
	path = strings.Trim(path, "/")
	var seg []string
	if path != "" {
		seg = strings.Split(path, "/")
	}
	for i, s := range seg {
		// Unescaped one by one, so an escaped slash stays in its segment
		// (and makes it no valid id) instead of splitting it.
		u, err := url.PathUnescape(s)
		if err != nil {
			return Route{}, Invalid("", "the URL path is not validly escaped")
		}
		seg[i] = u
	}
	none := Route{}
	bad := func() (Route, *Error) { return none, methodNotAllowed(method) }
	if len(seg) == 0 {
		switch method {
		case http.MethodGet:
			return Route{Interaction: SearchSystem}, nil
		case http.MethodPost:
			return Route{Interaction: Transaction}, nil
		}
		return bad()
	}
	if len(seg) == 1 {
		switch s := seg[0]; {
		case s == "metadata":
			if method == http.MethodGet {
				return Route{Interaction: Capabilities}, nil
			}
			return bad()
		case s == "_history":
			if method == http.MethodGet {
				return Route{Interaction: HistorySystem}, nil
			}
			return bad()
		case s == "_search":
			if method == http.MethodPost {
				return Route{Interaction: SearchSystem}, nil
			}
			return bad()
		case strings.HasPrefix(s, "$"):
			return operation(method, "", "", s)
		}
	}
	typ := seg[0]
	if !smart.IsResourceTypeName(typ) {
		return none, NotFound("%.80q is not a FHIR resource type", typ)
	}
	if len(seg) == 1 {
		switch method {
		case http.MethodGet:
			return Route{Interaction: SearchType, Type: typ}, nil
		case http.MethodPost:
			return Route{Interaction: Create, Type: typ}, nil
		}
		return bad()
	}
	switch s := seg[1]; {
	case len(seg) == 2 && s == "_search":
		if method == http.MethodPost {
			return Route{Interaction: SearchType, Type: typ}, nil
		}
		return bad()
	case len(seg) == 2 && s == "_history":
		if method == http.MethodGet {
			return Route{Interaction: HistoryType, Type: typ}, nil
		}
		return bad()
	case len(seg) == 2 && strings.HasPrefix(s, "$"):
		return operation(method, typ, "", s)
	}
	id := seg[1]
	if !IsID(id) {
		return none, Invalid("", "%.80q is not a FHIR id (1 to 64 of A-Z a-z 0-9 - .)", id)
	}
	switch {
	case len(seg) == 2:
		in := map[string]Interaction{http.MethodGet: Read, http.MethodPut: Update, http.MethodPatch: Patch, http.MethodDelete: Delete}[method]
		if in == "" {
			return bad()
		}
		return Route{Interaction: in, Type: typ, ID: id}, nil
	case len(seg) == 3 && seg[2] == "_history":
		if method == http.MethodGet {
			return Route{Interaction: HistoryInstance, Type: typ, ID: id}, nil
		}
		return bad()
	case len(seg) == 3 && strings.HasPrefix(seg[2], "$"):
		return operation(method, typ, id, seg[2])
	case len(seg) == 4 && seg[2] == "_history":
		if !IsID(seg[3]) {
			return none, Invalid("", "%.80q is not a FHIR version id", seg[3])
		}
		if method == http.MethodGet {
			return Route{Interaction: VRead, Type: typ, ID: id, VersionID: seg[3]}, nil
		}
		return bad()
	}
	return none, NotFound("no FHIR interaction at %.80q", "/"+path)
}

func operation(method, typ, id, seg string) (Route, *Error) {
	name := seg[1:]
	if !isOperationName(name) {
		return Route{}, NotFound("%.80q is not an operation name", seg)
	}
	if method != http.MethodGet && method != http.MethodPost {
		return Route{}, methodNotAllowed(method)
	}
	return Route{Interaction: Operation, Type: typ, ID: id, Operation: name}, nil
}

func methodNotAllowed(method string) *Error {
	return Errorf(http.StatusMethodNotAllowed, IssueNotSupported, "method_not_allowed", "FHIR defines no %.20q interaction at this URL", method)
}

// IsID reports whether s is a valid FHIR id: 1 to 64 characters of
// A-Z, a-z, 0-9, '-' and '.'.
func IsID(s string) bool { return isName(s, '.') }

// isOperationName reports whether s can name an operation ($name).
func isOperationName(s string) bool { return isName(s, '_') }

// isName reports whether s is 1 to 64 ASCII letters, digits, '-' and
// extra.
func isName(s string, extra byte) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == extra) {
			return false
		}
	}
	return true
}

type routeKey struct{}

// RouteFrom returns the parsed route of a request that reached a handler.
func RouteFrom(ctx context.Context) (Route, bool) {
	r, ok := ctx.Value(routeKey{}).(Route)
	return r, ok
}

func withRoute(ctx context.Context, rt Route) context.Context {
	return context.WithValue(ctx, routeKey{}, rt)
}
