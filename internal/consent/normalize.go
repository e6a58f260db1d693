package consent

import (
	"slices"
	"time"
)

// Normalize returns c in canonical form: every list that is a set sorted and
// without duplicates (empty lists nil), and every time in UTC. Nested
// provisions keep their order, since provision paths name them by position.
// Encode normalizes before writing, and Decode and FromFHIR return
// normalized consents, so Decode(Encode(c)) equals Normalize(c).
func Normalize(c Consent) Consent {
	c.DateTime = normTime(c.DateTime)
	c.Provision = normProvision(c.Provision)
	return c
}

func normProvision(p Provision) Provision {
	p.Period = normPeriod(p.Period)
	p.DataPeriod = normPeriod(p.DataPeriod)
	p.Actors = normSet(p.Actors, compareActors)
	p.Actions = normStrings(p.Actions)
	p.Classes = normStrings(p.Classes)
	p.Codes = normStrings(p.Codes)
	p.Labels = normStrings(p.Labels)
	p.Purposes = normStrings(p.Purposes)
	p.Records = normStrings(p.Records)
	if len(p.Provisions) == 0 {
		p.Provisions = nil
	} else {
		kids := make([]Provision, len(p.Provisions))
		for i := range p.Provisions {
			kids[i] = normProvision(p.Provisions[i])
		}
		p.Provisions = kids
	}
	return p
}

// normSet returns a sorted copy of s without duplicates, or nil if s is
// empty. It copies so that normalizing never changes the caller's slices.
func normSet[T any](s []T, cmp func(a, b T) int) []T {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.SortFunc(out, cmp)
	return slices.CompactFunc(out, func(a, b T) bool { return cmp(a, b) == 0 })
}

// normStrings is normSet for string sets.
func normStrings[S ~string](s []S) []S {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func normPeriod(p Period) Period {
	return Period{Start: normTime(p.Start), End: normTime(p.End)}
}

// normTime drops the location and any monotonic reading, which do not
// change the instant but would change equality and formatting.
func normTime(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Round(0)
}
