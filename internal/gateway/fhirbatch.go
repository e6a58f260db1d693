package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/carechain/carechain/internal/fhir"
)

// fhirJSON is the FHIR media type batch entries are sent and answered in.
const fhirJSON = "application/fhir+json"

// Batch limits: each entry of a batch Bundle is a request of its own, so
// the count bounds the work; a few run at once, their ledger transactions
// pipelined like any others.
const (
	maxBatchEntries = 200
	batchParallel   = 8
)

// fhirBatch answers a batch Bundle: every entry is a request of its own
// (GET, POST, PUT or DELETE of a relative URL), served by the FHIR API
// exactly as it would be alone — the same token, scopes, consent
// decisions, audit events and refusals — and answered in the
// batch-response entry of the same index, with its status and, for a
// failure, its OperationOutcome. Entries are independent, as FHIR asks of
// a batch: one failing leaves the others as they are, references between
// entries are not resolved, and they may run in any order.
func (g *Gateway) fhirBatch(w http.ResponseWriter, r *http.Request, b fhir.Resource) *fhir.Error {
	raw, ok := b["entry"].([]any)
	if !ok || len(raw) == 0 {
		return fhir.Invalid("Bundle.entry", "a batch needs entries")
	}
	if len(raw) > maxBatchEntries {
		return fhir.Errorf(http.StatusRequestEntityTooLarge, fhir.IssueTooCostly, "too_large", "%d batch entries, at most %d", len(raw), maxBatchEntries)
	}
	out := bundle{ResourceType: "Bundle", Type: "batch-response", Entry: make([]bundleEntry, len(raw))}
	sem := make(chan struct{}, batchParallel)
	var wg sync.WaitGroup
	for i, v := range raw {
		sub, ferr := batchRequest(r, i, v)
		if ferr != nil {
			out.Entry[i] = failedEntry(ferr)
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			rec := httptest.NewRecorder()
			g.fhirEntries.ServeHTTP(rec, sub)
			out.Entry[i] = batchAnswer(rec)
		}()
	}
	wg.Wait()
	fhir.WriteResource(w, http.StatusOK, out)
	return nil
}

// batchRequest turns entry i into the request it stands for, carrying the
// batch's own credentials.
func batchRequest(r *http.Request, i int, v any) (*http.Request, *fhir.Error) {
	path := "Bundle.entry[" + strconv.Itoa(i) + "]"
	m, _ := v.(map[string]any)
	req, _ := m["request"].(map[string]any)
	method, _ := req["method"].(string)
	target, _ := req["url"].(string)
	switch method {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete:
	default:
		return nil, fhir.Invalid(path+".request.method", "a batch entry's method is GET, POST, PUT or DELETE, not %.10q", method)
	}
	u, err := url.Parse(target)
	if err != nil || u.IsAbs() || u.Host != "" || strings.HasPrefix(target, "/") || u.Path == "" {
		// A Bundle inside a batch (the base itself) is refused with the
		// rest: batches do not nest.
		return nil, fhir.Invalid(path+".request.url", "a batch entry's url is relative to the base, like Observation/123 or Observation?patient=…, not %.80q", target)
	}
	var body []byte
	if res, ok := m["resource"]; ok && (method == http.MethodPost || method == http.MethodPut) {
		body, _ = json.Marshal(res)
	}
	// Built field by field: a URL from the Bundle is the client's text, and
	// httptest's parser would panic on some of it (a space in the query).
	sub, err := http.NewRequestWithContext(r.Context(), method, "/", bytes.NewReader(body))
	if err != nil {
		return nil, fhir.Invalid(path+".request", "%v", err)
	}
	sub.URL = &url.URL{Path: "/" + u.Path, RawPath: rawPath(u), RawQuery: u.RawQuery}
	sub.RequestURI = sub.URL.RequestURI()
	sub.RemoteAddr = r.RemoteAddr
	sub.Header.Set("Authorization", r.Header.Get("Authorization"))
	sub.Header.Set("Accept", fhirJSON)
	if body != nil {
		sub.Header.Set("Content-Type", fhirJSON)
	}
	if ifMatch, _ := req["ifMatch"].(string); ifMatch != "" {
		sub.Header.Set("If-Match", ifMatch)
	}
	return sub, nil
}

// rawPath is u's escaped path under the base, when it differs from the
// plain one.
func rawPath(u *url.URL) string {
	if u.RawPath == "" {
		return ""
	}
	return "/" + u.RawPath
}

// batchAnswer is a served entry's batch-response entry.
func batchAnswer(rec *httptest.ResponseRecorder) bundleEntry {
	resp := &bundleResponse{Status: strconv.Itoa(rec.Code) + " " + http.StatusText(rec.Code),
		Location: rec.Header().Get("Location"), Etag: rec.Header().Get("ETag"), LastModified: rec.Header().Get("Last-Modified")}
	e := bundleEntry{Response: resp}
	if rec.Body.Len() == 0 {
		return e
	}
	res, err := fhir.ParseResource(rec.Body.Bytes())
	if err != nil {
		return failedEntry(fhir.Errorf(http.StatusInternalServerError, fhir.IssueException, "internal", "entry answer is not a resource: %v", err))
	}
	if rec.Code >= 400 {
		resp.Outcome = res
	} else {
		e.Resource = res
	}
	return e
}

// failedEntry is the batch-response entry of a request refused before it
// was served.
func failedEntry(ferr *fhir.Error) bundleEntry {
	rec := httptest.NewRecorder()
	fhir.WriteError(rec, ferr)
	return batchAnswer(rec)
}
