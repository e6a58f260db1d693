package consent

import (
	"fmt"
	"math/rand"
	"time"
)

// A generator of random consents and requests over small vocabularies, so
// that requests often hit consents. It uses a seeded math/rand: tests are
// reproducible.

var (
	genBase     = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	genIDs      = []string{"dr1", "dr2", "dr3", "dr4", "nurse1", "er1"}
	genOrgs     = []string{"h1", "h2", "h3", "lab"}
	genRoles    = []string{"gp", "nurse", "emergency", "pharmacist"}
	genActions  = []Action{ActionCollect, ActionAccess, ActionUse, ActionDisclose, ActionCorrect}
	genPurposes = []Purpose{PurposeTreatment, PurposeEmergencyTreatment, PurposePayment, PurposeOperations,
		PurposeResearch, PurposePatientRequest, PurposeBreakTheGlass}
	genClasses = []string{"Observation", "Condition", "MedicationRequest", "DiagnosticReport"}
	genCodes   = []string{"http://loinc.org|1-8", "http://loinc.org|2-6", "http://snomed.info/sct|7"}
	genLabels  = []string{"N", "R", "PSY", "HIV", "SUD", "ETH"}
	genRecords = []string{"r1", "r2", "r3", "r4"}
	// Conditions chosen to be true, false, or to error (unknown record
	// date, overflow, division by zero) depending on the request.
	genConditions = []string{
		"'gp' in request.roles",
		"request.purpose == 'TREAT'",
		"block.height % 2 == 0",
		"record.date > timestamp('2022-01-01T00:00:00Z')",
		"record.labels.exists(l, l == 'PSY')",
		"10 / (block.height % 3) > 2",
		"block.time < timestamp('2024-06-01T00:00:00Z') || request.break_glass",
		"size(record.codes) > 1 && record.author_org != request.org",
	}
)

type generator struct{ r *rand.Rand }

func newGenerator(seed int64) *generator { return &generator{r: rand.New(rand.NewSource(seed))} }

func (g *generator) chance(p float64) bool { return g.r.Float64() < p }

func pick[T any](g *generator, from []T) T { return from[g.r.Intn(len(from))] }

func some[T any](g *generator, from []T, p float64) []T {
	if !g.chance(p) {
		return nil
	}
	n := 1 + g.r.Intn(2)
	out := make([]T, n)
	for i := range out {
		out[i] = pick(g, from)
	}
	return out
}

func (g *generator) instant() time.Time {
	return genBase.Add(time.Duration(g.r.Intn(365*24)) * time.Hour)
}

func (g *generator) period(p float64) Period {
	if !g.chance(p) {
		return Period{}
	}
	var out Period
	if g.chance(0.6) {
		out.Start = g.instant()
	}
	if g.chance(0.6) {
		out.End = g.instant()
		if !out.Start.IsZero() && out.End.Before(out.Start) {
			out.Start, out.End = out.End, out.Start
		}
	}
	return out
}

func (g *generator) actors(p float64) []Actor {
	if !g.chance(p) {
		return nil
	}
	n := 1 + g.r.Intn(2)
	out := make([]Actor, n)
	for i := range out {
		switch g.r.Intn(3) {
		case 0:
			out[i] = Identity(pick(g, genIDs))
		case 1:
			out[i] = Organization(pick(g, genOrgs))
		default:
			out[i] = Role(pick(g, genRoles))
		}
	}
	return out
}

func (g *generator) provision(depth int, actorAbove bool) Provision {
	p := Provision{Type: Permit}
	if g.chance(0.35) {
		p.Type = Deny
	}
	p.Actors = g.actors(0.8)
	if p.Type == Permit && !actorAbove && len(p.Actors) == 0 {
		p.Actors = g.actors(1)
	}
	p.Period = g.period(0.1)
	p.Actions = some(g, genActions, 0.3)
	p.Purposes = some(g, genPurposes, 0.5)
	p.Classes = some(g, genClasses, 0.3)
	p.Codes = some(g, genCodes, 0.15)
	p.Labels = some(g, genLabels, 0.3)
	p.Records = some(g, genRecords, 0.1)
	p.DataPeriod = g.period(0.1)
	if g.chance(0.15) {
		p.Condition = pick(g, genConditions)
	}
	if depth < 3 {
		for n := g.r.Intn(3); n > 0 && g.chance(0.5); n-- {
			p.Provisions = append(p.Provisions, g.provision(depth+1, actorAbove || len(p.Actors) > 0))
		}
	}
	return p
}

func (g *generator) consent(id, patient string) Consent {
	c := Consent{ID: id, Status: StatusActive, Patient: patient, Grantor: patient,
		Provision: g.provision(1, false)}
	if g.chance(0.1) {
		c.Status = pick(g, []Status{StatusInactive, StatusDraft, StatusRejected})
	}
	if g.chance(0.3) {
		c.Provision.Period = g.period(1)
	}
	return c
}

func (g *generator) request(patient string) Request {
	r := Request{
		Requester: pick(g, genIDs),
		Patient:   patient,
		Action:    pick(g, genActions),
		Purpose:   pick(g, genPurposes),
		Record: Record{
			ID:     pick(g, genRecords),
			Type:   pick(g, genClasses),
			Codes:  some(g, genCodes, 0.4),
			Labels: some(g, genLabels, 0.4),
		},
	}
	if g.chance(0.8) {
		r.RequesterOrg = pick(g, genOrgs)
	}
	r.Roles = some(g, genRoles, 0.6)
	if g.chance(0.3) {
		r.Record.AuthorOrg = pick(g, genOrgs)
	}
	if g.chance(0.6) {
		r.Record.Date = g.instant().AddDate(-2, 0, 0)
	}
	if g.chance(0.15) {
		r.BreakGlass = true
		if g.chance(0.7) {
			r.Roles = append(r.Roles, "emergency")
			r.Purpose = pick(g, []Purpose{PurposeEmergencyTreatment, PurposeBreakTheGlass})
			r.Action = ActionAccess
		}
	}
	if g.chance(0.02) {
		r.Requester = patient
	}
	return r
}

func (g *generator) circumstances() Circumstances {
	return Circumstances{
		Block:    Block{Height: int64(1 + g.r.Intn(100)), Time: g.instant()},
		OptedOut: g.chance(0.3),
	}
}

func consentID(i int) string { return fmt.Sprintf("c%03d", i) }
