package gateway

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/tx"
)

// The directory (Organization, Practitioner, Location…) is about no
// patient: it is kept on the ledger in the clear (tx.PutDirectory), read
// without consent by any client with scope for its type, and written by
// the gateway's organization for its members.

// isDirectoryType reports whether resources of type t are directory
// entries rather than patients' records.
func isDirectoryType(t string) bool { return slices.Contains(tx.DirectoryTypes, t) }

// directoryLookup finds a directory entry of the route's type.
func (g *Gateway) directoryLookup(typ, id string) ([]*records.DirectoryVersion, *fhir.Error) {
	snap, _, err := g.latest()
	if err != nil {
		return nil, stateError(err)
	}
	vs, err := records.DirectoryVersions(snap, id)
	if tx.CodeOf(err) == tx.CodeNotFound || (err == nil && vs[len(vs)-1].ResourceType != typ) {
		return nil, fhir.NotFound("%s/%s is not on this ledger", typ, id)
	}
	if err != nil {
		return nil, stateError(err)
	}
	return vs, nil
}

// writeDirectory publishes res as a new entry (id empty) or as version v
// of id, for the caller, and returns the entry's id.
func (g *Gateway) writeDirectory(ctx context.Context, c caller, res fhir.Resource, id string, version uint64) (string, *fhir.Error) {
	var out string
	err := g.org.send(ctx, false, func() error {
		var err error
		out, _, err = g.putDirectory(ctx, c, res, id, version, client.WaitCommit)
		return err
	})
	if err != nil {
		return "", clientError(err)
	}
	return out, nil
}

func (g *Gateway) putDirectory(ctx context.Context, c caller, res fhir.Resource, id string, version uint64, wait string) (string, *client.TxResult, error) {
	return g.org.c.PutDirectory(ctx, g.org.key, client.DirectoryWrite{ID: id, Version: version, ResourceType: res.Type(),
		Resource: stored(res), OnBehalfOf: c.member, Wait: wait})
}

// answerDirectory answers with the latest version of an entry.
func (g *Gateway) answerDirectory(w http.ResponseWriter, status int, typ, id string) *fhir.Error {
	vs, ferr := g.directoryLookup(typ, id)
	if ferr != nil {
		return ferr
	}
	d := vs[len(vs)-1]
	out, ferr := renderedAt(d.Resource, d.ID, d.Version, d.Time)
	if ferr != nil {
		return ferr
	}
	location := ""
	if status == http.StatusCreated || status == http.StatusOK && len(vs) > 1 {
		location = g.resourceURL(typ, id, d.Version)
	}
	writeVersion(w, status, out, d.Version, location)
	return nil
}

func (g *Gateway) fhirDirectoryCreate(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	res, ferr := readBody(r, rt)
	if ferr != nil {
		return ferr
	}
	id, ferr := g.writeDirectory(r.Context(), c, res, "", 1)
	if ferr != nil {
		return ferr
	}
	return g.answerDirectory(w, http.StatusCreated, rt.Type, id)
}

func (g *Gateway) fhirDirectoryRead(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	vs, ferr := g.directoryLookup(rt.Type, rt.ID)
	if ferr != nil {
		return ferr
	}
	d := vs[len(vs)-1]
	if rt.VersionID != "" {
		n, err := strconv.ParseUint(rt.VersionID, 10, 64)
		if err != nil || n == 0 || n > uint64(len(vs)) {
			return fhir.NotFound("%s/%s has no version %s", rt.Type, rt.ID, rt.VersionID)
		}
		d = vs[n-1]
	}
	out, ferr := renderedAt(d.Resource, d.ID, d.Version, d.Time)
	if ferr != nil {
		return ferr
	}
	writeVersion(w, http.StatusOK, out, d.Version, "")
	return nil
}

func (g *Gateway) fhirDirectoryUpdate(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	res, ferr := readBody(r, rt)
	if ferr != nil {
		return ferr
	}
	vs, ferr := g.directoryLookup(rt.Type, rt.ID)
	if ferr != nil {
		if ferr.Status == http.StatusNotFound {
			ferr.Message += "; entry ids are the ledger's: create it with POST"
		}
		return ferr
	}
	latest := vs[len(vs)-1].Version
	if ferr := ifMatch(rt.Type, rt.ID, latest, r.Header.Get("If-Match")); ferr != nil {
		return ferr
	}
	if _, ferr := g.writeDirectory(r.Context(), c, res, rt.ID, latest+1); ferr != nil {
		if ferr.Code == tx.CodeInvalid.String() {
			return fhir.Conflict("%s", ferr.Message) // another update came first
		}
		return ferr
	}
	return g.answerDirectory(w, http.StatusOK, rt.Type, rt.ID)
}

func (g *Gateway) fhirDirectoryHistory(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	vs, ferr := g.directoryLookup(rt.Type, rt.ID)
	if ferr != nil {
		return ferr
	}
	n := len(vs)
	b := bundle{ResourceType: "Bundle", Type: "history", Total: &n,
		Link: []bundleLink{{Relation: "self", URL: g.resourceURL(rt.Type, rt.ID, 0) + "/_history"}}}
	for _, d := range slices.Backward(vs) {
		res, ferr := renderedAt(d.Resource, d.ID, d.Version, d.Time)
		if ferr != nil {
			return ferr
		}
		b.Entry = append(b.Entry, g.historyEntry(rt, res, d.Version, d.Time))
	}
	fhir.WriteResource(w, http.StatusOK, b)
	return nil
}

// maxDirectoryScan bounds the entries a directory search reads: it scans
// the directory, which has no index by identifier or name.
const maxDirectoryScan = 20_000

// fhirDirectorySearch finds directory entries of a type by identifier
// (system|value, or a value in any system), name (a case-insensitive
// prefix of a name, a family or a given name) and _id, all of which must
// match, paged with _count and _offset. The directory is public reference
// data: any client with search scope for the type may search it, and the
// search is not an audit event, as reads of it are not.
func (g *Gateway) fhirDirectorySearch(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	params := r.URL.Query()
	q := searchQuery{count: defaultPage}
	var match []func(fhir.Resource, string) bool
	for name, vals := range params {
		v := vals[0]
		switch name {
		case "_count", "_offset":
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				return fhir.Invalid(name, "%s must be a whole number, not %q", name, v)
			}
			if name == "_count" {
				q.count = min(n, maxPage)
			} else {
				q.offset = n
			}
		case "_format":
		case "identifier":
			system, value, ok := strings.Cut(v, "|")
			if !ok {
				system, value = "", v
			}
			match = append(match, func(res fhir.Resource, _ string) bool { return hasIdentifier(res, system, value, ok) })
		case "name":
			prefix := strings.ToLower(v)
			match = append(match, func(res fhir.Resource, _ string) bool { return hasNamePrefix(res, prefix) })
		case "_id":
			ids := strings.Split(v, ",")
			match = append(match, func(_ fhir.Resource, id string) bool { return slices.Contains(ids, id) })
		default:
			return fhir.Invalid(name, "search parameter %s is not supported on %s (see the CapabilityStatement)", name, rt.Type)
		}
	}
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	var found []fhir.Resource
	scanned := 0
	var ferr *fhir.Error
	err = records.LatestDirectory(snap, func(d *records.DirectoryVersion) bool {
		if scanned++; scanned > maxDirectoryScan {
			ferr = fhir.Errorf(http.StatusUnprocessableEntity, fhir.IssueTooCostly, "too_costly", "the directory holds more than %d entries to scan", maxDirectoryScan)
			return false
		}
		if d.ResourceType != rt.Type {
			return true
		}
		res, rerr := renderedAt(d.Resource, d.ID, d.Version, d.Time)
		if rerr != nil {
			ferr = rerr
			return false
		}
		for _, m := range match {
			if !m(res, d.ID) {
				return true
			}
		}
		found = append(found, res)
		return true
	})
	if err != nil {
		return stateError(err)
	}
	if ferr != nil {
		return ferr
	}
	total := len(found)
	b := bundle{ResourceType: "Bundle", Type: "searchset", Total: &total, Entry: []bundleEntry{}}
	for _, res := range found[min(q.offset, total):min(q.offset+q.count, total)] {
		b.Entry = append(b.Entry, bundleEntry{FullURL: g.resourceURL(rt.Type, res["id"].(string), 0), Resource: res, Search: &bundleSearch{Mode: "match"}})
	}
	b.Link = pageLinks(g.fhir.BaseURL()+"/"+rt.Type, params, q, total)
	fhir.WriteResource(w, http.StatusOK, b)
	return nil
}

// hasIdentifier reports whether res has an identifier with value, and
// with system when withSystem.
func hasIdentifier(res fhir.Resource, system, value string, withSystem bool) bool {
	ids, _ := res["identifier"].([]any)
	for _, v := range ids {
		id, _ := v.(map[string]any)
		s, _ := id["system"].(string)
		val, _ := id["value"].(string)
		if val == value && (!withSystem || s == system) {
			return true
		}
	}
	return false
}

// hasNamePrefix reports whether a name of res starts with prefix
// (lower case): a name string (Organization, Location…) or a HumanName's
// text, family or given names (Practitioner).
func hasNamePrefix(res fhir.Resource, prefix string) bool {
	has := func(s string) bool { return strings.HasPrefix(strings.ToLower(s), prefix) }
	switch n := res["name"].(type) {
	case string:
		return has(n)
	case []any:
		for _, v := range n {
			hn, _ := v.(map[string]any)
			for _, k := range []string{"text", "family"} {
				if s, _ := hn[k].(string); has(s) {
					return true
				}
			}
			given, _ := hn["given"].([]any)
			for _, g := range given {
				if s, _ := g.(string); has(s) {
					return true
				}
			}
		}
	}
	return false
}
