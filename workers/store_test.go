package workers

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
)

// echoApp derives, from each event, the event's id as a StringValue, and
// keeps no tables.
type echoApp struct{}

func (echoApp) Inputs() Inputs                   { return Inputs{All: true} }
func (echoApp) Migrations(sqldb.Engine) []string { return nil }
func (echoApp) Apply(_ context.Context, _ *sql.Tx, events []*Event) (Result, error) {
	var res Result
	for _, ev := range events {
		res.Derived = append(res.Derived, Derived{Cause: ev, Key: []byte(ev.EventID), Message: wrapperspb.String(ev.EventID)})
	}
	return res, nil
}

// storeEvents are n events of topic "t" partition 0 from offset from,
// with ids e<offset>.
func storeEvents(from, n int) []*Event {
	evs := make([]*Event, n)
	for i := range evs {
		off := int64(from + i)
		evs[i] = &Event{Topic: "t", Offset: off, EventID: fmt.Sprintf("e%d", off), Principal: "svc"}
	}
	return evs
}

// echoStore opens db's store for group "g" and echoApp.
func echoStore(t *testing.T, db *sqldb.DB) *store {
	t.Helper()
	s, err := openStore(t.Context(), db, "g", echoApp{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// outboxCount counts the outbox rows of topic "t" partition 0.
func outboxCount(t *testing.T, db *sqldb.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM worker_outbox_batches WHERE topic = 't' AND partition_id = 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestStoreApplyBatch checks one partition's transactions on each engine:
// ids applied before are skipped (within a batch too), every derived event
// is written once in order, the offset moves, and a batch whose saved
// offset is no longer saved is fenced and leaves nothing behind.
func TestStoreApplyBatch(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		s := echoStore(t, db)
		derived := func(ids ...int) []string {
			var out []string
			for _, i := range ids {
				out = append(out, DerivedEventID(appliedKey("svc", fmt.Sprintf("e%d", i)), "google.protobuf.StringValue"))
			}
			return out
		}
		first := storeEvents(0, 3)
		first = append(first, &Event{Topic: "t", Offset: 3, EventID: "e0", Principal: "svc"}) // a duplicate id
		res, err := s.applyBatch(ctx, "t", 0, noOffset, first, 4, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.applied != 3 || res.duplicates != 1 || len(res.outbox) != 3 {
			t.Fatalf("first batch: %+v", res)
		}
		// A stale saved offset: fenced, rolled back.
		if _, err := s.applyBatch(ctx, "t", 0, 1, storeEvents(4, 2), 6, nil); !errors.Is(err, errFenced) {
			t.Fatalf("stale offset: %v, want errFenced", err)
		}
		// A first batch again, when an offset is saved: fenced too.
		if _, err := s.applyBatch(ctx, "t", 0, noOffset, storeEvents(4, 2), 6, nil); !errors.Is(err, errFenced) {
			t.Fatalf("no offset over a saved one: %v, want errFenced", err)
		}
		if got, want := unsentIDs(t, s), fmt.Sprint(map[int64][]string{4: derived(0, 1, 2)}); got != want {
			t.Fatalf("outbox after fenced batches: %v, want the first batch's alone, %v", got, want)
		}
		// Replayed events and new ones: only the new ones apply.
		res, err = s.applyBatch(ctx, "t", 0, 4, storeEvents(2, 4), 6, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.applied != 3 || res.duplicates != 1 || len(res.outbox) != 3 {
			t.Fatalf("second batch: %+v", res)
		}
		// Only duplicates: the offset moves all the same.
		if res, err = s.applyBatch(ctx, "t", 0, 6, storeEvents(0, 2), 8, nil); err != nil || res.applied != 0 {
			t.Fatalf("duplicates only: %+v, %v", res, err)
		}
		if next, err := s.offset(ctx, "t", 0); err != nil || next != 8 {
			t.Fatalf("offset %d, %v; want 8", next, err)
		}
		want := fmt.Sprint(map[int64][]string{4: derived(0, 1, 2), 6: derived(3, 4, 5)})
		if got := unsentIDs(t, s); got != want {
			t.Fatalf("outbox %v, want %v", got, want)
		}

		// The batches Kafka has acknowledged are marked sent with the
		// next batch, which returns the rows it wrote.
		res, err = s.applyBatch(ctx, "t", 0, 8, storeEvents(6, 1), 9, []int64{4})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.outbox) != 1 || res.outbox[0].EventID != derived(6)[0] {
			t.Fatalf("the batch's outbox %+v, want the one event e6 derived", res.outbox)
		}
		if got, want := unsentIDs(t, s), fmt.Sprint(map[int64][]string{6: derived(3, 4, 5), 9: derived(6)}); got != want {
			t.Fatalf("unsent after marking the first batch: %v, want %v", got, want)
		}

		// A long outbox (after a long outage) is marked whole: more
		// batches than SQLite takes parameters in one statement.
		many := make([]int64, 40_000)
		for i := range many {
			many[i] = int64(1_000 + i)
		}
		if err := s.markSent(ctx, nil, "t", 0, append(many, 6)); err != nil {
			t.Fatal(err)
		}
		if got, want := unsentIDs(t, s), fmt.Sprint(map[int64][]string{9: derived(6)}); got != want {
			t.Fatalf("unsent after marking all but e6's batch: %v, want %v", got, want)
		}
	})
}

// unsentIDs lists the unsent derived events of topic "t" partition 0 by
// batch, as fmt prints a map[int64][]string.
func unsentIDs(t *testing.T, s *store) string {
	t.Helper()
	batches, err := s.unsent(t.Context(), "t", 0)
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[int64][]string)
	for i, b := range batches {
		if i > 0 && b.next <= batches[i-1].next {
			t.Fatalf("outbox batches out of order: %d after %d", b.next, batches[i-1].next)
		}
		for _, r := range b.rows {
			out[b.next] = append(out[b.next], r.EventID)
		}
	}
	return fmt.Sprint(out)
}

// TestSecondGroupRefused checks that a database holding one consumer
// group's offsets refuses a worker of another group, which would skip
// every event id the first applied, and still serves its own group.
func TestSecondGroupRefused(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		s, err := openStore(ctx, db, "hunts", echoApp{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.applyBatch(ctx, "t", 0, noOffset, storeEvents(0, 2), 2, nil); err != nil {
			t.Fatal(err)
		}
		_, err = openStore(ctx, db, "hunts-2", echoApp{})
		if !errors.Is(err, ErrOtherGroup) || !strings.Contains(err.Error(), `group "hunts"`) || !strings.Contains(err.Error(), `group "hunts-2"`) {
			t.Fatalf("a second group: %v", err)
		}
		if _, err := openStore(ctx, db, "hunts", echoApp{}); err != nil {
			t.Fatalf("the database's own group: %v", err)
		}
	})
}

// TestMigrateOutbox checks the upgrades of the outbox: from the version
// that kept derived events once sent (they are deleted), and from the
// table of one row per event to one row per batch: the unsent events move
// over byte for byte, each cause's in order, before the batches that
// follow.
func TestMigrateOutbox(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		steps := migrations(engine)
		if err := db.Migrate(ctx, "workers", steps[:slices.Index(steps, `DELETE FROM worker_derived WHERE sent = TRUE`)]); err != nil {
			t.Fatal(err)
		}
		key, payload := []byte("k\x00\xff"), []byte{0, 1, 0, 0, 0, 2}
		if engine == sqldb.Postgres {
			payload = append(payload, make([]byte, 70_000)...) // a length past two bytes
		}
		legacy := []struct {
			id            string
			partition     int32
			offset, seq   int64
			key, payload  []byte
			parent, state string
			sent          bool
		}{
			{"d0", 0, 0, 0, []byte{}, []byte{}, "", "", true},
			{"d1-é", 0, 1, 0, key, payload, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "v=1", false},
			{"d2", 0, 1, 1, []byte{}, []byte{}, "", "", false},
			{"d3", 0, 0, 1, []byte("k3"), []byte("p3"), "", "", false},
			{"d4", 1, 0, 0, []byte("k4"), []byte("p4"), "", "", false},
		}
		for _, r := range legacy {
			if _, err := db.ExecContext(ctx, `INSERT INTO worker_derived (event_id, topic, partition_id, record_offset, seq, event_type, event_key, payload, traceparent, tracestate, sent)
				VALUES ($1, 't', $2, $3, $4, 'x.v1.Derived', $5, $6, $7, $8, $9)`,
				r.id, r.partition, r.offset, r.seq, r.key, r.payload, r.parent, r.state, r.sent); err != nil {
				t.Fatal(err)
			}
		}
		s := echoStore(t, db)
		row := func(i int) outboxRow {
			r := legacy[i]
			return outboxRow{EventID: r.id, Type: "x.v1.Derived", Key: r.key, Payload: r.payload, Traceparent: r.parent, Tracestate: r.state}
		}
		want := []outboxBatch{{next: 1, rows: []outboxRow{row(3)}}, {next: 2, rows: []outboxRow{row(1), row(2)}}}
		got, err := s.unsent(ctx, "t", 0)
		if err != nil {
			t.Fatal(err)
		}
		if diff := gocmp.Diff(want, got, gocmp.AllowUnexported(outboxBatch{})); diff != "" {
			t.Fatalf("partition 0 after the upgrade (-want +got):\n%s", diff)
		}
		if got, err := s.unsent(ctx, "t", 1); err != nil || len(got) != 1 || len(got[0].rows) != 1 || got[0].rows[0].EventID != "d4" {
			t.Fatalf("partition 1 after the upgrade: %+v, %v; want d4 alone", got, err)
		}
		// The first batch after the upgrade comes after the events moved.
		if _, err := s.applyBatch(ctx, "t", 0, noOffset, storeEvents(5, 1), 6, []int64{1}); err != nil {
			t.Fatal(err)
		}
		e5 := DerivedEventID(appliedKey("svc", "e5"), "google.protobuf.StringValue")
		if got, want := unsentIDs(t, s), fmt.Sprint(map[int64][]string{2: {"d1-é", "d2"}, 6: {e5}}); got != want {
			t.Fatalf("after a batch: %v, want %v", got, want)
		}
	})
}

// TestPruneApplied checks that pruning forgets the ids applied before its
// cutoff, oldest first and a chunk at a time, and that a forgotten id is
// applied again while a remembered one is still skipped.
func TestPruneApplied(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		s := echoStore(t, db)
		const n = pruneChunk + 3
		if _, err := s.applyBatch(ctx, "t", 0, noOffset, storeEvents(0, n), n, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := s.pruneApplied(ctx, time.Now().Add(-time.Minute)); err != nil || got != 0 {
			t.Fatalf("prune ids older than a minute: %d, %v; want none", got, err)
		}
		res, err := s.applyBatch(ctx, "t", 0, n, storeEvents(0, 2), n+2, nil)
		if err != nil || res.applied != 0 || res.duplicates != 2 {
			t.Fatalf("repeats within the retention: %+v, %v; want 2 duplicates", res, err)
		}
		before := time.Now().Add(time.Second)
		for i, want := range []int64{pruneChunk, 3, 0} {
			if got, err := s.pruneApplied(ctx, before); err != nil || got != want {
				t.Fatalf("prune %d: %d, %v; want %d", i, got, err, want)
			}
		}
		// An id applied since is kept by a later pruning.
		later := storeEvents(n+2, 1)
		if _, err := s.applyBatch(ctx, "t", 0, n+2, later, n+3, nil); err != nil {
			t.Fatal(err)
		}
		if got, err := s.pruneApplied(ctx, time.Now().Add(-time.Minute)); err != nil || got != 0 {
			t.Fatalf("prune after a new id: %d, %v; want none", got, err)
		}
		res, err = s.applyBatch(ctx, "t", 0, n+3, append(storeEvents(0, 2), later...), n+6, nil)
		if err != nil || res.applied != 2 || res.duplicates != 1 {
			t.Fatalf("repeats after the retention: %+v, %v; want 2 applied again, 1 duplicate", res, err)
		}
	})
}

// TestMigrateDatesAppliedIDs checks the upgrade from the version whose
// applied ids had no time: they count as applied at the upgrade, so that
// none is forgotten before a whole retention has passed.
func TestMigrateDatesAppliedIDs(t *testing.T) {
	t.Parallel()
	sqldbtest.Each(t, func(t *testing.T, engine sqldb.Engine) {
		ctx := t.Context()
		db := sqldbtest.Open(t, engine)
		steps := migrations(engine)
		if err := db.Migrate(ctx, "workers", steps[:slices.Index(steps, `CREATE INDEX worker_applied_age ON worker_applied (applied_at)`)-2]); err != nil {
			t.Fatal(err)
		}
		for i := range 3 {
			if _, err := db.ExecContext(ctx, `INSERT INTO worker_applied (event_id, topic, partition_id, record_offset) VALUES ($1, 't', 0, $2)`,
				appliedKey("svc", fmt.Sprintf("e%d", i)), i); err != nil {
				t.Fatal(err)
			}
		}
		from := time.Now().Add(-time.Second).UnixMilli() // PostgreSQL's clock may lag a little
		s := echoStore(t, db)
		to := time.Now().Add(time.Second).UnixMilli()
		rows, err := db.QueryContext(ctx, `SELECT event_id, applied_at FROM worker_applied ORDER BY event_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var dated int
		for rows.Next() {
			var id string
			var at int64
			if err := rows.Scan(&id, &at); err != nil {
				t.Fatal(err)
			}
			if at < from || at > to {
				t.Errorf("%s dated %d, want the upgrade's time, in [%d, %d]", id, at, from, to)
			}
			dated++
		}
		if err := rows.Err(); err != nil || dated != 3 {
			t.Fatalf("%d ids after the upgrade, %v; want 3", dated, err)
		}
		if got, err := s.pruneApplied(ctx, time.Now().Add(-time.Minute)); err != nil || got != 0 {
			t.Fatalf("prune ids older than a minute after the upgrade: %d, %v; want none", got, err)
		}
		res, err := s.applyBatch(ctx, "t", 0, noOffset, storeEvents(0, 4), 4, nil)
		if err != nil || res.applied != 1 || res.duplicates != 3 {
			t.Fatalf("after the upgrade: %+v, %v; want the 3 old ids skipped", res, err)
		}
	})
}

// BenchmarkStoreApplyBatch measures the runtime's part of a partition's
// transaction: batches of 500 events, each applied id recorded, one
// derived event each written to the outbox, the offset saved, and the
// derived events of the batch before leaving the outbox (as the relay's
// acknowledged ones do with a later batch).
func BenchmarkStoreApplyBatch(b *testing.B) {
	for _, engine := range sqldbtest.Engines {
		b.Run(string(engine), func(b *testing.B) {
			ctx := context.Background()
			s, err := openStore(ctx, sqldbtest.Open(b, engine), "g", echoApp{})
			if err != nil {
				b.Fatal(err)
			}
			const batch = 500
			saved := int64(noOffset)
			var sent []int64
			for n := 0; n < b.N; n += batch {
				from := int(max(saved, 0))
				evs := storeEvents(from, min(batch, b.N-n))
				next := int64(from + len(evs))
				res, err := s.applyBatch(ctx, "t", 0, saved, evs, next, sent)
				if err != nil {
					b.Fatal(err)
				}
				sent = nil
				if len(res.outbox) > 0 {
					sent = []int64{next}
				}
				saved = next
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}
