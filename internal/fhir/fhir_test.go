package fhir

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/smart"
	"github.com/carechain/carechain/internal/tx"
)

// stubAuth accepts "Bearer good-<scopes>" with those scopes.
type stubAuth struct{}

func (stubAuth) Authenticate(r *http.Request) (*smart.Principal, *smart.Error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, &smart.Error{Reason: smart.ReasonTokenMissing, Status: 401, Description: "no token"}
	}
	scope, ok := strings.CutPrefix(h, "Bearer good-")
	if !ok {
		return nil, &smart.Error{OAuth: "invalid_token", Reason: smart.ReasonTokenInvalid, Status: 401, Description: "bad token"}
	}
	ss, err := smart.ParseScopes(scope)
	if err != nil {
		panic(err)
	}
	return &smart.Principal{ClientID: "ccapp", Org: "ccorg", Kind: tx.KindApplication, Scopes: ss, Purpose: "TREAT"}, nil
}

func newServer() *Server {
	s := New(Config{BaseURL: "http://127.0.0.1:1/fhir", TokenURL: "http://127.0.0.1:1/auth/token", Auth: stubAuth{},
		Version: "test", Started: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)})
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rt, _ := RouteFrom(r.Context())
		p, _ := smart.FromContext(r.Context())
		WriteResource(w, 200, map[string]string{"resourceType": "Basic", "interaction": string(rt.Interaction), "type": rt.Type,
			"id": rt.ID, "vid": rt.VersionID, "op": rt.Operation, "client": p.ClientID, "org": p.Org, "purpose": string(p.Purpose)})
	})
	for _, in := range []Interaction{Read, VRead, SearchType, Create, HistoryInstance} {
		s.Handle("Observation", in, echo)
	}
	s.Handle("Patient", Read, echo)
	s.HandleOperation("Patient", "everything", true, smart.PermRead, echo)
	s.HandleSystem(Transaction, echo)
	s.Search("Observation", SearchParam{Name: "patient", Type: "reference"}, SearchParam{Name: "code", Type: "token"})
	return s
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func do(t *testing.T, s http.Handler, method, path, token string, hdr map[string]string, body string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, path, rd)
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range hdr {
		r.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, r)
	var out map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatalf("%s %s: body %q is not JSON", method, path, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != ContentType {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return response{rec.Code, rec.Header(), out}
}

// outcomeCode returns the issue code and carechain code of an
// OperationOutcome, failing if the body is none.
func outcomeCode(t *testing.T, b map[string]any) (string, string) {
	t.Helper()
	if b["resourceType"] != "OperationOutcome" {
		t.Fatalf("not an OperationOutcome: %v", b)
	}
	iss := b["issue"].([]any)[0].(map[string]any)
	code := ""
	if d, ok := iss["details"].(map[string]any); ok {
		code = d["coding"].([]any)[0].(map[string]any)["code"].(string)
	}
	return iss["code"].(string), code
}

func TestRequests(t *testing.T) {
	s := newServer()
	const all = "good-system/*.cruds"
	fhirJSON := map[string]string{"Content-Type": "application/fhir+json"}
	cases := []struct {
		name           string
		method, path   string
		token          string
		hdr            map[string]string
		body           string
		status         int
		issue, code    string
		wwwAuth, allow string
	}{
		{"no token", "GET", "/Observation/1", "", nil, "", 401, "login", "token_missing", `Bearer realm="carechain"`, ""},
		{"bad token", "GET", "/Observation/1", "forged", nil, "", 401, "unknown", "token_invalid", `error="invalid_token"`, ""},
		{"no token, unknown path", "GET", "/Nothing/here/at/all", "", nil, "", 401, "login", "token_missing", "Bearer", ""},
		{"out of scope type", "GET", "/Observation/1", "good-system/Patient.rs", nil, "", 403, "forbidden", "scope_insufficient", `scope="system/Observation.r"`, ""},
		{"out of scope perm", "POST", "/Observation", "good-system/Observation.rs", fhirJSON, `{"resourceType":"Observation"}`, 403, "forbidden", "scope_insufficient", `error="insufficient_scope"`, ""},
		{"search needs s", "GET", "/Observation?code=x", "good-system/Observation.r", nil, "", 403, "forbidden", "scope_insufficient", `scope="system/Observation.s"`, ""},
		{"operation scope", "GET", "/Patient/p1/$everything", "good-system/Observation.rs", nil, "", 403, "forbidden", "scope_insufficient", "", ""},
		{"unknown type", "GET", "/Encounter/1", all, nil, "", 404, "not-supported", "type_not_supported", "", ""},
		{"not a type", "GET", "/encounter/1", all, nil, "", 404, "not-found", "not_found", "", ""},
		{"bad id", "GET", "/Observation/a_b", all, nil, "", 400, "invalid", "invalid", "", ""},
		{"escaped slash in id", "GET", "/Observation/a%2Fb", all, nil, "", 400, "invalid", "invalid", "", ""},
		{"unsupported interaction", "DELETE", "/Observation/1", all, nil, "", 405, "not-supported", "interaction_not_supported", "", "GET"},
		{"undefined method", "PUT", "/Observation", all, fhirJSON, "{}", 405, "not-supported", "method_not_allowed", "", "GET, POST"},
		{"unsupported operation", "GET", "/Patient/1/$summary", all, nil, "", 405, "not-supported", "interaction_not_supported", "", ""},
		{"system search unsupported", "GET", "/", all, nil, "", 405, "not-supported", "interaction_not_supported", "", "POST"},
		{"xml wanted", "GET", "/Observation/1", all, map[string]string{"Accept": "application/fhir+xml"}, "", 406, "not-supported", "not_acceptable", "", ""},
		{"_format xml", "GET", "/Observation/1?_format=xml", all, nil, "", 406, "not-supported", "not_acceptable", "", ""},
		{"wrong fhirVersion", "GET", "/Observation/1", all, map[string]string{"Accept": "application/fhir+json; fhirVersion=3.0"}, "", 406, "not-supported", "not_acceptable", "", ""},
		{"text body", "POST", "/Observation", all, map[string]string{"Content-Type": "text/plain"}, "hello", 415, "not-supported", "unsupported_media_type", "", ""},
		{"latin-1 body", "POST", "/Observation", all, map[string]string{"Content-Type": "application/fhir+json; charset=iso-8859-1"}, "{}", 415, "not-supported", "unsupported_media_type", "", ""},
		{"search form required", "POST", "/Observation/_search", all, fhirJSON, "{}", 415, "not-supported", "unsupported_media_type", "", ""},
	}
	for _, c := range cases {
		res := do(t, s, c.method, c.path, c.token, c.hdr, c.body)
		if res.status != c.status {
			t.Errorf("%s: status %d, want %d (%v)", c.name, res.status, c.status, res.body)
			continue
		}
		issue, code := outcomeCode(t, res.body)
		if issue != c.issue || code != c.code {
			t.Errorf("%s: issue %s/%s, want %s/%s", c.name, issue, code, c.issue, c.code)
		}
		if got := res.header.Get("WWW-Authenticate"); c.wwwAuth != "" && !strings.Contains(got, c.wwwAuth) {
			t.Errorf("%s: WWW-Authenticate %q lacks %q", c.name, got, c.wwwAuth)
		}
		if (c.status == 401 || c.status == 403) && res.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", c.name)
		}
		if got := res.header.Get("Allow"); c.allow != "" && got != c.allow {
			t.Errorf("%s: Allow %q, want %q", c.name, got, c.allow)
		}
		if c.status == 405 && res.header.Get("Allow") == "" && c.path != "/Patient/1/$summary" {
			t.Errorf("%s: 405 without Allow", c.name)
		}
	}

	ok := []struct {
		method, path, token string
		hdr                 map[string]string
		body                string
		want                map[string]string
	}{
		{"GET", "/Observation/o1", "good-system/Observation.r", nil, "", map[string]string{"interaction": "read", "type": "Observation", "id": "o1", "client": "ccapp", "org": "ccorg", "purpose": "TREAT"}},
		{"GET", "/Observation/o1/_history/3", "good-system/*.read", map[string]string{"Accept": "application/json"}, "", map[string]string{"interaction": "vread", "vid": "3"}},
		{"GET", "/Observation/o1/_history", "good-system/*.rs", map[string]string{"Accept": "*/*"}, "", map[string]string{"interaction": "history-instance"}},
		{"GET", "/Observation?patient=p&_format=json", "good-system/Observation.s", nil, "", map[string]string{"interaction": "search-type"}},
		{"POST", "/Observation/_search", "good-system/Observation.s", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "patient=p", map[string]string{"interaction": "search-type"}},
		{"POST", "/Observation", "good-system/Observation.c", map[string]string{"Content-Type": "application/fhir+json; charset=utf-8; fhirVersion=4.0"}, "{}", map[string]string{"interaction": "create"}},
		{"GET", "/Patient/p1/$everything", "good-system/Patient.r", nil, "", map[string]string{"interaction": "operation", "op": "everything", "id": "p1"}},
		{"POST", "/", "good-system/Patient.r", map[string]string{"Content-Type": "application/fhir+json"}, `{"resourceType":"Bundle"}`, map[string]string{"interaction": "transaction"}},
	}
	for _, c := range ok {
		res := do(t, s, c.method, c.path, c.token, c.hdr, c.body)
		if res.status != 200 {
			t.Errorf("%s %s: %d %v", c.method, c.path, res.status, res.body)
			continue
		}
		for k, v := range c.want {
			if res.body[k] != v {
				t.Errorf("%s %s: %s = %v, want %s", c.method, c.path, k, res.body[k], v)
			}
		}
	}
}

func TestMetadata(t *testing.T) {
	s := newServer()
	res := do(t, s, "GET", "/metadata", "", nil, "")
	if res.status != 200 || res.body["resourceType"] != "CapabilityStatement" || res.body["fhirVersion"] != "4.0.1" || res.body["kind"] != "instance" {
		t.Fatalf("metadata: %d %v", res.status, res.body)
	}
	b, _ := json.Marshal(res.body)
	for _, want := range []string{`"type":"Observation"`, `"code":"vread"`, `"code":"search-type"`, `"name":"patient"`,
		`"name":"everything"`, `Patient-everything`, `"code":"transaction"`, `"valueUri":"http://127.0.0.1:1/auth/token"`, `"code":"SMART-on-FHIR"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("metadata lacks %s: %s", want, b)
		}
	}
	for _, absent := range []string{`"code":"delete"`, `"code":"update"`, `"type":"Encounter"`, `"code":"search-system"`} {
		if strings.Contains(string(b), absent) {
			t.Errorf("metadata claims %s", absent)
		}
	}
	if res := do(t, s, "GET", "/metadata", "", map[string]string{"Accept": "application/fhir+xml"}, ""); res.status != 406 {
		t.Errorf("metadata as XML: %d", res.status)
	}
	// Nothing registered: metadata lists no resources at all.
	empty := New(Config{Auth: stubAuth{}, TokenURL: "t"})
	cs := empty.CapabilityStatement()
	if len(cs.Rest) != 1 || len(cs.Rest[0].Resource) != 0 || len(cs.Rest[0].Interaction) != 0 {
		t.Errorf("empty server claims %+v", cs.Rest)
	}
	if res := do(t, empty, "POST", "/metadata", "good-system/*.rs", nil, ""); res.status != 405 || res.header.Get("Allow") != "GET" {
		t.Errorf("POST metadata: %d %v", res.status, res.header)
	}
}

func TestErrorsAndHelpers(t *testing.T) {
	e := Invalid("Observation.status", "status %q is not a code", "x")
	o := e.Outcome()
	if e.Status != 400 || o.Issue[0].Expression[0] != "Observation.status" || o.Issue[0].Severity != "error" || o.Issue[0].Details.Coding[0].System != ErrorSystem {
		t.Errorf("%+v", o)
	}
	for _, c := range []struct {
		e      *Error
		status int
		issue  IssueType
	}{
		{NotFound("x"), 404, IssueNotFound}, {Gone("x"), 410, IssueDeleted}, {Conflict("x"), 409, IssueConflict},
		{Unprocessable("Observation.subject", "x"), 422, IssueBusinessRule}, {Forbidden("access_denied", "x"), 403, IssueForbidden},
		{FromTx(tx.CodeAccessDenied, "no consent"), 403, IssueForbidden}, {FromTx(tx.CodeErased, "gone"), 410, IssueDeleted},
		{FromTx(tx.CodeNotFound, "?"), 404, IssueNotFound}, {FromTx(tx.CodeAlreadyExists, "dup"), 409, IssueDuplicate},
		{FromTx(tx.CodeInvalid, "bad"), 400, IssueInvalid}, {FromTx(tx.CodeInternal, "disk"), 500, IssueException},
	} {
		if c.e.Status != c.status || c.e.Issue != c.issue {
			t.Errorf("%v: want %d %s", c.e, c.status, c.issue)
		}
	}
	if FromTx(tx.CodeAccessDenied, "").Code != "access_denied" {
		t.Error("FromTx loses the code name")
	}
	r := httptest.NewRequest("GET", "/", nil)
	if e := RequireScope(r, "Observation", smart.PermRead); e == nil || e.Status != 401 {
		t.Errorf("RequireScope without a caller: %v", e)
	}
	ss, _ := smart.ParseScopes("system/Observation.rs")
	r = r.WithContext(smart.NewContext(r.Context(), &smart.Principal{Scopes: ss}))
	if e := RequireScope(r, "Observation", smart.PermSearch); e != nil {
		t.Errorf("in scope: %v", e)
	}
	if e := RequireScope(r, "Patient", smart.PermRead); e == nil || e.Status != 403 || e.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("out of scope: %v", e)
	}
}

func FuzzParseRoute(f *testing.F) {
	for _, p := range []string{"/", "/metadata", "/Observation", "/Observation/1/_history/2", "/Patient/1/$everything", "/$op", "/A/%zz", "/A/b/c/d/e"} {
		f.Add("GET", p)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		rt, err := parseRoute(method, path)
		if err != nil {
			if err.Status < 400 || err.Status > 499 {
				t.Fatalf("%s %q: status %d", method, path, err.Status)
			}
			return
		}
		if rt.Interaction == "" || (rt.Type != "" && !smart.IsResourceTypeName(rt.Type)) || (rt.ID != "" && !IsID(rt.ID)) {
			t.Fatalf("%s %q: %+v", method, path, rt)
		}
	})
}

func TestReadResource(t *testing.T) {
	create := Route{Interaction: Create, Type: "Observation"}
	update := Route{Interaction: Update, Type: "Observation", ID: "o1"}
	cases := []struct {
		rt     Route
		body   string
		status int
		expr   string
	}{
		{create, `{"resourceType":"Observation","status":"final"}`, 0, ""},
		{update, `{"resourceType":"Observation","id":"o1"}`, 0, ""},
		{create, `{"status":"final"}`, 400, "resourceType"},
		{create, `{"resourceType":"Patient"}`, 400, "resourceType"},
		{create, `{"resourceType":7}`, 400, "Observation.resourceType"},
		{create, `[1,2]`, 400, ""},
		{create, `{"resourceType":"Observation"} {}`, 400, ""},
		{create, `{"resourceType":"Observation"`, 400, ""},
		{update, `{"resourceType":"Observation"}`, 400, "Observation.id"},
		{update, `{"resourceType":"Observation","id":"o2"}`, 400, "Observation.id"},
		{create, `{"resourceType":"Observation","x":"` + strings.Repeat("a", MaxResourceBytes) + `"}`, 413, ""},
	}
	for _, c := range cases {
		r := httptest.NewRequest("POST", "/Observation", strings.NewReader(c.body))
		b, err := ReadResource(r, c.rt)
		switch {
		case c.status == 0 && (err != nil || string(b) != c.body):
			t.Errorf("%.60s: %v", c.body, err)
		case c.status != 0 && (err == nil || err.Status != c.status):
			t.Errorf("%.60s: %v, want %d", c.body, err, c.status)
		case c.status != 0 && c.expr != "" && (len(err.Expression) == 0 || err.Expression[0] != c.expr):
			t.Errorf("%.60s: expression %v, want %s", c.body, err.Expression, c.expr)
		}
	}
}
