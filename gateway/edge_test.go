package gateway_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/kafkax"
	"github.com/cairnhq/cairn/internal/wire"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
)

func newUUID() string {
	var u [16]byte
	_, _ = rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func player(id, name string) *huntv1.PlayerRegistered {
	p := playerRegistered()
	p.PlayerId, p.DisplayName = id, name
	return p
}

// records reads every record of topic, keyed by the cairn-event-id header,
// counting how often each event id occurs.
func records(t testing.TB, brokers, topic string, partitions int32) map[string]int {
	t.Helper()
	r := consumer(t, brokers)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := r.Assign(ctx, []string{topic}, kafkax.Start{FromBeginning: true}, true); err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int)
	for {
		m, err := r.Next(ctx)
		if errors.Is(err, io.EOF) {
			return seen
		}
		if err != nil {
			t.Fatalf("read %s: %v after %d records", topic, err, len(seen))
		}
		if id := m.Header(wire.HeaderEventID); id != "" {
			seen[id]++
		}
	}
}

func TestPublishBatchMixedValidAndInvalid(t *testing.T) {
	t.Parallel()
	s := start(t)
	ids := []string{newUUID(), newUUID(), newUUID(), newUUID(), newUUID()}
	events := []*gatewayv1.Event{
		newEvent(t, ids[0], player(newUUID(), "Ada")),
		newEvent(t, ids[1], player("not-a-uuid", "Bob")),
		newEvent(t, ids[2], player(newUUID(), "Cy")),
		{EventId: ids[3], OccurredAt: timestamppb.Now(), Payload: &anypb.Any{TypeUrl: "type.googleapis.com/cairn.hunt.v1.Nope"}},
		newEvent(t, ids[4], player(newUUID(), "Di")),
	}
	resp, err := s.client.PublishBatch(t.Context(), &gatewayv1.PublishBatchRequest{Events: events})
	if err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	if len(resp.GetResults()) != len(events) {
		t.Fatalf("%d results for %d events", len(resp.GetResults()), len(events))
	}
	for i, r := range resp.GetResults() {
		if r.GetEventId() != ids[i] {
			t.Errorf("result %d is for %s, want %s", i, r.GetEventId(), ids[i])
		}
		wantAccepted := i != 1 && i != 3
		if got := r.GetAccepted() != nil; got != wantAccepted {
			t.Errorf("result %d = %v, want accepted %v", i, r, wantAccepted)
		}
	}
	bad := resp.GetResults()[1].GetRejected()
	if codes.Code(bad.GetCode()) != codes.InvalidArgument || !strings.Contains(bad.GetMessage(), "cairn.hunt.v1.PlayerRegistered") ||
		!strings.Contains(bad.GetMessage(), "player_id") || len(bad.GetViolations().GetViolations()) != 1 {
		t.Errorf("rejection of the invalid player = %v", bad)
	}
	if msg := resp.GetResults()[3].GetRejected().GetMessage(); !strings.Contains(msg, "cairn.hunt.v1.Nope") {
		t.Errorf("rejection of the unknown type = %q", msg)
	}
	got := records(t, s.broker.Addr(), "cairn.player.events", 3)
	for i, id := range ids {
		want := 1
		if i == 1 || i == 3 {
			want = 0
		}
		if got[id] != want {
			t.Errorf("event %d is in Kafka %d times, want %d", i, got[id], want)
		}
	}
}

func TestPublishBatchLimits(t *testing.T) {
	t.Parallel()
	s := startWith(t, options{configure: func(c *gateway.Config) { c.MaxBatchEvents = 3; c.MaxMessageBytes = 32 << 10 }})
	var events []*gatewayv1.Event
	for range 4 {
		events = append(events, newEvent(t, newUUID(), player(newUUID(), "Ada")))
	}
	_, err := s.client.PublishBatch(t.Context(), &gatewayv1.PublishBatchRequest{Events: events})
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "limit is 3") {
		t.Errorf("batch of 4 = %v, want InvalidArgument naming the limit", err)
	}
	big := newEvent(t, newUUID(), player(newUUID(), "Ada"))
	big.Headers = map[string]string{}
	for i := range 16 {
		big.Headers[fmt.Sprintf("h%d", i)] = strings.Repeat("x", 1024)
	}
	many := []*gatewayv1.Event{big, big, big}
	_, err = s.client.PublishBatch(t.Context(), &gatewayv1.PublishBatchRequest{Events: many[:3]})
	if err == nil {
		t.Fatal("batch over MaxMessageBytes accepted")
	}
	if code := status.Code(err); code != codes.ResourceExhausted {
		t.Errorf("batch over MaxMessageBytes = %v, want ResourceExhausted from gRPC's size limit", err)
	}
	if _, err := s.client.PublishBatch(t.Context(), &gatewayv1.PublishBatchRequest{}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("empty batch = %v, want InvalidArgument", err)
	}
}

func TestPublishStreamThousands(t *testing.T) {
	t.Parallel()
	const n = 3000
	s := startWith(t, options{configure: func(c *gateway.Config) { c.StreamWindow = 64 }})
	stream, err := s.client.PublishStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sent := make(map[string]bool, n)
	invalid := make(map[string]bool)
	events := make([]*gatewayv1.Event, n)
	for i := range n {
		id := newUUID()
		name := fmt.Sprintf("P%d", i)
		if i%100 == 7 {
			name = "" // breaks display_name's min_len
			invalid[id] = true
		}
		events[i] = newEvent(t, id, player(newUUID(), name))
		sent[id] = true
	}
	sendErr := make(chan error, 1)
	go func() {
		for _, ev := range events {
			if err := stream.Send(&gatewayv1.PublishStreamRequest{Event: ev}); err != nil {
				sendErr <- err
				return
			}
		}
		sendErr <- stream.CloseSend()
	}()
	acked := make(map[string]bool, n)
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %d results: %v", len(acked), err)
		}
		r := resp.GetResult()
		id := r.GetEventId()
		if !sent[id] || acked[id] {
			t.Fatalf("result for %q: unknown or repeated", id)
		}
		acked[id] = true
		if invalid[id] != (r.GetRejected() != nil) {
			t.Errorf("event %s: result %v, want rejected %v", id, r, invalid[id])
		}
	}
	if err := <-sendErr; err != nil {
		t.Fatal(err)
	}
	if len(acked) != n {
		t.Fatalf("%d results for %d events", len(acked), n)
	}
	got := records(t, s.broker.Addr(), "cairn.player.events", 3)
	if len(got) != n-len(invalid) {
		t.Errorf("Kafka holds %d events, want %d", len(got), n-len(invalid))
	}
	for id, count := range got {
		if count != 1 || invalid[id] {
			t.Errorf("event %s is in Kafka %d times (invalid %v)", id, count, invalid[id])
		}
	}
}

func TestRepeatedEventIDGetsFirstResult(t *testing.T) {
	t.Parallel()
	s := start(t)
	req := event(t, player(newUUID(), "Ada"))
	req.Event.EventId = newUUID()
	const callers = 8
	results := make([]*gatewayv1.PublishResponse, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			resp, err := s.client.Publish(t.Context(), req)
			if err != nil {
				t.Errorf("Publish %d: %v", i, err)
			}
			results[i] = resp
		})
	}
	wg.Wait()
	for i, r := range results[1:] {
		if !proto.Equal(r, results[0]) {
			t.Errorf("result %d = %v, want the first %v", i+1, r, results[0])
		}
	}
	if got := records(t, s.broker.Addr(), "cairn.player.events", 3); got[req.GetEvent().GetEventId()] != 1 {
		t.Errorf("event is in Kafka %d times, want once", got[req.GetEvent().GetEventId()])
	}
}

func TestRateLimitAnswersResourceExhaustedWithRetryInfo(t *testing.T) {
	t.Parallel()
	s := startWith(t, options{configure: func(c *gateway.Config) { c.RateLimit = gateway.RateLimit{PerSecond: 0.1, Burst: 2} }})
	var last error
	for range 3 {
		_, last = s.client.Publish(t.Context(), event(t, player(newUUID(), "Ada")))
	}
	st := status.Convert(last)
	if st.Code() != codes.ResourceExhausted {
		t.Fatalf("third Publish = %v, want ResourceExhausted", last)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("details %v: want a RetryInfo with a positive delay", st.Details())
	}
}

func TestOccurredAtInTheFuture(t *testing.T) {
	t.Parallel()
	s := start(t)
	req := event(t, player(newUUID(), "Ada"))
	req.Event.OccurredAt = timestamppb.New(time.Now().Add(time.Hour))
	_, err := s.client.Publish(t.Context(), req)
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "event.occurred_at") {
		t.Errorf("Publish = %v, want InvalidArgument naming event.occurred_at", err)
	}
	req.Event.OccurredAt = timestamppb.New(time.Now().Add(time.Minute)) // within the skew
	if _, err := s.client.Publish(t.Context(), req); err != nil {
		t.Errorf("Publish a minute ahead: %v", err)
	}
}

func TestEventTooLarge(t *testing.T) {
	t.Parallel()
	s := startWith(t, options{configure: func(c *gateway.Config) { c.MaxEventBytes = 200 }})
	req := event(t, player(newUUID(), "Ada"))
	req.Event.Headers = map[string]string{"pad": strings.Repeat("x", 300)}
	_, err := s.client.Publish(t.Context(), req)
	if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "limit is 200") {
		t.Errorf("Publish = %v, want InvalidArgument naming the limit", err)
	}
}

func TestUnknownFieldsSwitch(t *testing.T) {
	t.Parallel()
	s := startWith(t, options{configure: func(c *gateway.Config) { c.AllowUnknownFields = true }})
	payload, err := proto.Marshal(player(newUUID(), "Ada"))
	if err != nil {
		t.Fatal(err)
	}
	req := event(t, player(newUUID(), "Ada"))
	req.Event.Payload.Value = protowire.AppendVarint(protowire.AppendTag(payload, 99, protowire.VarintType), 1)
	if _, err := s.client.Publish(t.Context(), req); err != nil {
		t.Errorf("Publish with an unknown field where they are allowed: %v", err)
	}
}

func TestRecordCarriesTraceContextAndPrincipal(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tp := trace.NewTracerProvider(trace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	s := startWith(t, options{configure: func(c *gateway.Config) { c.TracerProvider = tp }})
	resp, err := s.client.Publish(t.Context(), event(t, player(newUUID(), "Ada")))
	if err != nil {
		t.Fatal(err)
	}
	m := readOne(t, consumer(t, s.broker.Addr()), resp.GetTopic(), resp.GetPartition(), resp.GetOffset())
	headers := make(map[string]string)
	for _, h := range m.Headers {
		headers[h.Key] = string(h.Value)
	}
	if headers[wire.HeaderPrincipal] != "anonymous" {
		t.Errorf("principal header = %q, want anonymous", headers[wire.HeaderPrincipal])
	}
	var produce tracetest.SpanStub
	for _, sp := range spans.GetSpans() {
		if sp.Name == "cairn.player.events publish" {
			produce = sp
		}
	}
	if !produce.SpanContext.IsValid() {
		t.Fatalf("no produce span among %d spans", len(spans.GetSpans()))
	}
	want := fmt.Sprintf("00-%s-%s-01", produce.SpanContext.TraceID(), produce.SpanContext.SpanID())
	if headers["traceparent"] != want {
		t.Errorf("traceparent = %q, want the produce span's %q", headers["traceparent"], want)
	}
	if !produce.Parent.IsValid() {
		t.Errorf("produce span has no parent: want the RPC's span")
	}
}

func TestReadyAndHealthFollowKafka(t *testing.T) {
	t.Parallel()
	s := startWith(t, options{dataDir: t.TempDir(), configure: func(c *gateway.Config) { c.ReadyInterval = 200 * time.Millisecond }})
	if err := s.gateway.Ready(t.Context()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	health := healthpb.NewHealthClient(s.conn)
	waitHealth := func(want healthpb.HealthCheckResponse_ServingStatus) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := health.Check(t.Context(), &healthpb.HealthCheckRequest{Service: "cairn.gateway.v1.EventGateway"})
			if err == nil && resp.GetStatus() == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health = %v, %v; want %v", resp, err, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	s.broker.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := s.gateway.Ready(ctx); err == nil {
		t.Fatal("Ready with the broker stopped = nil")
	}
	waitHealth(healthpb.HealthCheckResponse_NOT_SERVING)
	if err := s.broker.Restart(); err != nil {
		t.Fatal(err)
	}
	waitHealth(healthpb.HealthCheckResponse_SERVING)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	s := startWith(t, options{configure: func(c *gateway.Config) { c.Metrics = reg }})
	if _, err := s.client.Publish(t.Context(), event(t, player(newUUID(), "Ada"))); err != nil {
		t.Fatal(err)
	}
	_, _ = s.client.Publish(t.Context(), event(t, player("nope", "Ada")))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text strings.Builder
	for _, f := range families {
		for _, m := range f.GetMetric() {
			fmt.Fprintf(&text, "%s %v\n", f.GetName(), m)
		}
	}
	for _, want := range []string{
		"cairn_gateway_requests_total", `value:"Publish"`, `value:"InvalidArgument"`,
		"cairn_gateway_events_total", `value:"cairn.hunt.v1.PlayerRegistered"`, `value:"accepted"`, `value:"rejected"`,
		"cairn_gateway_produce_duration_seconds", "cairn_gateway_inflight_bytes",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("metrics lack %s:\n%s", want, text.String())
		}
	}
}

func TestShutdownEndsStreamsAfterAnsweringThem(t *testing.T) {
	t.Parallel()
	s := start(t)
	stream, err := s.client.PublishStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	const n = 20
	for range n {
		if err := stream.Send(&gatewayv1.PublishStreamRequest{Event: newEvent(t, newUUID(), player(newUUID(), "Ada"))}); err != nil {
			t.Fatal(err)
		}
	}
	for range n { // every event sent before the shutdown is answered
		resp, err := stream.Recv()
		if err != nil || resp.GetResult().GetAccepted() == nil {
			t.Fatalf("Recv = %v, %v", resp, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		s.gateway.Shutdown(ctx) // the client keeps its stream open
		close(done)
	}()
	if _, err := stream.Recv(); status.Code(err) != codes.Unavailable {
		t.Errorf("stream after Shutdown = %v, want UNAVAILABLE", err)
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatal("Shutdown waited for the open stream until its deadline")
	}
}

// TestSameKeyKeepsItsOrder: events with one key reach Kafka in the order of
// their batch, and of their stream, so one partition tells a story in order.
func TestSameKeyKeepsItsOrder(t *testing.T) {
	t.Parallel()
	s := start(t)
	const n = 200
	same := newUUID() // every event is this player's: one key, one partition
	events := make([]*gatewayv1.Event, n)
	for i := range events {
		events[i] = newEvent(t, newUUID(), player(same, fmt.Sprintf("Ada %d", i)))
	}
	resp, err := s.client.PublishBatch(t.Context(), &gatewayv1.PublishBatchRequest{Events: events})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < n; i++ {
		prev, cur := resp.GetResults()[i-1].GetAccepted(), resp.GetResults()[i].GetAccepted()
		if cur.GetPartition() != prev.GetPartition() || cur.GetOffset() <= prev.GetOffset() {
			t.Fatalf("batch event %d at %d/%d after event %d at %d/%d", i, cur.GetPartition(), cur.GetOffset(), i-1, prev.GetPartition(), prev.GetOffset())
		}
	}

	stream, err := s.client.PublishStream(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i := range events {
		events[i] = newEvent(t, newUUID(), player(same, fmt.Sprintf("Bo %d", i)))
		ids[i] = events[i].GetEventId()
	}
	go func() {
		for _, ev := range events {
			if err := stream.Send(&gatewayv1.PublishStreamRequest{Event: ev}); err != nil {
				return
			}
		}
		stream.CloseSend()
	}()
	offsets := make(map[string]int64, n)
	for range n {
		r, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		offsets[r.GetResult().GetEventId()] = r.GetResult().GetAccepted().GetOffset()
	}
	for i := 1; i < n; i++ {
		if offsets[ids[i]] <= offsets[ids[i-1]] {
			t.Fatalf("stream event %d at offset %d after event %d at %d", i, offsets[ids[i]], i-1, offsets[ids[i-1]])
		}
	}
}
