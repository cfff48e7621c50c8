package huntapp

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/cairnhq/cairn/workers/hunt"
)

// entrantCache keeps the entrants that batches read and wrote, by hunt, so
// that a batch reads from the database only the entrants it has not seen:
// at 100,000 players, reading them was a fifth of an answer's cost.
//
// The database stays the truth. Every batch that writes a hunt's rows
// writes a new random stamp to its counters row (hunt_counters.stamp), and
// a hunt's cached entrants are used only while the stamp a batch reads
// there is the one the cache holds. A batch rolled back after the cache
// took its rows, or a hunt written by another worker (after a rebalance),
// leaves another stamp, and the hunt's cached entrants are dropped. Only
// entrants are cached: a player the cache does not hold is read, whether
// or not it has joined.
//
// It is safe for concurrent use; batches of one hunt never run at once
// (a hunt's events share a partition).
type entrantCache struct {
	mu    sync.Mutex
	limit int // entrants kept over all hunts
	size  int
	hunts map[string]*cachedHunt
	// hits and misses count the entrants take found and did not.
	hits, misses atomic.Int64
}

// cachedHunt is one hunt's cached entrants, as the rows held them when
// the hunt's counters had stamp.
type cachedHunt struct {
	stamp    int64
	entrants map[string]hunt.Entrant
}

// newEntrantCache returns a cache keeping at most limit entrants, or nil
// (no cache) when limit is not positive.
func newEntrantCache(limit int) *entrantCache {
	if limit <= 0 {
		return nil
	}
	return &entrantCache{limit: limit, hunts: make(map[string]*cachedHunt)}
}

// newStamp returns a stamp for a hunt's counters: random, never 0 (the
// stamp of rows no batch stamped).
func newStamp() int64 {
	for {
		if s := rand.Int64(); s != 0 {
			return s
		}
	}
}

// take calls found with each of players the cache holds for huntID as of
// stamp, and returns the others. A hunt cached at another stamp is
// dropped first.
func (c *entrantCache) take(huntID string, stamp int64, players []string, found func(hunt.Entrant)) (missing []string) {
	if c == nil {
		return players
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		c.hits.Add(int64(len(players) - len(missing)))
		c.misses.Add(int64(len(missing)))
	}()
	ch := c.hunts[huntID]
	if ch == nil || ch.stamp != stamp || stamp == 0 {
		c.drop(huntID)
		return players
	}
	for _, p := range players {
		if e, ok := ch.entrants[p]; ok {
			found(e)
		} else {
			missing = append(missing, p)
		}
	}
	return missing
}

// keep records, once a batch is applied, the entrants of huntID it read
// from the rows at stamp from, and those it wrote with stamp to (from when
// it wrote none). Unless the cache still holds the hunt at from, or holds
// none of it, the hunt is dropped: its rows changed in a way the cache did
// not see.
func (c *entrantCache) keep(huntID string, from, to int64, read, written []hunt.Entrant) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := c.hunts[huntID]
	if ch != nil && ch.stamp != from || from == 0 && to == 0 {
		c.drop(huntID)
		return
	}
	if ch == nil {
		ch = &cachedHunt{entrants: make(map[string]hunt.Entrant)}
		c.hunts[huntID] = ch
	}
	ch.stamp = to
	for _, set := range [][]hunt.Entrant{read, written} {
		for _, e := range set {
			if _, ok := ch.entrants[e.PlayerID]; !ok {
				c.size++
			}
			ch.entrants[e.PlayerID] = e
		}
	}
	if c.size > c.limit {
		c.evict(c.limit - c.limit/10)
	}
}

// drop forgets huntID's entrants.
func (c *entrantCache) drop(huntID string) {
	if ch := c.hunts[huntID]; ch != nil {
		c.size -= len(ch.entrants)
		delete(c.hunts, huntID)
	}
}

// evict forgets entrants, taken as map order gives them (at random), until
// at most n are kept.
func (c *entrantCache) evict(n int) {
	for id, ch := range c.hunts {
		for p := range ch.entrants {
			if c.size <= n {
				return
			}
			delete(ch.entrants, p)
			c.size--
		}
		if len(ch.entrants) == 0 {
			delete(c.hunts, id)
		}
	}
}

// len returns how many entrants the cache holds.
func (c *entrantCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.size
}
