package gateway_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/kafkax"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	"github.com/cairnhq/cairn/registry/registrytest"
)

// scriptedProducer is a gateway.Producer whose Kafka answers each record
// with the next of its answers, and remembers what it was sent.
type scriptedProducer struct {
	mu      sync.Mutex
	answers []error // nil: acknowledged
	sent    []kafkax.Record
}

func (p *scriptedProducer) Send(r kafkax.Record) (kafkax.Wait, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.sent)
	p.sent = append(p.sent, r)
	var answer error
	if n < len(p.answers) {
		answer = p.answers[n]
	}
	return func(context.Context, time.Time) (kafkax.Position, error) {
		if answer != nil {
			return kafkax.Position{}, answer
		}
		return kafkax.Position{Topic: r.Topic, Partition: 2, Offset: int64(n)}, nil
	}, nil
}

func (p *scriptedProducer) Ping(context.Context) error { return nil }

func (p *scriptedProducer) records() []kafkax.Record {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]kafkax.Record(nil), p.sent...)
}

// TestPublishKafkaRefusalIsUnavailableAndRetryable: when Kafka reports
// that it did not take a record (here, too few in-sync replicas: hard to
// arrange on a one-node broker), the client hears UNAVAILABLE with a retry
// hint, and a retry with the same event id is produced again rather than
// answered with the remembered failure.
func TestPublishKafkaRefusalIsUnavailableAndRetryable(t *testing.T) {
	t.Parallel()
	_, types, _ := registrytest.Hunt(t)
	producer := &scriptedProducer{answers: []error{
		fmt.Errorf("produce to cairn.player.events: %w: Broker: Not enough in-sync replicas", kafkax.ErrProduce),
	}}
	gw, err := gateway.New(gateway.Config{Registry: types, Producer: producer, Metrics: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gw.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := gatewayv1.NewEventGatewayClient(conn)

	req := event(t, playerRegistered())
	_, err = client.Publish(t.Context(), req)
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("Publish while Kafka refuses = %v, want UNAVAILABLE", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range status.Convert(err).Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("UNAVAILABLE details %v: want a RetryInfo with a positive delay", status.Convert(err).Details())
	}
	resp, err := client.Publish(t.Context(), req)
	if err != nil {
		t.Fatalf("retry with the same event id = %v, want accepted", err)
	}
	if resp.GetPartition() != 2 || resp.GetOffset() != 1 {
		t.Errorf("retry accepted at %d/%d, want the position Kafka gave it, 2/1", resp.GetPartition(), resp.GetOffset())
	}
	sent := producer.records()
	if len(sent) != 2 {
		t.Fatalf("the producer was sent %d records, want 2 (the event and its retry)", len(sent))
	}
	if string(sent[0].Value) != string(sent[1].Value) || string(sent[0].Key) != string(sent[1].Key) {
		t.Error("the retry was not the same record as the first attempt")
	}
}
