package gateway_test

import (
	"strings"
	"testing"
)

// TestFHIRBatch sends a batch Bundle whose entries succeed and fail
// independently: each is answered in its own batch-response entry, with
// its status and, for a failure, its OperationOutcome, and what succeeded
// stays written.
func TestFHIRBatch(t *testing.T) {
	f := startFHIRNet(t, nil)
	tok, pid := f.patientAndToken(t)

	entry := func(method, url string, res any) map[string]any {
		e := map[string]any{"request": map[string]any{"method": method, "url": url}}
		if res != nil {
			e["resource"] = res
		}
		return e
	}
	batch := map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
		entry("POST", "Observation", observation("Patient/"+pid, "8302-2", "2024-02-02")),
		entry("GET", "Patient/"+pid, nil),
		entry("POST", "Observation", map[string]any{"resourceType": "Observation", "status": "final"}),
		entry("GET", "Observation/rcnosuchrecord", nil),
		entry("PATCH", "Observation/x", nil),
		entry("GET", "https://elsewhere.example/fhir/Patient/1", nil),
		entry("GET", "Observation?patient="+pid, nil),
		entry("GET", "Observation?patient=a b", nil), // a space: no request line can carry it
	}}
	r := f.do(t, "POST", "", tok, batch)
	f.expect(t, r, 200, "")
	if r.body["type"] != "batch-response" {
		t.Fatalf("batch answered with %s", r.raw)
	}
	es := r.entries()
	if len(es) != 8 {
		t.Fatalf("%d entries for 8: %s", len(es), r.raw)
	}
	want := []struct {
		status, code string
	}{{"201", ""}, {"200", ""}, {"422", "unprocessable"}, {"404", "not_found"}, {"400", "invalid"}, {"400", "invalid"}, {"200", ""}, {"4", ""}}
	for i, w := range want {
		resp := es[i]["response"].(map[string]any)
		if !strings.HasPrefix(resp["status"].(string), w.status) {
			t.Errorf("entry %d: status %v, want %s", i, resp["status"], w.status)
		}
		if w.code != "" {
			oo, _ := resp["outcome"].(map[string]any)
			if oo["resourceType"] != "OperationOutcome" || !strings.Contains(mustJSON(oo), `"code":"`+w.code+`"`) {
				t.Errorf("entry %d: outcome %v, want code %s", i, oo, w.code)
			}
		}
	}
	if res, _ := es[1]["resource"].(map[string]any); res["resourceType"] != "Patient" || res["id"] != pid {
		t.Errorf("the read entry holds %v", es[1]["resource"])
	}
	loc, _ := es[0]["response"].(map[string]any)["location"].(string)
	if !strings.Contains(loc, "Observation/") {
		t.Fatalf("the create entry's location is %q", loc)
	}
	created := strings.TrimSuffix(loc[strings.Index(loc, "Observation/"):], "/_history/1")
	f.expect(t, f.do(t, "GET", "/"+created, tok, nil), 200, "")
	// Entries may run in any order, so the search may or may not see the
	// create beside it; a later batch does.
	if search, _ := es[6]["resource"].(map[string]any); search["resourceType"] != "Bundle" {
		t.Errorf("the search entry holds %v", search)
	}
	again := f.do(t, "POST", "", tok, map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{entry("GET", "Observation?patient="+pid, nil)}})
	if search, _ := again.entries()[0]["resource"].(map[string]any); search["total"] != float64(1) {
		t.Errorf("a later batch's search holds %v", search)
	}

	// Scopes still apply per entry: a read-only token's create is 403 in
	// its entry, the read beside it 200.
	ro := f.token(t, f.doctor, "system/*.rs", "TREAT")
	r = f.do(t, "POST", "", ro, map[string]any{"resourceType": "Bundle", "type": "batch", "entry": []any{
		entry("POST", "Observation", observation("Patient/"+pid, "8302-2", "2024-02-03")),
		entry("GET", "Patient/"+pid, nil),
	}})
	f.expect(t, r, 200, "")
	es = r.entries()
	if s := es[0]["response"].(map[string]any)["status"].(string); !strings.HasPrefix(s, "403") {
		t.Errorf("a create without the scope: %s", s)
	}
	if s := es[1]["response"].(map[string]any)["status"].(string); !strings.HasPrefix(s, "200") {
		t.Errorf("a read beside it: %s", s)
	}

	// The CapabilityStatement says so.
	md := f.do(t, "GET", "/metadata", "", nil)
	if !strings.Contains(string(md.raw), `"code":"batch"`) || !strings.Contains(string(md.raw), `"code":"transaction"`) {
		t.Errorf("metadata does not declare batch and transaction: %s", md.raw)
	}
}
