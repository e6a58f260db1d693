package consent

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"
)

// benchWorld is one patient with n consents spread over 100 organizations,
// 400 practitioners and 40 roles, as a patient with a long care history
// might have: most name one organization or practitioner, a few a role,
// one in twenty denies; a fifth have nested exceptions, a tenth a CEL
// condition, a third a period.
// Requests come from the same population.
type benchWorld struct {
	ix       *Index
	consents []Consent
	reqs     []Request
	circ     Circumstances
}

func newBenchWorld(tb testing.TB, n int) *benchWorld {
	r := rand.New(rand.NewSource(1))
	org := func() string { return fmt.Sprintf("org%03d", r.Intn(100)) }
	doc := func() string { return fmt.Sprintf("dr%03d", r.Intn(400)) }
	role := func() string { return fmt.Sprintf("role%02d", r.Intn(40)) }
	purposes := []Purpose{PurposeTreatment, PurposePayment, PurposeOperations, PurposeResearch}
	classes := []string{"Observation", "Condition", "MedicationRequest", "DiagnosticReport", "Procedure"}
	conds := []string{
		"request.purpose == 'TREAT' && block.height > 10",
		"'role01' in request.roles",
		"record.date > timestamp('2015-01-01T00:00:00Z')",
	}
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	w := &benchWorld{ix: NewIndex("pat"),
		circ: Circumstances{Block: Block{Height: 1000, Time: base.AddDate(0, 6, 0)}}}
	for i := 0; i < n; i++ {
		p := Provision{Type: Permit}
		switch k := r.Intn(20); {
		case k < 10:
			p.Actors = []Actor{Organization(org())}
		case k < 19:
			p.Actors = []Actor{Identity(doc())}
		default:
			p.Actors = []Actor{Role(role())}
		}
		if r.Intn(20) == 0 {
			p.Type = Deny
		}
		if r.Intn(2) == 0 {
			p.Purposes = []Purpose{purposes[r.Intn(len(purposes))]}
		}
		if r.Intn(2) == 0 {
			p.Classes = []string{classes[r.Intn(len(classes))], classes[r.Intn(len(classes))]}
		}
		if r.Intn(3) == 0 {
			start := base.AddDate(0, r.Intn(12)-6, 0)
			p.Period = Period{Start: start, End: start.AddDate(0, 6, 0)}
		}
		if r.Intn(10) == 0 {
			p.Condition = conds[r.Intn(len(conds))]
		}
		if r.Intn(5) == 0 {
			p.Provisions = []Provision{
				{Type: Deny, Labels: []string{"PSY"}},
				{Type: Permit, Labels: []string{"HIV"}, Purposes: []Purpose{PurposeTreatment}},
			}
		}
		c := Consent{ID: fmt.Sprintf("consent-%04d", i), Status: StatusActive, Patient: "pat", Grantor: "pat", Provision: p}
		if err := w.ix.Put(c); err != nil {
			tb.Fatal(err)
		}
		w.consents = append(w.consents, c)
	}
	labels := [][]string{nil, nil, nil, {"N"}, {"PSY"}, {"HIV"}}
	for i := 0; i < 4096; i++ {
		req := Request{
			Requester: doc(), RequesterOrg: org(), Patient: "pat",
			Action: ActionAccess, Purpose: purposes[r.Intn(len(purposes))],
			Record: Record{ID: fmt.Sprintf("rec%d", r.Intn(1000)), Type: classes[r.Intn(len(classes))],
				Labels: labels[r.Intn(len(labels))], AuthorOrg: org(), Date: base.AddDate(-r.Intn(15), 0, 0)},
		}
		if r.Intn(2) == 0 {
			req.Roles = []string{role()}
		}
		w.reqs = append(w.reqs, req)
	}
	return w
}

// BenchmarkDecide1000 measures decisions against a patient with 1,000
// consents; decisions/s is per core (run with -cpu 1).
func BenchmarkDecide1000(b *testing.B) {
	w := newBenchWorld(b, 1000)
	allowed := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if Decide(w.ix, w.reqs[i%len(w.reqs)], w.circ).Allowed {
			allowed++
		}
	}
	b.StopTimer()
	if b.Elapsed() > 0 {
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
	}
	b.ReportMetric(float64(allowed)/float64(b.N), "allowed-fraction")
}

// BenchmarkDecide1000Latency times every decision and reports the median,
// the 99th percentile and the maximum.
func BenchmarkDecide1000Latency(b *testing.B) {
	w := newBenchWorld(b, 1000)
	lat := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		Decide(w.ix, w.reqs[i%len(w.reqs)], w.circ)
		lat[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(percentile(lat, 0.50).Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(percentile(lat, 0.99).Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
}

// BenchmarkDecideNaive1000 is the reference evaluator on the same world,
// to show what the index saves.
func BenchmarkDecideNaive1000(b *testing.B) {
	w := newBenchWorld(b, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		decideNaive("pat", w.consents, w.reqs[i%len(w.reqs)], w.circ)
	}
}

// BenchmarkIndexPut measures building a patient's index, as the ledger does
// when it loads a patient (conditions come from the compile cache).
func BenchmarkIndexPut(b *testing.B) {
	w := newBenchWorld(b, 1000)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ix := NewIndex("pat")
		for _, c := range w.consents {
			if err := ix.Put(c); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(w.consents)), "ns/consent")
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p * float64(len(sorted)-1))
	return sorted[i]
}

// TestBenchWorldIsRealistic keeps the benchmark honest: requests must reach
// consents and take different paths, and Decide must agree with the
// reference on them.
func TestBenchWorldIsRealistic(t *testing.T) {
	w := newBenchWorld(t, 1000)
	reasons := map[Reason]int{}
	for _, req := range w.reqs[:1000] {
		got := Decide(w.ix, req, w.circ)
		reasons[got.Reason]++
		if want := decideNaive("pat", w.consents, req, w.circ); want != got {
			t.Fatalf("disagreement: naive %v, indexed %v", want, got)
		}
	}
	for _, r := range []Reason{ReasonConsentPermit, ReasonConsentDeny, ReasonNoConsent} {
		if reasons[r] < 20 {
			t.Errorf("only %d of 1000 benchmark requests end in %s: %v", reasons[r], r, reasons)
		}
	}
	t.Logf("benchmark request outcomes: %v", reasons)
}
