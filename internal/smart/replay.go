package smart

import (
	"container/heap"
	"sync"
	"time"
)

// DefaultReplayCacheSize bounds the jtis remembered. Each lives at most
// MaxAssertionLifetime+ClockSkew, so the bound is on token requests per
// five and a half minutes: far above what an organization's systems make.
const DefaultReplayCacheSize = 100_000

// ReplayCache remembers the jti of every accepted assertion until that
// assertion expires, so that each is used at most once (RFC 7523 §3,
// item 7). It is bounded in time (an entry goes when its assertion
// expires) and in size: when full of live entries it refuses new
// assertions rather than forget a live one, since forgetting would let that
// one be replayed. It is safe for concurrent use and reads no clock.
type ReplayCache struct {
	mu    sync.Mutex
	max   int
	seen  map[string]time.Time
	queue expiryHeap
}

// NewReplayCache returns a cache holding at most max live jtis (0: the
// default).
func NewReplayCache(max int) *ReplayCache {
	if max <= 0 {
		max = DefaultReplayCacheSize
	}
	return &ReplayCache{max: max, seen: map[string]time.Time{}}
}

// Use records the jti of client's assertion, which expires at exp, as used
// at now. It refuses a jti already used by that client whose assertion has
// not expired, and any jti when the cache is full of live ones.
func (c *ReplayCache) Use(client, jti string, exp, now time.Time) error {
	key := client + "\x00" + jti
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expire(now)
	if _, dup := c.seen[key]; dup {
		return refuse(oauthInvalidClient, ReasonAssertionReplayed, "this assertion (jti %q) was already used; sign a new one for each token request", clip(jti))
	}
	if len(c.seen) >= c.max {
		return refuse(oauthUnavailable, ReasonBusy, "too many token requests in the last %s; try again shortly", MaxAssertionLifetime+ClockSkew)
	}
	// Kept until the latest moment the assertion could still be accepted.
	until := exp.Add(ClockSkew)
	c.seen[key] = until
	heap.Push(&c.queue, expiry{key: key, at: until})
	return nil
}

// Len returns the number of jtis remembered.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.seen)
}

// expire forgets entries whose assertions can no longer be accepted at now.
func (c *ReplayCache) expire(now time.Time) {
	for len(c.queue) > 0 && !c.queue[0].at.After(now) {
		e := heap.Pop(&c.queue).(expiry)
		delete(c.seen, e.key)
	}
}

type expiry struct {
	key string
	at  time.Time
}

// expiryHeap orders entries by expiry, soonest first.
type expiryHeap []expiry

func (h expiryHeap) Len() int           { return len(h) }
func (h expiryHeap) Less(i, j int) bool { return h[i].at.Before(h[j].at) }
func (h expiryHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *expiryHeap) Push(x any)        { *h = append(*h, x.(expiry)) }
func (h *expiryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}
