package audit

import (
	"fmt"
	"strconv"
	"time"

	"github.com/carechain/carechain/internal/kv"
)

// Order is the order History returns events in.
type Order uint8

const (
	// NewestFirst is the zero value: what a patient wants to see first.
	NewestFirst Order = iota
	OldestFirst
)

// Query selects events from one patient's history. Empty fields match
// everything.
type Query struct {
	// Patient is whose history is read; it is required unless NoPatient.
	Patient string
	// NoPatient reads, instead of a patient's history, the events about no
	// patient: the requests gateways refused (access.refused) and the
	// reviews of them.
	NoPatient bool
	// From and To bound the block time to [From, To). Zero means unbounded.
	From, To time.Time
	// Actor and Org match the actor and the actor's organization exactly.
	Actor, Org string
	// Purpose matches the purpose-of-use code exactly.
	Purpose string
	// Decision matches permit or deny; DecisionAny matches both.
	Decision Decision
	// Actions, when not empty, matches any of the listed actions.
	Actions []Action
	// BreakGlassOnly keeps only break-the-glass access.
	BreakGlassOnly bool
	// Order is NewestFirst (default) or OldestFirst.
	Order Order
	// Limit is the most events returned; 0 means DefaultLimit.
	Limit int
	// Cursor continues a previous call with the same query; "" starts at
	// the beginning (or the end, for NewestFirst).
	Cursor string
}

const (
	// DefaultLimit is the page size of a Query without a Limit.
	DefaultLimit = 50
	// MaxLimit is the largest page History returns.
	MaxLimit = 1000
	// ScanBudget is the most index entries one History call examines. When
	// filters reject many events the call stops there and returns what it
	// found (possibly nothing) with a cursor, so no call costs more than
	// this, however long the patient's history.
	ScanBudget      = 2048
	maxQueryActions = 32
)

// History returns one page of a patient's events that match q, and the
// cursor for the next page, "" when there is none. A page may hold fewer
// than Limit events, even none, while the cursor is not empty: that happens
// when filters reject ScanBudget events in a row. Callers continue until the
// cursor is empty.
//
// Reads are proportional to the events examined: time bounds cost a binary
// search over the patient's index (O(log n) reads); other filters are
// applied to at most ScanBudget events per call. Events are never read from
// other patients.
func History(r kv.Reader, q Query) ([]Event, string, error) {
	limit, err := q.check()
	if err != nil {
		return nil, "", err
	}
	count, err := patientCount(r, q.Patient)
	if err != nil {
		return nil, "", err
	}
	// The patient's ordinals [lo, hi) are the events inside the time
	// bounds: Append keeps times non-decreasing, so a binary search finds
	// them.
	lo, hi := uint64(0), count
	if !q.From.IsZero() {
		if lo, err = firstAtOrAfter(r, q.Patient, count, q.From); err != nil {
			return nil, "", err
		}
	}
	if !q.To.IsZero() {
		if hi, err = firstAtOrAfter(r, q.Patient, count, q.To); err != nil {
			return nil, "", err
		}
	}
	// next is the next ordinal to examine (oldest first), or one past it
	// (newest first), so that "no more" is next == hi or next == lo.
	next := lo
	if q.Order == NewestFirst {
		next = hi
	}
	if q.Cursor != "" {
		c, err := strconv.ParseUint(q.Cursor, 10, 64)
		if err != nil || c >= count {
			return nil, "", fmt.Errorf("%w: cursor %q does not belong to this patient's history", ErrInvalidQuery, q.Cursor)
		}
		if q.Order == OldestFirst {
			next = max(next, c)
		} else {
			next = min(next, c+1)
		}
	}

	var out []Event
	for examined := 0; examined < ScanBudget && len(out) < limit; examined++ {
		var ord uint64
		if q.Order == OldestFirst {
			if next >= hi {
				break
			}
			ord, next = next, next+1
		} else {
			if next <= lo {
				break
			}
			next--
			ord = next
		}
		e, err := patientEvent(r, q.Patient, ord)
		if err != nil {
			return nil, "", err
		}
		if q.matches(&e) {
			out = append(out, e)
		}
	}

	cursor := ""
	if q.Order == OldestFirst && next < hi {
		cursor = strconv.FormatUint(next, 10)
	}
	if q.Order == NewestFirst && next > lo {
		cursor = strconv.FormatUint(next-1, 10)
	}
	return out, cursor, nil
}

// check validates q and returns its effective limit.
func (q *Query) check() (int, error) {
	switch {
	case q.NoPatient && q.Patient != "":
		return 0, fmt.Errorf("%w: the events about no patient are read without a patient", ErrInvalidQuery)
	case !q.NoPatient && q.Patient == "":
		return 0, fmt.Errorf("%w: patient is required", ErrInvalidQuery)
	}
	for _, c := range []struct {
		field, value string
		optional     bool
	}{{"patient", q.Patient, q.NoPatient}, {"actor", q.Actor, true}, {"organization", q.Org, true}} {
		if err := checkID(c.field, c.value, c.optional); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
		}
	}
	if err := checkPurpose(q.Purpose); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
	}
	if q.Decision > Deny {
		return 0, fmt.Errorf("%w: unknown decision %d", ErrInvalidQuery, q.Decision)
	}
	if len(q.Actions) > maxQueryActions {
		return 0, fmt.Errorf("%w: %d actions, at most %d", ErrInvalidQuery, len(q.Actions), maxQueryActions)
	}
	for _, a := range q.Actions {
		if err := checkActionSyntax(a); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrInvalidQuery, err)
		}
	}
	if !q.From.IsZero() && !q.To.IsZero() && q.To.Before(q.From) {
		return 0, fmt.Errorf("%w: time range ends (%s) before it starts (%s)", ErrInvalidQuery,
			q.To.UTC().Format(timeLayout), q.From.UTC().Format(timeLayout))
	}
	if q.Order != NewestFirst && q.Order != OldestFirst {
		return 0, fmt.Errorf("%w: unknown order %d", ErrInvalidQuery, q.Order)
	}
	switch {
	case q.Limit < 0 || q.Limit > MaxLimit:
		return 0, fmt.Errorf("%w: limit %d outside 1..%d", ErrInvalidQuery, q.Limit, MaxLimit)
	case q.Limit == 0:
		return DefaultLimit, nil
	}
	return q.Limit, nil
}

func (q *Query) matches(e *Event) bool {
	if q.Actor != "" && e.Actor != q.Actor ||
		q.Org != "" && e.ActorOrg != q.Org ||
		q.Purpose != "" && e.Purpose != q.Purpose ||
		q.Decision != DecisionAny && e.Decision != q.Decision ||
		q.BreakGlassOnly && !e.BreakGlass ||
		!q.From.IsZero() && e.Time.Before(q.From) ||
		!q.To.IsZero() && !e.Time.Before(q.To) {
		return false
	}
	if len(q.Actions) == 0 {
		return true
	}
	for _, a := range q.Actions {
		if e.Action == a {
			return true
		}
	}
	return false
}

// patientEvent loads the patient's ordinal-th event.
func patientEvent(r kv.Reader, patient string, ordinal uint64) (Event, error) {
	seq, err := patientSeq(r, patient, ordinal)
	if err != nil {
		return Event{}, err
	}
	e, err := Get(r, seq)
	if err != nil {
		return Event{}, err
	}
	if e.Patient != patient {
		return Event{}, fmt.Errorf("load patient entry %d: %w: event %d belongs to another patient", ordinal, ErrCorrupt, seq)
	}
	return e, nil
}

// firstAtOrAfter returns the first of the patient's ordinals whose event time
// is at or after t, or count if none is: a binary search, O(log count) reads.
func firstAtOrAfter(r kv.Reader, patient string, count uint64, t time.Time) (uint64, error) {
	lo, hi := uint64(0), count
	for lo < hi {
		mid := lo + (hi-lo)/2
		e, err := patientEvent(r, patient, mid)
		if err != nil {
			return 0, err
		}
		if e.Time.Before(t) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo, nil
}
