package gateway

import (
	"encoding/json"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/carechain/carechain/internal/smart"
)

// FuzzParseTransaction checks that no Bundle makes the transaction parser
// panic, and that what it accepts is only entries of stored types, and,
// with a token that may only create, only creates.
func FuzzParseTransaction(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"fullUrl":"urn:uuid:1","resource":{"resourceType":"Patient"},"request":{"method":"POST","url":"Patient"}}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"batch","entry":[]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[{"resource":{"resourceType":"Observation"},"request":{"method":"PUT","url":"Observation/1"}}]}`))
	f.Add([]byte(`{"resourceType":"Bundle","type":"transaction","entry":[1,null,{"resource":[]}]}`))
	scopes, err := smart.ParseScopes("system/*.c")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/fhir", nil)
		r = r.WithContext(smart.NewContext(r.Context(), &smart.Principal{ClientID: "cc", Scopes: scopes}))
		entries, ferr := parseTransaction(r, body)
		if ferr != nil {
			if ferr.Status < 400 || ferr.Status > 499 {
				t.Fatalf("status %d for bad input", ferr.Status)
			}
			return
		}
		for _, e := range entries {
			if e.res == nil || !slices.Contains(RecordTypes, e.res.Type()) && !isDirectoryType(e.res.Type()) || e.update {
				t.Fatalf("accepted entry %+v", e)
			}
		}
	})
}

// FuzzBatchRequest checks that no batch entry makes the request builder
// panic, and that what it builds stays under the base: a relative path
// and one of the four methods.
func FuzzBatchRequest(f *testing.F) {
	f.Add([]byte(`{"request":{"method":"GET","url":"Observation?patient=a b"}}`))
	f.Add([]byte(`{"request":{"method":"POST","url":"Observation"},"resource":{"resourceType":"Observation"}}`))
	f.Add([]byte(`{"request":{"method":"PUT","url":"Observation/1","ifMatch":"W/\"1\""},"resource":{}}`))
	f.Add([]byte(`{"request":{"method":"GET","url":"https://elsewhere/x"}}`))
	f.Add([]byte(`{"request":{"method":"GET","url":"//host/x"}}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, entry []byte) {
		var v any
		if json.Unmarshal(entry, &v) != nil {
			return
		}
		r := httptest.NewRequest("POST", "/fhir", nil)
		sub, ferr := batchRequest(r, 0, v)
		if ferr != nil {
			if ferr.Status != 400 {
				t.Fatalf("status %d for a bad entry", ferr.Status)
			}
			return
		}
		if !strings.HasPrefix(sub.URL.Path, "/") || strings.HasPrefix(sub.URL.Path, "//") || sub.URL.Host != "" {
			t.Fatalf("entry %s built a request for %v", entry, sub.URL)
		}
		switch sub.Method {
		case "GET", "POST", "PUT", "DELETE":
		default:
			t.Fatalf("entry %s built a %s", entry, sub.Method)
		}
	})
}

// FuzzParseDate checks that any date search value parses to a sane range
// or is refused, without panicking.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2024", "ge2024-05", "lt2024-05-06", "eq2024-05-06T07:08:09Z", "sa2024-05-06T07:08:09.123+02:00", "xx", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, ok := parseDate(s)
		if ok && r.from > r.to {
			t.Fatalf("%q: empty range %d..%d", s, r.from, r.to)
		}
		if ok && strings.TrimSpace(s) == "" {
			t.Fatalf("empty value accepted")
		}
	})
}
