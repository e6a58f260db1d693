package consent

import "fmt"

// Decide decides req against the patient's consents in ix at the block in
// c, and says why. A nil ix means the patient has no consents. The rules,
// first match wins:
//
//  1. invalid-request: a malformed request, or one about another patient.
//  2. patient-self: the patient may do anything with their own records.
//  3. consent-permit: a permit provision applies, no deny provision
//     applies, and the permit names every sensitive label of the record.
//  4. author-org: the organization that wrote the record reads it, and no
//     deny provision applies.
//  5. break-the-glass: the request asks for emergency access with an
//     emergency role and purpose. It is allowed, even over a deny, unless
//     the patient opted out (break-the-glass-opted-out); a request that asks
//     without qualifying is denied (break-the-glass-not-eligible).
//  6. consent-deny: a deny provision applies (deny overrides permit).
//  7. sensitive-label-not-named: permits apply, but none names all of the
//     record's sensitive labels.
//  8. expired, then not-yet-valid: a consent would permit were the block
//     within its period.
//  9. no-consent.
//
// Provisions are considered in order of consent id, then document order,
// and the first that decides is the one reported.
func Decide(ix *Index, req Request, c Circumstances) Decision {
	if msg := checkRequest(&req); msg != "" {
		return invalidRequest(msg)
	}
	if ix != nil && ix.patient != req.Patient {
		return invalidRequest(fmt.Sprintf("request is about patient %s, the consents are %s's", req.Patient, ix.patient))
	}
	if req.Requester == req.Patient {
		return ruleDecision(true, ReasonPatientSelf)
	}
	q := newQuery(&req, c.Block)

	var (
		candBuf     [16]*compiledConsent
		hitBuf      [8]hit
		cands       []*compiledConsent
		outOfPeriod []*compiledConsent
		firstDeny   hit // the first deny, if deny.p != nil
		firstPermit hit // the first permit
		sufficient  hit // the first permit that names every sensitive label
	)
	if ix != nil {
		cands = ix.candidates(&req, candBuf[:0])
	}
	hits := hitBuf[:0]
scan:
	for _, cc := range cands {
		if !cc.root.period.Contains(q.block.Time) {
			outOfPeriod = append(outOfPeriod, cc)
			continue
		}
		hits = cc.root.collect(&q, cc, hits[:0], false)
		for _, h := range hits {
			if h.p.typ == Deny {
				// Candidates come in id order, so this is the first deny;
				// nothing after it can change the outcome.
				firstDeny = h
				break scan
			}
			if firstPermit.p == nil {
				firstPermit = h
			}
			if sufficient.p == nil && !h.p.leavesUnnamed(q.sensitive) {
				sufficient = h
			}
		}
	}
	denied := firstDeny.p != nil

	if !denied && sufficient.p != nil {
		return Decision{Allowed: true, Reason: ReasonConsentPermit, ConsentID: sufficient.cc.id, Provision: sufficient.p.path}
	}
	if !denied && authorOrgReads(&req) {
		return ruleDecision(true, ReasonAuthorOrg)
	}
	if req.BreakGlass {
		if !breakGlassEligible(&req, c.Policy) {
			return Decision{Reason: ReasonBreakTheGlassNotEligible, Detail: notEligibleDetail}
		}
		if denied {
			return breakGlassDecision(c, firstDeny.cc.id, firstDeny.p.path)
		}
		return breakGlassDecision(c, "", "")
	}
	if denied {
		return Decision{Reason: ReasonConsentDeny, ConsentID: firstDeny.cc.id, Provision: firstDeny.p.path}
	}
	if firstPermit.p != nil {
		return Decision{Reason: ReasonSensitiveLabelNotNamed, ConsentID: firstPermit.cc.id, Provision: firstPermit.p.path,
			Detail: missingLabelsDetail(firstPermit.p.missing(q.sensitive))}
	}
	if d, ok := outOfPeriodDecision(&q, outOfPeriod); ok {
		return d
	}
	return ruleDecision(false, ReasonNoConsent)
}

// authorOrgReads reports whether the requester's organization wrote the
// record and the request is a read.
func authorOrgReads(r *Request) bool {
	return r.RequesterOrg != "" && r.RequesterOrg == r.Record.AuthorOrg && r.Action == ActionAccess
}

// outOfPeriodDecision explains a denial by a consent that would permit the
// request were the block within its period. Expired consents come before
// ones not yet valid; within each, the lowest id.
func outOfPeriodDecision(q *query, ccs []*compiledConsent) (Decision, bool) {
	var expired, future hit
	var hitBuf [8]hit
	for _, cc := range ccs {
		isExpired := !cc.root.period.End.IsZero() && q.block.Time.After(cc.root.period.End)
		if isExpired && expired.p != nil || !isExpired && future.p != nil {
			continue
		}
		hits := cc.root.collect(q, cc, hitBuf[:0], false)
		permit, ok := wouldPermit(hits)
		switch {
		case !ok:
		case isExpired:
			expired = permit
		default:
			future = permit
		}
	}
	switch {
	case expired.p != nil:
		return Decision{Reason: ReasonExpired, ConsentID: expired.cc.id, Provision: expired.p.path,
			Detail: periodDetail(true, expired.cc.root.period)}, true
	case future.p != nil:
		return Decision{Reason: ReasonNotYetValid, ConsentID: future.cc.id, Provision: future.p.path,
			Detail: periodDetail(false, future.cc.root.period)}, true
	}
	return Decision{}, false
}

// wouldPermit returns the first of a consent's deciding provisions if
// there are some and none of them denies.
func wouldPermit(hits []hit) (hit, bool) {
	for _, h := range hits {
		if h.p.typ == Deny {
			return hit{}, false
		}
	}
	if len(hits) == 0 {
		return hit{}, false
	}
	return hits[0], true
}
