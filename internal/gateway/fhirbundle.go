package gateway

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/tx"
)

// maxBundleBytes and maxBundleEntries bound a transaction Bundle. A Synthea
// patient is 60–80 entries and well under a megabyte.
const (
	maxBundleBytes   = 16 << 20
	maxBundleEntries = 1000
)

// txEntry is one entry of a transaction Bundle, checked.
type txEntry struct {
	index   int // in the Bundle as sent
	fullURL string
	res     fhir.Resource
	id      string // the record id it will get
	patient string // its ledger patient, once known
}

// fhirTransaction takes a transaction Bundle of creates (POST entries).
// All entries are checked before anything is written: resource types,
// scopes, and each entry's patient. References between entries by fullUrl
// (urn:uuid:…) are rewritten to the ids the entries will get, which are
// known beforehand: the Bundle holds the organization's transactions to
// itself and a new record's id derives from its signer and nonce.
//
// The writes are then consecutive ledger transactions. If one fails, the
// records already written are erased again (their ciphertext and shares
// deleted on every node) and the answer is the failure: nothing of the
// Bundle stays readable. Their anchors stay on the ledger, as after any
// erasure.
func (g *Gateway) fhirTransaction(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBundleBytes+1))
	if err != nil {
		return fhir.Invalid("", "cannot read the request body: %v", err)
	}
	if len(body) > maxBundleBytes {
		return fhir.Errorf(http.StatusRequestEntityTooLarge, fhir.IssueTooCostly, "too_large", "the Bundle is larger than %d bytes", maxBundleBytes)
	}
	entries, ferr := parseTransaction(r, body)
	if ferr != nil {
		return ferr
	}

	ctx := r.Context()
	done, err := g.org.begin(ctx, true)
	if err != nil {
		return clientError(err)
	}
	defer done()
	n, err := g.org.peek(ctx)
	if err != nil {
		return clientError(err)
	}
	ids := map[string]string{}
	for i := range entries {
		e := &entries[i]
		e.id = tx.RecordID(g.org.key.ID, n+uint64(i))
		if isDirectoryType(e.res.Type()) {
			e.id = tx.DirectoryID(g.org.key.ID, n+uint64(i))
		}
		if e.fullURL != "" {
			ids[e.fullURL] = e.res.Type() + "/" + e.id
		}
	}
	pending := map[string]string{}
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	// Check every entry's patient before the first write: most refusals
	// then cost nothing to undo. Patient entries come first in a Bundle
	// that creates its patient, so their ledger patients are known to the
	// entries that refer to them.
	for i := range entries {
		e := &entries[i]
		fhir.RewriteReferences(e.res, ids)
		if e.res.Type() == "Patient" {
			if e.patient, ferr = ledgerPatient(snap, e.res, nil); ferr != nil {
				return ferr.At(entryPath(e.index, ferr))
			}
			pending["Patient/"+e.id] = e.patient
		}
	}
	for i := range entries {
		e := &entries[i]
		switch t := e.res.Type(); {
		case isDirectoryType(t):
			if len(stored(e.res)) > tx.MaxDirectoryResource {
				return fhir.Errorf(http.StatusRequestEntityTooLarge, fhir.IssueTooCostly, "too_large",
					"a %s is at most %d bytes", t, tx.MaxDirectoryResource).At(entryPath(e.index, &fhir.Error{}))
			}
		case t != "Patient":
			if e.patient, ferr = ledgerPatient(snap, e.res, pending); ferr != nil {
				return ferr.At(entryPath(e.index, ferr))
			}
		}
	}

	out := bundle{ResourceType: "Bundle", Type: "transaction-response", Entry: make([]bundleEntry, len(entries))}
	var written []string
	undo := func(cause *fhir.Error, i int) *fhir.Error {
		for _, id := range slices.Backward(written) {
			if _, err := g.org.c.EraseRecordFor(ctx, g.org.key, id, "transaction Bundle rolled back", c.member); err != nil {
				g.log.Error("roll back a transaction Bundle: a written record could not be erased", "record", id, "err", err)
			}
		}
		cause.Message = fmt.Sprintf("entry %d: %s (the Bundle was not applied)", i, cause.Message)
		return cause.At(entryPath(i, cause))
	}
	// Entries go to the mempool one after the other without waiting for
	// their blocks: their nonces are consecutive, so once the last is
	// committed so are all, and the state then says which are there. The
	// records are awaited before the first directory entry is sent.
	var hashes, dirIDs []string
	recordsDone := false
	for _, e := range entries {
		if isDirectoryType(e.res.Type()) {
			if !recordsDone {
				if ferr := g.awaitWritten(ctx, hashes, written, nil); ferr != nil {
					return undo(ferr, e.index)
				}
				recordsDone, hashes = true, nil
			}
			id, res, err := g.putDirectory(ctx, c, e.res, "", 1, client.WaitSync)
			if err == nil && id != e.id {
				err = fhir.Errorf(http.StatusConflict, fhir.IssueConflict, "nonce_conflict", "the organization's key signed elsewhere during the Bundle; retry")
			}
			if err != nil {
				if ferr := g.awaitWritten(ctx, hashes, nil, dirIDs); ferr != nil {
					g.log.Error("transaction Bundle: a directory entry did not commit", "err", ferr.Message)
				}
				return undo(clientError(err), e.index)
			}
			hashes, dirIDs = append(hashes, res.Hash), append(dirIDs, id)
			out.Entry[e.index] = bundleEntry{Response: &bundleResponse{Status: "201 Created", Location: e.res.Type() + "/" + id + "/_history/1", Etag: etag(1)}}
			continue
		}
		wr, ferr := g.writeWaiting(ctx, c, e.res, "", pending, client.WaitSync)
		if ferr != nil {
			if ferr := g.awaitWritten(ctx, hashes, written, nil); ferr != nil {
				g.log.Error("roll back a transaction Bundle: a written record did not commit", "err", ferr.Message)
			}
			return undo(ferr, e.index)
		}
		written = append(written, wr.ID)
		hashes = append(hashes, wr.Result.Hash)
		if wr.ID != e.id {
			// Another signer used the organization's key meanwhile: the
			// rewritten references would point at the wrong records.
			return undo(fhir.Errorf(http.StatusConflict, fhir.IssueConflict, "nonce_conflict",
				"the organization's key signed elsewhere during the Bundle; retry"), e.index)
		}
		out.Entry[e.index] = (bundleEntry{Response: &bundleResponse{Status: "201 Created",
			Location: e.res.Type() + "/" + wr.ID + "/_history/" + strconv.FormatUint(wr.Version, 10), Etag: etag(wr.Version)}})
	}
	if ferr := g.awaitWritten(ctx, hashes, written, dirIDs); ferr != nil {
		return undo(ferr, len(entries)-1)
	}
	fhir.WriteResource(w, http.StatusOK, out)
	return nil
}

// awaitWritten waits until the last of the admitted transactions (hex
// hashes, in nonce order) is committed, and then checks that every record
// and directory entry written is on the ledger.
func (g *Gateway) awaitWritten(ctx context.Context, hashes, ids, dirIDs []string) *fhir.Error {
	if len(hashes) == 0 {
		return nil
	}
	last, err := hex.DecodeString(hashes[len(hashes)-1])
	if err != nil || len(last) != 32 {
		return fhir.Errorf(http.StatusInternalServerError, fhir.IssueException, "internal", "transaction hash %q", hashes[len(hashes)-1])
	}
	var h [32]byte
	copy(h[:], last)
	ch, cancel := g.waiters.wait(h)
	defer cancel()
	// The block may have committed before the wait began, and the index
	// may lag the commit event: look it up too, now and then.
	wctx, wcancel := context.WithTimeout(ctx, commitTimeout)
	defer wcancel()
	for committed := false; !committed; {
		if _, err := g.rpc.Tx(wctx, last, false); err == nil {
			break
		}
		select {
		case <-ch:
			committed = true
		case <-time.After(200 * time.Millisecond):
		case <-wctx.Done():
			return fhir.Errorf(http.StatusGatewayTimeout, fhir.IssueTransient, "internal", "the Bundle's records were admitted but not committed in time")
		}
	}
	// Every earlier nonce is in a block by now; whether its record is on
	// the ledger is what the committed state says.
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	for _, id := range ids {
		if _, err := records.Get(snap, id); err != nil {
			if tx.CodeOf(err) == tx.CodeNotFound {
				return fhir.Unprocessable("", "record %s of the Bundle was refused in its block", id)
			}
			return stateError(err)
		}
	}
	for _, id := range dirIDs {
		if _, err := records.DirectoryVersions(snap, id); err != nil {
			if tx.CodeOf(err) == tx.CodeNotFound {
				return fhir.Unprocessable("", "directory entry %s of the Bundle was refused in its block", id)
			}
			return stateError(err)
		}
	}
	return nil
}

func entryPath(i int, e *fhir.Error) string {
	p := "Bundle.entry[" + strconv.Itoa(i) + "].resource"
	if len(e.Expression) > 0 {
		p += "." + e.Expression[0]
	}
	return p
}

// parseTransaction checks a transaction Bundle's shape and the token's
// create scope for each entry's type.
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
	case "batch":
		return nil, fhir.Errorf(http.StatusUnprocessableEntity, fhir.IssueNotSupported, "bundle_type_unsupported", "batch Bundles are not supported; send a transaction").At("Bundle.type")
	default:
		return nil, fhir.Invalid("Bundle.type", "Bundle.type must be transaction, not %.80q", typ)
	}
	raw, ok := b["entry"].([]any)
	if !ok || len(raw) == 0 {
		return nil, fhir.Invalid("Bundle.entry", "a transaction needs entries")
	}
	if len(raw) > maxBundleEntries {
		return nil, fhir.Errorf(http.StatusRequestEntityTooLarge, fhir.IssueTooCostly, "too_large", "%d entries, at most %d", len(raw), maxBundleEntries)
	}
	out := make([]txEntry, len(raw))
	seen := map[string]bool{}
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
		if method != http.MethodPost {
			return nil, fhir.Errorf(http.StatusUnprocessableEntity, fhir.IssueNotSupported, "interaction_not_supported",
				"transaction entries may only create (POST), not %.10q", method).At(path + ".request.method")
		}
		if u != typ {
			return nil, fhir.Invalid(path+".request.url", "request.url %.80q does not match the resource's type %s", u, typ)
		}
		if !slices.Contains(RecordTypes, typ) && !isDirectoryType(typ) {
			return nil, fhir.Errorf(http.StatusUnprocessableEntity, fhir.IssueNotSupported, "type_not_supported",
				"%.80s resources are not stored by this server", typ).At(path + ".resource.resourceType")
		}
		if ferr := fhir.RequireScope(r, typ, smart.PermCreate); ferr != nil {
			return nil, ferr
		}
		full, _ := m["fullUrl"].(string)
		if full != "" {
			if seen[full] {
				return nil, fhir.Invalid(path+".fullUrl", "fullUrl %.80q appears twice", full)
			}
			seen[full] = true
		}
		out[i] = txEntry{index: i, fullURL: full, res: fhir.Resource(res)}
	}
	// The Patient entries first, so that each patient exists on the ledger
	// before its records are written, and directory entries last: they
	// cannot be erased, so a record that fails leaves none of them
	// behind. The order is otherwise kept.
	rank := func(e txEntry) int {
		switch t := e.res.Type(); {
		case t == "Patient":
			return 0
		case isDirectoryType(t):
			return 2
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b txEntry) int { return rank(a) - rank(b) })
	return out, nil
}
