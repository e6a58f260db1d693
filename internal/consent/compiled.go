package consent

import (
	"slices"
	"strconv"
)

// compiledConsent is a validated consent prepared for fast evaluation:
// action and purpose sets as bit masks, string sets sorted for binary
// search, conditions compiled, and each provision's path computed once.
type compiledConsent struct {
	id      string
	consent Consent // normalized
	root    *compiledProvision
}

type compiledProvision struct {
	typ    ProvisionType
	path   string
	period Period

	hasActors        bool
	ids, orgs, roles []string // sorted
	actions          uint8    // 0: any
	purposes         uint16   // 0: any
	classes          []string // sorted
	codes            []string // sorted
	labels           []string // sorted
	// named are the labels this provision and its ancestors name: the
	// sensitive labels a permit here releases.
	named      []string // sorted
	dataPeriod Period
	records    []string // sorted
	cond       *condition
	kids       []*compiledProvision
}

// compile prepares a consent that has passed Validate.
func compile(c Consent) (*compiledConsent, error) {
	c = Normalize(c)
	root, err := compileProvision(&c.Provision, "provision", nil)
	if err != nil {
		return nil, err
	}
	return &compiledConsent{id: c.ID, consent: c, root: root}, nil
}

func compileProvision(p *Provision, path string, inherited []string) (*compiledProvision, error) {
	cp := &compiledProvision{
		typ:        p.Type,
		path:       path,
		period:     p.Period,
		hasActors:  len(p.Actors) > 0,
		classes:    p.Classes,
		codes:      p.Codes,
		labels:     p.Labels,
		dataPeriod: p.DataPeriod,
		records:    p.Records,
	}
	for _, a := range p.Actors {
		switch a.Kind {
		case ActorIdentity:
			cp.ids = append(cp.ids, a.ID)
		case ActorOrganization:
			cp.orgs = append(cp.orgs, a.ID)
		case ActorRole:
			cp.roles = append(cp.roles, a.ID)
		}
	}
	for _, a := range p.Actions {
		cp.actions |= actionBits[a]
	}
	for _, pu := range p.Purposes {
		cp.purposes |= purposeBits[pu]
	}
	cp.named = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(inherited), p.Labels...))))
	if p.Condition != "" {
		cond, err := compileCondition(p.Condition)
		if err != nil {
			return nil, withPath(err, path+".condition")
		}
		cp.cond = cond
	}
	for i := range p.Provisions {
		kid, err := compileProvision(&p.Provisions[i], path+".provision["+strconv.Itoa(i)+"]", cp.named)
		if err != nil {
			return nil, err
		}
		cp.kids = append(cp.kids, kid)
	}
	return cp, nil
}

// query is one request prepared for matching against compiled provisions.
// It lives on the caller's stack; the CEL activation, which must live on
// the heap, is made only when a condition is evaluated.
type query struct {
	req        *Request
	block      Block
	actionBit  uint8
	purposeBit uint16
	sensitive  []string
	act        *activation
}

func newQuery(req *Request, b Block) query {
	return query{
		req:        req,
		block:      b,
		actionBit:  actionBits[req.Action],
		purposeBit: purposeBits[req.Purpose],
		sensitive:  sensitiveLabels(req.Record.Labels),
	}
}

func (q *query) activation() *activation {
	if q.act == nil {
		q.act = &activation{req: *q.req, block: q.block}
	}
	return q.act
}

// hit is a provision that decides for its consent: it applies and no
// exception below it does.
type hit struct {
	cc *compiledConsent
	p  *compiledProvision
}

// collect appends the deciding provisions of p's subtree to hits, in
// document order: the exceptions that apply, recursively, or p itself if it
// applies and none of them does. checkPeriod is false for the root, whose
// period the caller judges as the consent's validity.
func (p *compiledProvision) collect(q *query, cc *compiledConsent, hits []hit, checkPeriod bool) []hit {
	if !p.applies(q, checkPeriod) {
		return hits
	}
	n := len(hits)
	for _, k := range p.kids {
		hits = k.collect(q, cc, hits, true)
	}
	if len(hits) == n {
		hits = append(hits, hit{cc: cc, p: p})
	}
	return hits
}

// applies reports whether every criterion of p matches. Where a criterion
// cannot be judged (the record's date is unknown, the condition errors) the
// answer fails closed: a deny applies, a permit does not.
func (p *compiledProvision) applies(q *query, checkPeriod bool) bool {
	r := q.req
	if checkPeriod && !p.period.Contains(q.block.Time) {
		return false
	}
	if p.hasActors && !p.actorMatches(r) {
		return false
	}
	if p.actions != 0 && p.actions&q.actionBit == 0 {
		return false
	}
	if p.purposes != 0 && p.purposes&q.purposeBit == 0 {
		return false
	}
	if len(p.classes) > 0 && !sortedContains(p.classes, r.Record.Type) {
		return false
	}
	if len(p.codes) > 0 && !sortedIntersects(p.codes, r.Record.Codes) {
		return false
	}
	if len(p.labels) > 0 && !sortedIntersects(p.labels, r.Record.Labels) {
		return false
	}
	if len(p.records) > 0 && (r.Record.ID == "" || !sortedContains(p.records, r.Record.ID)) {
		return false
	}
	if !p.dataPeriod.IsZero() {
		if r.Record.Date.IsZero() {
			if p.typ != Deny {
				return false
			}
		} else if !p.dataPeriod.Contains(r.Record.Date) {
			return false
		}
	}
	if p.cond != nil {
		ok, err := p.cond.eval(q.activation())
		if err != nil {
			return p.typ == Deny
		}
		return ok
	}
	return true
}

func (p *compiledProvision) actorMatches(r *Request) bool {
	if len(p.ids) > 0 && sortedContains(p.ids, r.Requester) {
		return true
	}
	if len(p.orgs) > 0 && r.RequesterOrg != "" && sortedContains(p.orgs, r.RequesterOrg) {
		return true
	}
	if len(p.roles) > 0 {
		for _, role := range r.Roles {
			if sortedContains(p.roles, role) {
				return true
			}
		}
	}
	return false
}

// leavesUnnamed reports whether some sensitive label of the record is not
// named by p or its ancestors.
func (p *compiledProvision) leavesUnnamed(sensitive []string) bool {
	for _, l := range sensitive {
		if !sortedContains(p.named, l) {
			return true
		}
	}
	return false
}

// missing returns the sensitive labels of the query's record that p does
// not name, or nil.
func (p *compiledProvision) missing(sensitive []string) []string {
	var out []string
	for _, l := range sensitive {
		if !sortedContains(p.named, l) {
			out = append(out, l)
		}
	}
	return out
}

func sortedContains(set []string, s string) bool {
	if len(set) <= 8 {
		// A short scan beats binary search on the small sets consents have.
		for _, x := range set {
			if x == s {
				return true
			}
		}
		return false
	}
	_, ok := slices.BinarySearch(set, s)
	return ok
}

func sortedIntersects(set []string, items []string) bool {
	for _, s := range items {
		if sortedContains(set, s) {
			return true
		}
	}
	return false
}
