package huntapp_test

import (
	"context"
	"fmt"
	"net"
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
	"github.com/cairnhq/cairn/workers/workertest"
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
	broker, producer := workertest.Kafka(t, append(topics, workers.DefaultDeadLetterTopic)...)
	return &env{broker: broker, types: types, topics: topics, producer: producer, db: sqldbtest.Open(t, engine)}
}

// running is a worker running the hunt app in the background, and the
// app's WatchPlayer feed.
type running struct {
	*workertest.Running
	app *huntapp.App
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
	return &running{Running: workertest.Start(t, w, reg, app.Follow), app: app}
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

func header(m *kafkax.Message, key string) string { return m.Header(key) }

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
