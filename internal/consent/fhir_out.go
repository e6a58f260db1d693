package consent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The JSON shapes ToFHIR writes. Field order is FHIR's element order, so the
// output is stable and reads like the specification's examples.
type (
	fhirConsentOut struct {
		ResourceType string           `json:"resourceType"`
		ID           string           `json:"id"`
		Status       string           `json:"status"`
		Scope        fhirConcept      `json:"scope"`
		Category     []fhirConcept    `json:"category"`
		Patient      fhirReference    `json:"patient"`
		DateTime     string           `json:"dateTime,omitempty"`
		Performer    []fhirReference  `json:"performer,omitempty"`
		PolicyRule   fhirConcept      `json:"policyRule"`
		Provision    fhirProvisionOut `json:"provision"`
	}
	fhirProvisionOut struct {
		Extension     []fhirExtension    `json:"extension,omitempty"`
		Type          string             `json:"type"`
		Period        *fhirPeriod        `json:"period,omitempty"`
		Actor         []fhirActor        `json:"actor,omitempty"`
		Action        []fhirConcept      `json:"action,omitempty"`
		SecurityLabel []fhirCodingOut    `json:"securityLabel,omitempty"`
		Purpose       []fhirCodingOut    `json:"purpose,omitempty"`
		Class         []fhirCodingOut    `json:"class,omitempty"`
		Code          []fhirConcept      `json:"code,omitempty"`
		DataPeriod    *fhirPeriod        `json:"dataPeriod,omitempty"`
		Data          []fhirData         `json:"data,omitempty"`
		Provision     []fhirProvisionOut `json:"provision,omitempty"`
	}
	fhirExtension struct {
		URL         string `json:"url"`
		ValueString string `json:"valueString"`
	}
	fhirCodingOut struct {
		System string `json:"system"`
		Code   string `json:"code"`
	}
	fhirConcept struct {
		Coding []fhirCodingOut `json:"coding"`
	}
	fhirIdentifier struct {
		System string `json:"system"`
		Value  string `json:"value"`
	}
	fhirReference struct {
		Reference  string          `json:"reference,omitempty"`
		Identifier *fhirIdentifier `json:"identifier,omitempty"`
	}
	fhirPeriod struct {
		Start string `json:"start,omitempty"`
		End   string `json:"end,omitempty"`
	}
	fhirActor struct {
		Role      fhirConcept   `json:"role"`
		Reference fhirReference `json:"reference"`
	}
	fhirData struct {
		Meaning   string        `json:"meaning"`
		Reference fhirReference `json:"reference"`
	}
)

// ToFHIR renders a valid consent as a FHIR R4 Consent resource (indented
// JSON). The root provision states its type, and policyRule repeats it
// (OPTIN for permit, OPTOUT for deny) for readers that look there. Times
// are written in UTC with full precision, so FromFHIR(ToFHIR(c)) returns
// Normalize(c).
func ToFHIR(c Consent) ([]byte, error) {
	if err := Validate(c); err != nil {
		return nil, fmt.Errorf("render consent %s as FHIR: %w", c.ID, err)
	}
	c = Normalize(c)
	out := fhirConsentOut{
		ResourceType: "Consent",
		ID:           c.ID,
		Status:       c.Status.String(),
		Scope:        concept(SystemConsentScope, "patient-privacy"),
		Category:     []fhirConcept{concept(SystemLOINC, "59284-0")}, // LOINC "Patient Consent"
		Patient:      fhirReference{Reference: "Patient/" + c.Patient},
		DateTime:     formatTime(c.DateTime),
		Provision:    provisionToFHIR(&c.Provision),
	}
	if c.Grantor == c.Patient {
		out.Performer = []fhirReference{{Reference: "Patient/" + c.Patient}}
	} else {
		out.Performer = []fhirReference{identifierRef(IdentifierSystemActor, c.Grantor)}
	}
	if c.Provision.Type == Permit {
		out.PolicyRule = concept(SystemActCode, "OPTIN")
	} else {
		out.PolicyRule = concept(SystemActCode, "OPTOUT")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // conditions use < and &&; keep them readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("render consent %s as FHIR: %w", c.ID, err)
	}
	return buf.Bytes(), nil
}

func provisionToFHIR(p *Provision) fhirProvisionOut {
	out := fhirProvisionOut{
		Type:       p.Type.String(),
		Period:     periodToFHIR(p.Period),
		DataPeriod: periodToFHIR(p.DataPeriod),
	}
	if p.Condition != "" {
		out.Extension = []fhirExtension{{URL: ExtensionCondition, ValueString: p.Condition}}
	}
	for _, a := range p.Actors {
		actor := fhirActor{Role: concept(SystemParticipationType, "PRCP")}
		switch a.Kind {
		case ActorOrganization:
			actor.Reference = fhirReference{Reference: "Organization/" + a.ID}
		case ActorRole:
			actor.Reference = identifierRef(IdentifierSystemRole, a.ID)
		default:
			actor.Reference = identifierRef(IdentifierSystemActor, a.ID)
		}
		out.Actor = append(out.Actor, actor)
	}
	for _, a := range p.Actions {
		out.Action = append(out.Action, concept(SystemConsentAction, string(a)))
	}
	for _, l := range p.Labels {
		out.SecurityLabel = append(out.SecurityLabel, fhirCodingOut{System: labelSystem(l), Code: l})
	}
	for _, pu := range p.Purposes {
		out.Purpose = append(out.Purpose, fhirCodingOut{System: SystemActReason, Code: string(pu)})
	}
	for _, cl := range p.Classes {
		out.Class = append(out.Class, fhirCodingOut{System: SystemResourceTypes, Code: cl})
	}
	for _, tok := range p.Codes {
		system, code, _ := strings.Cut(tok, "|")
		out.Code = append(out.Code, concept(system, code))
	}
	for _, r := range p.Records {
		out.Data = append(out.Data, fhirData{Meaning: "instance", Reference: identifierRef(IdentifierSystemRecord, r)})
	}
	for i := range p.Provisions {
		out.Provision = append(out.Provision, provisionToFHIR(&p.Provisions[i]))
	}
	return out
}

func concept(system, code string) fhirConcept {
	return fhirConcept{Coding: []fhirCodingOut{{System: system, Code: code}}}
}

func identifierRef(system, value string) fhirReference {
	return fhirReference{Identifier: &fhirIdentifier{System: system, Value: value}}
}

func periodToFHIR(p Period) *fhirPeriod {
	if p.IsZero() {
		return nil
	}
	return &fhirPeriod{Start: formatTime(p.Start), End: formatTime(p.End)}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
