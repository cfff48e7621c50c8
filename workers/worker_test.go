package workers_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/sqldb"
	"github.com/cairnhq/cairn/internal/wire"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/registry/registrytest"
	"github.com/cairnhq/cairn/workers"
)

// capture is an app without tables that hands every event it is given to
// ch.
type capture chan<- *workers.Event

func (c capture) Inputs() workers.Inputs           { return workers.Inputs{All: true} }
func (c capture) Migrations(sqldb.Engine) []string { return nil }
func (c capture) Apply(_ context.Context, tx *sql.Tx, evs []*workers.Event) (workers.Result, error) {
	if tx != nil {
		return workers.Result{}, errors.New("a transaction without a database")
	}
	for _, ev := range evs {
		c <- ev
	}
	return workers.Result{}, nil
}

// TestWorkerDecodesEventsAndSkipsUndecodableRecords: without a database,
// the app is given each event, decoded dynamically from the registry's
// descriptor; records that cannot be decoded are skipped (no producer for
// dead letters).
func TestWorkerDecodesEventsAndSkipsUndecodableRecords(t *testing.T) {
	t.Parallel()
	_, reg, topics := registrytest.Hunt(t)
	broker, err := devbroker.Start("127.0.0.1:0", 1, topics...)
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()

	sent := &huntv1.PlayerJoinedHunt{
		HuntId:   "9b2f4a8e-3c1d-4e5f-8a7b-6c5d4e3f2a1b",
		PlayerId: "7c9e6679-7425-40de-944b-e07fc1f90ae7",
		JoinedAt: timestamppb.New(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)),
	}
	typ, err := reg.Resolve(t.Context(), "cairn.hunt.v1.PlayerJoinedHunt")
	if err != nil {
		t.Fatal(err)
	}
	payload, err := proto.Marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: broker.Addr()})
	if err != nil {
		t.Fatal(err)
	}
	for _, value := range [][]byte{
		[]byte("not framed at all"),
		wire.Append(nil, wire.Header{SchemaID: 9999}, payload), // unknown schema id
		wire.Append(nil, wire.Header{SchemaID: typ.SchemaID, Indexes: typ.Indexes}, payload),
	} {
		if _, err := producer.ProduceBatch(t.Context(), []kafkax.Record{{Topic: "cairn.hunt.events", Key: []byte(sent.GetHuntId()), Value: value}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := producer.Close(t.Context()); err != nil {
		t.Fatal(err)
	}

	got := make(chan *workers.Event, 10)
	w, err := workers.New(t.Context(), workers.Config{
		Brokers:  broker.Addr(),
		Group:    "test",
		Topics:   topics,
		Registry: reg,
		App:      capture(got),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	select {
	case ev := <-got:
		if ev.Offset != 2 || ev.Type.Name() != "cairn.hunt.v1.PlayerJoinedHunt" {
			t.Errorf("first handled event is %s at offset %d, want the PlayerJoinedHunt at offset 2", ev.Type.Name(), ev.Offset)
		}
		if _, ok := ev.Message.(*huntv1.PlayerJoinedHunt); ok {
			t.Errorf("decoded as the generated type, though the app asked for none")
		}
		if diff := cmp.Diff(sent, ev.Message, protocmp.Transform()); diff != "" {
			t.Errorf("decoded event differs (-sent +got):\n%s", diff)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no event handled")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestWorkerConfigValidate(t *testing.T) {
	t.Parallel()
	_, err := workers.New(t.Context(), workers.Config{RetryBackoff: -time.Second})
	if err == nil {
		t.Fatal("New with an empty config succeeded")
	}
	for _, want := range []string{"no Kafka brokers", "no consumer group", "no topics", "no registry", "no app", "RetryBackoff -1s is negative"} {
		if !bytes.Contains([]byte(err.Error()), []byte(want)) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}
