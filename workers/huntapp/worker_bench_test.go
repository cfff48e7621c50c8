package huntapp

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/proto"

	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/internal/wire"
	"github.com/cairnhq/cairn/registry/registrytest"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/workertest"
)

// BenchmarkWorkerPartition measures what one worker applies of one
// partition, whole: the answers BenchmarkApplyAnswers makes, framed as the
// gateway frames them, in Kafka (an in-process broker, whose CPU the
// worker shares) before a worker starts; the worker fetches and decodes
// them, applies them in batches (event ids, the rules, the outbox, the
// offset: one transaction each) and produces their derived events. The
// hunt's every answer lands in its one partition (the hunt id is the
// key). The time (ns/op, events/s) runs from the first batch applied to
// the last, so that joining the group is not counted; the entrants are in
// the app's cache, as after a while.
func BenchmarkWorkerPartition(b *testing.B) {
	for _, players := range benchPlayers {
		b.Run(fmt.Sprintf("players=%d", players), func(b *testing.B) {
			for _, engine := range sqldbtest.Engines {
				ctx := context.Background()
				quiet := slog.New(slog.DiscardHandler)
				_, types, topics := registrytest.Hunt(b)
				broker, producer := workertest.Kafka(b, append(topics, workers.DefaultDeadLetterTopic)...)
				db := sqldbtest.Open(b, engine)
				v, err := protovalidate.New()
				if err != nil {
					b.Fatal(err)
				}
				reg := prometheus.NewRegistry()
				app, err := New(Config{DB: db, Registry: types, Brokers: broker.Addr(), Group: "bench", Validator: v, Metrics: reg, Logger: quiet})
				if err != nil {
					b.Fatal(err)
				}
				newWorker := func(b *testing.B) *workers.Worker {
					w, err := workers.New(ctx, workers.Config{Brokers: broker.Addr(), Group: "bench", Topics: []string{"cairn.hunt.events"},
						App: app, Registry: types, DB: db, Producer: producer, Metrics: reg, Logger: quiet})
					if err != nil {
						b.Fatal(err)
					}
					return w
				}
				// A worker creates the tables (and is stopped at once): seed
				// the hunt as the other benchmarks do, and warm the app's
				// cache.
				workertest.Start(b, newWorker(b), reg).Stop(b)
				stmts, err := db.Prepare(ctx, sqliteStatements())
				if err != nil {
					b.Fatal(err)
				}
				prepared.Store(db, stmts)
				seedHunt(b, db, players)
				warm(b, db, app.cache)
				answer, err := types.Resolve(ctx, "cairn.hunt.v1.AnswerSubmitted")
				if err != nil {
					b.Fatal(err)
				}
				as := newAnswers(players, 2)
				b.Run(string(engine), func(b *testing.B) {
					b.StopTimer()
					// The answers of BenchmarkApplyAnswers; a right one
					// moves its player on, as the rules will.
					recs := make([]kafkax.Record, 0, 1000)
					flush := func() {
						if _, err := producer.ProduceBatch(ctx, recs); err != nil {
							b.Fatal(err)
						}
						recs = recs[:0]
					}
					for range b.N {
						p, m, at := as.next()
						if m.GetText() == fmt.Sprintf("a%d", as.pos[p]) {
							as.pos[p]++
						}
						payload, err := proto.Marshal(m)
						if err != nil {
							b.Fatal(err)
						}
						hs := wire.AppendEventHeaders(nil, fmt.Sprintf("w%d", as.seq), string(answer.Name()), answer.SchemaID)
						hs = append(hs, kafkax.Header{Key: wire.HeaderReceivedAt, Value: []byte(at.Format(time.RFC3339Nano))},
							kafkax.Header{Key: wire.HeaderPrincipal, Value: []byte("bench")})
						recs = append(recs, kafkax.Record{Topic: "cairn.hunt.events", Key: []byte("h"),
							Value: wire.Append(nil, wire.Header{SchemaID: answer.SchemaID, Indexes: answer.Indexes}, payload), Headers: hs})
						if len(recs) == cap(recs) {
							flush()
						}
					}
					if len(recs) > 0 {
						flush()
					}
					// A worker of the group starts where the last stopped,
					// with every answer in Kafka.
					running := workertest.Start(b, newWorker(b), reg)
					defer running.Stop(b)
					before := running.Counter(b, "cairn_worker_events_applied_total")
					// From the first batch applied to the last.
					var start time.Time
					var first float64
					deadline := time.Now().Add(10 * time.Minute)
					for {
						applied := running.Counter(b, "cairn_worker_events_applied_total") - before
						if start.IsZero() && applied > 0 {
							start, first = time.Now(), applied
							b.StartTimer()
						}
						if applied >= float64(b.N) {
							b.StopTimer()
							break
						}
						if time.Now().After(deadline) {
							b.Fatalf("%v of %d events applied in 10 minutes", applied, b.N)
						}
						time.Sleep(2 * time.Millisecond)
					}
					if rest := float64(b.N) - first; rest > 0 {
						b.ReportMetric(rest/time.Since(start).Seconds(), "events/s")
					}
				})
			}
		})
	}
}
