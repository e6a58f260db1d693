package audit

import (
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/carechain/carechain/internal/kv"
)

// TestHistoryMatchesNaive pages through random queries and compares the
// concatenated pages with a filter over all events.
func TestHistoryMatchesNaive(t *testing.T) {
	g := newEventGen(8, 12)
	events := make([]Event, 4000)
	for i := range events {
		events[i] = g.next()
		events[i].Seq = uint64(i)
	}
	s, _ := buildLog(t, events)
	rnd := rand.New(rand.NewPCG(9, 9))
	first, last := events[0].Time, events[len(events)-1].Time
	span := last.Sub(first)
	randTime := func() time.Time {
		return first.Add(time.Duration(rnd.Int64N(int64(span)+2)) - time.Millisecond)
	}
	for i := range 300 {
		q := Query{Patient: fmt.Sprintf("pat-%d", rnd.IntN(14)), Limit: 1 + rnd.IntN(40)}
		if rnd.IntN(2) == 0 {
			q.Order = OldestFirst
		}
		if rnd.IntN(3) == 0 {
			q.From = randTime()
		}
		if rnd.IntN(3) == 0 {
			q.To = randTime()
			if !q.From.IsZero() && q.To.Before(q.From) {
				q.From, q.To = q.To, q.From
			}
		}
		if rnd.IntN(4) == 0 {
			q.Org = fmt.Sprintf("org-%d", rnd.IntN(20))
		}
		if rnd.IntN(6) == 0 {
			q.Actor = events[rnd.IntN(len(events))].Actor
		}
		if rnd.IntN(4) == 0 {
			q.Purpose = genPurposes[rnd.IntN(len(genPurposes))]
		}
		if rnd.IntN(4) == 0 {
			q.Decision = Decision(1 + rnd.IntN(2))
		}
		if rnd.IntN(4) == 0 {
			q.Actions = []Action{genActions[rnd.IntN(len(genActions))], ActionBreakGlass}
		}
		if rnd.IntN(8) == 0 {
			q.BreakGlassOnly = true
		}

		var want []uint64
		for _, e := range events {
			if e.Patient == q.Patient && q.matches(&e) {
				want = append(want, e.Seq)
			}
		}
		if q.Order == NewestFirst {
			slices.Reverse(want)
		}
		var got []uint64
		pages := 0
		for {
			page, cursor, err := History(s, q)
			if err != nil {
				t.Fatalf("query %d %+v: %v", i, q, err)
			}
			if len(page) > q.Limit {
				t.Fatalf("query %d: page of %d, limit %d", i, len(page), q.Limit)
			}
			for _, e := range page {
				got = append(got, e.Seq)
			}
			pages++
			if cursor == "" {
				break
			}
			q.Cursor = cursor
			if pages > len(events) {
				t.Fatalf("query %d: cursor never ends", i)
			}
		}
		if !slices.Equal(got, want) {
			t.Fatalf("query %d %+v:\n got %v\nwant %v", i, q, got, want)
		}
	}
}

// TestHistoryReadsAreBounded counts reads: a page costs reads proportional
// to what it examines, and a filter that matches nothing stops at
// ScanBudget with a cursor.
func TestHistoryReadsAreBounded(t *testing.T) {
	const n = ScanBudget + 300
	events := make([]Event, n)
	for i := range events {
		e := vectorEvent(0)
		e.Height = uint64(1 + i)
		e.Time = epoch.Add(time.Duration(i) * time.Second)
		events[i] = e
	}
	mem, _ := buildLog(t, events)
	c := &countingStore{Store: mem}
	logN := bits.Len64(n)

	page, cursor, err := History(c, Query{Patient: "pat-0", Limit: 10})
	if err != nil || len(page) != 10 || cursor == "" {
		t.Fatalf("first page: %d events, cursor %q, %v", len(page), cursor, err)
	}
	if page[0].Seq != n-1 || page[9].Seq != n-10 {
		t.Fatalf("newest first returned %d..%d", page[0].Seq, page[9].Seq)
	}
	if c.gets > 2*10+1 || c.iterates != 0 {
		t.Errorf("page of 10 read %d keys with %d scans", c.gets, c.iterates)
	}

	c.reset()
	from, to := epoch.Add(1000*time.Second), epoch.Add(1020*time.Second)
	page, cursor, err = History(c, Query{Patient: "pat-0", From: from, To: to, Order: OldestFirst, Limit: 50})
	if err != nil || len(page) != 20 || cursor != "" || page[0].Seq != 1000 {
		t.Fatalf("time range: %d events, cursor %q, %v", len(page), cursor, err)
	}
	if limit := 1 + 2*2*(logN+1) + 2*20; c.gets > limit {
		t.Errorf("time range read %d keys, limit %d", c.gets, limit)
	}

	c.reset()
	page, cursor, err = History(c, Query{Patient: "pat-0", Actor: "nobody"})
	if err != nil || len(page) != 0 || cursor == "" {
		t.Fatalf("filter matching nothing: %d events, cursor %q, %v", len(page), cursor, err)
	}
	if c.gets > 2*ScanBudget+1 {
		t.Errorf("filter matching nothing read %d keys, budget %d events", c.gets, ScanBudget)
	}
	page, cursor, err = History(c, Query{Patient: "pat-0", Actor: "nobody", Cursor: cursor})
	if err != nil || len(page) != 0 || cursor != "" {
		t.Fatalf("second call: %d events, cursor %q, %v", len(page), cursor, err)
	}
}

func TestHistoryRejectsBadQueries(t *testing.T) {
	s, _ := buildLog(t, []Event{vectorEvent(0), vectorEvent(3)})
	bad := map[string]Query{
		"no patient":       {},
		"negative limit":   {Patient: "pat-0", Limit: -1},
		"limit too large":  {Patient: "pat-0", Limit: MaxLimit + 1},
		"cursor not a num": {Patient: "pat-0", Cursor: "abc"},
		"cursor past end":  {Patient: "pat-0", Cursor: "2"},
		"cursor of nobody": {Patient: "pat-9", Cursor: "0"},
		"range backwards":  {Patient: "pat-0", From: epoch.Add(time.Hour), To: epoch},
		"unknown decision": {Patient: "pat-0", Decision: 7},
		"unknown order":    {Patient: "pat-0", Order: 2},
		"bad actor":        {Patient: "pat-0", Actor: "a b"},
		"bad action":       {Patient: "pat-0", Actions: []Action{"READ"}},
	}
	for name, q := range bad {
		if _, _, err := History(s, q); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("%s: err = %v, want ErrInvalidQuery", name, err)
		}
	}
	page, cursor, err := History(s, Query{Patient: "pat-unknown"})
	if err != nil || len(page) != 0 || cursor != "" {
		t.Errorf("unknown patient: %d events, cursor %q, %v", len(page), cursor, err)
	}
	page, _, err = History(s, Query{Patient: "pat-0", From: epoch, To: epoch})
	if err != nil || len(page) != 0 {
		t.Errorf("empty range: %d events, %v", len(page), err)
	}
}

func TestHistoryDetectsForeignIndexEntry(t *testing.T) {
	s, _ := buildLog(t, []Event{vectorEvent(0), vectorEvent(1)})
	// Point pat-0's only entry at pat-1's event.
	if err := s.Set(patientEntryKey("pat-0", 0), []byte{1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := History(kv.Store(s), Query{Patient: "pat-0"}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("err = %v, want ErrCorrupt", err)
	}
}

// TestHistoryOfNoPatient: the events about no patient (refused requests)
// are read as a history of their own, filtered like any other, and the
// log's check counts their index.
func TestHistoryOfNoPatient(t *testing.T) {
	var events []Event
	for i := range 12 {
		e := vectorEvent(i)
		if i%3 == 1 {
			e = Event{Height: e.Height, Time: e.Time, Actor: fmt.Sprintf("client-%d", i), ActorOrg: "org-1",
				Action: ActionAccessRefused, Decision: Deny, Reason: Reason{Rule: "scope_insufficient"}, TxHash: e.TxHash}
		}
		events = append(events, e)
	}
	s, _ := buildLog(t, events)
	if err := Check(s); err != nil {
		t.Fatalf("Check: %v", err)
	}
	got, next, err := History(s, Query{NoPatient: true, Order: OldestFirst})
	if err != nil || next != "" {
		t.Fatalf("History: %v %q", err, next)
	}
	if len(got) != 4 {
		t.Fatalf("%d events about no patient, want 4", len(got))
	}
	for i, e := range got {
		if e.Seq != uint64(3*i+1) || e.Patient != "" {
			t.Errorf("event %d: seq %d patient %q", i, e.Seq, e.Patient)
		}
	}
	if got, _, err := History(s, Query{NoPatient: true, Actor: "client-4"}); err != nil || len(got) != 1 {
		t.Errorf("filtered by actor: %d events, %v", len(got), err)
	}
	if got, _, err := History(s, Query{Patient: "pat-1"}); err != nil || slices.ContainsFunc(got, func(e Event) bool { return e.Patient != "pat-1" }) {
		t.Errorf("a patient's history holds others' events: %v", err)
	}
	for _, q := range []Query{{}, {NoPatient: true, Patient: "pat-1"}} {
		if _, _, err := History(s, q); !errors.Is(err, ErrInvalidQuery) {
			t.Errorf("History(%+v) = %v, want an invalid query", q, err)
		}
	}
}
