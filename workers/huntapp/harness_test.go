package huntapp_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"buf.build/go/protovalidate"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/sqldb/sqldbtest"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/registry/regclient"
	"github.com/cairnhq/cairn/registry/registrytest"
	"github.com/cairnhq/cairn/workers"
	"github.com/cairnhq/cairn/workers/hunt"
	"github.com/cairnhq/cairn/workers/huntapp"
)

// env is a broker, a registry, a producer and a store database.
type env struct {
	broker   *devbroker.Broker
	types    *regclient.Client
	topics   []string // every topic the hunt schemas name
	producer *kafkax.Producer
	db       *sqldb.DB
}

// inputTopics are the topics the hunt app consumes.
var inputTopics = []string{"cairn.hunt.events", "cairn.player.events"}

func newEnv(t testing.TB, engine sqldb.Engine) *env {
	t.Helper()
	_, types, topics := registrytest.Hunt(t)
	broker, err := devbroker.Start("127.0.0.1:0", 3, append(topics, workers.DefaultDeadLetterTopic)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: broker.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = producer.Close(ctx)
	})
	return &env{broker: broker, types: types, topics: topics, producer: producer, db: sqldbtest.Open(t, engine)}
}

// running is a worker running the hunt app in the background, and the
// app's WatchPlayer feed.
type running struct {
	w       *workers.Worker
	app     *huntapp.App
	metrics *prometheus.Registry
	cancel  context.CancelFunc
	done    chan struct{} // closed when Run returned
	err     error         // what Run returned
	once    sync.Once
}

func (e *env) startWorker(t testing.TB, group string, mod func(*workers.Config)) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := workers.Config{
		Brokers:      e.broker.Addr(),
		Group:        group,
		Topics:       inputTopics,
		Registry:     e.types,
		DB:           e.db,
		Producer:     e.producer,
		Metrics:      reg,
		RetryBackoff: 20 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	app, err := huntapp.New(huntapp.Config{
		DB:             cfg.DB,
		Registry:       e.types,
		Brokers:        cfg.Brokers,
		Group:          group,
		Validator:      validator,
		Metrics:        reg,
		RetryBackoff:   cfg.RetryBackoff,
		TracerProvider: cfg.TracerProvider,
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg.App = app
	w, err := workers.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{w: w, app: app, metrics: reg, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		var feed sync.WaitGroup
		feed.Go(func() { app.Follow(ctx) })
		r.err = w.Run(ctx)
		cancel()
		feed.Wait()
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops the worker gracefully; a second stop does nothing.
func (r *running) stop(t testing.TB) {
	t.Helper()
	r.cancel()
	select {
	case <-r.done:
		r.once.Do(func() {
			if r.err != nil {
				t.Errorf("Run: %v", r.err)
			}
		})
	case <-time.After(60 * time.Second):
		t.Error("worker did not stop")
	}
}

// counter sums a metric family's values.
func (r *running) counter(t testing.TB, name string) float64 {
	t.Helper()
	mfs, err := r.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

// validator is the tests' one protovalidate validator.
var validator = func() protovalidate.Validator {
	v, err := protovalidate.New()
	if err != nil {
		panic(err)
	}
	return v
}()

// serve serves the app's HuntService on loopback and returns a client.
func serve(t testing.TB, app *huntapp.App) huntv1.HuntServiceClient {
	t.Helper()
	srv := grpc.NewServer()
	huntv1.RegisterHuntServiceServer(srv, app.HuntService())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(lis)
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-served
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return huntv1.NewHuntServiceClient(conn)
}

// produce frames an event as the gateway does and produces it, returning
// where it landed.
func (e *env) produce(t testing.TB, eventID string, m proto.Message) kafkax.Position {
	t.Helper()
	typ, err := e.types.Resolve(context.Background(), m.ProtoReflect().Descriptor().FullName())
	if err != nil {
		t.Fatal(err)
	}
	payload, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	pos, err := e.producer.ProduceBatch(context.Background(), []kafkax.Record{{
		Topic: typ.Event.GetTopic(),
		Key:   []byte(m.ProtoReflect().Get(m.ProtoReflect().Descriptor().Fields().ByName(typ.KeyField().Name())).String()),
		Value: wire.Append(nil, wire.Header{SchemaID: typ.SchemaID, Indexes: typ.Indexes}, payload),
		Headers: []kafkax.Header{
			{Key: wire.HeaderEventID, Value: []byte(eventID)},
			{Key: wire.HeaderReceivedAt, Value: []byte(claimedAt(m).Format(time.RFC3339Nano))},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return pos[0]
}

// readTopic reads every record of a topic, waiting until there are at
// least want of them.
func readTopic(t testing.TB, brokers, topic string, want int) []*kafkax.Message {
	t.Helper()
	c, err := kafkax.NewConsumer(kafkax.ConsumerOptions{Brokers: brokers, Group: "reader", Tail: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var tps []kafkax.TopicPartition
	for p := range int32(3) {
		tps = append(tps, kafkax.TopicPartition{Topic: topic, Partition: p, Offset: kafkax.OffsetBeginning})
	}
	if err := c.Assign(tps); err != nil {
		t.Fatal(err)
	}
	var out []*kafkax.Message
	deadline := time.Now().Add(60 * time.Second)
	idle := 0
	for time.Now().Before(deadline) {
		m, _ := c.Poll(500 * time.Millisecond)
		if m == nil {
			if len(out) >= want {
				if idle++; idle >= 2 {
					return out
				}
			}
			continue
		}
		idle = 0
		out = append(out, m)
	}
	t.Fatalf("read %d records from %s, want at least %d", len(out), topic, want)
	return nil
}

func header(m *kafkax.Message, key string) string { return m.Header(key) }

// eventually polls f until it returns nil or a generous deadline passes.
func eventually(t testing.TB, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var idCounter atomic.Int64

// newID returns a fresh UUID (version 4 layout, counter-based).
func newID() string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", idCounter.Add(1))
}

// at is a time in the scripted hunt: minutes after its start.
func at(minutes float64) *timestamppb.Timestamp {
	return timestamppb.New(huntStart.Add(time.Duration(minutes * float64(time.Minute))))
}

var huntStart = time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)

// scriptedHunt is a hunt of three text clues worth 10, 20 and 30 points,
// open for one hour; the answers are "oak", "river" and "bell".
func scriptedHunt(huntID string, clueIDs [3]string) *huntv1.HuntCreated {
	h := &huntv1.HuntCreated{HuntId: huntID, Title: "Old town", StartsAt: at(0), EndsAt: at(60)}
	for i, answer := range []string{"oak", "river", "bell"} {
		h.Clues = append(h.Clues, &huntv1.Clue{
			ClueId:   clueIDs[i],
			Text:     fmt.Sprintf("clue %d", i+1),
			Points:   uint32(10 * (i + 1)),
			Solution: &huntv1.Clue_AnswerSha256{AnswerSha256: hunt.AnswerSHA256(answer)},
		})
	}
	return h
}

func answer(huntID, playerID, clueID, text string, minutes float64) *huntv1.AnswerSubmitted {
	return &huntv1.AnswerSubmitted{HuntId: huntID, PlayerId: playerID, ClueId: clueID, Answer: &huntv1.AnswerSubmitted_Text{Text: text}, SubmittedAt: at(minutes)}
}

// claimedAt is the time m claims to have happened: when the scripted
// gateway receives it. A hunt is created at the start.
func claimedAt(m proto.Message) time.Time {
	switch m := m.(type) {
	case *huntv1.PlayerRegistered:
		return m.GetRegisteredAt().AsTime()
	case *huntv1.PlayerJoinedHunt:
		return m.GetJoinedAt().AsTime()
	case *huntv1.AnswerSubmitted:
		return m.GetSubmittedAt().AsTime()
	}
	return huntStart
}
