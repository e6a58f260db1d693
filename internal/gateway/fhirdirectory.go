package gateway

import (
	"context"
	"net/http"
	"slices"
	"strconv"

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
	if m := r.Header.Get("If-Match"); m != "" && m != etag(latest) && m != strconv.Quote(strconv.FormatUint(latest, 10)) {
		return fhir.Conflict("%s/%s is at version %d; If-Match asked for %s", rt.Type, rt.ID, latest, m)
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
