package auth

import (
	"crypto/sha256"
	"sync"
	"time"
)

// tokenCache remembers verified tokens, keyed by the SHA-256 of the token (the
// token itself is never stored), until their exp and never beyond. It holds at
// most max entries and evicts the oldest first: entries live at most as long
// as a token (15 minutes for Better Auth), so recency adds little.
type tokenCache struct {
	mu      sync.Mutex
	entries map[[sha256.Size]byte]cacheEntry
	ring    [][sha256.Size]byte // insertion order; ring[next] is the oldest once full
	used    []bool
	next    int
	gen     uint64 // bumped by purge; a verification that started before is not stored
}

type cacheEntry struct {
	p    Principal
	slot int
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{
		entries: make(map[[sha256.Size]byte]cacheEntry, min(max, 1024)),
		ring:    make([][sha256.Size]byte, max),
		used:    make([]bool, max),
	}
}

// get returns the principal of a verified token that has not expired at now.
func (c *tokenCache) get(sum [sha256.Size]byte, now time.Time) (Principal, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[sum]
	if !ok || !now.Before(e.p.ExpiresAt) {
		return Principal{}, false
	}
	return e.p, true
}

// generation returns the purge generation, read before verifying a token.
func (c *tokenCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// put stores a token verified at now, unless it is already expired (accepted
// only thanks to the leeway) or a purge happened since gen was read.
func (c *tokenCache) put(sum [sha256.Size]byte, p Principal, gen uint64, now time.Time) {
	if !now.Before(p.ExpiresAt) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if _, ok := c.entries[sum]; ok {
		return
	}
	slot := c.next
	if c.used[slot] {
		old := c.ring[slot]
		if e, ok := c.entries[old]; ok && e.slot == slot {
			delete(c.entries, old)
		}
	}
	c.ring[slot], c.used[slot] = sum, true
	c.entries[sum] = cacheEntry{p: p, slot: slot}
	c.next = (slot + 1) % len(c.ring)
}

// purge forgets every token: called when a JWKS refresh removes a key, so
// tokens signed with it are refused from then on.
func (c *tokenCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.entries)
	clear(c.used)
	c.next = 0
	c.gen++
}

// len returns the number of entries.
func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
