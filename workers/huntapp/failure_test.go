package huntapp_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/workertest"
)

// TestPoisonRecordsAreDeadLettered checks that records no retry can handle
// go to the dead-letter topic with headers saying why and where from, and
// that the partition moves on.
func TestPoisonRecordsAreDeadLettered(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldb.SQLite)
	huntID := workertest.NewID()
	e.produce(t, workertest.NewID(), scriptedHunt(workertest.NewID(), [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}))
	var poisonAt []int64
	for _, v := range [][]byte{
		[]byte("not framed at all"),
		wire.Append(nil, wire.Header{SchemaID: 9999}, []byte{0x0a, 0x01, 'x'}), // no such schema
	} {
		pos, err := e.producer.ProduceBatch(t.Context(), []kafkax.Record{{Topic: "cairn.hunt.events", Key: []byte(huntID), Value: v}})
		if err != nil {
			t.Fatal(err)
		}
		poisonAt = append(poisonAt, pos[0].Offset)
	}
	after := e.produce(t, workertest.NewID(), scriptedHunt(huntID, [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}))

	r := e.startWorker(t, "poison", nil)
	hs := serve(t, r.app)
	workertest.Eventually(t, "the hunt after the poison records", func() error {
		_, err := hs.GetHunt(t.Context(), &huntv1.GetHuntRequest{HuntId: huntID})
		return err
	})
	dead := workertest.ReadTopic(t, e.broker.Addr(), workers.DefaultDeadLetterTopic, 2)
	if len(dead) != 2 {
		t.Fatalf("%d dead letters, want 2", len(dead))
	}
	for i, m := range dead {
		want := map[string]string{
			wire.HeaderDLQReason:    []string{workers.ReasonUndecodable, workers.ReasonUnknownSchema}[i],
			wire.HeaderDLQTopic:     "cairn.hunt.events",
			wire.HeaderDLQPartition: strconv.Itoa(int(after.Partition)),
			wire.HeaderDLQOffset:    strconv.FormatInt(poisonAt[i], 10),
		}
		for k, v := range want {
			if got := header(m, k); got != v {
				t.Errorf("dead letter %d: header %s = %q, want %q", i, k, got, v)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, header(m, wire.HeaderDLQTime)); err != nil {
			t.Errorf("dead letter %d: %s: %v", i, wire.HeaderDLQTime, err)
		}
		if header(m, wire.HeaderDLQError) == "" {
			t.Errorf("dead letter %d has no %s", i, wire.HeaderDLQError)
		}
	}
	if got := r.Counter(t, "cairn_worker_dead_lettered_total"); got != 2 {
		t.Errorf("dead-lettered = %v, want 2", got)
	}
}

// TestCrashSafety stops workers abruptly (batches in flight abandoned and
// rolled back, as in a crash) at random moments while events flow, then
// lets one finish, and compares the result with a run that never crashed:
// the same state, the same derived events, each produced.
func TestCrashSafety(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sqldb.SQLite)
	rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
	total := 0
	flowing := make(chan struct{})
	produced := make(chan int, 1)
	go func() {
		defer close(produced)
		n := 0
		type play struct {
			huntID string
			clues  [3]string
		}
		var plays []play
		for range 2 {
			p := play{huntID: workertest.NewID(), clues: [3]string{workertest.NewID(), workertest.NewID(), workertest.NewID()}}
			plays = append(plays, p)
			e.produce(t, workertest.NewID(), scriptedHunt(p.huntID, p.clues))
			n++
		}
		close(flowing)
		for i := range 30 {
			p := plays[i%2]
			player := workertest.NewID()
			e.produce(t, workertest.NewID(), &huntv1.PlayerRegistered{PlayerId: player, DisplayName: fmt.Sprintf("P%d", i), RegisteredAt: at(-10)})
			e.produce(t, workertest.NewID(), &huntv1.PlayerJoinedHunt{HuntId: p.huntID, PlayerId: player, JoinedAt: at(float64(i) / 10)})
			n += 2
			last := "bell"
			if i%3 == 0 {
				last = "wrong"
			}
			for j, a := range []struct{ clue, text string }{
				{p.clues[0], "oak"}, {p.clues[1], "nope"}, {p.clues[1], "river"}, {p.clues[2], last},
			} {
				e.produce(t, workertest.NewID(), answer(p.huntID, player, a.clue, a.text, float64(5+i+j)))
				n++
			}
		}
		produced <- n
	}()
	<-flowing

	crashed := &recordingProducer{}
	for i := range 6 {
		r := e.startWorker(t, "crashy", func(c *workers.Config) {
			c.MaxBatch, c.DrainTimeout = 7, time.Nanosecond
			crashed.wrap(c)
		})
		time.Sleep(time.Duration(200+rng.IntN(1500)) * time.Millisecond)
		r.Cancel()
		select {
		case <-r.Done():
		case <-time.After(60 * time.Second):
			t.Fatalf("crash %d: worker did not stop", i)
		}
	}
	total = <-produced
	t.Logf("%d events produced", total)
	final := e.startWorker(t, "crashy", crashed.wrap)

	// The reference: a worker of another group, on another database, that
	// never crashes, reading the same topics.
	ref := newEnvSharing(t, e)
	steady := &recordingProducer{}
	refRun := ref.startWorker(t, "steady", steady.wrap)

	for _, pair := range []struct {
		db  *sqldb.DB
		run *running
	}{{e.db, final}, {ref.db, refRun}} {
		workertest.Eventually(t, "all events applied", func() error {
			got := pair.run.Counter(t, "cairn_worker_events_applied_total")
			if pair.run == final {
				// Events applied before the crashes count in other registries.
				got = float64(countRows(t, pair.db, "worker_applied"))
			}
			if int(got) < total {
				return fmt.Errorf("%v of %d events applied", got, total)
			}
			if n := countRows(t, pair.db, "worker_outbox_batches"); n != 0 {
				return fmt.Errorf("%d batches of derived events unsent", n)
			}
			return nil
		})
	}
	if diff := cmp.Diff(dump(t, ref.db), dump(t, e.db)); diff != "" {
		t.Errorf("state after crashes differs from the steady run (-steady +crashed):\n%s", diff)
	}
	// The same derived events, each acknowledged by Kafka at least once,
	// and none left in either outbox.
	if diff := cmp.Diff(steady.derived(), crashed.derived()); diff != "" {
		t.Errorf("derived events Kafka acknowledged after crashes differ from the steady run's (-steady +crashed):\n%s", diff)
	}
	if len(steady.derived()) == 0 {
		t.Error("the steady run derived no event")
	}
	for _, db := range []*sqldb.DB{e.db, ref.db} {
		if n := countRows(t, db, "worker_outbox_batches"); n != 0 {
			t.Errorf("%d batches of derived events left in an outbox", n)
		}
	}
}

// recordingProducer notes the derived events (cairn.hunt.derived) that
// Kafka acknowledged through the producers it wraps.
type recordingProducer struct {
	mu    sync.Mutex
	acked map[string]bool // "id type key"
}

// wrap makes c's producer one that notes what Kafka acknowledged.
func (r *recordingProducer) wrap(c *workers.Config) {
	c.Producer = recording{Producer: c.Producer, r: r}
}

func (r *recordingProducer) note(rec kafkax.Record) {
	if rec.Topic != "cairn.hunt.derived" {
		return
	}
	var id, typ string
	for _, h := range rec.Headers {
		switch h.Key {
		case wire.HeaderEventID:
			id = string(h.Value)
		case wire.HeaderEventType:
			typ = string(h.Value)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.acked == nil {
		r.acked = make(map[string]bool)
	}
	r.acked[id+" "+typ+" "+string(rec.Key)] = true
}

// derived returns the derived events noted, sorted.
func (r *recordingProducer) derived() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.acked))
}

// recording is a workers.Producer that notes what Kafka acknowledged.
type recording struct {
	workers.Producer
	r *recordingProducer
}

func (p recording) ProduceBatch(ctx context.Context, rs []kafkax.Record) ([]kafkax.Position, error) {
	pos, err := p.Producer.ProduceBatch(ctx, rs)
	if err == nil {
		for _, rec := range rs {
			p.r.note(rec)
		}
	}
	return pos, err
}

func (p recording) Send(rec kafkax.Record) (kafkax.Wait, error) {
	wait, err := p.Producer.Send(rec)
	if err != nil {
		return wait, err
	}
	return func(ctx context.Context, deadline time.Time) (kafkax.Position, error) {
		pos, err := wait(ctx, deadline)
		if err == nil {
			p.r.note(rec)
		}
		return pos, err
	}, nil
}

// newEnvSharing is an env on e's broker and registry with a database of
// its own.
func newEnvSharing(t *testing.T, e *env) *env {
	other := newEnv(t, sqldb.SQLite)
	return &env{broker: e.broker, types: e.types, topics: e.topics, producer: e.producer, db: other.db}
}

func countRows(t *testing.T, db *sqldb.DB, from string) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM "+from).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func column(t *testing.T, db *sqldb.DB, query string) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil && !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	return out
}

// dump is the part of a store that must not depend on crashes: the state,
// and the applied event ids.
func dump(t *testing.T, db *sqldb.DB) map[string][]string {
	t.Helper()
	return map[string][]string{
		"hunts":   column(t, db, "SELECT hunt_id || ' ' || state FROM hunt_states ORDER BY hunt_id"),
		"players": column(t, db, "SELECT player_id || ' ' || state FROM hunt_players ORDER BY player_id"),
		"applied": column(t, db, "SELECT event_id FROM worker_applied ORDER BY event_id"),
	}
}
