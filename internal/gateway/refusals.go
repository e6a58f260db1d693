package gateway

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/carechain/carechain/internal/tx"
)

// DefaultRefusalInterval is how long a gateway gathers refusals that name
// nobody before it puts them on the ledger as one audit.refusals.
const DefaultRefusalInterval = 2 * time.Second

// refusalStopTimeout bounds the last report when the gateway stops.
const refusalStopTimeout = 5 * time.Second

// refusalKey is what makes two refusals identical: the code and the client
// the request claimed to be.
type refusalKey struct{ code, claimed string }

// refusalTally counts the refusals of one interval by (code, claimed). It
// never holds more entries than one audit.refusals carries: each code it
// takes keeps a slot for the attempts that claimed nobody, and once the
// other slots are taken by distinct claims, further new claims are counted
// there too, under their code alone. Every attempt is counted; only which
// client it claimed may be lost in a flood.
type refusalTally struct {
	codes      map[string]bool
	maxClaimed int

	mu      sync.Mutex
	counts  map[refusalKey]uint64
	claimed int // entries with a claimed client
	// wake is signalled when the tally stops being empty.
	wake chan struct{}
}

func newRefusalTally(codes []string) *refusalTally {
	t := &refusalTally{codes: map[string]bool{}, counts: map[refusalKey]uint64{}, wake: make(chan struct{}, 1)}
	for _, c := range codes {
		t.codes[c] = true
	}
	t.maxClaimed = tx.MaxRefusalEntries - len(t.codes)
	return t
}

// add counts one refusal with code, claiming to be claimed (any string: a
// claim that is not shaped like an id counts as claiming nobody). It
// reports whether code is one the tally takes.
func (t *refusalTally) add(code, claimed string) bool {
	if !t.codes[code] {
		return false
	}
	k := refusalKey{code, tx.ClaimedClient(claimed)}
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.counts[k]; !seen && k.claimed != "" {
		if t.claimed < t.maxClaimed {
			t.claimed++
		} else {
			k.claimed = ""
		}
	}
	if len(t.counts) == 0 {
		select {
		case t.wake <- struct{}{}:
		default:
		}
	}
	t.counts[k]++
	return true
}

// take empties the tally and returns it as audit.refusals entries, in the
// order the ledger wants them.
func (t *refusalTally) take() []tx.RefusalTally {
	t.mu.Lock()
	counts := t.counts
	t.counts, t.claimed = map[refusalKey]uint64{}, 0
	t.mu.Unlock()
	out := make([]tx.RefusalTally, 0, len(counts))
	for k, n := range counts {
		out = append(out, tx.RefusalTally{Code: k.code, Claimed: k.claimed, Count: n})
	}
	slices.SortFunc(out, func(a, b tx.RefusalTally) int {
		return cmp.Or(cmp.Compare(a.Code, b.Code), cmp.Compare(a.Claimed, b.Claimed))
	})
	return out
}

// refusalReporter puts a tally on the ledger: an interval after the first
// refusal it holds, it sends what it has gathered as one audit.refusals,
// and waits for the next refusal. So a gateway adds at most one such
// transaction, of at most 64 events, per interval, whatever the flood;
// a quiet gateway sends nothing. Stopping reports what is left.
type refusalReporter struct {
	tally    *refusalTally
	interval time.Duration
	send     func(ctx context.Context, entries []tx.RefusalTally) error
	log      *slog.Logger

	ctx      context.Context // ends refusalStopTimeout after stop
	cancel   context.CancelFunc
	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

func newRefusalReporter(tally *refusalTally, interval time.Duration, log *slog.Logger,
	send func(ctx context.Context, entries []tx.RefusalTally) error) *refusalReporter {
	if interval <= 0 {
		interval = DefaultRefusalInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &refusalReporter{tally: tally, interval: interval, send: send, log: log, ctx: ctx, cancel: cancel,
		stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *refusalReporter) run() {
	defer close(r.done)
	for {
		select {
		case <-r.tally.wake:
		case <-r.stop:
			r.report()
			return
		}
		timer := time.NewTimer(r.interval)
		select {
		case <-timer.C:
		case <-r.stop:
			timer.Stop()
			r.report()
			return
		}
		r.report()
	}
}

// report sends what the tally holds, if anything. A failure is logged
// with the counts lost: whether a timed-out transaction was committed
// cannot be known here, and counting its attempts again could double them.
func (r *refusalReporter) report() {
	entries := r.tally.take()
	if len(entries) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(r.ctx, commitTimeout)
	defer cancel()
	if err := r.send(ctx, entries); err != nil {
		var attempts uint64
		for _, e := range entries {
			attempts += e.Count
		}
		r.log.Error("record refusals that name nobody on the ledger", "entries", len(entries), "attempts", attempts, "err", err)
	}
}

// close stops the reporter once it has reported what is left, or after
// refusalStopTimeout.
func (r *refusalReporter) close() {
	r.stopOnce.Do(func() {
		close(r.stop)
		t := time.AfterFunc(refusalStopTimeout, r.cancel)
		<-r.done
		t.Stop()
		r.cancel()
	})
}
