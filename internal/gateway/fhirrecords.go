package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/identity"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/kv"
	"github.com/carechain/carechain/internal/records"
	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/tx"
)

// RecordTypes are the resource types the FHIR API stores as encrypted
// records: the patient's own resource and the resources of its compartment
// that carry a subject, patient or beneficiary reference.
var RecordTypes = []string{"AllergyIntolerance", "CarePlan", "CareTeam", "Claim", "Condition", "Device", "DiagnosticReport",
	"DocumentReference", "Encounter", "ExplanationOfBenefit", "Goal", "ImagingStudy", "Immunization", "MedicationAdministration",
	"MedicationRequest", "MedicationStatement", "Observation", "Patient", "Procedure", "ServiceRequest"}

// orgAgent is the organization a gateway acts for: it holds the
// organization's keys, signs its record transactions naming the SMART
// client as the member acted for, and opens the shares released to it.
//
// Its transactions are pipelined: nonces are handed out here rather than
// read from committed state, and must reach the mempool in order, so an
// operation holds the slot from taking its nonce until its transaction is
// admitted (or refused) and then waits for its block without it. A
// transaction Bundle keeps the slot for all its writes, whose ids it
// computed from consecutive nonces.
type orgAgent struct {
	key  *keyfile.Key
	c    *client.Client
	slot chan struct{}

	mu      sync.Mutex
	next    uint64 // the next nonce to hand out; 0: ask the node
	pending uint64 // handed out, not yet admitted or refused; 0: none
	release func() // frees the current holder's slot, unless it is exclusive
	holder  uint64 // the operation holding the slot (a count of begin calls)
	ops     uint64
}

func newOrgAgent(key *keyfile.Key, c *client.Client) *orgAgent {
	a := &orgAgent{key: key, slot: make(chan struct{}, 1)}
	a.c = c.WithNonces(a.nonce)
	return a
}

// begin takes the slot for one operation; done gives it back if the
// admission of its transaction has not already. An exclusive operation
// keeps it until done.
func (a *orgAgent) begin(ctx context.Context, exclusive bool) (done func(), err error) {
	select {
	case a.slot <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	var once sync.Once
	free := func() { once.Do(func() { <-a.slot }) }
	a.mu.Lock()
	a.ops++
	op := a.ops
	a.holder, a.pending, a.release = op, 0, nil
	if !exclusive {
		a.release = free
	}
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		if a.holder == op {
			if a.pending != 0 {
				// Taken but never submitted (the operation failed first):
				// the nonce is free again.
				a.next, a.pending = a.pending, 0
			}
			a.holder, a.release = 0, nil
		}
		a.mu.Unlock()
		free()
	}, nil
}

// nonce is the client's NonceSource: the organization's next nonce.
func (a *orgAgent) nonce(ctx context.Context, signer string) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == 0 || signer != a.key.ID {
		n, err := a.c.Nonce(ctx, signer)
		if err != nil {
			return 0, err
		}
		if signer != a.key.ID {
			return n.Next, nil
		}
		a.next = n.Next
	}
	n := a.next
	a.next++
	a.pending = n
	return n, nil
}

// sendAttempts bounds how often an operation is tried again after the
// mempool refused its transaction for its nonce (see admitted).
const sendAttempts = 3

// send runs op, which submits one organization transaction, holding the
// slot as begin does, and tries it again after a nonce refusal: a gap (a
// transaction ahead of it was lost) or a replay (the organization's key
// signed something else meanwhile, an operator's command say). Either
// way nothing was admitted and the agent asks the node for the nonce, so
// another try is safe.
func (a *orgAgent) send(ctx context.Context, exclusive bool, op func() error) error {
	for attempt := 1; ; attempt++ {
		done, err := a.begin(ctx, exclusive)
		if err != nil {
			return err
		}
		err = op()
		done()
		if attempt == sendAttempts || !isNonceRefusal(err) {
			return err
		}
	}
}

func isNonceRefusal(err error) bool {
	var ce *client.Error
	var fe *fhir.Error
	code := ""
	switch {
	case errors.As(err, &ce):
		code = tx.Code(ce.Code).String()
	case errors.As(err, &fe):
		code = fe.Code
	}
	return code == tx.CodeNonceGap.String() || code == tx.CodeNonceReplayed.String()
}

// peek is the nonce the next transaction will take, for an exclusive
// operation that needs to know it beforehand.
func (a *orgAgent) peek(ctx context.Context) (uint64, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.next == 0 {
		n, err := a.c.Nonce(ctx, a.key.ID)
		if err != nil {
			return 0, err
		}
		a.next = n.Next
	}
	return a.next, nil
}

// admitted hears, from the gateway's submission path, what the mempool
// did with a transaction. For the one the slot holder is waiting on, it
// frees the slot; a refused transaction gives its nonce back, and a nonce
// refusal makes the agent ask the node again.
func (a *orgAgent) admitted(raw []byte, code uint32, err error) {
	t, derr := tx.Decode(raw)
	if derr != nil || t.Signer != a.key.ID {
		return
	}
	a.mu.Lock()
	if a.pending == 0 || t.Nonce != a.pending {
		a.mu.Unlock()
		return // not one this agent handed out and is waiting for
	}
	a.pending = 0
	if err != nil || code != 0 {
		if a.next == t.Nonce+1 {
			a.next = t.Nonce
		}
		// A replay means the count is behind the ledger; a gap, that a
		// transaction ahead of this one was lost (a block failed it, and
		// the recheck evicted those behind it: docs/transactions.md,
		// "Nonces under pipelining"), so sending this nonce again would
		// be a gap again. Either way, ask the node.
		if err != nil || tx.Code(code) == tx.CodeNonceReplayed || tx.Code(code) == tx.CodeNonceGap {
			a.next = 0
		}
	}
	release := a.release
	a.release = nil
	a.mu.Unlock()
	if release != nil {
		release()
	}
}

// inProcess is a RoundTripper that serves requests with a handler in this
// process: the organization agent uses the gateway's own native API (the
// same proofs and crypto as any client) without a network hop.
type inProcess struct{ h http.Handler }

func (t inProcess) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// actFor makes the gateway act for the organization whose key it is and
// registers the record resources on the FHIR server.
func (g *Gateway) actFor(key *keyfile.Key, baseURL string) {
	var once sync.Once
	var h http.Handler
	lazy := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { h = g.Handler() })
		h.ServeHTTP(w, r)
	})
	g.org = newOrgAgent(key, client.NewWithHTTP(baseURL, &http.Client{Transport: inProcess{lazy}, Timeout: 2 * time.Minute}))
	srv := g.fhir
	for _, t := range RecordTypes {
		srv.Handle(t, fhir.Create, g.handler(g.fhirCreate))
		srv.Handle(t, fhir.Read, g.handler(g.fhirRead))
		srv.Handle(t, fhir.VRead, g.handler(g.fhirRead))
		srv.Handle(t, fhir.Update, g.handler(g.fhirUpdate))
		srv.Handle(t, fhir.Delete, g.handler(g.fhirDelete))
		srv.Handle(t, fhir.HistoryInstance, g.handler(g.fhirHistory))
		srv.Handle(t, fhir.SearchType, g.handler(g.fhirSearch))
		params := []fhir.SearchParam{{Name: "patient", Type: "reference"}, {Name: "date", Type: "date"}, {Name: "_count", Type: "number"}}
		if t == "Patient" {
			params = []fhir.SearchParam{{Name: "_id", Type: "token"}, {Name: "identifier", Type: "token"}, {Name: "_count", Type: "number"}}
		} else {
			params = append(params, fhir.SearchParam{Name: "subject", Type: "reference"}, fhir.SearchParam{Name: "code", Type: "token"},
				fhir.SearchParam{Name: "category", Type: "token"})
		}
		srv.Search(t, params...)
	}
	for _, t := range tx.DirectoryTypes {
		srv.Handle(t, fhir.Create, g.handler(g.fhirDirectoryCreate))
		srv.Handle(t, fhir.Read, g.handler(g.fhirDirectoryRead))
		srv.Handle(t, fhir.VRead, g.handler(g.fhirDirectoryRead))
		srv.Handle(t, fhir.Update, g.handler(g.fhirDirectoryUpdate))
		srv.Handle(t, fhir.HistoryInstance, g.handler(g.fhirDirectoryHistory))
		srv.Handle(t, fhir.SearchType, g.handler(g.fhirDirectorySearch))
		srv.Search(t, fhir.SearchParam{Name: "identifier", Type: "token"}, fhir.SearchParam{Name: "name", Type: "string"},
			fhir.SearchParam{Name: "_id", Type: "token"}, fhir.SearchParam{Name: "_count", Type: "number"})
	}
	srv.HandleOperation("Patient", "everything", true, smart.PermRead, g.handler(g.fhirEverything))
	srv.HandleSystem(fhir.Transaction, g.handler(g.fhirTransaction))
	srv.HandleSystem(fhir.Batch, g.handler(g.fhirTransaction))
	srv.HandleSystem(fhir.SearchSystem, g.handler(g.fhirSearchSystem))
}

// fhirHandler is a FHIR handler of the organization agent: it runs for a
// caller of the gateway's organization and returns its failure, which
// handler answers as an OperationOutcome.
type fhirHandler func(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error

func (g *Gateway) handler(h fhirHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, _ := fhir.RouteFrom(r.Context())
		c, ferr := g.callerOf(r)
		if ferr == nil {
			ferr = h(w, r, c, rt)
		}
		if ferr != nil {
			fhir.WriteError(w, ferr)
		}
	})
}

// OrgID is the organization the gateway acts for, or "".
func (g *Gateway) OrgID() string {
	if g.org == nil {
		return ""
	}
	return g.org.key.ID
}

// caller is a SMART client calling the FHIR API, as the gateway signs for it.
type caller struct {
	p *smart.Principal
	// member is the practitioner or application the organization signs
	// for; empty when the organization itself is the client.
	member string
}

// callerOf checks that the client belongs to the organization this gateway
// acts for: the gateway signs with that organization's key and can speak
// for no one else. The token endpoint already issues tokens to no other
// organization's clients; this check is the one next to the signing.
func (g *Gateway) callerOf(r *http.Request) (caller, *fhir.Error) {
	p, ok := smart.FromContext(r.Context())
	if !ok {
		return caller{}, fhir.Errorf(http.StatusUnauthorized, fhir.IssueLogin, "token_missing", "no authenticated client")
	}
	if p.Org != g.org.key.ID {
		return caller{}, fhir.Forbidden(string(smart.ReasonOrganizationMismatch), "this gateway acts for organization %s; client %s belongs to %s", g.org.key.ID, p.ClientID, p.Org)
	}
	c := caller{p: p}
	if p.ClientID != g.org.key.ID {
		c.member = p.ClientID
	}
	return c, nil
}

// actorID is who consent decides on and the audit names.
func (c caller) actorID(org string) string {
	if c.member != "" {
		return c.member
	}
	return org
}

func (c caller) purpose() (string, *fhir.Error) {
	if c.p.Purpose == "" {
		return "", fhir.Forbidden("purpose_missing", "reading records needs a purpose of use: ask for the token with purpose_of_use")
	}
	return string(c.p.Purpose), nil
}

// clientError maps an error of the organization agent's client to FHIR.
func clientError(err error) *fhir.Error {
	var fe *fhir.Error
	if errors.As(err, &fe) {
		return fe
	}
	var ce *client.Error
	if errors.As(err, &ce) {
		if ce.Code != 0 {
			return fhir.FromTx(tx.Code(ce.Code), ce.Message)
		}
		switch ce.HTTPStatus {
		case http.StatusNotFound:
			return fhir.NotFound("%s", ce.Message)
		case http.StatusGone:
			return fhir.Gone("%s", ce.Message)
		}
	}
	return fhir.Errorf(http.StatusInternalServerError, fhir.IssueException, "internal", "%v", err)
}

func stateError(err error) *fhir.Error {
	if c := tx.CodeOf(err); c != tx.CodeInternal {
		return fhir.FromTx(c, err.Error())
	}
	return fhir.Errorf(http.StatusServiceUnavailable, fhir.IssueTransient, "ledger_unavailable", "read the ledger: %v", err)
}

// lookup finds a record of the route's type: 404 if there is none (or it
// is of another type), 410 if it was erased.
func (g *Gateway) lookup(snap kv.Reader, typ, id string) (*records.Record, []*records.Version, *fhir.Error) {
	rec, vs, err := records.Versions(snap, id)
	if tx.CodeOf(err) == tx.CodeNotFound || (err == nil && (len(vs) == 0 || vs[len(vs)-1].ResourceType != typ)) {
		return nil, nil, fhir.NotFound("%s/%s is not on this ledger", typ, id)
	}
	if err != nil {
		return nil, nil, stateError(err)
	}
	if rec.Erased {
		return rec, vs, fhir.Gone("%s/%s was erased at height %d", typ, id, rec.ErasedAt)
	}
	return rec, vs, nil
}

// lookupLatest is lookup in the latest committed state.
func (g *Gateway) lookupLatest(typ, id string) (*records.Record, []*records.Version, *fhir.Error) {
	snap, _, err := g.latest()
	if err != nil {
		return nil, nil, stateError(err)
	}
	return g.lookup(snap, typ, id)
}

// ledgerPatient finds the ledger patient a resource belongs to: the one a
// Patient resource names, or the one whose Patient resource the resource
// refers to. pending maps Patient references of a transaction Bundle not
// yet written to their ledger patients.
func ledgerPatient(snap kv.Reader, res fhir.Resource, pending map[string]string) (string, *fhir.Error) {
	typ := res.Type()
	if typ == "Patient" {
		id := res.LedgerPatient()
		if id == "" {
			return "", fhir.Unprocessable("Patient.identifier", "a Patient must name its ledger patient: an identifier with system %s", fhir.PatientIdentifierSystem)
		}
		a, err := identity.Get(snap, id)
		if tx.CodeOf(err) == tx.CodeNotFound || (err == nil && a.Kind != tx.KindPatient) {
			return "", fhir.Unprocessable("Patient.identifier", "%s is not a patient on the ledger", id)
		}
		if err != nil {
			return "", stateError(err)
		}
		return id, nil
	}
	ref, element, ok := res.PatientReference()
	if !ok {
		if element == "" {
			element = "subject"
		}
		return "", fhir.Unprocessable(typ+"."+element, "a %s is stored as a record of a patient: its %s must refer to a Patient", typ, element)
	}
	if p, ok := pending["Patient/"+ref]; ok {
		return p, nil
	}
	rec, vs, err := records.Versions(snap, ref)
	if tx.CodeOf(err) == tx.CodeNotFound || (err == nil && (len(vs) == 0 || vs[len(vs)-1].ResourceType != "Patient")) {
		return "", fhir.Unprocessable(typ+"."+element, "%s refers to Patient/%s, which is not on this ledger", element, ref)
	}
	if err != nil {
		return "", stateError(err)
	}
	if rec.Erased {
		return "", fhir.Unprocessable(typ+"."+element, "Patient/%s was erased", ref)
	}
	return rec.Patient, nil
}

// stored is the resource as it is encrypted: without the id and the
// version's meta, which the ledger supplies on every read.
func stored(res fhir.Resource) []byte { return res.WithoutServerMeta().Marshal() }

// write stores res as a new record (recordID empty) or a new version. The
// caller holds the organization agent's slot.
func (g *Gateway) write(ctx context.Context, c caller, res fhir.Resource, recordID string, pending map[string]string) (*client.WrittenRecord, *fhir.Error) {
	return g.writeWaiting(ctx, c, res, recordID, pending, client.WaitCommit)
}

// writeWaiting is write returning once the transaction is committed
// (client.WaitCommit) or only admitted (client.WaitSync).
func (g *Gateway) writeWaiting(ctx context.Context, c caller, res fhir.Resource, recordID string, pending map[string]string, wait string) (*client.WrittenRecord, *fhir.Error) {
	snap, _, err := g.latest()
	if err != nil {
		return nil, stateError(err)
	}
	patient, ferr := ledgerPatient(snap, res, pending)
	if ferr != nil {
		return nil, ferr
	}
	if recordID != "" {
		rec, err := records.Get(snap, recordID)
		if err != nil {
			return nil, stateError(err)
		}
		if rec.Patient != patient {
			return nil, fhir.Unprocessable(res.Type()+".subject", "%s/%s is a record of another patient; a new version cannot move it", res.Type(), recordID)
		}
	}
	w := client.RecordWrite{Patient: patient, RecordID: recordID, ResourceType: res.Type(), Labels: tx.SortLabels(res.SecurityLabels()),
		Date: res.ClinicalDate(), Resource: stored(res), OnBehalfOf: c.member, Wait: wait}
	out, err := g.org.c.WriteRecord(ctx, g.org.key, w)
	if err != nil {
		return nil, clientError(err)
	}
	return out, nil
}

// rendered is a record version as the FHIR API returns it: the stored
// resource with its id and the version's meta from the ledger.
func rendered(plain []byte, id string, v *records.Version) (fhir.Resource, *fhir.Error) {
	return renderedAt(plain, id, v.Version, v.Time)
}

// renderedAt is a stored resource with its id, version and the block time
// (Unix nanoseconds) of that version.
func renderedAt(plain []byte, id string, version uint64, at int64) (fhir.Resource, *fhir.Error) {
	res, err := fhir.ParseResource(plain)
	if err != nil {
		return nil, fhir.Errorf(http.StatusInternalServerError, fhir.IssueException, "internal", "%s v%d is not stored as JSON: %v", id, version, err)
	}
	res["id"] = id
	meta, _ := res["meta"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	meta["versionId"] = strconv.FormatUint(version, 10)
	meta["lastUpdated"] = instant(at)
	res["meta"] = meta
	return res, nil
}

func instant(nanos int64) string { return time.Unix(0, nanos).UTC().Format(time.RFC3339Nano) }

func etag(version uint64) string { return `W/"` + strconv.FormatUint(version, 10) + `"` }

// ifMatch refuses, as 409, an update whose If-Match (m; empty: none)
// names another version than latest, the one it would follow.
func ifMatch(typ, id string, latest uint64, m string) *fhir.Error {
	if m != "" && m != etag(latest) && m != strconv.Quote(strconv.FormatUint(latest, 10)) {
		return fhir.Conflict("%s/%s is at version %d; If-Match asked for %s", typ, id, latest, m)
	}
	return nil
}

func (g *Gateway) resourceURL(typ, id string, version uint64) string {
	u := g.fhir.BaseURL() + "/" + typ + "/" + id
	if version > 0 {
		u += "/_history/" + strconv.FormatUint(version, 10)
	}
	return u
}

func writeVersion(w http.ResponseWriter, status int, res fhir.Resource, version uint64, location string) {
	w.Header().Set("ETag", etag(version))
	if location != "" {
		w.Header().Set("Location", location)
	}
	if lu, ok := res["meta"].(map[string]any)["lastUpdated"].(string); ok {
		if t, err := time.Parse(time.RFC3339Nano, lu); err == nil {
			w.Header().Set("Last-Modified", t.Format(http.TimeFormat))
		}
	}
	fhir.WriteResource(w, status, res)
}

// answerWritten answers a create or update with the version just written,
// rendered from what was stored rather than decrypted again.
func (g *Gateway) answerWritten(w http.ResponseWriter, status int, res fhir.Resource, wr *client.WrittenRecord) *fhir.Error {
	snap, _, err := g.latest()
	if err != nil {
		return stateError(err)
	}
	_, v, err := records.GetVersion(snap, wr.ID, wr.Version)
	if err != nil {
		return stateError(err)
	}
	out, ferr := rendered(stored(res), wr.ID, v)
	if ferr != nil {
		return ferr
	}
	writeVersion(w, status, out, v.Version, g.resourceURL(res.Type(), wr.ID, wr.Version))
	return nil
}

// readBody reads the resource of a create or update.
func readBody(r *http.Request, rt fhir.Route) (fhir.Resource, *fhir.Error) {
	body, ferr := fhir.ReadResource(r, rt)
	if ferr != nil {
		return nil, ferr
	}
	res, err := fhir.ParseResource(body)
	if err != nil {
		return nil, fhir.Invalid("", "the body is not a JSON object: %v", err)
	}
	return res, nil
}

func (g *Gateway) fhirCreate(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	res, ferr := readBody(r, rt)
	if ferr != nil {
		return ferr
	}
	var wr *client.WrittenRecord
	if err := g.org.send(r.Context(), false, func() error {
		var ferr *fhir.Error
		if wr, ferr = g.write(r.Context(), c, res, "", nil); ferr != nil {
			return ferr
		}
		return nil
	}); err != nil {
		return clientError(err)
	}
	return g.answerWritten(w, http.StatusCreated, res, wr)
}

func (g *Gateway) fhirRead(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	_, vs, ferr := g.lookupLatest(rt.Type, rt.ID)
	if ferr != nil {
		return ferr
	}
	version := uint64(0)
	if rt.VersionID != "" {
		n, err := strconv.ParseUint(rt.VersionID, 10, 64)
		if err != nil || n == 0 || n > uint64(len(vs)) {
			return fhir.NotFound("%s/%s has no version %s", rt.Type, rt.ID, rt.VersionID)
		}
		version = n
	}
	reads, ferr := g.readRecords(r.Context(), c, []tx.RecordRef{{ID: rt.ID, Version: version}})
	if ferr != nil {
		return ferr
	}
	v := vs[reads[0].Version-1]
	out, ferr := rendered(reads[0].Resource, rt.ID, v)
	if ferr != nil {
		return ferr
	}
	writeVersion(w, http.StatusOK, out, v.Version, "")
	return nil
}

// readRecords reads records of one patient under one access the ledger
// decides and audits, signed by the organization for the caller.
func (g *Gateway) readRecords(ctx context.Context, c caller, refs []tx.RecordRef) ([]*client.RecordRead, *fhir.Error) {
	purpose, ferr := c.purpose()
	if ferr != nil {
		return nil, ferr
	}
	var reads []*client.RecordRead
	err := g.org.send(ctx, false, func() (err error) {
		reads, err = g.org.c.ReadRecords(ctx, g.org.key, client.ReadRequest{Records: refs, Purpose: purpose, OnBehalfOf: c.member})
		return err
	})
	if err != nil {
		return nil, clientError(err)
	}
	return reads, nil
}

func (g *Gateway) fhirUpdate(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	res, ferr := readBody(r, rt)
	if ferr != nil {
		return ferr
	}
	done, err := g.org.begin(r.Context(), false)
	if err != nil {
		return clientError(err)
	}
	defer done()
	rec, _, ferr := g.lookupLatest(rt.Type, rt.ID)
	if ferr != nil {
		if ferr.Status == http.StatusNotFound {
			ferr.Message += "; record ids are the ledger's: create it with POST"
		}
		return ferr
	}
	if ferr := ifMatch(rt.Type, rt.ID, rec.Latest, r.Header.Get("If-Match")); ferr != nil {
		return ferr
	}
	wr, ferr := g.write(r.Context(), c, res, rt.ID, nil)
	if ferr != nil && strings.Contains(ferr.Message, "is at version") {
		// Another update of this record was admitted first.
		return fhir.Conflict("%s", ferr.Message)
	}
	if ferr != nil {
		return ferr
	}
	return g.answerWritten(w, http.StatusOK, res, wr)
}

// fhirDelete erases the record: every node deletes its ciphertext and key
// shares, and later reads answer 410. Deleting what is already erased
// succeeds again, as FHIR's delete is idempotent.
func (g *Gateway) fhirDelete(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	if _, _, ferr := g.lookupLatest(rt.Type, rt.ID); ferr != nil {
		if ferr.Status == http.StatusGone {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		return ferr
	}
	done, err := g.org.begin(r.Context(), false)
	if err != nil {
		return clientError(err)
	}
	_, err = g.org.c.EraseRecordFor(r.Context(), g.org.key, rt.ID, "FHIR delete", c.member)
	done()
	if err != nil {
		return clientError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// fhirHistory lists every version of a record, newest first, each read
// (and audited) like a vread.
func (g *Gateway) fhirHistory(w http.ResponseWriter, r *http.Request, c caller, rt fhir.Route) *fhir.Error {
	_, vs, ferr := g.lookupLatest(rt.Type, rt.ID)
	if ferr != nil {
		return ferr
	}
	b := bundle{ResourceType: "Bundle", Type: "history", Total: &[]int{len(vs)}[0]}
	for i := len(vs) - 1; i >= 0; i-- {
		v := vs[i]
		reads, ferr := g.readRecords(r.Context(), c, []tx.RecordRef{{ID: rt.ID, Version: v.Version}})
		if ferr != nil {
			return ferr
		}
		res, ferr := rendered(reads[0].Resource, rt.ID, v)
		if ferr != nil {
			return ferr
		}
		b.Entry = append(b.Entry, g.historyEntry(rt, res, v.Version, v.Time))
	}
	b.Link = []bundleLink{{Relation: "self", URL: g.resourceURL(rt.Type, rt.ID, 0) + "/_history"}}
	fhir.WriteResource(w, http.StatusOK, b)
	return nil
}

// historyEntry is one version in a history Bundle.
func (g *Gateway) historyEntry(rt fhir.Route, res fhir.Resource, version uint64, at int64) bundleEntry {
	method, status := http.MethodPut, "200 OK"
	if version == 1 {
		method, status = http.MethodPost, "201 Created"
	}
	return bundleEntry{FullURL: g.resourceURL(rt.Type, rt.ID, 0), Resource: res,
		Request:  &bundleRequest{Method: method, URL: rt.Type + "/" + rt.ID},
		Response: &bundleResponse{Status: status, Etag: etag(version), LastModified: instant(at)}}
}

// Bundle shapes the FHIR API answers with.
type bundle struct {
	ResourceType string        `json:"resourceType"`
	Type         string        `json:"type"`
	Total        *int          `json:"total,omitempty"`
	Link         []bundleLink  `json:"link,omitempty"`
	Entry        []bundleEntry `json:"entry,omitempty"`
}

type bundleLink struct {
	Relation string `json:"relation"`
	URL      string `json:"url"`
}

type bundleEntry struct {
	FullURL  string          `json:"fullUrl,omitempty"`
	Resource fhir.Resource   `json:"resource,omitempty"`
	Search   *bundleSearch   `json:"search,omitempty"`
	Request  *bundleRequest  `json:"request,omitempty"`
	Response *bundleResponse `json:"response,omitempty"`
}

type bundleSearch struct {
	Mode string `json:"mode"`
}

type bundleRequest struct {
	Method string `json:"method"`
	URL    string `json:"url"`
}

type bundleResponse struct {
	Status       string        `json:"status"`
	Location     string        `json:"location,omitempty"`
	Etag         string        `json:"etag,omitempty"`
	LastModified string        `json:"lastModified,omitempty"`
	Outcome      fhir.Resource `json:"outcome,omitempty"` // a batch entry's OperationOutcome
}

// prefix splits a FHIR search prefix (eq, ne, gt, lt, ge, le, sa, eb,
// ap) from a value.
func prefix(v string) (string, string) {
	if len(v) > 2 {
		switch v[:2] {
		case "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap":
			return v[:2], v[2:]
		}
	}
	return "eq", v
}

// strip removes a resource-type prefix from a reference search value.
func strip(v, typ string) string {
	if i := strings.LastIndex(v, typ+"/"); i >= 0 {
		return v[i+len(typ)+1:]
	}
	return v
}
