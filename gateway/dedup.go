package gateway

import (
	"context"
	"crypto/sha256"
	"hash/maphash"
	"sync"
	"time"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// dedup remembers the result of each event for a window, so that a retry
// gets the first result instead of producing again. It is best effort per
// gateway instance: the workers de-duplicate for good.
//
// Events on their way to Kafka are pending: their owner produces them and
// any copy that arrives meanwhile waits for the owner's result. Once Kafka
// has accepted an event, its result moves into one of a fixed number of
// pointer-free records (slots), allocated (and touched) once at start,
// with an open-addressing index beside it, so that the cache's memory is
// the same from the first event to the last: up to dedupBytesPerEntry per
// entry of capacity, and a small record per caller with results. The
// results are linked in the order they were accepted, which is also their
// expiry order, and each caller's results in the same order. When every
// slot is taken, a new result takes the oldest one's, unless its caller
// already holds half the slots: then it takes that caller's own oldest, so
// that one caller's flood of new ids never pushes out more than half of
// everyone else's results. A failed event is not remembered.
type dedup struct {
	window time.Duration // <= 0: off
	seed   maphash.Seed  // keys events; random, so that nobody can aim at another's key
	start  time.Time     // results' times are offsets from it (monotonic)
	now    func() time.Time

	mu      sync.Mutex
	pending map[uint64]*dedupEntry
	slots   []dedupResult
	free    int32 // the first free slot (the rest linked by next), or -1
	oldest  int32 // the results in the order accepted, linked by next; -1: none
	newest  int32
	n       int                    // results remembered
	share   int                    // the most results a caller keeps once the slots are all taken
	callers map[uint64]dedupCaller // by callerKey, the callers with results
	index   []uint32               // slot + 1 of each result, by its key; 0 is empty
	mask    uint64                 // len(index) - 1
	kinds   []dedupKind
	kindIDs map[dedupKind]uint32
	// evicted, when set, is told of each result forgotten before its
	// window ended: shared when its caller's own made room.
	evicted func(shared bool)
}

// dedupCaller is where a caller's results are: its oldest, linked to the
// next by nextOwn, and its newest.
type dedupCaller struct {
	oldest, newest int32
	n              int32
}

// dedupResult is a remembered result. A key is 64 bits of a hash of the
// principal and the event id, keyed with a seed drawn at start; with at
// most a few hundred thousand keys at a time, a new key meets a live one
// with a chance of about one in 10^13, and even then the fingerprint
// refuses the second event rather than handing it the first one's result.
type dedupResult struct {
	key       uint64
	caller    uint64 // callerKey of the principal
	fp        [fingerprintSize]byte
	at        int64 // when accepted, in nanoseconds since the cache started; -1 in a free slot
	offset    int64
	partition int32
	schemaID  int32
	kind      uint32 // index into kinds
	// The lists: all results (prev, next), the caller's (nextOwn); a free
	// slot's next is the next free one.
	prev, next, nextOwn int32
}

// dedupKind is what many results share: the event's type and its topic.
// There are as many as there are event types, not events.
type dedupKind struct {
	typeName string
	topic    string
}

// dedupBytesPerEntry is at most what one entry of capacity costs: its
// 72-byte record and its share of the index, which has two to four 4-byte
// positions per entry (a power of two at least twice the capacity).
// 100,000 entries take 8.8 MB, and each caller with results 40 bytes or so
// more.
const dedupBytesPerEntry = 72 + 4*4

// dedupEntry is an event that claimed a key: pending, or a remembered
// result handed to a retry.
type dedupEntry struct {
	key    uint64
	caller uint64
	// fingerprint and typeName describe the event that claimed the key: a
	// later event with the key must be the same event to share its result.
	fingerprint [fingerprintSize]byte
	typeName    string
	done        chan struct{} // closed when accepted or err is set
	// Set before done is closed.
	accepted *gatewayv1.Accepted
	err      error
}

// settled is the done channel of entries that already hold their result.
var settled = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func newDedup(window time.Duration, maxEntries int) *dedup {
	d := &dedup{window: window, seed: maphash.MakeSeed(), start: time.Now(), now: time.Now}
	if window <= 0 || maxEntries <= 0 {
		d.window = 0
		return d
	}
	size := 1
	for size < 2*maxEntries {
		size <<= 1
	}
	d.pending = make(map[uint64]*dedupEntry)
	d.slots = make([]dedupResult, maxEntries)
	d.free, d.oldest, d.newest = 0, -1, -1
	d.share = max(1, maxEntries/2)
	d.callers = make(map[uint64]dedupCaller)
	d.index = make([]uint32, size)
	d.mask = uint64(size - 1)
	d.kindIDs = make(map[dedupKind]uint32)
	// Touch every page now: the cache costs its full size from the start
	// rather than growing into it under load.
	for i := range d.slots {
		d.slots[i] = dedupResult{at: -1, next: int32(i + 1)}
	}
	d.slots[len(d.slots)-1].next = -1
	for i := range d.index {
		d.index[i] = 0
	}
	return d
}

// key identifies p's event id.
func (d *dedup) key(principal, eventID string) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(principal)
	h.WriteByte(0)
	h.WriteString(eventID)
	return h.Sum64()
}

// callerKey identifies a principal.
func (d *dedup) callerKey(principal string) uint64 {
	var h maphash.Hash
	h.SetSeed(d.seed)
	h.WriteString(principal)
	return h.Sum64()
}

// claim returns the entry for principal's eventID and whether the caller
// owns it: the owner produces the event and calls finish; the others
// compare their event's fingerprint with the entry's and, when it is the
// same event, wait for the owner with wait.
func (d *dedup) claim(principal, eventID string, fp [fingerprintSize]byte, typeName string) (*dedupEntry, bool) {
	if d.window <= 0 {
		return &dedupEntry{done: make(chan struct{}), fingerprint: fp, typeName: typeName}, true
	}
	key, caller := d.key(principal, eventID), d.callerKey(principal)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expireLocked(d.elapsed())
	if e, ok := d.pending[key]; ok {
		return e, false
	}
	if _, slot, ok := d.find(key); ok {
		r := &d.slots[slot]
		k := d.kinds[r.kind]
		return &dedupEntry{
			key: key, fingerprint: r.fp, typeName: k.typeName, done: settled,
			accepted: &gatewayv1.Accepted{Topic: k.topic, Partition: r.partition, Offset: r.offset, SchemaId: r.schemaID},
		}, false
	}
	e := &dedupEntry{key: key, caller: caller, done: make(chan struct{}), fingerprint: fp, typeName: typeName}
	d.pending[key] = e
	return e, true
}

// finish records the owner's result. A failed event is forgotten, so that a
// retry produces it again; those waiting already get the error.
func (d *dedup) finish(e *dedupEntry, accepted *gatewayv1.Accepted, err error) {
	e.accepted, e.err = accepted, err
	close(e.done)
	if d.window <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pending[e.key] == e {
		delete(d.pending, e.key)
	}
	if err != nil || accepted == nil {
		return
	}
	now := d.elapsed()
	d.expireLocked(now)
	d.remember(e, accepted, now)
}

// remember keeps e's result, in the place of another when every slot is
// taken: the oldest result, or, when e's caller holds its share already,
// that caller's oldest.
func (d *dedup) remember(e *dedupEntry, accepted *gatewayv1.Accepted, now int64) {
	if _, _, ok := d.find(e.key); ok {
		return // cannot happen: a key is claimed only when no result has it
	}
	c := d.callers[e.caller]
	if d.free < 0 {
		shared := int(c.n) >= d.share
		if shared {
			d.drop(c.oldest)
		} else {
			d.drop(d.oldest)
		}
		if d.evicted != nil {
			d.evicted(shared)
		}
		c = d.callers[e.caller]
	}
	slot := d.free
	d.free = d.slots[slot].next
	d.slots[slot] = dedupResult{
		key: e.key, caller: e.caller, fp: e.fingerprint, at: now,
		offset: accepted.GetOffset(), partition: accepted.GetPartition(), schemaID: accepted.GetSchemaId(),
		kind: d.kind(dedupKind{typeName: e.typeName, topic: accepted.GetTopic()}),
		prev: d.newest, next: -1, nextOwn: -1,
	}
	if d.newest >= 0 {
		d.slots[d.newest].next = slot
	} else {
		d.oldest = slot
	}
	d.newest = slot
	if c.n == 0 {
		c.oldest = slot
	} else {
		d.slots[c.newest].nextOwn = slot
	}
	c.newest = slot
	c.n++
	d.callers[e.caller] = c
	d.n++
	pos, _, _ := d.find(e.key)
	d.index[pos] = uint32(slot) + 1
}

// drop forgets the result in slot, which is its caller's oldest (the
// oldest result, or a caller's oldest), and frees the slot.
func (d *dedup) drop(slot int32) {
	r := &d.slots[slot]
	if pos, _, ok := d.find(r.key); ok {
		d.unindex(pos)
	}
	if r.prev >= 0 {
		d.slots[r.prev].next = r.next
	} else {
		d.oldest = r.next
	}
	if r.next >= 0 {
		d.slots[r.next].prev = r.prev
	} else {
		d.newest = r.prev
	}
	if c := d.callers[r.caller]; c.n <= 1 {
		delete(d.callers, r.caller)
	} else {
		c.oldest, c.n = r.nextOwn, c.n-1
		d.callers[r.caller] = c
	}
	*r = dedupResult{at: -1, next: d.free}
	d.free = slot
	d.n--
}

// kind returns the index of k in kinds, adding it the first time.
func (d *dedup) kind(k dedupKind) uint32 {
	if id, ok := d.kindIDs[k]; ok {
		return id
	}
	id := uint32(len(d.kinds))
	d.kinds = append(d.kinds, k)
	d.kindIDs[k] = id
	return id
}

// elapsed is the time since the cache started, on the monotonic clock.
func (d *dedup) elapsed() int64 { return int64(d.now().Sub(d.start)) }

// expireLocked drops the results older than the window.
func (d *dedup) expireLocked(now int64) {
	for d.oldest >= 0 && now-d.slots[d.oldest].at >= int64(d.window) {
		d.drop(d.oldest)
	}
}

// find returns where key is in the index and its slot, or the empty
// index position where it would go.
func (d *dedup) find(key uint64) (pos uint64, slot uint32, ok bool) {
	for pos = key & d.mask; ; pos = (pos + 1) & d.mask {
		s := d.index[pos]
		if s == 0 {
			return pos, 0, false
		}
		if d.slots[s-1].key == key {
			return pos, s - 1, true
		}
	}
}

// unindex empties index position pos and moves later keys of the same
// probe sequence back into the gap, so that the index never holds
// tombstones and lookups stay short (linear probing's backward-shift
// deletion).
func (d *dedup) unindex(pos uint64) {
	gap := pos
	for next := (gap + 1) & d.mask; d.index[next] != 0; next = (next + 1) & d.mask {
		home := d.slots[d.index[next]-1].key & d.mask
		// The key at next may fill the gap unless its home lies
		// cyclically after the gap, up to next.
		if (next-home)&d.mask >= (next-gap)&d.mask {
			d.index[gap] = d.index[next]
			gap = next
		}
	}
	d.index[gap] = 0
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

// fingerprintSize is how much of an event's SHA-256 the cache keeps: 128
// bits, more than enough to tell a retry from another event.
const fingerprintSize = 16

// fingerprint identifies an event for de-duplication: its type and its
// payload as the client encoded it. A retry sends the same bytes.
func fingerprint(typeName string, payload []byte) [fingerprintSize]byte {
	h := sha256.New()
	h.Write([]byte(typeName))
	h.Write([]byte{0})
	h.Write(payload)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return [fingerprintSize]byte(sum[:fingerprintSize])
}
