package audit

import (
	"fmt"
	"slices"
	"sync"
)

// Action names what happened, as a dotted lower-case word ("record.read").
// The set is open: other modules register their actions (identity.* for
// example) with RegisterAction, and Append accepts only registered ones. The
// decoder checks only the syntax, so an older verifier still checks proofs of
// events whose action it has never heard of.
type Action string

// The actions carechain records from its first release.
const (
	ActionRecordCreate   Action = "record.create"
	ActionRecordRead     Action = "record.read"
	ActionRecordSearch   Action = "record.search"
	ActionRecordUpdate   Action = "record.update"
	ActionRecordErase    Action = "record.erase"
	ActionConsentGrant   Action = "consent.grant"
	ActionConsentUpdate  Action = "consent.update"
	ActionConsentRevoke  Action = "consent.revoke"
	ActionDelegateSet    Action = "delegate.set"
	ActionDelegateRemove Action = "delegate.remove"
	ActionBreakGlass     Action = "breakglass"
	// ActionBreakGlassOptOut records a patient turning the break-the-glass
	// opt-out on or off: a consent change.
	ActionBreakGlassOptOut Action = "breakglass.optout"
	// ActionAuditQuery records a read of a patient's access history.
	ActionAuditQuery Action = "audit.query"
	// ActionConsentList, ActionConsentRead and ActionConsentDecide record
	// reads of a patient's consent metadata: the whole list (consents,
	// delegations, opt-out), one consent, and a preview of a decision.
	// Who a patient shares with is itself sensitive.
	ActionConsentList   Action = "consent.list"
	ActionConsentRead   Action = "consent.read"
	ActionConsentDecide Action = "consent.decide"
	// ActionAccessRefused records a request a gateway refused before the
	// ledger decided anything: a client it can name, beyond its token's
	// scope, organization or purpose, or with a token no longer good; or,
	// as the Unauthenticated actor with a count, attempts that named
	// nobody for certain. It names no patient.
	ActionAccessRefused Action = "access.refused"
	// ActionAuditReview records an auditor's read of the events about no
	// patient: the refused requests above.
	ActionAuditReview Action = "audit.review"
)

// ActionInfo is what the log knows about an action: which fields its events
// must carry and how exports render it.
type ActionInfo struct {
	// Description is the plain-language phrase used in reports, for example
	// "read of health records".
	Description string
	// PatientOptional lets events omit the patient, for actions that are not
	// about one (an organization's key rotation, say). Such events are in the
	// log but in no patient's history.
	PatientOptional bool
	// NeedsRecords requires at least one record id.
	NeedsRecords bool
	// TargetType is the FHIR resource type that Event.Target names
	// ("Consent", "RelatedPerson"). When set, Target is required; when empty,
	// Target must be empty.
	TargetType string
	// Discloses marks actions whose permitted events release health
	// information to the actor. They are the rows of the accounting of
	// disclosures and may be exported with the PrivacyDisclosure profile.
	Discloses bool
	// FHIR says how a permitted event of this action is rendered as a FHIR
	// AuditEvent.
	FHIR FHIRMapping
}

// Flow says which way data moves in an action. It decides which of the
// client and the server is the DICOM "Source Role ID" and which the
// "Destination Role ID", as BALP fixes them per profile.
type Flow uint8

const (
	// FlowToServer: the client sends data or a query (create, update, search).
	FlowToServer Flow = iota
	// FlowToClient: the server returns data (read).
	FlowToClient
	// FlowErase: the client asks the custodian to delete (BALP PatientDelete).
	FlowErase
	// FlowDecision: no data moves; the ledger authorized something
	// (break-the-glass). The server is the authorization server.
	FlowDecision
)

// FHIRMapping holds the codes of one action's FHIR AuditEvent.
type FHIRMapping struct {
	// Profile is the canonical URL of the BALP profile a permitted event
	// conforms to, or "" when no BALP profile fits.
	Profile string
	// Type is AuditEvent.type.
	Type Coding
	// Subtype is AuditEvent.subtype.
	Subtype []Coding
	// Action is AuditEvent.action: C, R, U, D or E.
	Action string
	// UserType is the agent type of the acting user, for example
	// v3-ParticipationType IRCP (information recipient) for reads.
	UserType Coding
	// Flow decides the roles of the client and server agents.
	Flow Flow
}

var registry = struct {
	sync.RWMutex
	m map[Action]ActionInfo
}{m: map[Action]ActionInfo{}}

// RegisterAction adds an action to the registry. Call it from an init
// function only: every validator must know the same actions before the first
// block, or they would disagree about which events are valid.
func RegisterAction(a Action, info ActionInfo) error {
	if err := checkActionSyntax(a); err != nil {
		return err
	}
	if info.Description == "" {
		return fmt.Errorf("register action %q: description is required", a)
	}
	if !validFHIRAction(info.FHIR.Action) {
		return fmt.Errorf("register action %q: FHIR action %q is not one of C, R, U, D, E", a, info.FHIR.Action)
	}
	if info.FHIR.Type.Code == "" || info.FHIR.UserType.Code == "" {
		return fmt.Errorf("register action %q: FHIR type and user type are required", a)
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.m[a]; dup {
		return fmt.Errorf("register action %q: already registered", a)
	}
	info.FHIR.Subtype = slices.Clone(info.FHIR.Subtype)
	registry.m[a] = info
	return nil
}

// MustRegisterAction is RegisterAction for init functions; it panics on a
// programming error in the registration itself.
func MustRegisterAction(a Action, info ActionInfo) {
	if err := RegisterAction(a, info); err != nil {
		panic(err)
	}
}

// LookupAction returns what the registry knows about a.
func LookupAction(a Action) (ActionInfo, bool) {
	registry.RLock()
	defer registry.RUnlock()
	info, ok := registry.m[a]
	info.FHIR.Subtype = slices.Clone(info.FHIR.Subtype)
	return info, ok
}

// Actions lists the registered actions in ascending order.
func Actions() []Action {
	registry.RLock()
	defer registry.RUnlock()
	out := make([]Action, 0, len(registry.m))
	for a := range registry.m {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

func validFHIRAction(s string) bool {
	switch s {
	case "C", "R", "U", "D", "E":
		return true
	}
	return false
}

// checkActionSyntax accepts dot-separated words of lower-case letters,
// digits, '_' and '-', each starting with a letter: "record.read",
// "identity.key_rotate".
func checkActionSyntax(a Action) error {
	if len(a) == 0 || len(a) > maxActionLen {
		return fmt.Errorf("%w: action %q must be 1 to %d bytes", ErrInvalidEvent, a, maxActionLen)
	}
	start := true
	for i := 0; i < len(a); i++ {
		c := a[i]
		switch {
		case c >= 'a' && c <= 'z':
		case start:
			return fmt.Errorf("%w: action %q: each word must start with a letter", ErrInvalidEvent, a)
		case c == '.':
			start = true
			continue
		case c >= '0' && c <= '9', c == '_', c == '-':
		default:
			return fmt.Errorf("%w: action %q: byte %q not allowed", ErrInvalidEvent, a, c)
		}
		start = false
	}
	if start {
		return fmt.Errorf("%w: action %q ends with '.'", ErrInvalidEvent, a)
	}
	return nil
}

func init() {
	for _, r := range builtinActions() {
		MustRegisterAction(r.action, r.info)
	}
}

// builtinActions maps each first-release action to BALP. The reasoning for
// each choice is in docs/audit-log.md.
func builtinActions() []struct {
	action Action
	info   ActionInfo
} {
	rest := codingRESTOperation
	return []struct {
		action Action
		info   ActionInfo
	}{
		{ActionRecordCreate, ActionInfo{
			Description: "creation of health records", NeedsRecords: true,
			FHIR: FHIRMapping{Profile: ProfilePatientCreate, Type: rest, Subtype: []Coding{restful("create")}, Action: "C", UserType: codingAuthor, Flow: FlowToServer},
		}},
		{ActionRecordRead, ActionInfo{
			Description: "read of health records", NeedsRecords: true, Discloses: true,
			FHIR: FHIRMapping{Profile: ProfilePatientRead, Type: rest, Subtype: []Coding{restful("read")}, Action: "R", UserType: codingRecipient, Flow: FlowToClient},
		}},
		{ActionRecordSearch, ActionInfo{
			Description: "search of health records", Discloses: true,
			FHIR: FHIRMapping{Profile: ProfilePatientQuery, Type: rest, Subtype: []Coding{restful("search-type")}, Action: "E", UserType: codingRecipient, Flow: FlowToServer},
		}},
		{ActionRecordUpdate, ActionInfo{
			Description: "update of health records", NeedsRecords: true,
			FHIR: FHIRMapping{Profile: ProfilePatientUpdate, Type: rest, Subtype: []Coding{restful("update")}, Action: "U", UserType: codingAuthor, Flow: FlowToServer},
		}},
		{ActionRecordErase, ActionInfo{
			Description: "erasure of health records", NeedsRecords: true,
			FHIR: FHIRMapping{Profile: ProfilePatientDelete, Type: rest, Subtype: []Coding{restful("delete")}, Action: "D", UserType: codingAuthor, Flow: FlowErase},
		}},
		{ActionConsentGrant, ActionInfo{
			Description: "grant of a consent", TargetType: "Consent",
			FHIR: FHIRMapping{Profile: ProfilePatientCreate, Type: rest, Subtype: []Coding{restful("create")}, Action: "C", UserType: codingAuthor, Flow: FlowToServer},
		}},
		{ActionConsentUpdate, ActionInfo{
			Description: "change of a consent", TargetType: "Consent",
			FHIR: FHIRMapping{Profile: ProfilePatientUpdate, Type: rest, Subtype: []Coding{restful("update")}, Action: "U", UserType: codingAuthor, Flow: FlowToServer},
		}},
		{ActionBreakGlassOptOut, ActionInfo{
			Description: "change to the break-the-glass opt-out",
			// No BALP profile covers a privacy preference that is not a Consent resource.
			FHIR: FHIRMapping{Type: rest, Subtype: []Coding{restful("update")}, Action: "U", UserType: codingAuthor, Flow: FlowToServer},
		}},
		{ActionAuditQuery, ActionInfo{
			Description: "query of the access history",
			FHIR:        FHIRMapping{Profile: ProfilePatientQuery, Type: rest, Subtype: []Coding{restful("search")}, Action: "E", UserType: codingAuthor, Flow: FlowToServer},
		}},
		{ActionConsentList, ActionInfo{
			Description: "read of the patient's consents",
			FHIR:        FHIRMapping{Profile: ProfilePatientQuery, Type: rest, Subtype: []Coding{restful("search-type")}, Action: "E", UserType: codingRecipient, Flow: FlowToServer},
		}},
		{ActionConsentRead, ActionInfo{
			Description: "read of a consent", TargetType: "Consent",
			FHIR: FHIRMapping{Profile: ProfilePatientRead, Type: rest, Subtype: []Coding{restful("read")}, Action: "R", UserType: codingRecipient, Flow: FlowToClient},
		}},
		{ActionConsentDecide, ActionInfo{
			Description: "preview of a consent decision",
			// A FHIR operation on the patient's consents; no BALP profile
			// covers an authorization preview.
			FHIR: FHIRMapping{Type: rest, Subtype: []Coding{restful("operation")}, Action: "E", UserType: codingRecipient, Flow: FlowToServer},
		}},
		{ActionConsentRevoke, ActionInfo{
			Description: "revocation of a consent", TargetType: "Consent",
			// A FHIR Consent is revoked by updating its status, not deleted.
			FHIR: FHIRMapping{Profile: ProfilePatientUpdate, Type: rest, Subtype: []Coding{restful("update")}, Action: "U", UserType: codingAuthor, Flow: FlowToServer},
		}},
		{ActionDelegateSet, ActionInfo{
			Description: "appointment of a delegate", TargetType: "RelatedPerson",
			FHIR: FHIRMapping{Profile: ProfilePatientCreate, Type: rest, Subtype: []Coding{restful("create")}, Action: "C", UserType: codingAuthor, Flow: FlowToServer},
		}},
		{ActionDelegateRemove, ActionInfo{
			Description: "removal of a delegate", TargetType: "RelatedPerson",
			FHIR: FHIRMapping{Profile: ProfilePatientDelete, Type: rest, Subtype: []Coding{restful("delete")}, Action: "D", UserType: codingAuthor, Flow: FlowErase},
		}},
		{ActionAccessRefused, ActionInfo{
			Description: "request refused by a gateway", PatientOptional: true,
			// Refused before any data moved: a DICOM security alert for an
			// attempted use of a function the caller may not use.
			FHIR: FHIRMapping{Type: codingSecurityAlert, Subtype: []Coding{codingRestrictedUse}, Action: "E", UserType: codingRecipient, Flow: FlowDecision},
		}},
		{ActionAuditReview, ActionInfo{
			Description: "review of the refused requests", PatientOptional: true,
			// No BALP profile covers a read of the log itself about no patient.
			FHIR: FHIRMapping{Type: rest, Subtype: []Coding{restful("search")}, Action: "E", UserType: codingAuthor, Flow: FlowToServer},
		}},
		{ActionBreakGlass, ActionInfo{
			Description: "break-the-glass emergency access",
			// No BALP profile covers an emergency override; DICOM's security
			// alert codes do.
			FHIR: FHIRMapping{Type: codingSecurityAlert, Subtype: []Coding{codingEmergencyOverride}, Action: "E", UserType: codingRecipient, Flow: FlowDecision},
		}},
	}
}
