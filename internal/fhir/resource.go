package fhir

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
)

// PatientIdentifierSystem is the identifier system under which a Patient
// resource names the pseudonymous ledger patient it describes. A Patient
// resource is a record of that patient; every other resource of the
// patient refers to the Patient resource (Patient/<record id>), as FHIR
// clients expect.
const PatientIdentifierSystem = "urn:carechain:patient"

// Resource is a FHIR resource as a generic JSON object. Numbers stay
// json.Number, so that a resource read back is the resource written,
// digit for digit.
type Resource map[string]any

// ParseResource decodes one JSON object, keeping numbers exact.
func ParseResource(b []byte) (Resource, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var r Resource
	if err := dec.Decode(&r); err != nil {
		return nil, err
	}
	if r == nil {
		return nil, &json.UnmarshalTypeError{Value: "null", Type: nil}
	}
	return r, nil
}

// Type is the resource's resourceType, or "".
func (r Resource) Type() string { s, _ := r["resourceType"].(string); return s }

// Marshal encodes the resource (keys sorted, numbers as they came).
func (r Resource) Marshal() []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(map[string]any(r)) // a Resource holds only what JSON decoding produced
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// WithoutServerMeta returns a shallow copy of the resource without what a
// server assigns: id, meta.versionId and meta.lastUpdated (and meta if
// nothing else is left in it). It is what a record stores, and what a
// resource read back is compared on.
func (r Resource) WithoutServerMeta() Resource {
	c := Resource{}
	for k, v := range r {
		c[k] = v
	}
	delete(c, "id")
	if meta, ok := c["meta"].(map[string]any); ok {
		m := map[string]any{}
		for k, v := range meta {
			if k != "versionId" && k != "lastUpdated" {
				m[k] = v
			}
		}
		if len(m) == 0 {
			delete(c, "meta")
		} else {
			c["meta"] = m
		}
	}
	return c
}

// LedgerPatient returns the ledger patient a Patient resource names with
// PatientIdentifierSystem, or "".
func (r Resource) LedgerPatient() string {
	ids, _ := r["identifier"].([]any)
	for _, v := range ids {
		id, _ := v.(map[string]any)
		if sys, _ := id["system"].(string); sys == PatientIdentifierSystem {
			s, _ := id["value"].(string)
			return s
		}
	}
	return ""
}

// patientFields are the elements through which a resource of the patient
// compartment names its patient, in the order they are looked at.
var patientFields = []string{"subject", "patient", "beneficiary"}

// PatientReference returns the id of the Patient resource a resource
// refers to (subject, patient or beneficiary: "Patient/ID"), the element's
// name, and whether it found one. A reference to something other than a
// Patient is no patient.
func (r Resource) PatientReference() (id, element string, ok bool) {
	for _, f := range patientFields {
		ref, _ := r[f].(map[string]any)
		s, _ := ref["reference"].(string)
		if id, found := strings.CutPrefix(s, "Patient/"); found && IsID(id) {
			return id, f, true
		}
		if s != "" {
			return "", f, false
		}
	}
	return "", "", false
}

// SecurityLabels are the codes of meta.security: the labels consent
// decides on (PSY, HIV, ETH, 42CFRPart2, R, V…).
func (r Resource) SecurityLabels() []string {
	meta, _ := r["meta"].(map[string]any)
	sec, _ := meta["security"].([]any)
	var out []string
	for _, v := range sec {
		c, _ := v.(map[string]any)
		if code, _ := c["code"].(string); code != "" {
			out = append(out, code)
		}
	}
	return out
}

// dateFields are the elements a resource's clinical date is taken from,
// the first present winning: what consent's data period and a date
// search compare.
var dateFields = []string{"effectiveDateTime", "effectivePeriod", "occurrenceDateTime", "performedDateTime", "performedPeriod",
	"onsetDateTime", "recordedDate", "authoredOn", "issued", "period", "billablePeriod", "created", "date", "birthDate"}

// ClinicalDate returns the resource's clinical date, or the zero time.
func (r Resource) ClinicalDate() time.Time {
	for _, f := range dateFields {
		switch v := r[f].(type) {
		case string:
			if t, ok := ParseDate(v); ok {
				return t
			}
		case map[string]any:
			if s, _ := v["start"].(string); s != "" {
				if t, ok := ParseDate(s); ok {
					return t
				}
			}
		}
	}
	return time.Time{}
}

// ParseDate parses a FHIR date, dateTime or instant (YYYY, YYYY-MM,
// YYYY-MM-DD, or a full time with zone) to the start of what it names,
// in UTC.
func ParseDate(s string) (time.Time, bool) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02", "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// RewriteReferences replaces every "reference" string in v that is a key
// of ids with its value, in place, and returns how many it replaced. A
// transaction Bundle's entries refer to each other by fullUrl
// (urn:uuid:…); once the entries have ids those references must name them.
func RewriteReferences(v any, ids map[string]string) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "reference" {
				if to, ok := ids[s]; ok {
					x[k] = to
					n++
				}
				continue
			}
			n += RewriteReferences(e, ids)
		}
	case Resource:
		n += RewriteReferences(map[string]any(x), ids)
	case []any:
		for _, e := range x {
			n += RewriteReferences(e, ids)
		}
	}
	return n
}

// Codes returns the system|code and code of every Coding under the
// element (a CodeableConcept or a list of them), for token search.
func (r Resource) Codes(element string) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				walk(e)
			}
		case map[string]any:
			if cs, ok := x["coding"].([]any); ok {
				for _, c := range cs {
					m, _ := c.(map[string]any)
					code, _ := m["code"].(string)
					sys, _ := m["system"].(string)
					if code != "" {
						out = append(out, code, sys+"|"+code)
					}
				}
			}
		}
	}
	walk(r[element])
	return out
}

// MatchToken reports whether a token search value (code, system|code or
// |code; several separated by commas) matches one of codes.
func MatchToken(value string, codes []string) bool {
	for _, want := range strings.Split(value, ",") {
		want = strings.TrimPrefix(want, "|")
		for _, c := range codes {
			if c == want {
				return true
			}
		}
	}
	return false
}
