package consent

import (
	"errors"
	"fmt"
)

// Code is a stable name for a kind of user-input error. Codes are part of
// the protocol: clients match on them, so they are never renamed.
type Code string

// Error codes returned by Validate, ValidateDelegation, Decode and FromFHIR.
const (
	CodeBadID               Code = "bad-id"                // an id is missing or not FHIR id syntax
	CodeBadStatus           Code = "bad-status"            // status is not a FHIR consent state
	CodeEmptyProvision      Code = "empty-provision"       // a provision has no type: neither permit nor deny
	CodeBadProvisionType    Code = "bad-provision-type"    // type is not permit or deny
	CodeBadPeriod           Code = "bad-period"            // start after end, or a time out of range
	CodeBadActor            Code = "bad-actor"             // unknown actor kind or malformed actor id
	CodeUnknownAction       Code = "unknown-action"        // not a FHIR consent action
	CodeUnknownPurpose      Code = "unknown-purpose"       // not a purpose of use carechain knows
	CodeUnknownLabel        Code = "unknown-label"         // not a security label carechain knows
	CodeUnknownResourceType Code = "unknown-resource-type" // not a FHIR R4 resource type
	CodeBadCode             Code = "bad-code"              // not a "system|code" token
	CodePermitWithoutActor  Code = "permit-without-actor"  // a permit that does not say who it permits
	CodeTooManyItems        Code = "too-many-items"        // a list longer than MaxListItems
	CodeTooManyProvisions   Code = "too-many-provisions"   // more than MaxProvisions provisions
	CodeTooDeep             Code = "too-deep"              // nesting deeper than MaxDepth
	CodeTooLarge            Code = "too-large"             // encoding larger than MaxEncodedSize
	CodeBadCondition        Code = "bad-condition"         // the CEL condition does not compile or is not allowed
	CodeConditionTooCostly  Code = "condition-too-costly"  // the condition's static cost exceeds MaxConditionCost
	CodeUnknownOperation    Code = "unknown-operation"     // not a delegable consent operation
	CodeSelfDelegation      Code = "self-delegation"       // a patient delegating to themself
	CodeMalformed           Code = "malformed"             // bytes that are not an encoding at all
	CodeNonCanonical        Code = "non-canonical"         // an encoding, but not the canonical one
	CodeFHIRSyntax          Code = "fhir-syntax"           // not JSON, or not a FHIR Consent
	CodeFHIRInvalid         Code = "fhir-invalid"          // breaks a FHIR R4 rule
	CodeFHIRUnsupported     Code = "fhir-unsupported"      // valid FHIR that carechain cannot enforce
)

// Error is a user-input error: a stable Code, the path of the offending
// element (such as "provision.provision[1].purposes[0]") and a message.
type Error struct {
	Code    Code
	Path    string
	Message string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("consent: %s (%s)", e.Message, e.Code)
	}
	return fmt.Sprintf("consent: %s: %s (%s)", e.Path, e.Message, e.Code)
}

// Is matches another *Error with the same code, so that
// errors.Is(err, &consent.Error{Code: consent.CodeBadPeriod}) works.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// CodeOf returns the Code of the first *Error in err's chain, or "" if
// there is none.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func errorf(code Code, path, format string, args ...any) *Error {
	return &Error{Code: code, Path: path, Message: fmt.Sprintf(format, args...)}
}

// Limits bound what one consent can cost every validator, at submission and
// at each decision.
const (
	MaxIDLen         = 64        // ids and role codes (FHIR id length)
	MaxTokenLen      = 256       // "system|code" tokens
	MaxListItems     = 32        // members of any one list in a provision
	MaxProvisions    = 32        // provisions in a consent, root included
	MaxDepth         = 4         // levels of provisions, root included
	MaxConditionLen  = 1024      // bytes of CEL source
	MaxConditionCost = 1000      // static cost estimate and runtime cost limit of a condition
	MaxEncodedSize   = 64 * 1024 // bytes of a consent's encoding
)

// Limits on a request, so that the static cost estimate of a condition
// bounds its actual cost. Decide refuses larger requests.
const (
	MaxRequestRoles = 16
	MaxRecordCodes  = 32
	MaxRecordLabels = 16
)

// withPath returns err with path prefixed to its *Error's path, so that an
// error found deep inside names where it is in the whole consent.
func withPath(err error, path string) error {
	e, ok := err.(*Error)
	if !ok {
		return err
	}
	c := *e
	if c.Path == "" {
		c.Path = path
	} else {
		c.Path = path + "." + c.Path
	}
	return &c
}
