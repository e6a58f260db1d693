package ledgerstate

import (
	"container/list"
	"fmt"
	"sync"

	"github.com/carechain/carechain/internal/consent"
	"github.com/carechain/carechain/internal/kv"
)

// DefaultCacheSize is how many patients' indexes an IndexCache keeps by
// default. An index costs about a microsecond per consent to rebuild, so
// a miss is cheap; the cache saves rebuilding for the patients whose records
// are being read right now.
const DefaultCacheSize = 4096

// IndexCache keeps recently used patients' decision indexes, keyed by
// (patient, revision). The revision changes with every change to a
// patient's consents and an index is a pure function of those consents, so
// an entry found under the revision the state holds now is exactly the
// index LoadIndex would build from that state: the cache changes speed,
// never decisions. Entries are never mutated once built, which is what lets
// concurrent decisions share them. The least recently used entry is dropped
// when the cache is full.
//
// An IndexCache is safe for concurrent use, and may serve readers of
// different states at once (committed state, the mempool's view, an older
// height): each asks under its own revision.
type IndexCache struct {
	mu      sync.Mutex
	size    int
	entries map[cacheKey]*list.Element
	lru     *list.List // of *cacheEntry, most recently used first
	builds  uint64
}

type cacheKey struct {
	patient  string
	revision [32]byte
}

type cacheEntry struct {
	key cacheKey
	ix  *consent.Index
}

// NewIndexCache returns a cache holding up to size indexes (at least one).
func NewIndexCache(size int) *IndexCache {
	size = max(size, 1)
	return &IndexCache{size: size, entries: make(map[cacheKey]*list.Element, size), lru: list.New()}
}

// Index returns patient's index as of st. A patient without consents has
// a nil index, which consent.Decide reads as "no consents".
func (c *IndexCache) Index(st kv.Reader, patient string) (*consent.Index, error) {
	rev, err := Revision(st, patient)
	if err != nil {
		return nil, err
	}
	if rev == ([32]byte{}) {
		// No consent was ever granted; nothing worth caching.
		return nil, nil
	}
	key := cacheKey{patient: patient, revision: rev}
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		c.mu.Unlock()
		return el.Value.(*cacheEntry).ix, nil
	}
	c.mu.Unlock()

	// Build outside the lock: two readers missing at once both build the
	// same index, which costs time but not correctness.
	ix, err := LoadIndex(st, patient)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.builds++
	if el, ok := c.entries[key]; ok {
		c.lru.MoveToFront(el)
		return el.Value.(*cacheEntry).ix, nil
	}
	c.entries[key] = c.lru.PushFront(&cacheEntry{key: key, ix: ix})
	for c.lru.Len() > c.size {
		oldest := c.lru.Back()
		c.lru.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	return ix, nil
}

// Stats reports how many indexes the cache holds and how many it has built.
func (c *IndexCache) Stats() (entries int, builds uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len(), c.builds
}

// Decide decides req against the patient's consents in st, with the
// patient's break-the-glass opt-out as st holds it (circ.OptedOut is
// ignored). circ.Block is the block the decision is made in. The error is
// a storage failure only; a malformed request is a decision
// (invalid-request), as consent.Decide makes it.
func (c *IndexCache) Decide(st kv.Reader, req consent.Request, circ consent.Circumstances) (consent.Decision, error) {
	if !consent.IsValidID(req.Patient) {
		// Refused by Decide before it looks at consents; no state key is
		// built from an id that is not one.
		return consent.Decide(nil, req, circ), nil
	}
	ix, err := c.Index(st, req.Patient)
	if err != nil {
		return consent.Decision{}, fmt.Errorf("decide for patient %s: %w", req.Patient, err)
	}
	if circ.OptedOut, err = OptedOut(st, req.Patient); err != nil {
		return consent.Decision{}, fmt.Errorf("decide for patient %s: %w", req.Patient, err)
	}
	return consent.Decide(ix, req, circ), nil
}
