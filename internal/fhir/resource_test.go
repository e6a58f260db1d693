package fhir

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestResourceHelpers(t *testing.T) {
	r, err := ParseResource([]byte(`{"resourceType":"Observation","subject":{"reference":"Patient/rcabc"},
		"meta":{"security":[{"code":"PSY"},{"code":"R"}]},"effectivePeriod":{"start":"2024-05-06"},
		"code":{"coding":[{"system":"http://loinc.org","code":"1-8"}]},"valueQuantity":{"value":1.50},
		"hasMember":[{"reference":"urn:uuid:x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if id, el, ok := r.PatientReference(); !ok || id != "rcabc" || el != "subject" {
		t.Errorf("PatientReference = %q %q %v", id, el, ok)
	}
	if l := r.SecurityLabels(); len(l) != 2 || l[0] != "PSY" {
		t.Errorf("labels %v", l)
	}
	if d := r.ClinicalDate(); !d.Equal(time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date %v", d)
	}
	if !MatchToken("http://loinc.org|1-8", r.Codes("code")) || !MatchToken("x,|1-8", r.Codes("code")) || MatchToken("1-9", r.Codes("code")) {
		t.Error("token matching")
	}
	if n := RewriteReferences(r, map[string]string{"urn:uuid:x": "Observation/rcy"}); n != 1 {
		t.Errorf("rewrote %d", n)
	}
	out := string(r.Marshal())
	for _, want := range []string{`"value":1.50`, `"reference":"Observation/rcy"`} {
		if !strings.Contains(out, want) {
			t.Errorf("%s lacks %s", out, want)
		}
	}
	p, _ := ParseResource([]byte(`{"resourceType":"Patient","identifier":[{"system":"urn:carechain:patient","value":"ccp"}]}`))
	if p.LedgerPatient() != "ccp" {
		t.Error("LedgerPatient")
	}
	if _, _, ok := (Resource{"subject": map[string]any{"reference": "Group/1"}}).PatientReference(); ok {
		t.Error("a Group subject is no patient")
	}
}

// FuzzParseResource checks that any input either fails to parse or gives a
// resource whose helpers do not panic and whose encoding parses back to
// the same JSON value.
func FuzzParseResource(f *testing.F) {
	f.Add([]byte(`{"resourceType":"Observation","subject":{"reference":"Patient/a"},"effectiveDateTime":"2020"}`))
	f.Add([]byte(`{"meta":{"security":[{"code":"PSY"}]},"code":{"coding":[{"code":"1"}]},"x":[1e400,-0.0]}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"effectivePeriod":{"start":5},"subject":"Patient/a","identifier":[1]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseResource(b)
		if err != nil {
			return
		}
		r.PatientReference()
		r.SecurityLabels()
		r.ClinicalDate()
		r.LedgerPatient()
		r.Codes("code")
		RewriteReferences(r, map[string]string{"Patient/a": "Patient/b"})
		enc := r.Marshal()
		again, err := ParseResource(enc)
		if err != nil {
			t.Fatalf("re-parse %s: %v", enc, err)
		}
		if a, b := again.Marshal(), enc; string(a) != string(b) {
			t.Fatalf("not stable:\n%s\n%s", a, b)
		}
		if !json.Valid(enc) {
			t.Fatal("encoding is not JSON")
		}
	})
}
