package app

import "sync"

// checkCacheSize bounds how many validated transactions a node remembers
// between CheckTx and FinalizeBlock: about a mempool's worth.
const checkCacheSize = 100_000

// checkCache remembers validated transactions by hash, evicting the oldest
// when full. Losing an entry only costs a repeated verification.
type checkCache struct {
	mu    sync.Mutex
	byKey map[[32]byte]*validated
	order [][32]byte // insertion ring
	next  int
}

func newCheckCache(size int) *checkCache {
	return &checkCache{byKey: make(map[[32]byte]*validated, size), order: make([][32]byte, size)}
}

func (c *checkCache) get(h [32]byte) *validated {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byKey[h]
}

func (c *checkCache) put(v *validated) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[v.hash]; ok {
		return
	}
	delete(c.byKey, c.order[c.next]) // the slot's previous occupant, if still held
	c.order[c.next] = v.hash
	c.next = (c.next + 1) % len(c.order)
	c.byKey[v.hash] = v
}

func (c *checkCache) remove(h [32]byte) {
	c.mu.Lock()
	delete(c.byKey, h)
	c.mu.Unlock()
}
