package gateway

import (
	"container/list"
	"context"
	"crypto/sha256"
	"sync"
	"time"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// dedup remembers the result of each event for a window, so that a retry
// gets the first result instead of producing again. Entries are kept in
// the order they were created, which is also their expiry order; the oldest
// go first when the cache is full. It is best effort per gateway instance:
// the workers de-duplicate for good.
type dedup struct {
	window time.Duration // <= 0: off
	max    int

	mu      sync.Mutex
	entries map[string]*list.Element // of *dedupEntry
	order   *list.List
}

type dedupEntry struct {
	key     string
	created time.Time
	// fingerprint and typeName describe the event that claimed the key: a
	// later event with the key must be the same event to share its result.
	fingerprint [sha256.Size]byte
	typeName    string
	done        chan struct{} // closed when accepted or err is set
	// Set before done is closed.
	accepted *gatewayv1.Accepted
	err      error
}

func newDedup(window time.Duration, maxEntries int) *dedup {
	return &dedup{window: window, max: maxEntries, entries: make(map[string]*list.Element), order: list.New()}
}

// claim returns the entry for key and whether the caller owns it: the owner
// produces the event and calls finish; the others compare their event's
// fingerprint with the entry's and, when it is the same event, wait for the
// owner with wait.
func (d *dedup) claim(key string, fingerprint [sha256.Size]byte, typeName string) (*dedupEntry, bool) {
	if d.window <= 0 {
		return &dedupEntry{done: make(chan struct{}), fingerprint: fingerprint, typeName: typeName}, true
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(now)
	if el, ok := d.entries[key]; ok {
		return el.Value.(*dedupEntry), false
	}
	e := &dedupEntry{key: key, created: now, done: make(chan struct{}), fingerprint: fingerprint, typeName: typeName}
	d.entries[key] = d.order.PushBack(e)
	return e, true
}

func (d *dedup) expireLocked(now time.Time) {
	for el := d.order.Front(); el != nil; el = d.order.Front() {
		e := el.Value.(*dedupEntry)
		if now.Sub(e.created) < d.window && d.order.Len() < d.max {
			return
		}
		d.order.Remove(el)
		delete(d.entries, e.key)
	}
}

// finish records the owner's result. A failed event is forgotten, so that a
// retry produces it again; those waiting already get the error.
func (d *dedup) finish(e *dedupEntry, accepted *gatewayv1.Accepted, err error) {
	e.accepted, e.err = accepted, err
	close(e.done)
	if err == nil || d.window <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if el, ok := d.entries[e.key]; ok && el.Value == e {
		d.order.Remove(el)
		delete(d.entries, e.key)
	}
}

// wait returns the owner's result once there is one, or ctx's error.
func (e *dedupEntry) wait(ctx context.Context) (*gatewayv1.Accepted, error) {
	select {
	case <-e.done:
		return e.accepted, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// fingerprint identifies an event for de-duplication: its type and its
// payload as the client encoded it. A retry sends the same bytes.
func fingerprint(typeName string, payload []byte) [sha256.Size]byte {
	h := sha256.New()
	h.Write([]byte(typeName))
	h.Write([]byte{0})
	h.Write(payload)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}
