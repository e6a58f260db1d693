package audit

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEncodeDecodeRoundTrip(t *testing.T) {
	g := newEventGen(3, 20)
	for i := range 500 {
		e := g.next()
		e.Seq = uint64(i)
		enc, err := e.Encode()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		got, err := DecodeEvent(enc)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if !sameEvent(got, e) {
			t.Fatalf("event %d round trip:\n got %+v\nwant %+v", i, got, e)
		}
		again, _ := got.Encode()
		if !bytes.Equal(again, enc) {
			t.Fatalf("event %d: decode-then-encode changed the bytes", i)
		}
	}
}

// sameEvent compares events field by field through their encodings, which
// cover every field; times compare by instant since decoding yields UTC.
func sameEvent(a, b Event) bool {
	ea, errA := a.Encode()
	eb, errB := b.Encode()
	return errA == nil && errB == nil && bytes.Equal(ea, eb) && a.Time.Equal(b.Time)
}

func TestEncodeRejects(t *testing.T) {
	base := vectorEvent(0)
	cases := map[string]func(e *Event){
		"zero time":             func(e *Event) { e.Time = time.Time{} },
		"time before 1970":      func(e *Event) { e.Time = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) },
		"time after 2261":       func(e *Event) { e.Time = time.Date(2262, 1, 1, 0, 0, 0, 0, time.UTC) },
		"no actor":              func(e *Event) { e.Actor = "" },
		"space in actor":        func(e *Event) { e.Actor = "dr smith" },
		"non-ascii patient":     func(e *Event) { e.Patient = "pät" },
		"long id":               func(e *Event) { e.Patient = strings.Repeat("p", maxIDLen+1) },
		"bad action":            func(e *Event) { e.Action = "Record.Read" },
		"action trailing dot":   func(e *Event) { e.Action = "record." },
		"unsorted records":      func(e *Event) { e.RecordIDs = []string{"b", "a"} },
		"duplicate records":     func(e *Event) { e.RecordIDs = []string{"a", "a"} },
		"lower-case purpose":    func(e *Event) { e.Purpose = "treat" },
		"no decision":           func(e *Event) { e.Decision = DecisionAny },
		"unknown decision":      func(e *Event) { e.Decision = 3 },
		"no reason":             func(e *Event) { e.Reason = Reason{} },
		"provision no consent":  func(e *Event) { e.Reason = Reason{Provision: "p", Rule: "r"} },
		"rule with newline":     func(e *Event) { e.Reason.Rule = "a\nb" },
		"rule with edge spaces": func(e *Event) { e.Reason.Rule = " r" },
		"short tx hash":         func(e *Event) { e.TxHash = make([]byte, 31) },
		"count of one":          func(e *Event) { e.Count = 1 },
		"too many records": func(e *Event) {
			e.RecordIDs = nil
			for i := range maxRecordIDs + 1 {
				e.RecordIDs = append(e.RecordIDs, string(rune('a'+i/1000%26))+strings.Repeat("0", 4)+itoa(i))
			}
		},
	}
	for name, mutate := range cases {
		e := base
		e.RecordIDs = append([]string(nil), base.RecordIDs...)
		mutate(&e)
		if _, err := e.Encode(); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: Encode error = %v, want ErrInvalidEvent", name, err)
		}
	}
}

func itoa(i int) string {
	var b [20]byte
	n := len(b)
	for {
		n--
		b[n] = byte('0' + i%10)
		i /= 10
		if i == 0 {
			return string(b[n:])
		}
	}
}

func TestValidateAgainstRegistry(t *testing.T) {
	ok := vectorEvent(0)
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(e *Event){
		"unregistered action":  func(e *Event) { e.Action = "record.teleport" },
		"read without records": func(e *Event) { e.RecordIDs = nil },
		"read with a target":   func(e *Event) { e.Target = "consent-1" },
		"no patient":           func(e *Event) { e.Patient = "" },
		"grant without target": func(e *Event) { e.Action, e.RecordIDs = ActionConsentGrant, nil },
		"read with a count":    func(e *Event) { e.Count = 2 },
	}
	for name, mutate := range cases {
		e := ok
		mutate(&e)
		if err := e.Validate(); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: Validate error = %v, want ErrInvalidEvent", name, err)
		}
		// The encoding does not depend on the registry: a newer node's
		// event still decodes on an older client.
		if name == "unregistered action" {
			enc, err := e.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecodeEvent(enc); err != nil {
				t.Errorf("decoding an event with an unknown action: %v", err)
			}
		}
	}
}

func TestRegisterAction(t *testing.T) {
	info := ActionInfo{Description: "rotation of a key", PatientOptional: true,
		FHIR: FHIRMapping{Type: codingSecurityAlert, Action: "E", UserType: codingAuthor, Flow: FlowDecision}}
	// The registry is process-wide; register once however often the test runs.
	if _, ok := LookupAction("testonly.key_rotate"); !ok {
		if err := RegisterAction("testonly.key_rotate", info); err != nil {
			t.Fatal(err)
		}
	}
	if err := RegisterAction("testonly.key_rotate", info); err == nil {
		t.Error("registering an action twice succeeded")
	}
	for _, bad := range []Action{"", "Testonly.x", "testonly..x", "1estonly", "testonly.x "} {
		if err := RegisterAction(bad, info); err == nil {
			t.Errorf("registering %q succeeded", bad)
		}
	}
	if err := RegisterAction("testonly.nodesc", ActionInfo{FHIR: info.FHIR}); err == nil {
		t.Error("registering without a description succeeded")
	}
	if _, ok := LookupAction("testonly.key_rotate"); !ok {
		t.Error("registered action not found")
	}
	e := Event{Time: epoch, Actor: "org-admin", Action: "testonly.key_rotate", Decision: Permit, Reason: Reason{Rule: "self"}}
	if err := e.Validate(); err != nil {
		t.Errorf("patient-optional action without patient: %v", err)
	}
	acts := Actions()
	for i := 1; i < len(acts); i++ {
		if acts[i-1] >= acts[i] {
			t.Fatalf("Actions not sorted: %v", acts)
		}
	}
}

func TestDecisionText(t *testing.T) {
	for _, d := range []Decision{Permit, Deny, DecisionAny} {
		b, err := d.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Decision
		if err := back.UnmarshalText(b); err != nil || back != d {
			t.Errorf("%s: round trip gave %s, %v", d, back, err)
		}
	}
	if _, err := Decision(9).MarshalText(); err == nil {
		t.Error("marshalled an unknown decision")
	}
}

// unauthenticatedRefusal is a tally of refusals that named nobody for
// certain, as the ledger records a gateway's audit.refusals entry.
func unauthenticatedRefusal() Event {
	return Event{Seq: 9, Height: 4, Time: epoch, Actor: Unauthenticated, Action: ActionAccessRefused, Decision: Deny,
		Reason: Reason{Rule: "token_invalid"}, Target: "ccclaimedclient", Count: 3, TxHash: sha("refusals")}
}

// TestUnauthenticatedRefusal checks what the reserved actor may appear on:
// an access.refused denial naming no organization, patient, record,
// purpose or recipient, with a claimed client as its target if any. And
// only refusals carry a count.
func TestUnauthenticatedRefusal(t *testing.T) {
	ok := unauthenticatedRefusal()
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	anon := ok
	anon.Target, anon.Count = "", 0
	if err := anon.Validate(); err != nil {
		t.Fatalf("a refusal claiming nobody, once: %v", err)
	}
	attributed := ok
	attributed.Actor, attributed.ActorOrg, attributed.Target, attributed.Count = "prac-1", "org-1", "", 0
	if err := attributed.Validate(); err != nil {
		t.Fatalf("an attributed refusal: %v", err)
	}
	cases := map[string]func(e *Event){
		"another action":    func(e *Event) { e.Action, e.Patient, e.RecordIDs = ActionRecordRead, "pat-1", []string{"rec-1"} },
		"permitted":         func(e *Event) { e.Decision = Permit },
		"an organization":   func(e *Event) { e.ActorOrg = "org-1" },
		"a patient":         func(e *Event) { e.Patient = "pat-1" },
		"a purpose":         func(e *Event) { e.Purpose = "TREAT" },
		"a recipient":       func(e *Event) { e.Recipient = "org-1" },
		"break-the-glass":   func(e *Event) { e.BreakGlass = true },
		"attributed target": func(e *Event) { e.Actor = "prac-1" },
		"count on a consent": func(e *Event) {
			e.Actor, e.Action, e.Patient, e.Target = "pat-1", ActionConsentGrant, "pat-1", "consent-1"
		},
		"claimed with a space": func(e *Event) { e.Target = "cc claimed" },
	}
	for name, mutate := range cases {
		e := ok
		mutate(&e)
		if err := e.Validate(); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s: Validate error = %v, want ErrInvalidEvent", name, err)
		}
	}
}

// TestCountEncoding checks that the count is behind its flag: an event
// without one encodes as it did before the field existed, and one with a
// count round-trips and hashes differently.
func TestCountEncoding(t *testing.T) {
	e := unauthenticatedRefusal()
	once := e
	once.Count = 0
	a, err := once.Encode()
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// The flags byte sits before the 33-byte transaction hash field.
	if flags := a[len(a)-2-txHashLen]; flags != 0 {
		t.Fatalf("an event without a count sets flags %#x", flags)
	}
	if !bytes.Equal(b[:len(a)-2-txHashLen], a[:len(a)-2-txHashLen]) || b[len(a)-2-txHashLen] != flagCount || b[len(b)-1] != 3 {
		t.Fatalf("the count is not a flagged trailing field:\n%x\n%x", a, b)
	}
	got, err := DecodeEvent(b)
	if err != nil || got.Count != 3 || !sameEvent(got, e) {
		t.Fatalf("decode %+v, %v", got, err)
	}
	if bytes.Equal(LeafHash(a), LeafHash(b)) {
		t.Fatal("the count is not covered by the leaf hash")
	}
}
