package consent

import (
	"fmt"
	"slices"
	"strings"
)

// Index holds one patient's active consents, compiled and filed so that a
// decision touches only the consents that could apply to the requester.
//
// Each consent is filed under every (actor, purpose) pair its root
// provision names: actor is an identity, organization or role, or "any" when
// the root names no actor; purpose is a purpose of use, or "any" when the
// root names none. A nested provision applies only where its root applies,
// so a request can be decided by a consent only if the consent is filed
// under one of the request's pairs: (requester | org | each role | any) ×
// (purpose | any). Decide looks up those few lists and nothing else.
//
// Put and Remove are incremental. An Index is not safe for concurrent
// mutation; concurrent Decide calls on an Index nobody mutates are safe.
type Index struct {
	patient  string
	byID     map[string]*compiledConsent
	postings map[postingKey][]*compiledConsent // each sorted by consent id
}

// postingKey is a (actor, purpose) pair. A zero kind means any actor; an
// empty purpose means any purpose.
type postingKey struct {
	kind    ActorKind
	actor   string
	purpose Purpose
}

// NewIndex returns an empty index for one patient's consents.
func NewIndex(patient string) *Index {
	return &Index{
		patient:  patient,
		byID:     map[string]*compiledConsent{},
		postings: map[postingKey][]*compiledConsent{},
	}
}

// Patient returns the patient whose consents the index holds.
func (ix *Index) Patient() string { return ix.patient }

// Len returns the number of consents in the index.
func (ix *Index) Len() int { return len(ix.byID) }

// Get returns the consent with the given id, normalized.
func (ix *Index) Get(id string) (Consent, bool) {
	cc, ok := ix.byID[id]
	if !ok {
		return Consent{}, false
	}
	return cc.consent, true
}

// IDs returns the ids of the consents in the index, ascending.
func (ix *Index) IDs() []string {
	ids := make([]string, 0, len(ix.byID))
	for id := range ix.byID {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Put adds c, replacing any consent with the same id. A consent whose
// status is not active takes no part in decisions, so putting one removes
// its id instead. Put validates c and compiles its conditions; an error
// leaves the index unchanged.
func (ix *Index) Put(c Consent) error {
	if c.Patient != ix.patient {
		return errorf(CodeBadID, "patient", "consent %s is about patient %q, the index holds %q", c.ID, c.Patient, ix.patient)
	}
	if err := Validate(c); err != nil {
		return fmt.Errorf("index consent %s: %w", c.ID, err)
	}
	if c.Status != StatusActive {
		ix.Remove(c.ID)
		return nil
	}
	cc, err := compile(c)
	if err != nil {
		return fmt.Errorf("index consent %s: %w", c.ID, err)
	}
	ix.Remove(c.ID)
	ix.byID[cc.id] = cc
	for _, k := range postingKeys(&cc.consent.Provision) {
		list := ix.postings[k]
		i, _ := slices.BinarySearchFunc(list, cc.id, byID)
		ix.postings[k] = slices.Insert(list, i, cc)
	}
	return nil
}

// Remove drops the consent with the given id, as on revocation, and reports
// whether it was there.
func (ix *Index) Remove(id string) bool {
	cc, ok := ix.byID[id]
	if !ok {
		return false
	}
	delete(ix.byID, id)
	for _, k := range postingKeys(&cc.consent.Provision) {
		list := ix.postings[k]
		if i, found := slices.BinarySearchFunc(list, id, byID); found {
			list = slices.Delete(list, i, i+1)
		}
		if len(list) == 0 {
			delete(ix.postings, k)
		} else {
			ix.postings[k] = list
		}
	}
	return true
}

func byID(cc *compiledConsent, id string) int { return strings.Compare(cc.id, id) }

// postingKeys lists the pairs a consent is filed under, from its root.
func postingKeys(root *Provision) []postingKey {
	purposes := root.Purposes
	if len(purposes) == 0 {
		purposes = []Purpose{""}
	}
	actors := root.Actors
	if len(actors) == 0 {
		actors = []Actor{{}}
	}
	keys := make([]postingKey, 0, len(actors)*len(purposes))
	for _, a := range actors {
		for _, p := range purposes {
			keys = append(keys, postingKey{kind: a.Kind, actor: a.ID, purpose: p})
		}
	}
	return keys
}

// candidates returns the consents filed under the request's pairs, sorted
// by id without duplicates: the only consents that can decide it.
func (ix *Index) candidates(r *Request, buf []*compiledConsent) []*compiledConsent {
	out := buf[:0]
	for _, purpose := range [2]Purpose{r.Purpose, ""} {
		out = append(out, ix.postings[postingKey{purpose: purpose}]...)
		out = append(out, ix.postings[postingKey{kind: ActorIdentity, actor: r.Requester, purpose: purpose}]...)
		if r.RequesterOrg != "" {
			out = append(out, ix.postings[postingKey{kind: ActorOrganization, actor: r.RequesterOrg, purpose: purpose}]...)
		}
		for _, role := range r.Roles {
			out = append(out, ix.postings[postingKey{kind: ActorRole, actor: role, purpose: purpose}]...)
		}
	}
	if len(out) > 1 {
		slices.SortFunc(out, func(a, b *compiledConsent) int { return strings.Compare(a.id, b.id) })
		out = slices.Compact(out)
	}
	return out
}
