package gateway_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/cairnhq/cairn/gateway"
	"github.com/cairnhq/cairn/internal/auth"
	"github.com/cairnhq/cairn/internal/wire"
	gatewayv1 "github.com/cairnhq/cairn/proto/cairn/gateway/v1"
	huntv1 "github.com/cairnhq/cairn/proto/cairn/hunt/v1"
	"github.com/cairnhq/cairn/registry/regclient"
)

// The tests in this file are attacks on the edge (issue 9): each was
// accepted once and must now be refused with a precise reason.

func TestHostileDerivedEventRefused(t *testing.T) {
	t.Parallel()
	s := start(t)
	forged := &huntv1.ClueUnlocked{
		HuntId: newUUID(), PlayerId: newUUID(), ClueId: newUUID(),
		Text: "forged", Points: 999, UnlockedAt: timestamppb.Now(),
	}
	_, err := s.client.Publish(t.Context(), event(t, forged))
	st := status.Convert(err)
	if st.Code() != codes.PermissionDenied || !strings.Contains(st.Message(), "cairn.hunt.v1.ClueUnlocked") || !strings.Contains(st.Message(), "derived") {
		t.Errorf("Publish of a derived event = %v, want PermissionDenied naming the type and that it is derived", err)
	}
	if got := records(t, s.broker.Addr(), "cairn.hunt.derived", 3); len(got) != 0 {
		t.Errorf("derived topic holds %v, want nothing", got)
	}
}

func TestHostileReusedEventIDWithOtherEventRefused(t *testing.T) {
	t.Parallel()
	s := start(t)
	first := event(t, player(newUUID(), "Ada"))
	accepted, err := s.client.Publish(t.Context(), first)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	// The identical retry gets the first answer.
	again, err := s.client.Publish(t.Context(), first)
	if err != nil || again.GetOffset() != accepted.GetOffset() || again.GetPartition() != accepted.GetPartition() {
		t.Fatalf("retry = %v, %v; want the first answer %v", again, err, accepted)
	}
	for name, ev := range map[string]*huntv1.PlayerRegistered{"other payload": player(newUUID(), "Mallory")} {
		other := event(t, ev)
		other.Event.EventId = first.GetEvent().GetEventId()
		_, err := s.client.Publish(t.Context(), other)
		if st := status.Convert(err); st.Code() != codes.AlreadyExists || !strings.Contains(st.Message(), "cairn.hunt.v1.PlayerRegistered") {
			t.Errorf("%s with a used event_id = %v, want AlreadyExists naming the first event's type", name, err)
		}
	}
	otherType := event(t, &huntv1.PlayerJoinedHunt{HuntId: newUUID(), PlayerId: newUUID(), JoinedAt: timestamppb.Now()})
	otherType.Event.EventId = first.GetEvent().GetEventId()
	_, err = s.client.Publish(t.Context(), otherType)
	if st := status.Convert(err); st.Code() != codes.AlreadyExists || !strings.Contains(st.Message(), "cairn.hunt.v1.PlayerRegistered") {
		t.Errorf("another type with a used event_id = %v, want AlreadyExists naming cairn.hunt.v1.PlayerRegistered", err)
	}
	if got := records(t, s.broker.Addr(), "cairn.player.events", 3); len(got) != 1 {
		t.Errorf("player topic holds %v, want the first event only", got)
	}
}

func TestHostileRecordCarriesGatewayReceiveTime(t *testing.T) {
	t.Parallel()
	s := start(t)
	req := event(t, player(newUUID(), "Ada"))
	req.Event.OccurredAt = timestamppb.New(time.Now().Add(-4 * time.Minute)) // within the skew, but not now
	before := time.Now()
	resp, err := s.client.Publish(t.Context(), req)
	if err != nil {
		t.Fatalf("Publish: %v", err)
	}
	after := time.Now()
	m := readOne(t, consumer(t, s.broker.Addr()), resp.GetTopic(), resp.GetPartition(), resp.GetOffset())
	var raw string
	for _, h := range m.Headers {
		if h.Key == wire.HeaderReceivedAt {
			raw = string(h.Value)
		}
	}
	at, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		t.Fatalf("header %s = %q: %v", wire.HeaderReceivedAt, raw, err)
	}
	if !strings.HasSuffix(raw, "Z") || at.Before(before.Add(-time.Millisecond)) || at.After(after) {
		t.Errorf("header %s = %q, want the gateway's UTC time between %s and %s", wire.HeaderReceivedAt, raw, before, after)
	}
}

func TestHostileMalformedTimestampsRefused(t *testing.T) {
	t.Parallel()
	s := start(t)
	tests := []struct {
		name string
		req  func() *gatewayv1.PublishRequest
		path string
	}{
		{"payload nanos -5", func() *gatewayv1.PublishRequest {
			p := player(newUUID(), "Ada")
			p.RegisteredAt.Nanos = -5
			return event(t, p)
		}, "event.payload.registered_at"},
		{"payload seconds MinInt64", func() *gatewayv1.PublishRequest {
			p := player(newUUID(), "Ada")
			p.RegisteredAt.Seconds = math.MinInt64
			return event(t, p)
		}, "event.payload.registered_at"},
		{"occurred_at seconds MaxInt64", func() *gatewayv1.PublishRequest {
			r := event(t, player(newUUID(), "Ada"))
			r.Event.OccurredAt = &timestamppb.Timestamp{Seconds: math.MaxInt64}
			return r
		}, "event.occurred_at"},
	}
	for _, tt := range tests {
		_, err := s.client.Publish(t.Context(), tt.req())
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tt.path) {
			t.Errorf("%s: Publish = %v, want InvalidArgument naming %s", tt.name, err, tt.path)
		}
	}
}

func TestHostileForeignTypeURLRefused(t *testing.T) {
	t.Parallel()
	s := start(t)
	a, err := anypb.New(player(newUUID(), "Ada"))
	if err != nil {
		t.Fatal(err)
	}
	for _, url := range []string{"http://evil.example/cairn.hunt.v1.PlayerRegistered", "evil/cairn.hunt.v1.PlayerRegistered", "cairn.hunt.v1.PlayerRegistered"} {
		req := event(t, player(newUUID(), "Ada"))
		req.Event.Payload = &anypb.Any{TypeUrl: url, Value: a.GetValue()}
		_, err := s.client.Publish(t.Context(), req)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "type.googleapis.com/") {
			t.Errorf("type_url %q: Publish = %v, want InvalidArgument naming the allowed form", url, err)
		}
	}
	req := event(t, player(newUUID(), "Ada"))
	req.Event.Payload.TypeUrl = "/cairn.hunt.v1.PlayerRegistered"
	if _, err := s.client.Publish(t.Context(), req); err != nil {
		t.Errorf("bare /name type_url: %v", err)
	}
}

func TestHostileCredentialsBoundedAndFailuresLimited(t *testing.T) {
	t.Parallel()
	authn, err := auth.New(auth.Config{
		JWT:     auth.JWTConfig{Keys: []auth.Key{{ID: "hs", Key: []byte(testSecret)}}, Audience: testAudience},
		APIKeys: []auth.APIKey{{Key: scorerKey, Name: "scorer", Role: "service"}},
		Roles:   map[string][]string{"service": {"*"}, "player": {"cairn.hunt.v1.PlayerRegistered"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s := startWith(t, options{configure: func(c *gateway.Config) { c.Auth = authn }})
	huge := strings.Repeat("a", auth.MaxCredentialBytes) + ".b.c"
	for _, md := range [][]string{{"authorization", "Bearer " + huge}, {"x-api-key", huge}} {
		ctx := metadata.AppendToOutgoingContext(t.Context(), md...)
		_, err := s.client.Publish(ctx, event(t, player(newUUID(), "Ada")))
		if st := status.Convert(err); st.Code() != codes.Unauthenticated || !strings.Contains(st.Message(), "at most") {
			t.Errorf("%s over the bound: Publish = %v, want Unauthenticated naming the bound", md[0], err)
		}
	}
	// Wrong keys from one address are refused as such until the address
	// is over its rate of failures; then every call from it is refused.
	wrong := metadata.AppendToOutgoingContext(t.Context(), "x-api-key", "wrong-key")
	limited := false
	for range auth.FailureBurst * 3 {
		_, err := s.client.Publish(wrong, event(t, player(newUUID(), "Ada")))
		if status.Code(err) == codes.ResourceExhausted {
			limited = true
			break
		}
		if status.Code(err) != codes.Unauthenticated {
			t.Fatalf("Publish with a wrong key = %v, want Unauthenticated", err)
		}
	}
	if !limited {
		t.Fatalf("%d failed authentications from one address were never refused with ResourceExhausted", auth.FailureBurst*3)
	}
	good := metadata.AppendToOutgoingContext(t.Context(), "x-api-key", scorerKey)
	if _, err := s.client.Publish(good, event(t, player(newUUID(), "Ada"))); status.Code(err) != codes.ResourceExhausted {
		t.Errorf("Publish from an address over its failure rate = %v, want ResourceExhausted", err)
	}
}

func TestHostileMissingTopicIsFailedPreconditionAtOnce(t *testing.T) {
	t.Parallel()
	s := start(t)
	sv, err := s.registry.Version(t.Context(), "cairn.hunt.v1.PlayerRegistered", -1, false)
	if err != nil {
		t.Fatal(err)
	}
	const text = `syntax = "proto3";
package cairn.test.v1;
import "cairn/options/v1/options.proto";
message Orphan {
  option (cairn.options.v1.event) = {topic: "no.such.topic" key_field: "id"};
  string id = 1;
}
`
	var refs []regclient.Reference
	for _, r := range sv.Schema.References {
		if r.Name == "cairn/options/v1/options.proto" {
			refs = append(refs, r)
		}
	}
	if _, err := s.registry.Register(t.Context(), "cairn.test.v1.Orphan", regclient.SchemaInput{Text: text, References: refs}); err != nil {
		t.Fatalf("register: %v", err)
	}
	req := event(t, player(newUUID(), "Ada"))
	req.Event.Payload = &anypb.Any{TypeUrl: "type.googleapis.com/cairn.test.v1.Orphan", Value: protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "x")}
	// The call's deadline is well below the produce timeout: the answer
	// must come from Kafka's metadata, not from waiting out the delivery.
	ctx, cancel := context.WithTimeout(t.Context(), 8*time.Second)
	defer cancel()
	_, err = s.client.Publish(ctx, req)
	if st := status.Convert(err); st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), `"no.such.topic"`) {
		t.Errorf("Publish to a missing topic = %v, want FailedPrecondition naming the topic", err)
	}
}
