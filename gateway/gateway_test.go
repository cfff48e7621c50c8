package gateway_test

import (
	"context"
	"encoding/binary"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/devbroker"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/registry"
	"github.com/cairnhq/cairn/registry/regclient"
	"github.com/cairnhq/cairn/registry/registrytest"
)

// stack is a gateway backed by an in-memory broker, reached over TCP.
type stack struct {
	broker   *devbroker.Broker
	registry *registry.Registry
	types    *regclient.Client
	client   gatewayv1.EventGatewayClient
	conn     *grpc.ClientConn
	gateway  *gateway.Server
	producer *kafkax.Producer
}

// options adjust a test stack.
type options struct {
	configure func(*gateway.Config)
	dataDir   string        // keeps the broker's records across Stop and Restart
	delivery  time.Duration // the producer's delivery timeout; 0 is its default
}

func start(t testing.TB) *stack { return startWith(t, options{}) }

func startWith(t testing.TB, o options) *stack {
	t.Helper()
	reg, types, topics := registrytest.Hunt(t)
	broker, err := devbroker.StartWith(devbroker.Options{Addr: "127.0.0.1:0", Partitions: 3, Topics: topics, DataDir: o.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	producer, err := kafkax.NewProducer(kafkax.ProducerOptions{Brokers: broker.Addr(), DeliveryTimeout: o.delivery})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := producer.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	cfg := gateway.Config{Registry: types, Producer: producer, Metrics: prometheus.NewRegistry()}
	if o.configure != nil {
		o.configure(&cfg)
	}
	gw, err := gateway.New(cfg)
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
	t.Cleanup(func() { conn.Close() })
	return &stack{broker: broker, registry: reg, types: types, client: gatewayv1.NewEventGatewayClient(conn), conn: conn, gateway: gw, producer: producer}
}

func event(t testing.TB, payload proto.Message) *gatewayv1.PublishRequest {
	t.Helper()
	return &gatewayv1.PublishRequest{Event: newEvent(t, newUUID(), payload)}
}

func newEvent(t testing.TB, id string, payload proto.Message) *gatewayv1.Event {
	t.Helper()
	a, err := anypb.New(payload)
	if err != nil {
		t.Fatal(err)
	}
	return &gatewayv1.Event{EventId: id, OccurredAt: timestamppb.Now(), Payload: a}
}

func playerRegistered() *huntv1.PlayerRegistered {
	return &huntv1.PlayerRegistered{
		PlayerId:     "7c9e6679-7425-40de-944b-e07fc1f90ae7",
		DisplayName:  "Ada",
		RegisteredAt: timestamppb.New(time.Now().Truncate(time.Second)),
	}
}

// consumer reads topics through internal/kafkax's group-less reader, as
// any downstream tool would.
func consumer(t testing.TB, brokers string) *kafkax.Reader {
	t.Helper()
	r, err := kafkax.NewReader(kafkax.ReaderOptions{Brokers: brokers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func readOne(t *testing.T, r *kafkax.Reader, topic string, partition int32, offset int64) *kafkax.Read {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := r.AssignPartition(ctx, topic, partition, kafkax.Start{Offset: offset}, false); err != nil {
		t.Fatal(err)
	}
	m, err := r.Next(ctx)
	if err != nil {
		t.Fatalf("read %s/%d@%d: %v", topic, partition, offset, err)
	}
	return m
}

func TestPublishReachesKafkaInWireFormat(t *testing.T) {
	t.Parallel()
	s := start(t)
	sent := playerRegistered()
	req := event(t, sent)
	req.Event.Headers = map[string]string{"client-version": "1.4.2"}
	resp, err := s.client.Publish(t.Context(), req)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	want, err := s.types.Resolve(t.Context(), "cairn.hunt.v1.PlayerRegistered")
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetTopic() != "cairn.player.events" || resp.GetSchemaId() != want.SchemaID {
		t.Fatalf("Publish = %v, want topic cairn.player.events, schema id %d", resp, want.SchemaID)
	}

	m := readOne(t, consumer(t, s.broker.Addr()), resp.GetTopic(), resp.GetPartition(), resp.GetOffset())
	v := m.Value
	if len(v) < 6 {
		t.Fatalf("record value is %d bytes", len(v))
	}
	if v[0] != 0x00 {
		t.Errorf("magic byte = 0x%02x, want 0x00", v[0])
	}
	if id := int32(binary.BigEndian.Uint32(v[1:5])); id != want.SchemaID {
		t.Errorf("schema id = %d, want %d", id, want.SchemaID)
	}
	if v[5] != 0 {
		t.Errorf("message indexes = 0x%02x, want the single 0 of the file's first message", v[5])
	}
	got := new(huntv1.PlayerRegistered)
	if err := proto.Unmarshal(v[6:], got); err != nil {
		t.Fatalf("decode payload: %v", err)
	}
	if diff := cmp.Diff(sent, got, protocmp.Transform()); diff != "" {
		t.Errorf("payload differs (-sent +got):\n%s", diff)
	}
	if string(m.Key) != sent.GetPlayerId() {
		t.Errorf("key = %q, want the player id %q", m.Key, sent.GetPlayerId())
	}
	headers := make(map[string]string)
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	for k, v := range map[string]string{
		wire.HeaderEventID:   req.GetEvent().GetEventId(),
		wire.HeaderEventType: "cairn.hunt.v1.PlayerRegistered",
		wire.HeaderSchemaID:  strconv.Itoa(int(want.SchemaID)),
		"client-version":     "1.4.2",
	} {
		if headers[k] != v {
			t.Errorf("header %s = %q, want %q", k, headers[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, headers[wire.HeaderOccurredAt]); err != nil {
		t.Errorf("header %s: %v", wire.HeaderOccurredAt, err)
	}
}

func TestPublishRejectsRuleViolationAndProducesNothing(t *testing.T) {
	t.Parallel()
	s := start(t)
	bad := playerRegistered()
	bad.PlayerId = "not-a-uuid"
	_, err := s.client.Publish(t.Context(), event(t, bad))
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("Publish error = %v, want InvalidArgument", err)
	}
	if !strings.Contains(st.Message(), "cairn.hunt.v1.PlayerRegistered") || !strings.Contains(st.Message(), "player_id") {
		t.Errorf("message %q does not name the type and the field", st.Message())
	}
	var violations *validate.Violations
	var badRequest *errdetails.BadRequest
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *validate.Violations:
			violations = d
		case *errdetails.BadRequest:
			badRequest = d
		}
	}
	if len(violations.GetViolations()) != 1 {
		t.Fatalf("Violations detail = %v, want one violation", violations)
	}
	v := violations.GetViolations()[0]
	if path := protovalidate.FieldPathString(v.GetField()); path != "player_id" || v.GetRuleId() != "string.uuid" {
		t.Errorf("violation at %q rule %q, want player_id, string.uuid", path, v.GetRuleId())
	}
	if fv := badRequest.GetFieldViolations(); len(fv) != 1 || fv[0].GetField() != "event.payload.player_id" {
		t.Errorf("BadRequest detail = %v, want one violation of event.payload.player_id", badRequest)
	}

	// Nothing reached Kafka: every partition of the topic is empty.
	ps, err := consumer(t, s.broker.Addr()).Partitions(t.Context(), "", "cairn.player.events")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Low != 0 || p.High != 0 {
			t.Errorf("partition %d holds offsets %d..%d after a rejected event", p.Partition, p.Low, p.High)
		}
	}
}

func TestPublishRejectsBadEnvelopesAndPayloads(t *testing.T) {
	t.Parallel()
	s := start(t)
	plain := regclient.SchemaInput{Text: "syntax = \"proto3\";\npackage test.v1;\nmessage Plain { string id = 1; }\n"}
	if _, err := s.registry.Register(t.Context(), "test.v1.Plain", plain); err != nil {
		t.Fatal(err)
	}
	valid := func() *gatewayv1.PublishRequest { return event(t, playerRegistered()) }
	withPayload := func(typeURL string, value []byte) *gatewayv1.PublishRequest {
		r := valid()
		r.Event.Payload = &anypb.Any{TypeUrl: typeURL, Value: value}
		return r
	}
	payload, err := proto.Marshal(playerRegistered())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		req  *gatewayv1.PublishRequest
		want string // in the status message
	}{
		{"no event", &gatewayv1.PublishRequest{}, "event: value is required"},
		{"event id not a UUID", func() *gatewayv1.PublishRequest { r := valid(); r.Event.EventId = "42"; return r }(), "event.event_id"},
		{"no occurred_at", func() *gatewayv1.PublishRequest { r := valid(); r.Event.OccurredAt = nil; return r }(), "event.occurred_at"},
		{"no payload", func() *gatewayv1.PublishRequest { r := valid(); r.Event.Payload = nil; return r }(), "event.payload"},
		{"reserved header", func() *gatewayv1.PublishRequest {
			r := valid()
			r.Event.Headers = map[string]string{"Cairn-Event-Id": "x"}
			return r
		}(), "reserved"},
		{"unknown type", withPayload("type.googleapis.com/cairn.hunt.v1.Nope", payload), `unknown event type "cairn.hunt.v1.Nope"`},
		{"type url without a name", withPayload("type.googleapis.com/", payload), "does not end in a message name"},
		{"not an event", withPayload("type.googleapis.com/test.v1.Plain", nil), "test.v1.Plain is not an event"},
		{"garbage bytes", withPayload("type.googleapis.com/cairn.hunt.v1.PlayerRegistered", []byte{0xff, 0xff, 0xff}), "payload is not a valid cairn.hunt.v1.PlayerRegistered"},
		{"unknown field", withPayload("type.googleapis.com/cairn.hunt.v1.PlayerRegistered", protowire.AppendVarint(protowire.AppendTag(slices.Clone(payload), 99, protowire.VarintType), 1)), "field number 99"},
		{"unknown field in a nested message", withPayload("type.googleapis.com/cairn.hunt.v1.PlayerRegistered",
			protowire.AppendBytes(protowire.AppendTag(slices.Clone(payload), 3, protowire.BytesType), protowire.AppendVarint(protowire.AppendTag(nil, 7, protowire.VarintType), 1))),
			"cairn.hunt.v1.PlayerRegistered.registered_at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.client.Publish(t.Context(), tt.req)
			st := status.Convert(err)
			if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.want) {
				t.Fatalf("Publish error = %v, want InvalidArgument containing %q", err, tt.want)
			}
		})
	}
	// The gateway keeps serving after every rejection.
	if _, err := s.client.Publish(t.Context(), valid()); err != nil {
		t.Fatalf("Publish after rejections: %v", err)
	}
}

func TestHealthServing(t *testing.T) {
	t.Parallel()
	s := start(t)
	resp, err := healthpb.NewHealthClient(s.conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "cairn.gateway.v1.EventGateway"})
	if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health = %v, %v; want SERVING", resp, err)
	}
}
