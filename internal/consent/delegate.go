package consent

import (
	"fmt"
	"slices"
	"strconv"
)

// Operation is something done to a patient's consents, which a patient may
// delegate.
type Operation string

// The delegable operations.
const (
	OpGrant           Operation = "grant"            // submit a consent
	OpRevoke          Operation = "revoke"           // revoke a consent
	OpManageDelegates Operation = "manage-delegates" // add or remove delegations
	OpOptOut          Operation = "opt-out"          // set or clear the break-the-glass opt-out
	OpReadHistory     Operation = "read-history"     // read the patient's access history
)

// IsKnownOperation reports whether op is a delegable operation.
func IsKnownOperation(op Operation) bool {
	switch op {
	case OpGrant, OpRevoke, OpManageDelegates, OpOptOut, OpReadHistory:
		return true
	}
	return false
}

// Delegation lets Delegate (a guardian, a proxy) perform Operations on
// Patient's consents during Period. Non-empty Purposes or Classes limit the
// consents the delegate may grant or revoke to those whose root provision
// names only those purposes or resource types.
type Delegation struct {
	Patient    string
	Delegate   string
	Operations []Operation
	Purposes   []Purpose
	Classes    []string
	Period     Period
}

// NormalizeDelegation sorts and deduplicates the delegation's sets and puts
// its times in UTC.
func NormalizeDelegation(d Delegation) Delegation {
	d.Operations = normStrings(d.Operations)
	d.Purposes = normStrings(d.Purposes)
	d.Classes = normStrings(d.Classes)
	d.Period = normPeriod(d.Period)
	return d
}

// ValidateDelegation checks a delegation at submission.
func ValidateDelegation(d Delegation) error {
	if !isID(d.Patient) {
		return errorf(CodeBadID, "patient", "patient id %q is not valid", d.Patient)
	}
	if !isID(d.Delegate) {
		return errorf(CodeBadID, "delegate", "delegate id %q is not valid", d.Delegate)
	}
	if d.Patient == d.Delegate {
		return errorf(CodeSelfDelegation, "delegate", "a patient cannot delegate to themself")
	}
	if len(d.Operations) == 0 {
		return errorf(CodeUnknownOperation, "operations", "a delegation needs at least one operation")
	}
	if len(d.Operations) > MaxListItems {
		return errorf(CodeTooManyItems, "operations", "%d items, at most %d", len(d.Operations), MaxListItems)
	}
	if len(d.Purposes) > MaxListItems {
		return errorf(CodeTooManyItems, "purposes", "%d items, at most %d", len(d.Purposes), MaxListItems)
	}
	if len(d.Classes) > MaxListItems {
		return errorf(CodeTooManyItems, "classes", "%d items, at most %d", len(d.Classes), MaxListItems)
	}
	for i, op := range d.Operations {
		if !IsKnownOperation(op) {
			return errorf(CodeUnknownOperation, "operations["+strconv.Itoa(i)+"]",
				"unknown operation %q: use grant, revoke, manage-delegates or opt-out", op)
		}
	}
	for i, p := range d.Purposes {
		if !IsKnownPurpose(p) {
			return errorf(CodeUnknownPurpose, "purposes["+strconv.Itoa(i)+"]", "unknown purpose of use %q", p)
		}
	}
	for i, t := range d.Classes {
		if !IsResourceType(t) {
			return errorf(CodeUnknownResourceType, "classes["+strconv.Itoa(i)+"]", "%q is not a FHIR R4 resource type", t)
		}
	}
	return checkPeriod(d.Period, "period")
}

// OperationRequest is a signed request to act on a patient's consents.
type OperationRequest struct {
	Signer    string
	Patient   string
	Operation Operation
	// Consent is the consent granted (OpGrant) or revoked (OpRevoke).
	Consent *Consent
	// Delegation is the delegation added or removed (OpManageDelegates).
	Delegation *Delegation
}

// AuthReason says why an operation was or was not authorized.
type AuthReason string

// Authorization reasons. Like Reason, they are part of the protocol.
const (
	AuthPatient               AuthReason = "patient"                  // the patient acts
	AuthDelegate              AuthReason = "delegate"                 // a delegate acts within its delegation
	AuthInvalid               AuthReason = "invalid-operation"        // malformed or inconsistent request
	AuthNotDelegate           AuthReason = "not-a-delegate"           // the signer holds no delegation from the patient
	AuthDelegationNotInEffect AuthReason = "delegation-not-in-effect" // the delegation has ended or not begun
	AuthOperationNotDelegated AuthReason = "operation-not-delegated"  // the delegation does not cover the operation
	AuthOutsideScope          AuthReason = "outside-delegated-scope"  // the consent or delegation exceeds the delegated purposes, types or period
)

// Authorization is the outcome of Authorize. Delegate names the delegate
// the operation is attributed to, whenever the signer acted as one.
type Authorization struct {
	Allowed  bool
	Reason   AuthReason
	Delegate string
	Detail   string
}

// Authorize decides whether req.Signer may perform req.Operation on
// req.Patient's consents at block at, given the patient's delegations. The
// patient may always act; anyone else needs a delegation from the patient
// in effect at the block, covering the operation, whose scope covers the
// consent or delegation acted on. A delegate cannot hand on more than it
// holds. When several delegations fail, the reason is that of the one that
// came closest.
func Authorize(req OperationRequest, delegations []Delegation, at Block) Authorization {
	if msg := checkOperation(&req); msg != "" {
		return Authorization{Reason: AuthInvalid, Detail: msg}
	}
	if req.Signer == req.Patient {
		return Authorization{Allowed: true, Reason: AuthPatient}
	}
	// Stages a delegation can reach; the furthest one names the failure.
	const (
		stageNone = iota
		stageDelegate
		stageInEffect
		stageOperation
		stageAllowed
	)
	best := stageNone
	for i := range delegations {
		d := &delegations[i]
		if d.Patient != req.Patient || d.Delegate != req.Signer {
			continue
		}
		stage := stageDelegate
		if d.Period.Contains(at.Time) {
			stage = stageInEffect
			if slices.Contains(d.Operations, req.Operation) {
				stage = stageOperation
				if withinScope(d, &req) {
					stage = stageAllowed
				}
			}
		}
		best = max(best, stage)
	}
	switch best {
	case stageAllowed:
		return Authorization{Allowed: true, Reason: AuthDelegate, Delegate: req.Signer}
	case stageOperation:
		return Authorization{Reason: AuthOutsideScope, Delegate: req.Signer,
			Detail: "the delegation's purposes, resource types or period do not cover this " + string(req.Operation)}
	case stageInEffect:
		return Authorization{Reason: AuthOperationNotDelegated, Delegate: req.Signer,
			Detail: fmt.Sprintf("no delegation in effect allows %s", req.Operation)}
	case stageDelegate:
		return Authorization{Reason: AuthDelegationNotInEffect, Delegate: req.Signer,
			Detail: "the delegation has ended or not yet begun"}
	}
	return Authorization{Reason: AuthNotDelegate, Detail: fmt.Sprintf("%s holds no delegation from %s", req.Signer, req.Patient)}
}

func checkOperation(r *OperationRequest) string {
	switch {
	case !isID(r.Signer):
		return fmt.Sprintf("signer %q is not a valid id", r.Signer)
	case !isID(r.Patient):
		return fmt.Sprintf("patient %q is not a valid id", r.Patient)
	case !IsKnownOperation(r.Operation):
		return fmt.Sprintf("unknown operation %q", r.Operation)
	}
	switch r.Operation {
	case OpGrant, OpRevoke:
		if r.Consent == nil {
			return fmt.Sprintf("%s needs the consent acted on", r.Operation)
		}
		if r.Consent.Patient != r.Patient {
			return fmt.Sprintf("consent %s is about patient %s, not %s", r.Consent.ID, r.Consent.Patient, r.Patient)
		}
		if r.Operation == OpGrant && r.Consent.Grantor != r.Signer {
			return fmt.Sprintf("consent %s names grantor %s but is signed by %s", r.Consent.ID, r.Consent.Grantor, r.Signer)
		}
	case OpManageDelegates:
		if r.Delegation == nil {
			return "manage-delegates needs the delegation acted on"
		}
		if r.Delegation.Patient != r.Patient {
			return fmt.Sprintf("delegation is for patient %s, not %s", r.Delegation.Patient, r.Patient)
		}
	}
	return ""
}

// withinScope reports whether delegation d covers what req acts on.
func withinScope(d *Delegation, req *OperationRequest) bool {
	switch req.Operation {
	case OpGrant, OpRevoke:
		// Every provision applies only where the root does, and the root
		// can decide by itself, so the root's purposes and types bound the
		// whole consent.
		root := &req.Consent.Provision
		return subsetWithin(root.Purposes, d.Purposes) && subsetWithin(root.Classes, d.Classes)
	case OpManageDelegates:
		n := req.Delegation
		for _, op := range n.Operations {
			if !slices.Contains(d.Operations, op) {
				return false
			}
		}
		return subsetWithin(n.Purposes, d.Purposes) && subsetWithin(n.Classes, d.Classes) &&
			periodWithin(n.Period, d.Period)
	}
	return true
}

// subsetWithin reports whether a list limited by scope stays within it: an
// empty scope allows anything; a non-empty one needs a non-empty subset,
// since an empty list means "all".
func subsetWithin[T comparable](items, scope []T) bool {
	if len(scope) == 0 {
		return true
	}
	if len(items) == 0 {
		return false
	}
	for _, it := range items {
		if !slices.Contains(scope, it) {
			return false
		}
	}
	return true
}

// periodWithin reports whether inner lies inside outer; an open side of
// outer admits anything on that side, an open side of inner only an open
// side of outer.
func periodWithin(inner, outer Period) bool {
	if !outer.Start.IsZero() && (inner.Start.IsZero() || inner.Start.Before(outer.Start)) {
		return false
	}
	if !outer.End.IsZero() && (inner.End.IsZero() || inner.End.After(outer.End)) {
		return false
	}
	return true
}
