package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// exportSamples are one event per kind of export, shared by the FHIR and
// disclosure tests.
func exportSamples() map[string]Event {
	tx := sha("tx")
	base := Event{
		Seq: 41, Height: 120, Time: time.Date(2025, 3, 4, 10, 11, 12, 500_000_000, time.UTC),
		Actor: "prac-7", ActorOrg: "org-clinic", Patient: "pat-42", Action: ActionRecordRead,
		RecordIDs: []string{"rec-1"}, Purpose: "TREAT", Decision: Permit,
		Reason: Reason{ConsentID: "consent-9", Provision: "provision.provision[1]", Rule: "consent-permit"}, TxHash: tx,
	}
	out := map[string]Event{"read-permit": base}
	e := base
	e.Decision, e.Reason = Deny, Reason{ConsentID: "consent-9", Provision: "provision.provision[2]", Rule: "consent-deny"}
	out["read-deny"] = e
	e = base
	e.RecordIDs = []string{"rec-1", "rec-2"}
	out["read-two-records"] = e
	e = base
	e.Action, e.RecordIDs, e.Purpose = ActionRecordSearch, nil, "HPAYMT"
	e.Actor, e.ActorOrg = "app-billing", "org-insurer"
	out["search-permit"] = e
	e = base
	e.Action, e.Reason = ActionRecordCreate, Reason{Rule: "author-org"}
	out["create-permit"] = e
	e = base
	e.Action = ActionRecordUpdate
	out["update-permit"] = e
	e = base
	e.Action, e.Actor, e.ActorOrg, e.Purpose, e.Reason = ActionRecordErase, "pat-42", "", "PATRQT", Reason{Rule: "patient-self"}
	out["erase-by-patient"] = e
	e = base
	e.Action, e.RecordIDs, e.Target, e.Actor, e.ActorOrg, e.Purpose = ActionConsentGrant, nil, "consent-10", "pat-42", "", ""
	e.Reason = Reason{Rule: "patient-self"}
	out["consent-grant"] = e
	e = out["consent-grant"]
	e.Action = ActionConsentRevoke
	out["consent-revoke"] = e
	e = out["consent-grant"]
	e.Action, e.Target = ActionDelegateSet, "rel-3"
	out["delegate-set"] = e
	e = base
	e.Action, e.RecordIDs, e.Purpose, e.BreakGlass, e.Reason = ActionBreakGlass, nil, "ETREAT", true, Reason{Rule: "break-the-glass"}
	e.Actor = "prac-er"
	out["breakglass"] = e
	e = base
	e.Purpose, e.BreakGlass, e.Reason = "ETREAT", true, Reason{Rule: "break-the-glass"}
	e.Actor = "prac-er"
	out["read-breakglass"] = e
	// Reads of consent metadata: a grantee reads the consent naming it, a
	// stranger is refused the list, a practitioner previews its access.
	e = base
	e.Action, e.RecordIDs, e.Target, e.Purpose, e.Reason = ActionConsentRead, nil, "consent-9", "", Reason{Rule: "named-in-consent"}
	out["consent-read"] = e
	e = base
	e.Action, e.RecordIDs, e.Purpose, e.Actor, e.ActorOrg = ActionConsentList, nil, "", "pat-99", ""
	e.Decision, e.Reason = Deny, Reason{Rule: "not-authorized-for-consents"}
	out["consent-list-deny"] = e
	e = base
	e.Action, e.RecordIDs, e.Purpose, e.Reason = ActionConsentDecide, nil, "", Reason{Rule: "requester"}
	out["consent-decide"] = e
	// Refusals a gateway made before the ledger was asked: of a client it
	// could name, and a tally of attempts that named nobody for certain,
	// one claiming to be a client.
	e = base
	e.Action, e.Patient, e.RecordIDs, e.Purpose = ActionAccessRefused, "", nil, ""
	e.Decision, e.Reason = Deny, Reason{Rule: "scope_insufficient"}
	out["refusal"] = e
	e = out["refusal"]
	e.Actor, e.ActorOrg, e.Target, e.Count = Unauthenticated, "", "prac-7", 3
	e.Reason = Reason{Rule: "assertion_bad_signature"}
	out["refusal-unauthenticated"] = e
	return out
}

var fhirOpts = FHIROptions{Observer: "carechain node0", Site: "carechain-test", ServerAddress: "https://node0.example.org/fhir"}

func TestFHIRAuditEventGolden(t *testing.T) {
	samples := exportSamples()
	want := map[string]struct {
		profile string
		action  string
		outcome string
	}{
		"read-permit":             {ProfilePatientRead, "R", "0"},
		"read-deny":               {"", "R", "8"},
		"read-two-records":        {"", "R", "0"}, // BALP allows one data entity
		"search-permit":           {ProfilePatientQuery, "E", "0"},
		"create-permit":           {ProfilePatientCreate, "C", "0"},
		"update-permit":           {ProfilePatientUpdate, "U", "0"},
		"erase-by-patient":        {ProfilePatientDelete, "D", "0"},
		"consent-grant":           {ProfilePatientCreate, "C", "0"},
		"consent-revoke":          {ProfilePatientUpdate, "U", "0"},
		"delegate-set":            {ProfilePatientCreate, "C", "0"},
		"breakglass":              {"", "E", "0"},
		"read-breakglass":         {ProfilePatientRead, "R", "0"},
		"consent-read":            {ProfilePatientRead, "R", "0"},
		"consent-list-deny":       {"", "E", "8"},
		"consent-decide":          {"", "E", "0"},
		"refusal":                 {"", "E", "8"},
		"refusal-unauthenticated": {"", "E", "8"},
	}
	for name, e := range samples {
		b, err := FHIRAuditEvent(e, fhirOpts)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		golden(t, filepath.Join("fhir", name+".json"), indentJSON(t, b))

		var ae auditEvent
		if err := json.Unmarshal(b, &ae); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		w := want[name]
		var profile string
		if ae.Meta != nil {
			profile = ae.Meta.Profile[0]
		}
		if profile != w.profile || ae.Action != w.action || ae.Outcome != w.outcome {
			t.Errorf("%s: profile %q action %s outcome %s, want %q %s %s", name, profile, ae.Action, ae.Outcome, w.profile, w.action, w.outcome)
		}
		if ae.ResourceType != "AuditEvent" || ae.ID != "41" || ae.Recorded != "2025-03-04T10:11:12.5Z" {
			t.Errorf("%s: resourceType %s id %s recorded %s", name, ae.ResourceType, ae.ID, ae.Recorded)
		}
		if profile != "" {
			checkBALPShape(t, name, &ae)
		}
		if e.BreakGlass && !hasPurpose(ae.PurposeOfEvent, "BTG") {
			t.Errorf("%s: break-the-glass access without BTG purpose", name)
		}
	}
}

// checkBALPShape checks what every BALP RESTful profile demands: a user agent
// that is the requestor, a server agent, and the patient entity.
func checkBALPShape(t *testing.T, name string, ae *auditEvent) {
	t.Helper()
	requestors, server := 0, false
	for _, a := range ae.Agent {
		if a.Requestor {
			requestors++
		}
		if a.Who != nil && a.Who.Display == fhirOpts.Observer && a.Network != nil {
			server = true
		}
	}
	if requestors != 1 || !server {
		t.Errorf("%s: %d requestors, server agent %v", name, requestors, server)
	}
	patient := slices.ContainsFunc(ae.Entity, func(en entity) bool {
		return en.Type != nil && *en.Type == codingPerson && en.Role != nil && *en.Role == codingRolePatient &&
			en.What != nil && en.What.Reference == "Patient/pat-42"
	})
	if !patient {
		t.Errorf("%s: no patient entity", name)
	}
}

func hasPurpose(cs []codeableConcept, code string) bool {
	for _, c := range cs {
		for _, cd := range c.Coding {
			if cd.Code == code && cd.System == systemActReason {
				return true
			}
		}
	}
	return false
}

func TestFHIRDisclosure(t *testing.T) {
	samples := exportSamples()
	for _, name := range []string{"read-permit", "search-permit", "read-breakglass"} {
		e := samples[name]
		if !IsDisclosure(e) {
			t.Fatalf("%s is not a disclosure", name)
		}
		b, err := FHIRDisclosure(e, fhirOpts)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, filepath.Join("fhir", "disclosure-"+name+".json"), indentJSON(t, b))
		var ae auditEvent
		if err := json.Unmarshal(b, &ae); err != nil {
			t.Fatal(err)
		}
		if ae.Meta == nil || ae.Meta.Profile[0] != ProfilePrivacyDisclosureSource || ae.Type != codingExport ||
			ae.Subtype[0] != codingDisclose || ae.Action != "R" {
			t.Errorf("%s: not a BALP privacy disclosure: %s", name, b)
		}
	}
	for _, name := range []string{"read-deny", "create-permit", "erase-by-patient", "consent-grant", "breakglass"} {
		if _, err := FHIRDisclosure(samples[name], fhirOpts); !errors.Is(err, ErrInvalidEvent) {
			t.Errorf("%s exported as a disclosure: %v", name, err)
		}
	}
	own := samples["read-permit"]
	own.Actor = own.Patient
	if IsDisclosure(own) {
		t.Error("a patient reading their own record counted as a disclosure")
	}
}

func TestFHIRRejectsUnexportable(t *testing.T) {
	e := exportSamples()["read-permit"]
	e.Action = "record.teleport"
	if _, err := FHIRAuditEvent(e, FHIROptions{}); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("unregistered action: %v", err)
	}
	e = exportSamples()["read-permit"]
	e.Decision = 0
	if _, err := FHIRAuditEvent(e, FHIROptions{}); !errors.Is(err, ErrInvalidEvent) {
		t.Errorf("invalid event: %v", err)
	}
}

func TestDisclosureReport(t *testing.T) {
	samples := exportSamples()
	var events []Event
	for i, name := range []string{"breakglass", "read-breakglass", "search-permit", "read-deny", "create-permit", "read-permit", "consent-grant"} {
		e := samples[name]
		e.Seq = uint64(100 - i) // out of order on purpose
		e.Time = e.Time.Add(time.Duration(-i) * time.Hour)
		events = append(events, e)
	}
	other := samples["read-permit"]
	other.Patient = "pat-other"
	events = append(events, other)
	formula := samples["read-permit"]
	formula.Seq, formula.Actor, formula.ActorOrg = 7, "=cmd", "+org"
	events = append(events, formula)

	names := map[string]string{"prac-7": "Dr. Ada Lovelace", "org-clinic": "Riverside Clinic", "org-insurer": "Acme Health Insurance"}
	rep := NewDisclosureReport("pat-42", events, DisclosureOptions{Names: names})
	if got := len(rep.Disclosures); got != 4 {
		t.Fatalf("%d disclosures, want 4 (two reads, a search, a break-the-glass read): %+v", got, rep.Disclosures)
	}
	for i := 1; i < len(rep.Disclosures); i++ {
		if rep.Disclosures[i-1].Event >= rep.Disclosures[i].Event {
			t.Fatal("disclosures not in log order")
		}
	}
	js, err := rep.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "disclosures.json", js)
	csvOut, err := rep.CSV()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "disclosures.csv", csvOut)
	if !bytes.Contains(csvOut, []byte("'=cmd")) || !bytes.Contains(csvOut, []byte("'+org")) {
		t.Error("formula-like cells not defused in CSV")
	}

	tpo := NewDisclosureReport("pat-42", events, DisclosureOptions{ExcludeTPO: true})
	for _, d := range tpo.Disclosures {
		if !d.BreakGlass && (strings.HasPrefix(d.Purpose, "TREAT") || strings.HasPrefix(d.Purpose, "HPAYMT")) {
			t.Errorf("ExcludeTPO kept %+v", d)
		}
	}
	if len(tpo.Disclosures) != 1 || !tpo.Disclosures[0].BreakGlass {
		t.Errorf("ExcludeTPO should keep only the break-the-glass read: %+v", tpo.Disclosures)
	}
	empty, _ := NewDisclosureReport("pat-none", events, DisclosureOptions{}).JSON()
	if !bytes.Contains(empty, []byte(`"disclosures": []`)) {
		t.Errorf("empty report should list no disclosures, not null: %s", empty)
	}
}

func indentJSON(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	if *update {
		writeGolden(t, name, got)
		return
	}
	want, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("%v (regenerate with: %s)", err, regenerate)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden file (regenerate with: %s):\n%s", name, regenerate, got)
	}
}

func TestFHIRWithoutPatient(t *testing.T) {
	if _, ok := LookupAction("testonly.org_update"); !ok {
		MustRegisterAction("testonly.org_update", ActionInfo{
			Description: "update of an organization", PatientOptional: true,
			FHIR: FHIRMapping{Type: codingRESTOperation, Subtype: []Coding{restful("update")}, Action: "U", UserType: codingAuthor, Flow: FlowToServer},
		})
	}
	e := Event{Seq: 3, Height: 1, Time: epoch, Actor: "admin", Action: "testonly.org_update", Decision: Permit, Reason: Reason{Rule: "admin"}}
	b, err := FHIRAuditEvent(e, FHIROptions{})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("Patient/")) || bytes.Contains(b, []byte(`"meta"`)) {
		t.Errorf("event without a patient exported with a patient or a patient profile: %s", b)
	}
	if IsDisclosure(e) {
		t.Error("event without a patient counted as a disclosure")
	}
}

// TestFHIRUnauthenticatedRefusal checks what an export of a tally of
// refusals that named nobody shows: the requestor is "unauthenticated",
// the claimed client only its altId, never an identity, and the count is
// in the outcome's text and on the transaction entity.
func TestFHIRUnauthenticatedRefusal(t *testing.T) {
	b, err := FHIRAuditEvent(exportSamples()["refusal-unauthenticated"], fhirOpts)
	if err != nil {
		t.Fatal(err)
	}
	var ae auditEvent
	if err := json.Unmarshal(b, &ae); err != nil {
		t.Fatal(err)
	}
	var requestor *agent
	for i, a := range ae.Agent {
		if a.Requestor {
			requestor = &ae.Agent[i]
		}
		if a.Who != nil && a.Who.Identifier != nil && a.Who.Identifier.Value == "prac-7" {
			t.Errorf("the claimed client is named as an agent: %s", b)
		}
	}
	if requestor == nil || requestor.Who.Display != Unauthenticated || requestor.Who.Identifier.Value != Unauthenticated || requestor.AltID != "prac-7" {
		t.Fatalf("requestor %+v", requestor)
	}
	if ae.Outcome != outcomeDenied || !strings.Contains(ae.OutcomeDesc, "3 identical attempts") {
		t.Errorf("outcome %s %q", ae.Outcome, ae.OutcomeDesc)
	}
	counted := slices.ContainsFunc(ae.Entity, func(en entity) bool {
		return en.Type != nil && *en.Type == codingXRequestID && len(en.Detail) == 1 && en.Detail[0] == detail{Type: "attempts", ValueString: "3"}
	})
	if !counted || slices.ContainsFunc(ae.Entity, func(en entity) bool { return en.Type != nil && *en.Type == codingPerson }) {
		t.Errorf("entities %+v", ae.Entity)
	}
}
