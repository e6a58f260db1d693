package consent

import (
	"strconv"
	"time"
)

// Validate checks a consent at submission and returns the first problem as
// an *Error with a stable code and the path of the element at fault. It
// compiles and costs every condition, so a consent that validates can be
// put in an Index.
func Validate(c Consent) error {
	if !isID(c.ID) {
		return errorf(CodeBadID, "id", "consent id %q is not 1-%d letters, digits, '-' or '.'", c.ID, MaxIDLen)
	}
	if c.Status < StatusDraft || c.Status > StatusEnteredInError {
		return errorf(CodeBadStatus, "status", "status %d is not a FHIR consent state", c.Status)
	}
	if !isID(c.Patient) {
		return errorf(CodeBadID, "patient", "patient id %q is not valid", c.Patient)
	}
	if !isID(c.Grantor) {
		return errorf(CodeBadID, "grantor", "grantor id %q is not valid", c.Grantor)
	}
	if err := checkTime(c.DateTime, "dateTime"); err != nil {
		return err
	}
	v := validator{}
	if err := v.provision(&c.Provision, "provision", 1, false); err != nil {
		return err
	}
	if n := len(Encode(c)); n > MaxEncodedSize {
		return errorf(CodeTooLarge, "", "consent encodes to %d bytes, at most %d", n, MaxEncodedSize)
	}
	return nil
}

type validator struct {
	count int
}

// provision checks p. actorAbove says whether an ancestor names actors,
// which a permit needs somewhere on its path.
func (v *validator) provision(p *Provision, path string, depth int, actorAbove bool) error {
	v.count++
	if v.count > MaxProvisions {
		return errorf(CodeTooManyProvisions, path, "more than %d provisions", MaxProvisions)
	}
	if depth > MaxDepth {
		return errorf(CodeTooDeep, path, "provisions nest more than %d deep", MaxDepth)
	}
	switch p.Type {
	case Permit, Deny:
	case 0:
		return errorf(CodeEmptyProvision, path+".type", "provision has no type: say permit or deny")
	default:
		return errorf(CodeBadProvisionType, path+".type", "type %d is neither permit nor deny", p.Type)
	}
	if err := checkPeriod(p.Period, path+".period"); err != nil {
		return err
	}
	if err := checkPeriod(p.DataPeriod, path+".dataPeriod"); err != nil {
		return err
	}
	lists := []struct {
		name string
		n    int
	}{
		{"actors", len(p.Actors)}, {"actions", len(p.Actions)}, {"classes", len(p.Classes)},
		{"codes", len(p.Codes)}, {"labels", len(p.Labels)}, {"purposes", len(p.Purposes)},
		{"records", len(p.Records)},
	}
	for _, l := range lists {
		if l.n > MaxListItems {
			return errorf(CodeTooManyItems, path+"."+l.name, "%d items, at most %d", l.n, MaxListItems)
		}
	}
	for i, a := range p.Actors {
		at := path + ".actors[" + strconv.Itoa(i) + "]"
		switch a.Kind {
		case ActorIdentity, ActorOrganization:
			if !isID(a.ID) {
				return errorf(CodeBadActor, at, "%s id %q is not valid", a.Kind, a.ID)
			}
		case ActorRole:
			if !isRoleCode(a.ID) {
				return errorf(CodeBadActor, at, "role code %q is not 1-%d letters, digits, '-', '.' or '_'", a.ID, MaxIDLen)
			}
		default:
			return errorf(CodeBadActor, at, "actor kind %d is not identity, organization or role", a.Kind)
		}
	}
	for i, a := range p.Actions {
		if !IsKnownAction(a) {
			return errorf(CodeUnknownAction, path+".actions["+strconv.Itoa(i)+"]",
				"unknown action %q: use collect, access, use, disclose or correct", a)
		}
	}
	for i, t := range p.Classes {
		if !IsResourceType(t) {
			return errorf(CodeUnknownResourceType, path+".classes["+strconv.Itoa(i)+"]",
				"%q is not a FHIR R4 resource type", t)
		}
	}
	for i, c := range p.Codes {
		if !isToken(c) {
			return errorf(CodeBadCode, path+".codes["+strconv.Itoa(i)+"]",
				"%q is not a code token \"system|code\" of at most %d bytes", c, MaxTokenLen)
		}
	}
	for i, l := range p.Labels {
		if !IsKnownLabel(l) {
			return errorf(CodeUnknownLabel, path+".labels["+strconv.Itoa(i)+"]",
				"unknown security label %q", l)
		}
	}
	for i, pu := range p.Purposes {
		if !IsKnownPurpose(pu) {
			return errorf(CodeUnknownPurpose, path+".purposes["+strconv.Itoa(i)+"]",
				"unknown purpose of use %q: use TREAT, ETREAT, HPAYMT, HOPERAT, HRESCH, PATRQT or BTG", pu)
		}
	}
	for i, r := range p.Records {
		if !isID(r) {
			return errorf(CodeBadID, path+".records["+strconv.Itoa(i)+"]", "record id %q is not valid", r)
		}
	}
	if p.Condition != "" {
		if _, err := compileCondition(p.Condition); err != nil {
			return withPath(err, path+".condition")
		}
	}
	actorAbove = actorAbove || len(p.Actors) > 0
	if p.Type == Permit && !actorAbove {
		return errorf(CodePermitWithoutActor, path,
			"a permit must name who it permits (an identity, organization or role) here or in an enclosing provision")
	}
	for i := range p.Provisions {
		if err := v.provision(&p.Provisions[i], path+".provision["+strconv.Itoa(i)+"]", depth+1, actorAbove); err != nil {
			return err
		}
	}
	return nil
}

func checkPeriod(p Period, path string) error {
	if err := checkTime(p.Start, path+".start"); err != nil {
		return err
	}
	if err := checkTime(p.End, path+".end"); err != nil {
		return err
	}
	if !p.Start.IsZero() && !p.End.IsZero() && p.End.Before(p.Start) {
		return errorf(CodeBadPeriod, path, "ends (%s) before it starts (%s)",
			p.End.UTC().Format(time.RFC3339), p.Start.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkTime accepts the zero time (unset) and instants in years 1–9999,
// which FHIR dateTime can write.
func checkTime(t time.Time, path string) error {
	if t.IsZero() {
		return nil
	}
	if s := t.Unix(); s < minUnix || s > maxUnix {
		return errorf(CodeBadPeriod, path, "time %s is outside years 1-9999", t.UTC().Format(time.RFC3339))
	}
	return nil
}
