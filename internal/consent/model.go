package consent

import (
	"fmt"
	"time"
)

// Consent is a patient's consent directive, modelled on FHIR R4 Consent. Its
// zero value is not valid; see Validate.
type Consent struct {
	// ID is the consent's ledger id.
	ID string
	// Status is the FHIR consent state; only active consents take part in
	// decisions.
	Status Status
	// Patient is the ledger id of the patient the consent is about.
	Patient string
	// Grantor is who signed it: the patient, or a delegate acting for them.
	Grantor string
	// DateTime is when the consent was agreed; informational. Zero if unknown.
	DateTime time.Time
	// Provision is the root rule. Its Period is the consent's period of
	// validity; its nested provisions are exceptions to it.
	Provision Provision
}

// Provision is a permit or deny rule with the criteria under which it
// applies. An empty criterion matches anything; a non-empty list matches when
// the request or record has any of its members. Nested provisions are
// exceptions: one applies only where its parent applies, and where it applies
// it overrides its parent (FHIR R4 semantics).
type Provision struct {
	Type ProvisionType
	// Period limits the rule to block times within it (both ends inclusive).
	Period Period
	// Actors are who the rule is about: identities, organizations, roles.
	Actors []Actor
	// Actions are what the actor does with the record.
	Actions []Action
	// Classes are FHIR resource types, such as "Observation".
	Classes []string
	// Codes are record codes as FHIR tokens "system|code", compared exactly.
	Codes []string
	// Labels are security labels; see IsSensitiveLabel.
	Labels []string
	// Purposes are purposes of use (HL7 v3 ActReason codes).
	Purposes []Purpose
	// DataPeriod limits the rule to records dated within it.
	DataPeriod Period
	// Records are specific record ids.
	Records []string
	// Condition is an optional CEL expression over request, record and block;
	// see docs/consent.md for the environment.
	Condition string
	// Provisions are the nested exceptions, in order.
	Provisions []Provision
}

// Period is a closed interval of time. A zero Start or End leaves that side
// open.
type Period struct {
	Start time.Time
	End   time.Time
}

// IsZero reports whether the period is unbounded on both sides.
func (p Period) IsZero() bool { return p.Start.IsZero() && p.End.IsZero() }

// Contains reports whether t lies within the period, ends included, as FHIR
// defines Period.
func (p Period) Contains(t time.Time) bool {
	if !p.Start.IsZero() && t.Before(p.Start) {
		return false
	}
	if !p.End.IsZero() && t.After(p.End) {
		return false
	}
	return true
}

// Status is the state of a consent (FHIR ConsentState).
type Status uint8

// The FHIR R4 consent states. The numbers are part of the encoding.
const (
	StatusDraft          Status = 1
	StatusProposed       Status = 2
	StatusActive         Status = 3
	StatusRejected       Status = 4
	StatusInactive       Status = 5
	StatusEnteredInError Status = 6
)

var statusCodes = [...]string{
	StatusDraft:          "draft",
	StatusProposed:       "proposed",
	StatusActive:         "active",
	StatusRejected:       "rejected",
	StatusInactive:       "inactive",
	StatusEnteredInError: "entered-in-error",
}

// String returns the FHIR code of the status.
func (s Status) String() string {
	if s >= StatusDraft && s <= StatusEnteredInError {
		return statusCodes[s]
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ParseStatus maps a FHIR ConsentState code to a Status.
func ParseStatus(code string) (Status, bool) {
	for s := StatusDraft; s <= StatusEnteredInError; s++ {
		if statusCodes[s] == code {
			return s, true
		}
	}
	return 0, false
}

// ProvisionType says whether a provision permits or denies.
type ProvisionType uint8

// The numbers are part of the encoding.
const (
	Permit ProvisionType = 1
	Deny   ProvisionType = 2
)

// String returns "permit" or "deny", the FHIR codes.
func (t ProvisionType) String() string {
	switch t {
	case Permit:
		return "permit"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ActorKind is what an Actor's ID names.
type ActorKind uint8

// The numbers are part of the encoding, and order actors in canonical form.
const (
	ActorIdentity     ActorKind = 1 // a ledger identity (practitioner, application, person)
	ActorOrganization ActorKind = 2 // every member of an organization
	ActorRole         ActorKind = 3 // every identity holding a role code
)

// String returns the prefix used in text forms: "id", "org" or "role".
func (k ActorKind) String() string {
	switch k {
	case ActorIdentity:
		return "id"
	case ActorOrganization:
		return "org"
	case ActorRole:
		return "role"
	}
	return fmt.Sprintf("actor(%d)", uint8(k))
}

// Actor is who a provision is about.
type Actor struct {
	Kind ActorKind
	ID   string
}

// Identity returns an actor naming one ledger identity.
func Identity(id string) Actor { return Actor{Kind: ActorIdentity, ID: id} }

// Organization returns an actor naming an organization.
func Organization(id string) Actor { return Actor{Kind: ActorOrganization, ID: id} }

// Role returns an actor naming a role code.
func Role(code string) Actor { return Actor{Kind: ActorRole, ID: code} }

// String renders the actor as "kind:id", for example "org:cc2x…".
func (a Actor) String() string { return a.Kind.String() + ":" + a.ID }

func compareActors(a, b Actor) int {
	if a.Kind != b.Kind {
		if a.Kind < b.Kind {
			return -1
		}
		return 1
	}
	switch {
	case a.ID < b.ID:
		return -1
	case a.ID > b.ID:
		return 1
	}
	return 0
}

// Names reports whether the provision, or one nested in it, names the
// actor id: by identity, or its organization org (an organization, whose
// org is empty, is named by its own id). Such an actor may read the
// consent, since it is about them.
func (p *Provision) Names(id, org string) bool {
	for _, a := range p.Actors {
		switch a.Kind {
		case ActorIdentity:
			if a.ID == id {
				return true
			}
		case ActorOrganization:
			if a.ID == id || (org != "" && a.ID == org) {
				return true
			}
		}
	}
	for i := range p.Provisions {
		if p.Provisions[i].Names(id, org) {
			return true
		}
	}
	return false
}
