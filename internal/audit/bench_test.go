package audit

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/kv"
)

// The benchmarks share one log of a million events in kv.Memory, built once
// per test process on first use. Building it (a million Appends) takes about
// 20 seconds on a quiet machine, up to a minute on busy cores, and 1.2 GB of
// memory; -benchtime applies after that.
//
//	go test ./internal/audit -run '^$' -bench 1M -benchtime 2000x
const benchEvents = 1_000_000

type benchFixture struct {
	store     *kv.Memory
	gen       *eventGen
	patients  []string // every patient, pat-0 (the busiest) first
	build     time.Duration
	bytes     map[string]int // key+value bytes by key kind
	keys      int
	first     time.Time
	last      time.Time
	heavyRuns uint64 // events of pat-0
}

var fixture = sync.OnceValues(func() (*benchFixture, error) {
	start := time.Now()
	fx := &benchFixture{store: kv.NewMemory(), gen: newEventGen(12, 20_000), bytes: map[string]int{}}
	for i := range benchEvents {
		e := fx.gen.next()
		if i == 0 {
			fx.first = e.Time
		}
		fx.last = e.Time
		if _, _, err := Append(fx.store, e); err != nil {
			return nil, fmt.Errorf("build fixture: %w", err)
		}
	}
	fx.build = time.Since(start)
	for i := range fx.gen.patients + 1 {
		fx.patients = append(fx.patients, fmt.Sprintf("pat-%d", i))
	}
	err := fx.store.Iterate(Prefix, kv.PrefixEnd(Prefix), false, func(k, v []byte) bool {
		kind := "head"
		switch {
		case bytes.HasPrefix(k, prefixEvent):
			kind = "event"
		case bytes.HasPrefix(k, prefixNode):
			kind = "node"
		case bytes.HasPrefix(k, prefixPatient), bytes.HasPrefix(k, prefixPatientLen):
			kind = "index"
		}
		fx.bytes[kind] += len(k) + len(v)
		fx.keys++
		return true
	})
	if err != nil {
		return nil, err
	}
	fx.heavyRuns, err = patientCount(fx.store, "pat-0")
	return fx, err
})

func benchLog(b *testing.B) *benchFixture {
	b.Helper()
	fx, err := fixture()
	if err != nil {
		b.Fatal(err)
	}
	return fx
}

// latencies records per-call durations and reports percentiles.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	pct := func(p int) float64 { return float64(s[(len(s)-1)*p/100].Nanoseconds()) / 1e3 }
	b.ReportMetric(pct(50), "p50-µs")
	b.ReportMetric(pct(99), "p99-µs")
}

// BenchmarkHistory1M queries one patient's history among a million events.
// Patients average ~48 events; pat-0 has ~50,000.
func BenchmarkHistory1M(b *testing.B) {
	fx := benchLog(b)
	cases := []struct {
		name string
		q    func(rnd *rand.Rand) Query
	}{
		{"newest-page-any-patient", func(rnd *rand.Rand) Query {
			return Query{Patient: fx.patients[rnd.IntN(len(fx.patients))], Limit: 50}
		}},
		{"deep-page-busiest-patient", func(rnd *rand.Rand) Query {
			// A page from the middle of a 50,000-event history via cursor.
			c := rnd.Uint64N(fx.heavyRuns)
			return Query{Patient: "pat-0", Limit: 50, Order: OldestFirst, Cursor: fmt.Sprint(c)}
		}},
		{"one-hour-window-busiest-patient", func(rnd *rand.Rand) Query {
			span := fx.last.Sub(fx.first)
			from := fx.first.Add(time.Duration(rnd.Int64N(int64(span))))
			return Query{Patient: "pat-0", From: from, To: from.Add(time.Hour), Limit: 50}
		}},
		{"org-filter-busiest-patient", func(rnd *rand.Rand) Query {
			// Matches ~1 event in 20: scans until the page fills or the
			// budget runs out.
			return Query{Patient: "pat-0", Org: fmt.Sprintf("org-%d", rnd.IntN(20)), Limit: 50}
		}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			rnd := rand.New(rand.NewPCG(13, 13))
			var lat latencies
			returned := 0
			for b.Loop() {
				q := c.q(rnd)
				start := time.Now()
				page, _, err := History(fx.store, q)
				lat = append(lat, time.Since(start))
				if err != nil {
					b.Fatal(err)
				}
				returned += len(page)
			}
			lat.report(b)
			b.ReportMetric(float64(returned)/float64(len(lat)), "events/op")
		})
	}
}

// BenchmarkInclusionProof1M generates inclusion proofs for random events of
// the million-event log, against its full size.
func BenchmarkInclusionProof1M(b *testing.B) {
	fx := benchLog(b)
	size, _, err := Root(fx.store)
	if err != nil {
		b.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(14, 14))
	var lat latencies
	proofBytes := 0
	for b.Loop() {
		seq := rnd.Uint64N(size)
		start := time.Now()
		p, err := InclusionProof(fx.store, seq, size)
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		proofBytes += len(EncodeProof(p))
	}
	lat.report(b)
	b.ReportMetric(float64(proofBytes)/float64(len(lat)), "proof-bytes")
}

// BenchmarkEventProof1M assembles a whole EventProof (event, root, proof),
// what a proof bundle needs from the log.
func BenchmarkEventProof1M(b *testing.B) {
	fx := benchLog(b)
	size, _, _ := Root(fx.store)
	rnd := rand.New(rand.NewPCG(15, 15))
	for b.Loop() {
		if _, err := ProveEvent(fx.store, rnd.Uint64N(size), 0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConsistencyProof1M(b *testing.B) {
	fx := benchLog(b)
	size, _, _ := Root(fx.store)
	rnd := rand.New(rand.NewPCG(16, 16))
	proofBytes, n := 0, 0
	for b.Loop() {
		p, err := ConsistencyProof(fx.store, 1+rnd.Uint64N(size-1), size)
		if err != nil {
			b.Fatal(err)
		}
		proofBytes += len(EncodeProof(p))
		n++
	}
	b.ReportMetric(float64(proofBytes)/float64(n), "proof-bytes")
}

// BenchmarkVerifyInclusion1M is the client's cost of checking one proof.
func BenchmarkVerifyInclusion1M(b *testing.B) {
	fx := benchLog(b)
	ep, err := ProveEvent(fx.store, 123_456, 0)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := ep.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStorage1M reports what the million-event log stores: key and
// value bytes per event, by kind, and the fixture's build time. The loop
// does nothing; the metrics are the result.
func BenchmarkStorage1M(b *testing.B) {
	fx := benchLog(b)
	for b.Loop() {
	}
	// After the loop: b.Loop's first call discards earlier metrics.
	total := 0
	for kind, n := range fx.bytes {
		total += n
		b.ReportMetric(float64(n)/benchEvents, kind+"-B/event")
	}
	b.ReportMetric(float64(total)/benchEvents, "B/event")
	b.ReportMetric(float64(fx.keys)/benchEvents, "keys/event")
	b.ReportMetric(fx.build.Seconds(), "build-s")
}

// BenchmarkAppend1M appends to the million-event log. It runs last in this
// file because it grows the shared log; the other benchmarks read its size
// when they start.
func BenchmarkAppend1M(b *testing.B) {
	fx := benchLog(b)
	for b.Loop() {
		if _, _, err := Append(fx.store, fx.gen.next()); err != nil {
			b.Fatal(err)
		}
	}
}
