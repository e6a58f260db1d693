package fhir

import (
	"mime"
	"net/http"
	"strings"
)

// The media types carechain reads and writes. application/json is FHIR's
// alias for clients that do not know the FHIR one; application/json+fhir
// is DSTU2's name, still sent by some clients.
var jsonTypes = map[string]bool{"application/fhir+json": true, "application/json": true, "application/json+fhir": true}

// negotiate checks that the client accepts FHIR JSON (Accept and _format)
// and, for a request with a body, that it sent FHIR JSON in UTF-8.
func negotiate(r *http.Request, rt Route) *Error {
	if f := r.URL.Query()["_format"]; len(f) > 0 {
		if len(f) > 1 || !(f[0] == "json" || jsonTypes[f[0]]) {
			return notAcceptable("_format %.80q is not supported; this server speaks application/fhir+json (_format=json)", strings.Join(f, ","))
		}
	} else if !acceptsJSON(r.Header.Values("Accept")) {
		return notAcceptable("none of Accept: %.80q is served; this server speaks application/fhir+json", strings.Join(r.Header.Values("Accept"), ", "))
	}
	if !hasBody(r) {
		return nil
	}
	ct := r.Header.Get("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if rt.Interaction == SearchType || rt.Interaction == SearchSystem {
		// A search by POST sends its parameters as a form (FHIR R4 3.1.0.8).
		if err != nil || mt != "application/x-www-form-urlencoded" {
			return Errorf(http.StatusUnsupportedMediaType, IssueNotSupported, "unsupported_media_type",
				"a search by POST sends application/x-www-form-urlencoded, not %.80q", ct)
		}
		return nil
	}
	if err != nil || !jsonTypes[mt] {
		return Errorf(http.StatusUnsupportedMediaType, IssueNotSupported, "unsupported_media_type",
			"Content-Type %.80q is not supported; send application/fhir+json", ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return Errorf(http.StatusUnsupportedMediaType, IssueNotSupported, "unsupported_media_type", "charset %.80q is not supported; send UTF-8", cs)
	}
	if v, ok := params["fhirversion"]; ok && !fhirR4(v) {
		return Errorf(http.StatusUnsupportedMediaType, IssueNotSupported, "unsupported_media_type", "fhirVersion %.80q is not supported; this server is FHIR 4.0", v)
	}
	return nil
}

// acceptsJSON reports whether Accept headers admit FHIR JSON. No header
// admits anything.
func acceptsJSON(values []string) bool {
	if len(values) == 0 {
		return true
	}
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			if q := params["q"]; q == "0" || q == "0.0" || q == "0.00" || q == "0.000" {
				continue
			}
			if fv, ok := params["fhirversion"]; ok && !fhirR4(fv) {
				continue
			}
			if jsonTypes[mt] || mt == "*/*" || mt == "application/*" {
				return true
			}
		}
	}
	return false
}

func fhirR4(v string) bool { return v == "4.0" || v == "4.0.1" }

func hasBody(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		return r.ContentLength != 0
	}
	return false
}

func notAcceptable(format string, args ...any) *Error {
	return Errorf(http.StatusNotAcceptable, IssueNotSupported, "not_acceptable", format, args...)
}
