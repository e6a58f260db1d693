package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/client"
	"github.com/carechain/carechain/internal/audit"
	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/fhir"
	"github.com/carechain/carechain/internal/keyfile"
	"github.com/carechain/carechain/internal/node"
	"github.com/carechain/carechain/internal/nodetest"
	"github.com/carechain/carechain/internal/tx"
)

// fhirNet is a single-validator node whose gateway acts for an
// organization, with a practitioner of it and a patient.
type fhirNet struct {
	n        *node.Node
	home     string
	c        *client.Client
	admin    *keyfile.Key
	org      *keyfile.Key
	doctor   *keyfile.Key
	patient  *keyfile.Key
	fhirBase string
}

func startFHIRNet(t *testing.T, logs io.Writer) *fhirNet {
	t.Helper()
	o := nodetest.StartOrg(t, filepath.Join(t.TempDir(), "node"), "gateway-test", logs)
	c := client.New(o.Node.APIURL)
	return &fhirNet{n: o.Node, home: o.Home, c: c, admin: o.Admin, org: o.Org, doctor: register(t, c, tx.KindPractitioner, o.Org),
		patient: register(t, c, tx.KindPatient, nil), fhirBase: o.Node.APIURL + "/fhir"}
}

func (f *fhirNet) token(t *testing.T, key *keyfile.Key, scope, purpose string) string {
	t.Helper()
	tok, err := f.c.Token(context.Background(), key, scope, consent.Purpose(purpose))
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

// fhirResponse is an answer of the FHIR API.
type fhirResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

// code is the OperationOutcome's carechain code, or "".
func (r fhirResponse) code() string {
	issues, _ := r.body["issue"].([]any)
	if len(issues) == 0 {
		return ""
	}
	det, _ := issues[0].(map[string]any)["details"].(map[string]any)
	cs, _ := det["coding"].([]any)
	if len(cs) == 0 {
		return ""
	}
	s, _ := cs[0].(map[string]any)["code"].(string)
	return s
}

func (r fhirResponse) total() int {
	n, _ := r.body["total"].(float64)
	return int(n)
}

func (r fhirResponse) entries() []map[string]any {
	var out []map[string]any
	es, _ := r.body["entry"].([]any)
	for _, e := range es {
		out = append(out, e.(map[string]any))
	}
	return out
}

func (f *fhirNet) do(t *testing.T, method, path, token string, body any, header ...string) fhirResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.([]byte)
		if !ok {
			b, _ = json.Marshal(body)
		}
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.fhirBase+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Accept", "application/fhir+json")
	if body != nil {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := fhirResponse{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: %d, body is not JSON: %s", method, path, resp.StatusCode, raw)
		}
	}
	return out
}

func (f *fhirNet) expect(t *testing.T, r fhirResponse, status int, code string) {
	t.Helper()
	if r.status != status || (code != "" && r.code() != code) {
		t.Fatalf("status %d code %q, want %d %q: %s", r.status, r.code(), status, code, r.raw)
	}
}

// patientAndToken is a practitioner's token with every scope and TREAT,
// and the id of the patient's Patient resource it created.
func (f *fhirNet) patientAndToken(t *testing.T) (token, patientID string) {
	t.Helper()
	token = f.token(t, f.doctor, "system/*.cruds", "TREAT")
	pat := f.do(t, "POST", "/Patient", token, patientResource(f.patient.ID))
	f.expect(t, pat, 201, "")
	return token, pat.body["id"].(string)
}

func patientResource(ledgerID string) map[string]any {
	return map[string]any{"resourceType": "Patient", "name": []any{map[string]any{"family": "Test", "given": []any{"Pat"}}},
		"birthDate":  "1980-02-03",
		"identifier": []any{map[string]any{"system": "urn:carechain:patient", "value": ledgerID}}}
}

func observation(patientRef, code, date string) map[string]any {
	return map[string]any{"resourceType": "Observation", "status": "final",
		"category":          []any{map[string]any{"coding": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}}}},
		"code":              map[string]any{"coding": []any{map[string]any{"system": "http://loinc.org", "code": code}}},
		"subject":           map[string]any{"reference": patientRef},
		"effectiveDateTime": date,
		"valueQuantity":     map[string]any{"value": json.Number("72.50"), "unit": "kg"}}
}

// withoutMeta drops what the server adds (id, meta.versionId,
// meta.lastUpdated), for comparing a resource read back with what went in.
func withoutMeta(v any) string {
	b, ok := v.([]byte)
	if !ok {
		b, _ = json.Marshal(v)
	}
	r, _ := fhir.ParseResource(b)
	return string(r.WithoutServerMeta().Marshal())
}

// TestFHIRRecordLifecycle drives the FHIR API as a practitioner's SMART
// client of the gateway's organization: create, read, update with
// If-Match, vread, history, search, $everything, a transaction Bundle
// with references between its entries, one that fails as a whole, and
// delete. The ledger names the practitioner as actor and the
// organization as the key-share recipient.
func TestFHIRRecordLifecycle(t *testing.T) {
	f := startFHIRNet(t, nil)
	tok := f.token(t, f.doctor, "system/*.cruds", "TREAT")

	pat := f.do(t, "POST", "/Patient", tok, patientResource(f.patient.ID))
	f.expect(t, pat, 201, "")
	pid := pat.body["id"].(string)
	if loc := pat.header.Get("Location"); !strings.HasSuffix(loc, "/fhir/Patient/"+pid+"/_history/1") {
		t.Errorf("Location %q", loc)
	}
	obs := observation("Patient/"+pid, "29463-7", "2024-05-06T07:08:09Z")
	created := f.do(t, "POST", "/Observation", tok, obs)
	f.expect(t, created, 201, "")
	oid := created.body["id"].(string)

	read := f.do(t, "GET", "/Observation/"+oid, tok, nil)
	f.expect(t, read, 200, "")
	if got, want := withoutMeta(read.raw), withoutMeta(obs); got != want {
		t.Errorf("read back\n%s\nwant\n%s", got, want)
	}
	if read.header.Get("ETag") != `W/"1"` || read.body["meta"].(map[string]any)["versionId"] != "1" {
		t.Errorf("ETag %q meta %v", read.header.Get("ETag"), read.body["meta"])
	}
	if !strings.Contains(string(read.raw), `"value":72.50`) {
		t.Errorf("numbers are not kept as written: %s", read.raw)
	}

	upd := observation("Patient/"+pid, "29463-7", "2024-05-07T07:08:09Z")
	upd["id"] = oid
	f.expect(t, f.do(t, "PUT", "/Observation/"+oid, tok, upd, "If-Match", `W/"1"`), 200, "")
	f.expect(t, f.do(t, "PUT", "/Observation/"+oid, tok, upd, "If-Match", `W/"1"`), 409, "")
	v1 := f.do(t, "GET", "/Observation/"+oid+"/_history/1", tok, nil)
	f.expect(t, v1, 200, "")
	if v1.body["effectiveDateTime"] != "2024-05-06T07:08:09Z" {
		t.Errorf("vread 1: %s", v1.raw)
	}
	f.expect(t, f.do(t, "GET", "/Observation/"+oid+"/_history/3", tok, nil), 404, "")
	hist := f.do(t, "GET", "/Observation/"+oid+"/_history", tok, nil)
	f.expect(t, hist, 200, "")
	if hist.total() != 2 || len(hist.entries()) != 2 {
		t.Errorf("history: %s", hist.raw)
	}

	for _, c := range []struct {
		query string
		total int
	}{
		{"patient=Patient/" + pid, 1},
		{"patient=" + pid + "&code=http://loinc.org|29463-7", 1},
		{"patient=" + pid + "&code=8302-2", 0},
		{"patient=" + pid + "&category=vital-signs", 1},
		{"subject=Patient/" + pid + "&date=ge2024-05-07", 1},
		{"patient=" + pid + "&date=lt2024", 0},
		{"patient=" + pid + "&date=2024-05", 1},
	} {
		s := f.do(t, "GET", "/Observation?"+c.query, tok, nil)
		f.expect(t, s, 200, "")
		if s.total() != c.total || len(s.entries()) != c.total {
			t.Errorf("search %s: total %d, %d entries, want %d", c.query, s.total(), len(s.entries()), c.total)
		}
	}
	f.expect(t, f.do(t, "GET", "/Observation?code=x", tok, nil), 400, "invalid")
	f.expect(t, f.do(t, "GET", "/Observation?patient="+pid+"&color=red", tok, nil), 400, "invalid")

	// A transaction: a new Observation referring to the Patient by id and
	// a Condition referring to the Observation by its urn:uuid.
	bundle := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"fullUrl": "urn:uuid:11111111-1111-1111-1111-111111111111", "resource": observation("Patient/"+pid, "8302-2", "2023-01-01"),
			"request": map[string]any{"method": "POST", "url": "Observation"}},
		map[string]any{"fullUrl": "urn:uuid:22222222-2222-2222-2222-222222222222", "resource": map[string]any{"resourceType": "Condition",
			"subject":  map[string]any{"reference": "Patient/" + pid},
			"evidence": []any{map[string]any{"detail": []any{map[string]any{"reference": "urn:uuid:11111111-1111-1111-1111-111111111111"}}}}},
			"request": map[string]any{"method": "POST", "url": "Condition"}},
	}}
	tr := f.do(t, "POST", "", tok, bundle)
	f.expect(t, tr, 200, "")
	es := tr.entries()
	if len(es) != 2 {
		t.Fatalf("transaction response: %s", tr.raw)
	}
	obsLoc := es[0]["response"].(map[string]any)["location"].(string)
	condLoc := es[1]["response"].(map[string]any)["location"].(string)
	obsRef := strings.TrimSuffix(obsLoc, "/_history/1")
	cond := f.do(t, "GET", "/"+strings.TrimSuffix(condLoc, "/_history/1"), tok, nil)
	f.expect(t, cond, 200, "")
	if !strings.Contains(string(cond.raw), `"reference":"`+obsRef+`"`) {
		t.Errorf("the Condition's reference was not rewritten to %s: %s", obsRef, cond.raw)
	}

	// A transaction may update too: the Condition gets a version 2 and a
	// new Observation comes with it, atomically. A stale If-Match refuses
	// the whole Bundle, its create included.
	condRef := strings.TrimSuffix(condLoc, "/_history/1")
	condID := strings.TrimPrefix(condRef, "Condition/")
	cond2 := map[string]any{"resourceType": "Condition", "id": condID, "subject": map[string]any{"reference": "Patient/" + pid},
		"clinicalStatus": map[string]any{"text": "resolved"}}
	withUpdate := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": cond2, "request": map[string]any{"method": "PUT", "url": condRef, "ifMatch": `W/"1"`}},
		map[string]any{"resource": observation("Patient/"+pid, "8310-5", "2023-01-02"), "request": map[string]any{"method": "POST", "url": "Observation"}},
	}}
	ur := f.do(t, "POST", "", tok, withUpdate)
	f.expect(t, ur, 200, "")
	if es := ur.entries(); len(es) != 2 || es[0]["response"].(map[string]any)["status"] != "200 OK" ||
		es[0]["response"].(map[string]any)["location"] != condRef+"/_history/2" || es[1]["response"].(map[string]any)["status"] != "201 Created" {
		t.Errorf("transaction with an update: %s", ur.raw)
	}
	if c2 := f.do(t, "GET", "/"+condRef, tok, nil); !strings.Contains(string(c2.raw), "resolved") || c2.header.Get("ETag") != `W/"2"` {
		t.Errorf("updated in a transaction: %s", c2.raw)
	}
	obsBefore := f.do(t, "GET", "/Observation?patient="+pid, tok, nil).total()
	stale := f.do(t, "POST", "", tok, withUpdate) // If-Match W/"1", now at 2
	f.expect(t, stale, 409, "")
	if !strings.Contains(string(stale.raw), "Bundle.entry[0]") {
		t.Errorf("the stale entry is not named: %s", stale.raw)
	}
	if n := f.do(t, "GET", "/Observation?patient="+pid, tok, nil).total(); n != obsBefore {
		t.Errorf("a refused transaction created %d observations", n-obsBefore)
	}
	twice := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": cond2, "request": map[string]any{"method": "PUT", "url": condRef}},
		map[string]any{"resource": cond2, "request": map[string]any{"method": "PUT", "url": condRef}},
	}}
	f.expect(t, f.do(t, "POST", "", tok, twice), 400, "invalid")

	// A transaction whose second entry has no patient: 422 naming it, and
	// nothing of the first entry readable.
	before := f.do(t, "GET", "/Observation?patient="+pid, tok, nil).total()
	bad := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": observation("Patient/"+pid, "1-1", "2023-01-01"), "request": map[string]any{"method": "POST", "url": "Observation"}},
		map[string]any{"resource": map[string]any{"resourceType": "Observation", "status": "final"}, "request": map[string]any{"method": "POST", "url": "Observation"}},
	}}
	br := f.do(t, "POST", "", tok, bad)
	f.expect(t, br, 422, "")
	if !strings.Contains(string(br.raw), "Bundle.entry[1].resource") {
		t.Errorf("the failing entry is not named: %s", br.raw)
	}
	if after := f.do(t, "GET", "/Observation?patient="+pid, tok, nil).total(); after != before {
		t.Errorf("a failed transaction left %d observations readable, before %d", after, before)
	}

	// A transaction the ledger refuses after the gateway's checks pass (a
	// security label the ledger does not take, in the last entry): the
	// answer names that entry, and nothing of the Bundle exists anywhere —
	// no record readable, no audit event, no blob on disk.
	blobsBefore := countFiles(t, filepath.Join(f.home, "data", "blobs"))
	labelled := observation("Patient/"+pid, "1-2", "2023-01-02")
	labelled["meta"] = map[string]any{"security": []any{map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "not a label"}}}
	refused := map[string]any{"resourceType": "Bundle", "type": "transaction", "entry": []any{
		map[string]any{"resource": observation("Patient/"+pid, "1-3", "2023-01-02"), "request": map[string]any{"method": "POST", "url": "Observation"}},
		map[string]any{"resource": map[string]any{"resourceType": "Organization", "name": "Refused Clinic"}, "request": map[string]any{"method": "POST", "url": "Organization"}},
		map[string]any{"resource": labelled, "request": map[string]any{"method": "POST", "url": "Observation"}},
	}}
	rr := f.do(t, "POST", "", tok, refused)
	f.expect(t, rr, 400, "invalid")
	if !strings.Contains(string(rr.raw), "Bundle.entry[2].resource") || !strings.Contains(string(rr.raw), "not applied") {
		t.Errorf("the refused entry is not named: %s", rr.raw)
	}
	if after := f.do(t, "GET", "/Observation?patient="+pid, tok, nil).total(); after != before {
		t.Errorf("a refused transaction left %d observations readable, before %d", after, before)
	}
	if n := countFiles(t, filepath.Join(f.home, "data", "blobs")); n != blobsBefore {
		t.Errorf("a refused transaction left %d blob files, before %d", n, blobsBefore)
	}
	if orgs := f.do(t, "GET", "/Organization?name=Refused", tok, nil); orgs.status == 200 && orgs.total() != 0 {
		t.Errorf("a refused transaction left its Organization: %s", orgs.raw)
	}

	ev := f.do(t, "GET", "/Patient/"+pid+"/$everything", tok, nil)
	f.expect(t, ev, 200, "")
	if ev.total() != 5 || ev.entries()[0]["resource"].(map[string]any)["resourceType"] != "Patient" {
		t.Errorf("$everything: total %d: %s", ev.total(), ev.raw)
	}
	ps := f.do(t, "GET", "/Patient?identifier=urn:carechain:patient|"+f.patient.ID, tok, nil)
	f.expect(t, ps, 200, "")
	if ps.total() != 1 {
		t.Errorf("Patient by identifier: %s", ps.raw)
	}

	// The directory: about no patient, in the clear, versioned.
	orgRes := map[string]any{"resourceType": "Organization", "name": "General", "active": true}
	oc := f.do(t, "POST", "/Organization", tok, orgRes)
	f.expect(t, oc, 201, "")
	dirID := oc.body["id"].(string)
	or := f.do(t, "GET", "/Organization/"+dirID, tok, nil)
	f.expect(t, or, 200, "")
	if withoutMeta(or.raw) != withoutMeta(orgRes) || !strings.HasPrefix(dirID, "dr") {
		t.Errorf("Organization read back: %s", or.raw)
	}
	orgRes["name"], orgRes["id"] = "General Hospital", dirID
	f.expect(t, f.do(t, "PUT", "/Organization/"+dirID, tok, orgRes, "If-Match", `W/"1"`), 200, "")
	f.expect(t, f.do(t, "PUT", "/Organization/"+dirID, tok, orgRes, "If-Match", `W/"1"`), 409, "")
	if h := f.do(t, "GET", "/Organization/"+dirID+"/_history", tok, nil); h.total() != 2 {
		t.Errorf("Organization history: %s", h.raw)
	}
	f.expect(t, f.do(t, "GET", "/Practitioner/"+dirID, tok, nil), 404, "")
	if found := f.do(t, "GET", "/Organization?name=general%20h", tok, nil); found.total() != 1 || !strings.Contains(string(found.raw), dirID) {
		t.Errorf("Organization by name: %s", found.raw)
	}
	if found := f.do(t, "GET", "/Organization?identifier=urn:x|1", tok, nil); found.status != 200 || found.total() != 0 {
		t.Errorf("Organization by an identifier it lacks: %s", found.raw)
	}
	f.expect(t, f.do(t, "GET", "/Organization?color=red", tok, nil), 400, "invalid")

	f.expect(t, f.do(t, "DELETE", "/Observation/"+oid, tok, nil), 204, "")
	f.expect(t, f.do(t, "GET", "/Observation/"+oid, tok, nil), 410, "")
	f.expect(t, f.do(t, "DELETE", "/Observation/"+oid, tok, nil), 204, "")
	f.expect(t, f.do(t, "GET", "/Observation/rcnosuchrecord", tok, nil), 404, "")

	// The audit names the practitioner as actor, its organization as
	// ActorOrg, and, for reads, the organization as the recipient of the
	// key shares.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, events, err := f.c.AuditHistory(ctx, f.patient, f.patient.ID, client.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var reads, creates, erases int
	for _, e := range events {
		if e.Action == audit.ActionAuditQuery {
			continue // the patient's own query of this history
		}
		if e.Actor != f.doctor.ID || e.ActorOrg != f.org.ID {
			t.Errorf("event %d %s: actor %s org %s, want %s of %s", e.Seq, e.Action, e.Actor, e.ActorOrg, f.doctor.ID, f.org.ID)
		}
		switch e.Action {
		case audit.ActionRecordRead:
			reads++
			if e.Recipient != f.org.ID {
				t.Errorf("read event %d: recipient %q, want the organization", e.Seq, e.Recipient)
			}
		case audit.ActionRecordCreate:
			creates++
		case audit.ActionRecordErase:
			erases++
		}
	}
	// Creates: Patient, Observation, 2 in the first Bundle, 1 beside the
	// update in another; the failed Bundles recorded none.
	if reads == 0 || creates != 5 || erases != 1 {
		t.Errorf("audit: %d reads, %d creates, %d erasures (want >0, 5, 1)", reads, creates, erases)
	}
}

// TestFHIRConcurrentClients has many clients create and read at once:
// the organization's transactions are pipelined (nonces handed out by the
// gateway, admitted in order, committed together), and none may collide.
func TestFHIRConcurrentClients(t *testing.T) {
	f := startFHIRNet(t, nil)
	tok, pid := f.patientAndToken(t)
	const clients = 12
	errs := make(chan string, clients)
	for i := range clients {
		go func() {
			code := fmt.Sprintf("c-%d", i)
			b, _ := json.Marshal(observation("Patient/"+pid, code, "2024-01-01"))
			req, _ := http.NewRequest("POST", f.fhirBase+"/Observation", bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/fhir+json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			var created map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&created)
			resp.Body.Close()
			if resp.StatusCode != 201 {
				errs <- fmt.Sprintf("create %d: %v", resp.StatusCode, created)
				return
			}
			req, _ = http.NewRequest("GET", f.fhirBase+"/Observation/"+created["id"].(string), nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err = http.DefaultClient.Do(req)
			if err != nil {
				errs <- err.Error()
				return
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(body), `"code":"`+code+`"`) {
				errs <- fmt.Sprintf("read %d: %s", resp.StatusCode, body)
				return
			}
			errs <- ""
		}()
	}
	for range clients {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
	s := f.do(t, "GET", "/Observation?patient="+pid, tok, nil)
	if s.total() != clients {
		t.Errorf("%d observations found, want %d", s.total(), clients)
	}
}
