package smart

import (
	"fmt"
	"strings"
)

// Permission is one SMART v2 permission on a resource type: c(reate),
// r(ead), u(pdate), d(elete), s(earch).
type Permission uint8

// The SMART v2 permissions, as bits so a scope holds a set of them.
const (
	PermCreate Permission = 1 << iota
	PermRead
	PermUpdate
	PermDelete
	PermSearch
)

// permLetters is the order SMART v2 requires permission letters in.
const permLetters = "cruds"

// String returns the permissions in SMART v2 letters, e.g. "rs".
func (p Permission) String() string {
	var b strings.Builder
	for i := range len(permLetters) {
		if p&(1<<i) != 0 {
			b.WriteByte(permLetters[i])
		}
	}
	return b.String()
}

// Limits on a scope parameter, so a request cannot make the parser or the
// token grow without bound.
const (
	MaxScopeParam = 2048
	MaxScopes     = 64
)

// Scope is one system scope: permissions on a resource type, or on every
// type ("*").
type Scope struct {
	ResourceType string     // a FHIR resource type, or "*"
	Perms        Permission // never empty
	Raw          string     // as requested, e.g. "system/Observation.read"
}

// String returns the SMART v2 form, e.g. "system/Observation.rs".
func (s Scope) String() string { return "system/" + s.ResourceType + "." + s.Perms.String() }

// Allows reports whether s grants perm on resourceType.
func (s Scope) Allows(resourceType string, perm Permission) bool {
	return (s.ResourceType == "*" || s.ResourceType == resourceType) && s.Perms&perm == perm
}

// Scopes is a granted set of scopes.
type Scopes []Scope

// Allows reports whether any scope grants perm on resourceType.
func (ss Scopes) Allows(resourceType string, perm Permission) bool {
	for _, s := range ss {
		if s.Allows(resourceType, perm) {
			return true
		}
	}
	return false
}

// String returns the scopes as requested, space-separated: the form of the
// OAuth "scope" parameter and of the token's scope claim.
func (ss Scopes) String() string {
	raw := make([]string, len(ss))
	for i, s := range ss {
		raw[i] = s.Raw
	}
	return strings.Join(raw, " ")
}

// ParseScopes parses an OAuth scope parameter: space-separated SMART system
// scopes, v2 (system/Observation.rs) or v1 (system/Observation.read). It
// refuses anything else (patient/ and user/ scopes, openid, launch,
// granular scopes with search parameters) rather than grant a subset the
// client did not expect. Duplicates are dropped.
func ParseScopes(param string) (Scopes, error) {
	if len(param) > MaxScopeParam {
		return nil, scopeErrorf("scope is longer than %d bytes", MaxScopeParam)
	}
	fields := strings.Fields(param)
	if len(fields) == 0 {
		return nil, scopeErrorf("scope is required, e.g. scope=system/*.rs")
	}
	if len(fields) > MaxScopes {
		return nil, scopeErrorf("at most %d scopes may be requested, not %d", MaxScopes, len(fields))
	}
	out := make(Scopes, 0, len(fields))
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f] {
			continue
		}
		seen[f] = true
		s, err := ParseScope(f)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// ParseScope parses one system scope.
func ParseScope(raw string) (Scope, error) {
	ctx, rest, ok := strings.Cut(raw, "/")
	if !ok {
		return Scope{}, scopeErrorf("scope %q is not a SMART scope; backend services use system/Type.perms, e.g. system/Observation.rs", clip(raw))
	}
	if ctx != "system" {
		return Scope{}, scopeErrorf("scope %q: backend services are granted system/ scopes only", clip(raw))
	}
	if strings.Contains(rest, "?") {
		return Scope{}, scopeErrorf("scope %q: scopes restricted by search parameters are not supported", clip(raw))
	}
	typ, perms, ok := strings.Cut(rest, ".")
	if !ok {
		return Scope{}, scopeErrorf("scope %q has no permissions; e.g. system/%s.rs", clip(raw), clip(rest))
	}
	if typ != "*" && !IsResourceTypeName(typ) {
		return Scope{}, scopeErrorf("scope %q: %q is not a FHIR resource type name", clip(raw), clip(typ))
	}
	p, err := parsePerms(perms)
	if err != nil {
		return Scope{}, scopeErrorf("scope %q: %v", clip(raw), err)
	}
	return Scope{ResourceType: typ, Perms: p, Raw: raw}, nil
}

// parsePerms reads SMART v2 letters, or a v1 word. v1 maps as SMART 2.0
// says: read is rs, write is cud, * is all five.
func parsePerms(s string) (Permission, error) {
	switch s {
	case "read":
		return PermRead | PermSearch, nil
	case "write":
		return PermCreate | PermUpdate | PermDelete, nil
	case "*":
		return PermCreate | PermRead | PermUpdate | PermDelete | PermSearch, nil
	case "":
		return 0, fmt.Errorf("permissions are empty")
	}
	var p Permission
	next := 0 // letters must come in cruds order, each at most once
	for i := range len(s) {
		at := strings.IndexByte(permLetters[next:], s[i])
		if at < 0 {
			return 0, fmt.Errorf("permissions %q must be letters of %q in that order, or read, write or *", clip(s), permLetters)
		}
		next += at
		p |= 1 << next
		next++
	}
	return p, nil
}

// IsResourceTypeName reports whether s has the shape of a FHIR resource
// type name: an upper-case ASCII letter, then letters, at most 64 in all.
func IsResourceTypeName(s string) bool {
	if len(s) == 0 || len(s) > 64 || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := range len(s) {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return false
		}
	}
	return true
}

// clip shortens user input quoted in an error message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
