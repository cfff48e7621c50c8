package gateway

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/testing/protocmp"

	"github.com/google/go-cmp/cmp"

	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
)

// testDedup is a cache on a clock the test moves.
type testDedup struct {
	*dedup
	at time.Time
}

func newTestDedup(window time.Duration, entries int) *testDedup {
	td := &testDedup{dedup: newDedup(window, entries), at: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	td.start = td.at
	td.now = func() time.Time { return td.at }
	return td
}

// publish claims principal's id for an event of the given payload; an
// owner is answered with accepted at offset (or err). It returns the
// caller's view: owner or not, the entry.
func (td *testDedup) publish(t *testing.T, principal, id, payload string, offset int64, err error) (*dedupEntry, bool) {
	t.Helper()
	e, owner := td.claim(principal, id, fingerprint("t.Player", []byte(payload)), "t.Player")
	if owner {
		var acc *gatewayv1.Accepted
		if err == nil {
			acc = accepted(offset)
		}
		td.finish(e, acc, err)
	}
	return e, owner
}

func accepted(offset int64) *gatewayv1.Accepted {
	return &gatewayv1.Accepted{Topic: "t.players", Partition: int32(offset % 3), Offset: offset, SchemaId: 7}
}

// remembered reports the offset the cache answers a retry of principal's
// id with, or -1 when the retry would be produced again.
func (td *testDedup) remembered(t *testing.T, principal, id, payload string) int64 {
	t.Helper()
	e, owner := td.claim(principal, id, fingerprint("t.Player", []byte(payload)), "t.Player")
	if owner {
		td.finish(e, nil, errors.New("forget this probe"))
		return -1
	}
	acc, err := e.wait(t.Context())
	if err != nil {
		t.Fatalf("wait for %s/%s: %v", principal, id, err)
	}
	return acc.GetOffset()
}

func TestDedupRetryGetsFirstResultAndOtherEventIsRefused(t *testing.T) {
	t.Parallel()
	td := newTestDedup(time.Minute, 16)
	if _, owner := td.publish(t, "ada", "e1", "payload", 41, nil); !owner {
		t.Fatal("the first event does not own its id")
	}
	e, owner := td.claim("ada", "e1", fingerprint("t.Player", []byte("payload")), "t.Player")
	if owner {
		t.Fatal("a retry owns the id again: it would be produced twice")
	}
	acc, err := e.wait(t.Context())
	if err != nil || !cmp.Equal(acc, accepted(41), protocmp.Transform()) {
		t.Errorf("retry = %v, %v; want the first result %v", acc, err, accepted(41))
	}

	other, owner := td.claim("ada", "e1", fingerprint("t.Player", []byte("another payload")), "t.Other")
	if owner || other.fingerprint == fingerprint("t.Player", []byte("another payload")) || other.typeName != "t.Player" {
		t.Errorf("another event with the id: owner %v, type %q, same fingerprint %v; want refused, naming t.Player",
			owner, other.typeName, other.fingerprint == fingerprint("t.Player", []byte("another payload")))
	}
	if _, owner := td.publish(t, "bo", "e1", "payload", 42, nil); !owner {
		t.Error("another principal's event with the same id shares ada's entry")
	}
}

func TestDedupFailedEventIsForgotten(t *testing.T) {
	t.Parallel()
	td := newTestDedup(time.Minute, 16)
	owner, _ := td.claim("ada", "e1", fingerprint("t.Player", []byte("p")), "t.Player")
	waiter, isOwner := td.claim("ada", "e1", fingerprint("t.Player", []byte("p")), "t.Player")
	if isOwner || waiter != owner {
		t.Fatal("a copy of a pending event does not wait for its owner")
	}
	failure := errors.New("kafka said no")
	td.finish(owner, nil, failure)
	if _, err := waiter.wait(t.Context()); !errors.Is(err, failure) {
		t.Errorf("waiter got %v, want the owner's failure", err)
	}
	if got := td.remembered(t, "ada", "e1", "p"); got != -1 {
		t.Errorf("after a failure the retry is answered with offset %d, want it produced again", got)
	}
}

func TestDedupWaitersGetOwnersResult(t *testing.T) {
	t.Parallel()
	td := newTestDedup(time.Minute, 16)
	fp := fingerprint("t.Player", []byte("p"))
	owner, _ := td.claim("ada", "e1", fp, "t.Player")
	const waiters = 8
	got := make([]*gatewayv1.Accepted, waiters)
	var wg sync.WaitGroup
	for i := range waiters {
		e, isOwner := td.claim("ada", "e1", fp, "t.Player")
		if isOwner {
			t.Fatalf("copy %d owns the pending event", i)
		}
		wg.Go(func() {
			acc, err := e.wait(t.Context())
			if err != nil {
				t.Errorf("waiter %d: %v", i, err)
			}
			got[i] = acc
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := owner.wait(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("wait with an ended context = %v, want its error", err)
	}
	td.finish(owner, accepted(5), nil)
	wg.Wait()
	for i, acc := range got {
		if !cmp.Equal(acc, accepted(5), protocmp.Transform()) {
			t.Errorf("waiter %d got %v, want the owner's %v", i, acc, accepted(5))
		}
	}
}

func TestDedupResultsExpireAfterTheWindow(t *testing.T) {
	t.Parallel()
	const window = 10 * time.Minute
	td := newTestDedup(window, 16)
	td.publish(t, "ada", "old", "p", 1, nil)
	td.at = td.at.Add(time.Minute)
	td.publish(t, "ada", "new", "p", 2, nil)

	td.at = td.at.Add(window - time.Minute - time.Nanosecond)
	if got := td.remembered(t, "ada", "old", "p"); got != 1 {
		t.Errorf("just inside the window, old is answered with %d, want 1", got)
	}
	td.at = td.at.Add(time.Nanosecond)
	if got := td.remembered(t, "ada", "old", "p"); got != -1 {
		t.Errorf("at the window's end, old is answered with %d, want forgotten", got)
	}
	if got := td.remembered(t, "ada", "new", "p"); got != 2 {
		t.Errorf("new is answered with %d, want 2", got)
	}
	td.at = td.at.Add(time.Minute)
	if got := td.remembered(t, "ada", "new", "p"); got != -1 || td.n != 0 {
		t.Errorf("after its window new is answered with %d and %d results are kept, want forgotten and none", got, td.n)
	}
}

// TestDedupKeepsItsSize: the slots and the index are allocated once; a
// stream of events many times the capacity, from one caller, keeps the
// newest results (all the slots) and never reallocates either.
func TestDedupKeepsItsSize(t *testing.T) {
	t.Parallel()
	const capacity = 100
	td := newTestDedup(time.Hour, capacity)
	slots, index := unsafe.SliceData(td.slots), unsafe.SliceData(td.index)
	if len(td.slots)*int(unsafe.Sizeof(dedupResult{}))+len(td.index)*4 > capacity*dedupBytesPerEntry {
		t.Errorf("the cache takes %d bytes for %d entries, more than the %d per entry documented",
			len(td.slots)*int(unsafe.Sizeof(dedupResult{}))+len(td.index)*4, capacity, dedupBytesPerEntry)
	}
	const events = 50 * capacity
	for i := range events {
		td.publish(t, "ada", fmt.Sprint(i), "p", int64(i), nil)
		if td.n > capacity || len(td.pending) != 0 {
			t.Fatalf("after %d events: %d results, %d pending; want at most %d and none", i+1, td.n, len(td.pending), capacity)
		}
	}
	if unsafe.SliceData(td.slots) != slots || unsafe.SliceData(td.index) != index || len(td.slots) != capacity {
		t.Error("the slots or the index were reallocated")
	}
	for i := range events {
		want := int64(-1)
		if i >= events-capacity {
			want = int64(i)
		}
		if got := td.remembered(t, "ada", fmt.Sprint(i), "p"); got != want {
			t.Errorf("event %d is answered with %d, want %d", i, got, want)
		}
	}
}

// TestDedupFloodFromOneCaller: a flood of new event ids from one caller
// takes the oldest results' slots only until the caller holds half of
// them; from then on it takes its own oldest, and the others' results stay
// for their window. Refused or failed events take no room, and a caller
// cannot reach another's entry through the ids it picks.
func TestDedupFloodFromOneCaller(t *testing.T) {
	t.Parallel()
	const capacity = 100
	td := newTestDedup(time.Hour, capacity)
	var full, shared int
	td.evicted = func(s bool) {
		if s {
			shared++
		} else {
			full++
		}
	}
	for i := range capacity {
		td.publish(t, fmt.Sprint("victim-", i%10), fmt.Sprint("v", i), "p", int64(1000+i), nil)
	}
	for i := range 10 * capacity {
		// Failed events and copies of the victims' ids under the flooder's
		// own name.
		td.publish(t, "mallory", fmt.Sprint("failed-", i), "p", 0, errors.New("kafka refused"))
	}
	td.publish(t, "mallory", "v1", "other payload", 1, nil)
	for i := range 10 * capacity {
		td.publish(t, "mallory", fmt.Sprint("flood-", i), "p", int64(i), nil)
	}
	for i := range capacity {
		want := int64(-1) // the oldest half made room for the flooder's share
		if i >= capacity/2 {
			want = int64(1000 + i)
		}
		if got := td.remembered(t, fmt.Sprint("victim-", i%10), fmt.Sprint("v", i), "p"); got != want {
			t.Errorf("after the flood, victim %d's result is answered with %d, want %d", i, got, want)
		}
	}
	for i := range 10 * capacity {
		want := int64(-1) // the flooder keeps its newest, half the slots
		if i >= 10*capacity-capacity/2 {
			want = int64(i)
		}
		if got := td.remembered(t, "mallory", fmt.Sprint("flood-", i), "p"); got != want {
			t.Fatalf("the flooder's result %d is answered with %d, want %d", i, got, want)
		}
	}
	// The flooder's 1,001 results: the first half-capacity took the
	// oldest's room, the rest its own.
	if full != capacity/2 || shared != 10*capacity+1-capacity/2 {
		t.Errorf("evictions told: %d full, %d shared; want %d and %d", full, shared, capacity/2, 10*capacity+1-capacity/2)
	}
	td.at = td.at.Add(time.Hour)
	if got := td.remembered(t, "victim-9", "v99", "p"); got != -1 {
		t.Errorf("a victim's result outlived its window: %d", got)
	}
	if td.n != 0 || len(td.callers) != 0 {
		t.Errorf("after the window, %d results and %d callers are kept", td.n, len(td.callers))
	}
}

// TestDedupIndexMatchesAModel drives a small cache, whose index probes
// collide often, through random events of three callers (one of them
// busier), expiries and failures, and checks each answer against a plain
// map and a list kept in the order results were accepted.
func TestDedupIndexMatchesAModel(t *testing.T) {
	t.Parallel()
	const (
		capacity = 12
		window   = time.Second
	)
	td := newTestDedup(window, capacity)
	type key struct{ caller, id string }
	type result struct {
		offset int64
		at     time.Time
	}
	model := map[key]result{} // → result
	var order []key           // in the order remembered
	forget := func(i int) {
		delete(model, order[i])
		order = append(order[:i], order[i+1:]...)
	}
	callers := []string{"ada", "ada", "ada", "bob", "cy"}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 40_000 {
		td.at = td.at.Add(time.Duration(rng.IntN(40)) * time.Millisecond)
		for len(order) > 0 && td.at.Sub(model[order[0]].at) >= window {
			forget(0)
		}
		k := key{callers[rng.IntN(len(callers))], fmt.Sprint(rng.IntN(40))}
		want, known := model[k]
		e, owner := td.claim(k.caller, k.id, fingerprint("t.Player", []byte("p")), "t.Player")
		if owner == known {
			t.Fatalf("step %d: %v: owner %v, but the model remembers it: %v", step, k, owner, known)
		}
		if !owner {
			if acc, _ := e.wait(t.Context()); acc.GetOffset() != want.offset {
				t.Fatalf("step %d: %v answered with %d, want %d", step, k, acc.GetOffset(), want.offset)
			}
			continue
		}
		if rng.IntN(5) == 0 {
			td.finish(e, nil, errors.New("failed"))
			continue
		}
		if len(order) == capacity { // full: the oldest goes, or the caller's own past its share
			i, held := 0, 0
			for _, o := range order {
				if o.caller == k.caller {
					held++
				}
			}
			if held >= capacity/2 {
				for order[i].caller != k.caller {
					i++
				}
			}
			forget(i)
		}
		td.finish(e, accepted(int64(step)), nil)
		model[k] = result{offset: int64(step), at: td.at}
		order = append(order, k)
		if td.n != len(order) {
			t.Fatalf("step %d: %d results, the model %d", step, td.n, len(order))
		}
	}
}

func TestDedupOff(t *testing.T) {
	t.Parallel()
	td := newTestDedup(-1, 16)
	td.publish(t, "ada", "e1", "p", 1, nil)
	if _, owner := td.publish(t, "ada", "e1", "p", 2, nil); !owner {
		t.Error("with de-duplication off, a repeated id waits for the first")
	}
	if td.slots != nil || td.index != nil {
		t.Error("with de-duplication off, the cache still allocates its slots")
	}
}
