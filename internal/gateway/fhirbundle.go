package gateway

import (
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/tx"
)

// maxBundleBytes and maxBundleEntries bound a transaction Bundle. A Synthea
// patient is 60–80 entries and well under a megabyte; a Bundle is one
// batch transaction, which also bounds it (tx.MaxBatchTxBytes).
const (
	maxBundleBytes   = 16 << 20
	maxBundleEntries = tx.MaxBatchEntries
)

// txEntry is one entry of a transaction Bundle, checked.
type txEntry struct {
	fullURL string
	res     fhir.Resource
	id      string // the id it will get, or the one it updates
	patient string // its ledger patient, once known (records)
	// update is set for a PUT: a new version of the entry id, with the
	// If-Match the entry asked for; version is a directory entry's next.
	update  bool
	ifMatch string
	version uint64
}

// fhirTransaction takes a transaction Bundle of creates (POST entries) and
// updates (PUT entries) and writes it as one record.batch transaction, which the ledger applies
// whole or not at all: a Bundle refused anywhere leaves nothing behind —
// no record, no directory entry, no audit event, no blob on any node.
//
// All entries are checked first: resource types, scopes, and each
// record's patient. References between entries by fullUrl (urn:uuid:…)
// are rewritten to the ids the entries will get, which are known
// beforehand: entry i of the organization's batch with nonce n gets
// tx.BatchEntryID(n, i). A Bundle whose nonce is taken meanwhile is
// checked and rewritten again from its bytes.
func (g *Gateway) fhirTransaction(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBundleBytes+1))
	if err != nil {
		return fhir.Invalid("", "cannot read the request body: %v", err)
	}
	if len(body) > maxBundleBytes {
		return fhir.Errorf(http.StatusRequestEntityTooLarge, fhir.IssueTooCostly, "too_large", "the Bundle is larger than %d bytes", maxBundleBytes)
	}
	if b, err := fhir.ParseResource(body); err == nil && b.Type() == "Bundle" && b["type"] == "batch" {
		return g.fhirBatch(w, r, b)
	}
	ctx := r.Context()
	var written *client.WrittenBatch
	var entries []txEntry
	err = g.org.send(ctx, false, func() error {
		n, err := g.org.peek(ctx)
		if err != nil {
			return err
		}
		var ferr *fhir.Error
		if entries, ferr = g.prepareTransaction(r, body, n); ferr != nil {
			return ferr
		}
		batch := make([]client.BatchEntry, len(entries))
		for i, e := range entries {
			if isDirectoryType(e.res.Type()) {
				batch[i].Directory = &client.DirectoryWrite{ResourceType: e.res.Type(), Resource: stored(e.res), OnBehalfOf: c.member}
				if e.update {
					batch[i].Directory.ID, batch[i].Directory.Version = e.id, e.version
				}
				continue
			}
			batch[i].Record = &client.RecordWrite{Patient: e.patient, ResourceType: e.res.Type(), Labels: tx.SortLabels(e.res.SecurityLabels()),
				Date: e.res.ClinicalDate(), Resource: stored(e.res), OnBehalfOf: c.member}
			if e.update {
				batch[i].Record.RecordID = e.id
			}
		}
		if written, err = g.org.c.WriteBatch(ctx, g.org.key, batch, client.WaitCommit); err != nil {
			return err
		}
		for i, e := range entries {
			if written.IDs[i] != e.id {
				// Another signer used the organization's key meanwhile:
				// the rewritten references point at the wrong ids.
				return fhir.Errorf(http.StatusConflict, fhir.IssueConflict, "nonce_conflict",
					"the organization's key signed elsewhere during the Bundle; retry")
			}
		}
		return nil
	})
	if err != nil {
		ferr := clientError(err)
		if i, ok := refusedEntry(ferr.Message); ok && i < len(entries) {
			ferr.Message += " (the Bundle was not applied)"
			return ferr.At(entryPath(i, ferr))
		}
		return ferr
	}
	out := bundle{ResourceType: "Bundle", Type: "transaction-response", Entry: make([]bundleEntry, len(entries))}
	for i, e := range entries {
		v := written.Versions[i]
		status := "201 Created"
		if e.update {
			status = "200 OK"
		}
		out.Entry[i] = bundleEntry{Response: &bundleResponse{Status: status,
			Location: e.res.Type() + "/" + e.id + "/_history/" + strconv.FormatUint(v, 10), Etag: etag(v)}}
	}
	fhir.WriteResource(w, http.StatusOK, out)
	return nil
}

// prepareTransaction parses and checks a transaction Bundle for the
// organization's batch with nonce n: each entry's id, its references
// rewritten, and each record's ledger patient.
func (g *Gateway) prepareTransaction(r *http.Request, body []byte, n uint64) ([]txEntry, *fhir.Error) {
	entries, ferr := parseTransaction(r, body)
	if ferr != nil {
		return nil, ferr
	}
	ids := map[string]string{}
	for i := range entries {
		e := &entries[i]
		typ := tx.TypePutRecord
		if isDirectoryType(e.res.Type()) {
			typ = tx.TypePutDirectory
		}
		if !e.update {
			e.id = tx.BatchEntryID(typ, g.org.key.ID, n, i)
		}
		if e.fullURL != "" {
			ids[e.fullURL] = e.res.Type() + "/" + e.id
		}
	}
	snap, _, err := g.latest()
	if err != nil {
		return nil, stateError(err)
	}
	// What an update follows: the entry must be there, of its type, at
	// the version If-Match names. The block checks the version again.
	current := map[int]string{} // entry → the updated record's patient
	for i := range entries {
		e := &entries[i]
		if !e.update {
			continue
		}
		at := func(ferr *fhir.Error) *fhir.Error { return ferr.At(entryPath(i, ferr)) }
		if isDirectoryType(e.res.Type()) {
			vs, err := records.DirectoryVersions(snap, e.id)
			if tx.CodeOf(err) == tx.CodeNotFound || (err == nil && vs[len(vs)-1].ResourceType != e.res.Type()) {
				return nil, at(fhir.NotFound("%s/%s is not on this ledger", e.res.Type(), e.id))
			}
			if err != nil {
				return nil, stateError(err)
			}
			if ferr := ifMatch(e.res.Type(), e.id, uint64(len(vs)), e.ifMatch); ferr != nil {
				return nil, at(ferr)
			}
			e.version = uint64(len(vs)) + 1
			continue
		}
		rec, _, ferr := g.lookup(snap, e.res.Type(), e.id)
		if ferr != nil {
			return nil, at(ferr)
		}
		if ferr := ifMatch(e.res.Type(), e.id, rec.Latest, e.ifMatch); ferr != nil {
			return nil, at(ferr)
		}
		current[i] = rec.Patient
	}
	// The Patient entries first: records that refer to them learn their
	// ledger patient from them.
	pending := map[string]string{}
	for i := range entries {
		e := &entries[i]
		fhir.RewriteReferences(e.res, ids)
		if e.res.Type() == "Patient" {
			if e.patient, ferr = ledgerPatient(snap, e.res, nil); ferr != nil {
				return nil, ferr.At(entryPath(i, ferr))
			}
			pending["Patient/"+e.id] = e.patient
		}
	}
	for i := range entries {
		e := &entries[i]
		switch t := e.res.Type(); {
		case isDirectoryType(t):
			if len(stored(e.res)) > tx.MaxDirectoryResource {
				return nil, fhir.Errorf(http.StatusRequestEntityTooLarge, fhir.IssueTooCostly, "too_large",
					"a %s is at most %d bytes", t, tx.MaxDirectoryResource).At(entryPath(i, &fhir.Error{}))
			}
		case t != "Patient":
			if e.patient, ferr = ledgerPatient(snap, e.res, pending); ferr != nil {
				return nil, ferr.At(entryPath(i, ferr))
			}
		}
		if p, ok := current[i]; ok && p != e.patient {
			ferr := fhir.Unprocessable("", "%s/%s is a record of another patient; a new version cannot move it", e.res.Type(), e.id)
			return nil, ferr.At(entryPath(i, ferr))
		}
	}
	return entries, nil
}

// refusedEntry reads which batch entry the ledger refused from its
// message ("entry 3: …", tx.BatchEntryError).
func refusedEntry(msg string) (int, bool) {
	rest, ok := strings.CutPrefix(msg, "entry ")
	if !ok {
		return 0, false
	}
	num, _, ok := strings.Cut(rest, ": ")
	if !ok {
		return 0, false
	}
	i, err := strconv.Atoi(num)
	return i, err == nil && i >= 0
}

func entryPath(i int, e *fhir.Error) string {
	p := "Bundle.entry[" + strconv.Itoa(i) + "].resource"
	if len(e.Expression) > 0 {
		p += "." + e.Expression[0]
	}
	return p
}

// parseTransaction checks a transaction Bundle's shape and the token's
// create or update scope for each entry's type.
func parseTransaction(r *http.Request, body []byte) ([]txEntry, *fhir.Error) {
	b, err := fhir.ParseResource(body)
	if err != nil {
		return nil, fhir.Errorf(http.StatusBadRequest, fhir.IssueStructure, "invalid", "the body is not a JSON object: %v", err)
	}
	if b.Type() != "Bundle" {
		return nil, fhir.Invalid("resourceType", "POST to the base takes a Bundle, not %.80q", b.Type())
	}
	switch typ, _ := b["type"].(string); typ {
	case "transaction":
	default:
		return nil, fhir.Invalid("Bundle.type", "Bundle.type must be transaction or batch, not %.80q", typ)
	}
	raw, ok := b["entry"].([]any)
	if !ok || len(raw) == 0 {
		return nil, fhir.Invalid("Bundle.entry", "a transaction needs entries")
	}
	if len(raw) > maxBundleEntries {
		return nil, fhir.Errorf(http.StatusRequestEntityTooLarge, fhir.IssueTooCostly, "too_large", "%d entries, at most %d", len(raw), maxBundleEntries)
	}
	out := make([]txEntry, len(raw))
	seen, updated := map[string]bool{}, map[string]bool{}
	for i, v := range raw {
		path := "Bundle.entry[" + strconv.Itoa(i) + "]"
		m, _ := v.(map[string]any)
		res, _ := m["resource"].(map[string]any)
		if res == nil {
			return nil, fhir.Invalid(path+".resource", "every entry needs a resource")
		}
		req, _ := m["request"].(map[string]any)
		method, _ := req["method"].(string)
		u, _ := req["url"].(string)
		typ, _ := res["resourceType"].(string)
		e := txEntry{res: fhir.Resource(res)}
		perm := smart.PermCreate
		switch method {
		case http.MethodPost:
			if u != typ {
				return nil, fhir.Invalid(path+".request.url", "request.url %.80q does not match the resource's type %s", u, typ)
			}
		case http.MethodPut:
			t, id, ok := strings.Cut(u, "/")
			if !ok || t != typ || id == "" || strings.ContainsAny(id, "/?#") {
				return nil, fhir.Invalid(path+".request.url", "an update's request.url is %s/<id>, not %.80q", typ, u)
			}
			if rid, _ := res["id"].(string); rid != id {
				return nil, fhir.Invalid(path+".resource.id", "the resource's id %.80q does not match request.url %.80q", rid, u)
			}
			if updated[u] {
				return nil, fhir.Invalid(path+".request.url", "%.80s is updated twice in one transaction", u)
			}
			updated[u] = true
			e.update, e.id, perm = true, id, smart.PermUpdate
			e.ifMatch, _ = req["ifMatch"].(string)
		default:
			return nil, fhir.Errorf(http.StatusUnprocessableEntity, fhir.IssueNotSupported, "interaction_not_supported",
				"transaction entries create (POST) or update (PUT), not %.10q; erase with DELETE alone", method).At(path + ".request.method")
		}
		if !slices.Contains(RecordTypes, typ) && !isDirectoryType(typ) {
			return nil, fhir.Errorf(http.StatusUnprocessableEntity, fhir.IssueNotSupported, "type_not_supported",
				"%.80s resources are not stored by this server", typ).At(path + ".resource.resourceType")
		}
		if ferr := fhir.RequireScope(r, typ, perm); ferr != nil {
			return nil, ferr
		}
		full, _ := m["fullUrl"].(string)
		if full != "" {
			if seen[full] {
				return nil, fhir.Invalid(path+".fullUrl", "fullUrl %.80q appears twice", full)
			}
			seen[full] = true
		}
		e.fullURL = full
		out[i] = e
	}
	return out, nil
}
