package consent

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// decideNaive is the reference evaluator: it scans every consent given,
// with the rules written as literally as possible and no index, no bit
// masks and no early exits. Tests hold Decide to agree with it exactly.
// patient plays the part of the Index's patient. Consents must be valid;
// those that are not active or are about another patient are skipped.
func decideNaive(patient string, consents []Consent, req Request, c Circumstances) Decision {
	if msg := checkRequest(&req); msg != "" {
		return Decision{Reason: ReasonInvalidRequest, Detail: msg}
	}
	if req.Patient != patient {
		return Decision{Reason: ReasonInvalidRequest,
			Detail: "request is about patient " + req.Patient + ", the consents are " + patient + "'s"}
	}
	if req.Requester == req.Patient {
		return Decision{Allowed: true, Reason: ReasonPatientSelf}
	}
	now := c.Block.Time
	act := &activation{req: req, block: c.Block}

	type naiveHit struct {
		consent string
		path    string
		typ     ProvisionType
		named   []string
	}
	type outside struct {
		consent string
		period  Period
		expired bool
		hits    []naiveHit
	}
	var inPeriod []naiveHit
	var outOfPeriod []outside

	ordered := slices.Clone(consents)
	slices.SortStableFunc(ordered, func(a, b Consent) int { return strings.Compare(a.ID, b.ID) })
	for _, cons := range ordered {
		if cons.Status != StatusActive || cons.Patient != req.Patient {
			continue
		}
		var hits []naiveHit
		var walk func(p *Provision, path string, named []string, isRoot bool) bool
		walk = func(p *Provision, path string, named []string, isRoot bool) bool {
			if !naiveApplies(p, &req, act, now, !isRoot) {
				return false
			}
			named = append(slices.Clone(named), p.Labels...)
			before := len(hits)
			for i := range p.Provisions {
				walk(&p.Provisions[i], fmt.Sprintf("%s.provision[%d]", path, i), named, false)
			}
			if len(hits) == before {
				hits = append(hits, naiveHit{consent: cons.ID, path: path, typ: p.Type, named: named})
			}
			return true
		}
		walk(&cons.Provision, "provision", nil, true)

		period := cons.Provision.Period
		if period.Contains(now) {
			inPeriod = append(inPeriod, hits...)
		} else {
			expired := !period.End.IsZero() && now.After(period.End)
			outOfPeriod = append(outOfPeriod, outside{consent: cons.ID, period: period, expired: expired, hits: hits})
		}
	}

	var sensitive []string
	for _, l := range req.Record.Labels {
		if IsSensitiveLabel(l) && !slices.Contains(sensitive, l) {
			sensitive = append(sensitive, l)
		}
	}
	slices.Sort(sensitive)
	missing := func(h naiveHit) []string {
		var out []string
		for _, l := range sensitive {
			if !slices.Contains(h.named, l) {
				out = append(out, l)
			}
		}
		return out
	}

	var denies, permits, sufficient []naiveHit
	for _, h := range inPeriod {
		if h.typ == Deny {
			denies = append(denies, h)
		} else {
			permits = append(permits, h)
			if len(missing(h)) == 0 {
				sufficient = append(sufficient, h)
			}
		}
	}

	// Rule 3: a sufficient permit and no deny.
	if len(denies) == 0 && len(sufficient) > 0 {
		return Decision{Allowed: true, Reason: ReasonConsentPermit, ConsentID: sufficient[0].consent, Provision: sufficient[0].path}
	}
	// Rule 4: the authoring organization reads, and no deny.
	if len(denies) == 0 && req.RequesterOrg != "" && req.RequesterOrg == req.Record.AuthorOrg && req.Action == ActionAccess {
		return Decision{Allowed: true, Reason: ReasonAuthorOrg}
	}
	// Rule 5: break-the-glass.
	if req.BreakGlass {
		emergencyRole := false
		roles := c.Policy.EmergencyRoles
		if len(roles) == 0 {
			roles = []string{DefaultEmergencyRole}
		}
		for _, r := range req.Roles {
			if slices.Contains(roles, r) {
				emergencyRole = true
			}
		}
		purposeOK := req.Purpose == PurposeEmergencyTreatment || req.Purpose == PurposeBreakTheGlass
		if !emergencyRole || !purposeOK || req.Action != ActionAccess {
			return Decision{Reason: ReasonBreakTheGlassNotEligible, Detail: notEligibleDetail}
		}
		if c.OptedOut {
			return Decision{Reason: ReasonBreakTheGlassOptedOut, NotifyPatient: true,
				Detail: "the patient opted out of break-the-glass access"}
		}
		window := c.Policy.BreakGlassWindow
		if window <= 0 {
			window = DefaultBreakGlassWindow
		}
		d := Decision{Allowed: true, Reason: ReasonBreakTheGlass, BreakGlass: true,
			Expires: now.UTC().Add(window), NotifyPatient: true}
		if len(denies) > 0 {
			d.ConsentID, d.Provision, d.Detail = denies[0].consent, denies[0].path, "overrides a deny"
		}
		return d
	}
	// Rule 6: deny overrides permit.
	if len(denies) > 0 {
		return Decision{Reason: ReasonConsentDeny, ConsentID: denies[0].consent, Provision: denies[0].path}
	}
	// Rule 7: permits that leave a sensitive label unnamed.
	if len(permits) > 0 {
		return Decision{Reason: ReasonSensitiveLabelNotNamed, ConsentID: permits[0].consent, Provision: permits[0].path,
			Detail: "not named by the permit: " + strings.Join(missing(permits[0]), ",")}
	}
	// Rule 8: a consent that would permit outside its period.
	for _, wantExpired := range []bool{true, false} {
		for _, o := range outOfPeriod {
			if o.expired != wantExpired || len(o.hits) == 0 {
				continue
			}
			allPermit := true
			for _, h := range o.hits {
				if h.typ == Deny {
					allPermit = false
				}
			}
			if !allPermit {
				continue
			}
			if o.expired {
				return Decision{Reason: ReasonExpired, ConsentID: o.consent, Provision: o.hits[0].path,
					Detail: "period ended " + o.period.End.UTC().Format(time.RFC3339Nano)}
			}
			return Decision{Reason: ReasonNotYetValid, ConsentID: o.consent, Provision: o.hits[0].path,
				Detail: "period starts " + o.period.Start.UTC().Format(time.RFC3339Nano)}
		}
	}
	return Decision{Reason: ReasonNoConsent}
}

// naiveApplies checks every criterion of p literally. The root's period is
// the consent's validity and is judged by the caller.
func naiveApplies(p *Provision, req *Request, act *activation, now time.Time, checkPeriod bool) bool {
	if checkPeriod {
		if !p.Period.Start.IsZero() && now.Before(p.Period.Start) {
			return false
		}
		if !p.Period.End.IsZero() && now.After(p.Period.End) {
			return false
		}
	}
	if len(p.Actors) > 0 {
		found := false
		for _, a := range p.Actors {
			switch a.Kind {
			case ActorIdentity:
				found = found || a.ID == req.Requester
			case ActorOrganization:
				found = found || (req.RequesterOrg != "" && a.ID == req.RequesterOrg)
			case ActorRole:
				found = found || slices.Contains(req.Roles, a.ID)
			}
		}
		if !found {
			return false
		}
	}
	if len(p.Actions) > 0 && !slices.Contains(p.Actions, req.Action) {
		return false
	}
	if len(p.Purposes) > 0 && !slices.Contains(p.Purposes, req.Purpose) {
		return false
	}
	if len(p.Classes) > 0 && !slices.Contains(p.Classes, req.Record.Type) {
		return false
	}
	if len(p.Codes) > 0 && !slices.ContainsFunc(req.Record.Codes, func(c string) bool { return slices.Contains(p.Codes, c) }) {
		return false
	}
	if len(p.Labels) > 0 && !slices.ContainsFunc(req.Record.Labels, func(l string) bool { return slices.Contains(p.Labels, l) }) {
		return false
	}
	if len(p.Records) > 0 && !slices.Contains(p.Records, req.Record.ID) {
		return false
	}
	if !p.DataPeriod.IsZero() {
		date := req.Record.Date
		if date.IsZero() {
			// Unknown date: fail closed.
			if p.Type == Permit {
				return false
			}
		} else {
			if !p.DataPeriod.Start.IsZero() && date.Before(p.DataPeriod.Start) {
				return false
			}
			if !p.DataPeriod.End.IsZero() && date.After(p.DataPeriod.End) {
				return false
			}
		}
	}
	if p.Condition != "" {
		cond, err := compileCondition(p.Condition)
		if err != nil {
			return p.Type == Deny
		}
		ok, err := cond.eval(act)
		if err != nil {
			// Fail closed: an erroring condition matches for a deny and not
			// for a permit.
			return p.Type == Deny
		}
		return ok
	}
	return true
}
