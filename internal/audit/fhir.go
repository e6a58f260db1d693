package audit

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
)

// FHIROptions describe the system doing the export. The ledger does not
// record them, so the gateway supplies them.
type FHIROptions struct {
	// Observer names the system that recorded the event, for
	// AuditEvent.source.observer and the server agent. Default "carechain".
	Observer string
	// Site is AuditEvent.source.site, for example the chain id. Optional.
	Site string
	// ServerAddress is the gateway's FHIR base URL, recorded as the server
	// agent's network address. Optional; BALP requires it.
	ServerAddress string
}

// FHIRAuditEvent renders an event as a FHIR R4 AuditEvent resource (JSON).
// A permitted event claims its action's BALP profile (PatientRead,
// PatientQuery, PatientCreate, PatientUpdate, PatientDelete) when it has the
// shape that profile demands; a denied event claims none, since BALP's
// RESTful profiles record successes only, and carries outcome 8 and the
// reason. docs/audit-log.md lists the mapping field by field.
func FHIRAuditEvent(e Event, opts FHIROptions) ([]byte, error) {
	info, err := exportable(e)
	if err != nil {
		return nil, err
	}
	m := info.FHIR
	ae := newAuditEvent(e, opts, m.Type, m.Subtype, m.Action)

	var client, server Coding
	hasClient := true
	switch m.Flow {
	case FlowToClient:
		client, server = codingDestinationRole, codingSourceRole
	case FlowToServer:
		client, server = codingSourceRole, codingDestinationRole
	case FlowErase:
		client, server = codingApplication, codingCustodian
	case FlowDecision:
		hasClient, server = false, codingAuthServer
	default:
		return nil, fmt.Errorf("export event %d: action %s has unknown flow %d", e.Seq, e.Action, m.Flow)
	}
	ae.Agent = append(ae.Agent, userAgent(e, m.UserType))
	if hasClient {
		// The actor signs its own transactions: the ledger knows no client
		// application apart from the actor's key.
		ae.Agent = append(ae.Agent, agent{
			Type: concept(client), Who: actorRef(e.Actor),
		})
	}
	ae.Agent = append(ae.Agent, serverAgent(opts, server))
	ae.Agent = appendOrgAgent(ae.Agent, e)

	if e.Patient != "" {
		ae.Entity = append(ae.Entity, patientEntity(e))
	}
	data := 0
	if m.Profile == ProfilePatientQuery {
		// BALP records the query, not its results. The ledger keeps no
		// search parameters (they may be PHI); every search is scoped to
		// one patient, so that is the query recorded.
		q := "patient=" + e.Patient
		ae.Entity = append(ae.Entity, entity{
			Type: ptr(codingSystemObject), Role: ptr(codingRoleQuery),
			Description: q, Query: base64.StdEncoding.EncodeToString([]byte(q)),
		})
	} else {
		for _, id := range e.RecordIDs {
			ae.Entity = append(ae.Entity, recordEntity(id))
			data++
		}
	}
	if info.TargetType != "" {
		ae.Entity = append(ae.Entity, targetEntity(info.TargetType, e.Target))
		data++
	}
	ae.Entity = appendDecisionEntities(ae.Entity, e)

	// BALP's RESTful profiles describe one successful interaction on one
	// resource (a query has none); claim them only for events of that shape.
	wantData := 1
	if m.Profile == ProfilePatientQuery {
		wantData = 0
	}
	if e.Decision == Permit && m.Profile != "" && e.Patient != "" && data == wantData {
		ae.Meta = &meta{Profile: []string{m.Profile}}
	}
	return marshalFHIR(ae)
}

// IsDisclosure reports whether an event released health information to
// someone other than the patient: a permitted event of an action marked
// Discloses (record.read, record.search) whose actor is not the patient.
func IsDisclosure(e Event) bool {
	info, ok := LookupAction(e.Action)
	return ok && info.Discloses && e.Decision == Permit && e.Patient != "" && e.Actor != e.Patient
}

// FHIRDisclosure renders a disclosure (see IsDisclosure) as a FHIR R4
// AuditEvent following BALP's PrivacyDisclosure.Source profile: the ledger,
// as custodian of the access decision, disclosed the patient's records to
// the actor.
func FHIRDisclosure(e Event, opts FHIROptions) ([]byte, error) {
	info, err := exportable(e)
	if err != nil {
		return nil, err
	}
	if !IsDisclosure(e) {
		return nil, fmt.Errorf("export event %d: %w: not a disclosure (%s, %s)", e.Seq, ErrInvalidEvent, e.Action, e.Decision)
	}
	subtype := append([]Coding{codingDisclose}, info.FHIR.Subtype...)
	ae := newAuditEvent(e, opts, codingExport, subtype, "R")
	ae.Meta = &meta{Profile: []string{ProfilePrivacyDisclosureSource}}
	ae.Agent = append(ae.Agent, serverAgent(opts, codingSourceRole))
	ae.Agent = append(ae.Agent, userAgent(e, codingDestinationRole))
	if e.Reason.ConsentID != "" {
		// A consent is the patient's authorization of the disclosure.
		ae.Agent = append(ae.Agent, agent{
			Type: concept(codingPatientAdvocate),
			Who:  &reference{Reference: "Patient/" + e.Patient},
		})
	}
	ae.Agent = appendOrgAgent(ae.Agent, e)
	ae.Entity = append(ae.Entity, patientEntity(e))
	for _, id := range e.RecordIDs {
		ae.Entity = append(ae.Entity, recordEntity(id))
	}
	ae.Entity = appendDecisionEntities(ae.Entity, e)
	return marshalFHIR(ae)
}

func exportable(e Event) (ActionInfo, error) {
	if err := e.checkShape(); err != nil {
		return ActionInfo{}, fmt.Errorf("export event %d: %w", e.Seq, err)
	}
	info, ok := LookupAction(e.Action)
	if !ok {
		return ActionInfo{}, fmt.Errorf("export event %d: %w: action %q is not registered", e.Seq, ErrInvalidEvent, e.Action)
	}
	return info, nil
}

func newAuditEvent(e Event, opts FHIROptions, typ Coding, subtype []Coding, action string) *auditEvent {
	observer := opts.Observer
	if observer == "" {
		observer = "carechain"
	}
	ae := &auditEvent{
		ResourceType: "AuditEvent",
		ID:           strconv.FormatUint(e.Seq, 10),
		Type:         typ,
		Subtype:      subtype,
		Action:       action,
		Recorded:     e.Time.UTC().Format(timeLayout),
		Outcome:      outcomeSuccess,
		OutcomeDesc:  outcomeText(e),
		Source: source{
			Site:     opts.Site,
			Observer: reference{Display: observer},
			Type:     []Coding{codingAppServer},
		},
	}
	if e.Decision == Deny {
		ae.Outcome = outcomeDenied
	}
	ae.PurposeOfEvent = purposes(e)
	return ae
}

func outcomeText(e Event) string {
	s := "permitted"
	if e.Decision == Deny {
		s = "denied"
	}
	s += " by " + e.Reason.String()
	if e.BreakGlass {
		s += "; break-the-glass access"
	}
	if e.Count != 0 {
		s += "; " + strconv.FormatUint(e.Count, 10) + " identical attempts"
	}
	return s
}

// purposes is the asserted purpose of use plus BTG for break-the-glass
// access, so the emergency path is visible to any FHIR consumer.
func purposes(e Event) []codeableConcept {
	var out []codeableConcept
	if e.Purpose != "" {
		out = append(out, codeableConcept{Coding: []Coding{purposeCoding(e.Purpose)}})
	}
	if e.BreakGlass && e.Purpose != codingBreakTheGlass.Code {
		out = append(out, codeableConcept{Coding: []Coding{codingBreakTheGlass}})
	}
	return out
}

// userAgent is the actor, who asked for what happened. A refusal that
// named nobody for certain has the Unauthenticated actor, shown as such,
// with the client the request claimed to be, unverified, as its altId.
func userAgent(e Event, typ Coding) agent {
	a := agent{
		Type:         concept(typ),
		Who:          actorRef(e.Actor),
		Requestor:    true,
		PurposeOfUse: purposes(e),
	}
	if e.Actor == Unauthenticated {
		a.Who.Display = Unauthenticated
		a.AltID = e.Target
	}
	return a
}

func serverAgent(opts FHIROptions, typ Coding) agent {
	observer := opts.Observer
	if observer == "" {
		observer = "carechain"
	}
	a := agent{Type: concept(typ), Who: &reference{Display: observer}}
	if opts.ServerAddress != "" {
		a.Network = &network{Address: opts.ServerAddress, Type: "5"} // 5 = URI
	}
	return a
}

func appendOrgAgent(agents []agent, e Event) []agent {
	if e.ActorOrg == "" {
		return agents
	}
	return append(agents, agent{
		Type: concept(codingProvider),
		Who:  &reference{Type: "Organization", Identifier: &identifier{IdentifierSystemOrganization, e.ActorOrg}},
	})
}

func actorRef(id string) *reference {
	return &reference{Identifier: &identifier{IdentifierSystemActor, id}}
}

func patientEntity(e Event) entity {
	return entity{
		What: &reference{Reference: "Patient/" + e.Patient},
		Type: ptr(codingPerson), Role: ptr(codingRolePatient),
	}
}

func recordEntity(id string) entity {
	return entity{
		What: &reference{Identifier: &identifier{IdentifierSystemRecord, id}},
		Type: ptr(codingSystemObject), Role: ptr(codingRoleResource),
	}
}

// targetEntity names the consent or delegate acted on. Consents are served
// at /fhir/Consent/{id}, so they get a literal reference; other targets are
// ledger actors, named by identifier.
func targetEntity(resourceType, id string) entity {
	what := &reference{Type: resourceType, Identifier: &identifier{IdentifierSystemActor, id}}
	if resourceType == "Consent" {
		what = consentRef(id)
	}
	return entity{What: what, Type: ptr(codingSystemObject), Role: ptr(codingRoleResource)}
}

func consentRef(id string) *reference { return &reference{Reference: "Consent/" + id} }

// appendDecisionEntities adds the consent that decided (with the provision
// path as detail) and the transaction that caused the event.
func appendDecisionEntities(ents []entity, e Event) []entity {
	if e.Reason.ConsentID != "" {
		c := entity{
			What: consentRef(e.Reason.ConsentID),
			Type: ptr(codingConsentEntity),
		}
		if e.Reason.Provision != "" {
			c.Detail = append(c.Detail, detail{Type: "provision", ValueString: e.Reason.Provision})
		}
		if e.Reason.Rule != "" {
			c.Detail = append(c.Detail, detail{Type: "rule", ValueString: e.Reason.Rule})
		}
		ents = append(ents, c)
	}
	if len(e.TxHash) > 0 {
		ent := entity{
			What: &reference{Identifier: &identifier{IdentifierSystemTransaction, hex.EncodeToString(e.TxHash)}},
			Type: ptr(codingXRequestID),
		}
		if e.Count != 0 {
			// The transaction reported this many identical attempts.
			ent.Detail = append(ent.Detail, detail{Type: "attempts", ValueString: strconv.FormatUint(e.Count, 10)})
		}
		ents = append(ents, ent)
	}
	return ents
}

func marshalFHIR(ae *auditEvent) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ae); err != nil {
		return nil, fmt.Errorf("export event %s: %w", ae.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func ptr[T any](v T) *T { return &v }

func concept(c Coding) *codeableConcept { return &codeableConcept{Coding: []Coding{c}} }
