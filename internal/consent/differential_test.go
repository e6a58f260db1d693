package consent

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDifferential holds the indexed evaluator to the naive reference over
// random consents and requests: same decision, same reason, same consent
// and provision, same detail. Consents are added, replaced and revoked as
// it goes, so the index's incremental maintenance is checked too.
func TestDifferential(t *testing.T) {
	const (
		rounds   = 200
		requests = 100
	)
	g := newGenerator(20240601)
	cases, allowed := 0, 0
	reasons := map[Reason]int{}
	for round := 0; round < rounds; round++ {
		patient := "pat"
		ix := NewIndex(patient)
		var all []Consent
		n := 1 + g.r.Intn(40)
		for i := 0; i < n; i++ {
			c := g.consent(consentID(i), patient)
			if err := ix.Put(c); err != nil {
				t.Fatalf("round %d: generated an invalid consent: %v\n%s", round, err, formatConsent(c))
			}
			all = append(all, c)
		}
		for i := 0; i < requests; i++ {
			// Now and then revoke or replace a consent.
			if len(all) > 0 && g.chance(0.05) {
				k := g.r.Intn(len(all))
				if g.chance(0.5) {
					ix.Remove(all[k].ID)
					all[k].Status = StatusInactive
				} else {
					all[k] = g.consent(all[k].ID, patient)
					if err := ix.Put(all[k]); err != nil {
						t.Fatal(err)
					}
				}
			}
			req := g.request(patient)
			circ := g.circumstances()
			got := Decide(ix, req, circ)
			want := decideNaive(patient, all, req, circ)
			cases++
			reasons[got.Reason]++
			if got.Allowed {
				allowed++
			}
			if d := cmp.Diff(want, got); d != "" {
				var text string
				for _, c := range all {
					text += formatConsent(c)
				}
				t.Fatalf("round %d request %d: disagreement (-naive +indexed):\n%s\nrequest: %+v\nat: %+v\nconsents:\n%s",
					round, i, d, req, circ, text)
			}
		}
	}
	t.Logf("%d cases, %d allowed; reasons: %v", cases, allowed, reasons)
	// The generator must reach every rule, or the comparison proves little.
	for _, r := range []Reason{ReasonPatientSelf, ReasonConsentPermit, ReasonAuthorOrg, ReasonBreakTheGlass,
		ReasonBreakTheGlassOptedOut, ReasonBreakTheGlassNotEligible, ReasonConsentDeny,
		ReasonSensitiveLabelNotNamed, ReasonExpired, ReasonNotYetValid, ReasonNoConsent} {
		if reasons[r] == 0 {
			t.Errorf("no case reached reason %s", r)
		}
	}
}
