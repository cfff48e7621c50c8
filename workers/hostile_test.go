package workers_test

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/workertest"
)

// produceWith frames an event as the gateway does and produces it with the
// given headers besides its event id.
func (e *env) produceWith(t testing.TB, eventID string, m proto.Message, headers ...kafkax.Header) {
	t.Helper()
	typ, err := e.types.Resolve(context.Background(), m.ProtoReflect().Descriptor().FullName())
	if err != nil {
		t.Fatal(err)
	}
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	rec := kafkax.Record{
		Topic:   typ.Event.GetTopic(),
		Key:     []byte(m.ProtoReflect().Get(typ.KeyField()).String()),
		Value:   wire.Append(nil, wire.Header{SchemaID: typ.SchemaID, Indexes: typ.Indexes}, payload),
		Headers: append([]kafkax.Header{{Key: wire.HeaderEventID, Value: []byte(eventID)}}, headers...),
	}
	if _, err := e.producer.ProduceBatch(context.Background(), []kafkax.Record{rec}); err != nil {
		t.Fatal(err)
	}
}

func principal(p string) kafkax.Header {
	return kafkax.Header{Key: wire.HeaderPrincipal, Value: []byte(p)}
}

// TestEventIDsScopedByPrincipal (issue 9, item 3): player V's event is not
// skipped because player M used the same event id first; each one's own
// retry still is, and each applied event gets its own derived event.
func TestEventIDsScopedByPrincipal(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		const id = "0b5e55ed-0000-4000-8000-000000000001"
		e.produceWith(t, id, e.depositMsg("acct-m", 5), principal("player:m"))
		e.produceWith(t, id, e.depositMsg("acct-v", 7), principal("player:v"))
		e.produceWith(t, id, e.depositMsg("acct-v", 7), principal("player:v")) // V's retry
		e.produceWith(t, id, e.depositMsg("acct-m", 5), principal("player:m")) // M's retry
		r := e.startWorker(t, "scoped", ledger{}, nil)
		workertest.Eventually(t, "every record handled", func() error {
			if n := r.Counter(t, "cairn_worker_duplicates_skipped_total"); n != 2 {
				return fmt.Errorf("%v duplicates skipped, want 2", n)
			}
			return handled(t, e.db, 2)
		})
		if diff := cmp.Diff(map[string]int64{"acct-m": 5, "acct-v": 7}, balances(t, e.db)); diff != "" {
			t.Errorf("balances (-want +got):\n%s", diff)
		}
		derived := workertest.ReadTopic(t, e.broker.Addr(), balancesTopic, 2)
		ids := make(map[string]bool)
		for _, m := range derived {
			ids[m.Header(wire.HeaderEventID)] = true
		}
		if len(derived) != 2 || len(ids) != 2 {
			t.Errorf("%d derived events under %d ids, want 2 under 2", len(derived), len(ids))
		}
	})
}

// clock is the ledger, noting when the gateway received each event.
type clock struct {
	ledger
	mu   sync.Mutex
	seen map[string]time.Time
}

func (c *clock) Apply(ctx context.Context, tx *sql.Tx, events []*workers.Event) (workers.Result, error) {
	c.mu.Lock()
	for _, ev := range events {
		c.seen[ev.EventID] = ev.ReceivedAt
	}
	c.mu.Unlock()
	return c.ledger.Apply(ctx, tx, events)
}

// TestReceivedAt (issue 9, item 2): the runtime hands the app the
// gateway's receive time, parsed from cairn-received-at; a record without
// it falls back to the record's Kafka timestamp.
func TestReceivedAt(t *testing.T) {
	forEngine(t, func(t *testing.T, e *env) {
		stamped := time.Date(2026, 3, 4, 5, 6, 7, 891011121, time.UTC)
		before := time.Now().Add(-time.Minute)
		e.produceWith(t, "stamped", e.depositMsg("a", 1),
			kafkax.Header{Key: wire.HeaderReceivedAt, Value: []byte(stamped.Format(time.RFC3339Nano))})
		e.produceWith(t, "old", e.depositMsg("a", 1))
		app := &clock{seen: make(map[string]time.Time)}
		e.startWorker(t, "clock", app, nil)
		workertest.Eventually(t, "both applied", func() error {
			if n := countRows(t, e.db, "worker_applied"); n != 2 {
				return fmt.Errorf("%d applied, want 2", n)
			}
			return nil
		})
		app.mu.Lock()
		defer app.mu.Unlock()
		if got := app.seen["stamped"]; !got.Equal(stamped) {
			t.Errorf("stamped record: ReceivedAt = %v, want %v", got, stamped)
		}
		if got := app.seen["old"]; got.Before(before) || got.After(time.Now().Add(time.Minute)) {
			t.Errorf("record without the header: ReceivedAt = %v, want its Kafka timestamp (about now)", got)
		}
	})
}
