package consent

import (
	"fmt"
	"slices"
	"time"
)

// Request is an access to one record of a patient, as the ledger saw it
// signed.
type Request struct {
	// Requester is the signer's ledger id; RequesterOrg its organization
	// ("" if none) and Roles its role codes, as the identity module holds
	// them at this block.
	Requester    string
	RequesterOrg string
	Roles        []string
	// Patient is whose record it is.
	Patient string
	Action  Action
	Purpose Purpose
	// BreakGlass asks for emergency access; see Policy.
	BreakGlass bool
	Record     Record
}

// Record is what the ledger knows about the record requested: the metadata
// anchored on chain, never its content.
type Record struct {
	ID        string
	Type      string   // FHIR resource type
	Codes     []string // "system|code" tokens
	Labels    []string // security labels
	AuthorOrg string   // organization that wrote the record
	Date      time.Time
}

// Block is the block in which a decision is made. Time is the block
// header's time, the only clock the package knows.
type Block struct {
	Height int64
	Time   time.Time
}

// Policy is chain-wide configuration of the break-the-glass path. The zero
// value means the defaults.
type Policy struct {
	// EmergencyRoles are the role codes that may break the glass. Default:
	// DefaultEmergencyRole alone.
	EmergencyRoles []string
	// BreakGlassWindow is how long a break-the-glass grant lasts. Default:
	// DefaultBreakGlassWindow.
	BreakGlassWindow time.Duration
}

// Break-the-glass defaults.
const (
	DefaultEmergencyRole    = "emergency"
	DefaultBreakGlassWindow = time.Hour
)

// defaultEmergencyRoles is not exported: a mutable default would let one
// caller change every decision.
var defaultEmergencyRoles = []string{DefaultEmergencyRole}

func (p Policy) emergencyRoles() []string {
	if len(p.EmergencyRoles) == 0 {
		return defaultEmergencyRoles
	}
	return p.EmergencyRoles
}

func (p Policy) window() time.Duration {
	if p.BreakGlassWindow <= 0 {
		return DefaultBreakGlassWindow
	}
	return p.BreakGlassWindow
}

// Circumstances are what the ledger supplies to a decision besides the
// request and the consents.
type Circumstances struct {
	Block Block
	// OptedOut is the patient's break-the-glass opt-out.
	OptedOut bool
	Policy   Policy
}

// checkRequest returns why a request is malformed, or "". Decisions on
// malformed requests are denials with reason invalid-request, never panics.
func checkRequest(r *Request) string {
	switch {
	case !isID(r.Requester):
		return fmt.Sprintf("requester %q is not a valid id", r.Requester)
	case r.RequesterOrg != "" && !isID(r.RequesterOrg):
		return fmt.Sprintf("requester organization %q is not a valid id", r.RequesterOrg)
	case len(r.Roles) > MaxRequestRoles:
		return fmt.Sprintf("%d roles, at most %d", len(r.Roles), MaxRequestRoles)
	case !isID(r.Patient):
		return fmt.Sprintf("patient %q is not a valid id", r.Patient)
	case !IsKnownAction(r.Action):
		return fmt.Sprintf("unknown action %q", r.Action)
	case !IsKnownPurpose(r.Purpose):
		return fmt.Sprintf("unknown purpose %q", r.Purpose)
	case r.Record.ID != "" && !isID(r.Record.ID):
		return fmt.Sprintf("record id %q is not a valid id", r.Record.ID)
	case !IsResourceType(r.Record.Type):
		return fmt.Sprintf("record type %q is not a FHIR R4 resource type", r.Record.Type)
	case len(r.Record.Codes) > MaxRecordCodes:
		return fmt.Sprintf("%d record codes, at most %d", len(r.Record.Codes), MaxRecordCodes)
	case len(r.Record.Labels) > MaxRecordLabels:
		return fmt.Sprintf("%d record labels, at most %d", len(r.Record.Labels), MaxRecordLabels)
	case r.Record.AuthorOrg != "" && !isID(r.Record.AuthorOrg):
		return fmt.Sprintf("record author organization %q is not a valid id", r.Record.AuthorOrg)
	}
	for _, role := range r.Roles {
		if !isRoleCode(role) {
			return fmt.Sprintf("role %q is not a valid role code", role)
		}
	}
	for _, c := range r.Record.Codes {
		if !isToken(c) {
			return fmt.Sprintf("record code %q is not a system|code token", c)
		}
	}
	for _, l := range r.Record.Labels {
		if !isRoleCode(l) {
			return fmt.Sprintf("record label %q is not a valid code", l)
		}
	}
	return ""
}

// sensitiveLabels returns the record's sensitive labels, sorted and
// without duplicates.
func sensitiveLabels(labels []string) []string {
	var out []string
	for _, l := range labels {
		if IsSensitiveLabel(l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// breakGlassEligible reports whether the request qualifies for the
// break-the-glass path: the flag, an emergency purpose, an emergency role,
// and a read.
func breakGlassEligible(r *Request, p Policy) bool {
	if !r.BreakGlass || r.Action != ActionAccess {
		return false
	}
	if r.Purpose != PurposeEmergencyTreatment && r.Purpose != PurposeBreakTheGlass {
		return false
	}
	for _, role := range p.emergencyRoles() {
		if slices.Contains(r.Roles, role) {
			return true
		}
	}
	return false
}
