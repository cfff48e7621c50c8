package huntapp

import (
	"encoding/json"
	"sync"

	"github.com/cairnhq/cairn/workers/hunt"
)

// A hunt's clues are written once, as JSON, with its definition, and
// read by every batch and every HuntService read about the hunt: decoding
// them took most of a GetHunt. They are decoded once per text instead
// (clueCache).

// maxCachedClueSets bounds how many hunts' clues are kept decoded.
const maxCachedClueSets = 256

// clueCache keeps decoded clues by their JSON text, so that a text is
// decoded once whichever hunt or transaction reads it (a text is never
// stale: it decodes to the same clues wherever it is read). The clues it
// returns are shared and must not be modified. It is safe for concurrent
// use.
type clueCache struct {
	mu   sync.Mutex
	sets map[string][]hunt.Clue
}

// decodedClues is the process's clue cache.
var decodedClues = &clueCache{sets: make(map[string][]hunt.Clue)}

// decode returns the clues text encodes.
func (c *clueCache) decode(text string) ([]hunt.Clue, error) {
	c.mu.Lock()
	clues, ok := c.sets[text]
	c.mu.Unlock()
	if ok {
		return clues, nil
	}
	if err := json.Unmarshal([]byte(text), &clues); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.sets) >= maxCachedClueSets {
		clear(c.sets) // hunts come and go; the live ones are decoded again
	}
	c.sets[text] = clues
	return clues, nil
}
